/**
 * A klaviyo-sync worker: registers the workflows (by path: they run in Temporal's deterministic sandbox) and the
 * activities, injected with what they need (connections from this process's environment, a rate limiter shared
 * by every activity of the process).
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { TASK_QUEUE } from '../client/temporal';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  deps?: Partial<ActivityDeps>;
  /** concurrent activities (pages in flight are further limited by the rate limiter) */
  maxConcurrentActivities?: number;
}

export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities(opts.deps),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 16,
  });
}
