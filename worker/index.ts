/**
 * A klaviyo-sync worker: registers the workflows (by path: they run in Temporal's deterministic sandbox) and the
 * activities, injected with what they need (connections from this process's environment, a rate limiter shared
 * by every activity of the process), behind one interceptor that turns whatever an activity throws into the
 * Temporal failure its class calls for (lib/errors.ts, worker/failures.ts), as dust-tt/dust's connectors cast vendor errors.
 */
import { Worker, type ActivityInboundCallsInterceptor, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { FailureContext } from '../lib/errors';
import { toApplicationFailure } from './failures';
import { TASK_QUEUE } from '../workflows/shared';
import { ensureSearchAttributes } from './search-attributes';
import { cachedWorkflowBundle } from './workflow-bundle';

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

/**
 * A worker with its activities. Before it polls, our search attributes are registered on the namespace where the
 * server allows it (a control-plane change made here, once, never by an activity); the activities say whether they
 * are there, so workflows set them only then.
 */
export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  const namespace = opts.namespace ?? 'default';
  const searchAttributes = opts.deps?.searchAttributes ?? (await ensureSearchAttributes(opts.connection.operatorService, namespace));
  // the bundle built once in a child process (worker/workflow-bundle.ts), else webpack here as a fallback
  const bundle = await cachedWorkflowBundle();
  return Worker.create({
    connection: opts.connection,
    namespace,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({ ...opts.deps, searchAttributes }),
    interceptors: { activity: [() => ({ inbound: classifyingInterceptor })] },
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 16,
  });
}
