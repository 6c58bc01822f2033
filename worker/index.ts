/**
 * A klaviyo-sync worker: registers the workflows (by path: they run in Temporal's deterministic sandbox) and the
 * activities, injected with what they need (connections from this process's environment, a rate limiter shared
 * by every activity of the process), behind one interceptor that turns whatever an activity throws into the
 * Temporal failure its class calls for (lib/errors.ts), as dust-tt/dust's connectors cast vendor errors.
 */
import { Worker, type ActivityInboundCallsInterceptor, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { toApplicationFailure, type FailureContext } from '../lib/errors';
import { TASK_QUEUE } from '../client/temporal';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  deps?: Partial<ActivityDeps>;
  /** concurrent activities (pages in flight are further limited by the rate limiter) */
  maxConcurrentActivities?: number;
}

/** The connection names an activity was given (every activity takes one object with `source`/`target`). */
function contextOf(args: unknown[]): FailureContext {
  const a = (args[0] ?? {}) as { source?: unknown; target?: unknown };
  return {
    ...(typeof a.target === 'string' ? { database: a.target } : {}),
    ...(typeof a.source === 'string' ? { klaviyo: a.source } : {}),
  };
}

/** Every activity's failure, classified once: user-fixable and protocol fail at once, 429s wait, the rest backs off. */
export const classifyingInterceptor: ActivityInboundCallsInterceptor = {
  async execute(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw toApplicationFailure(err, contextOf(input.args));
    }
  },
};

export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities(opts.deps),
    interceptors: { activity: [() => ({ inbound: classifyingInterceptor })] },
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 16,
  });
}
