/** `klaviyo-sync worker`: runs a worker on the `klaviyo-sync` task queue until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { connectWorker, TASK_QUEUE } from '../temporal';
import { createWorker } from '../../worker';
import type { RateLimitMode } from '../../activities/klaviyo/ratelimit';
import { closeAll } from '../../activities/db/connect';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: executes replications started by `klaviyo-sync run` or `temporal workflow start`')
    .option('--task-queue <name>', 'task queue to poll', TASK_QUEUE)
    .option('--rate-limits <mode>', 'sling (3 requests/s, 3 at once) or documented (each endpoint\'s published limits)', 'sling')
    .action(async (opts: { taskQueue: string; rateLimits: string }) => {
      if (opts.rateLimits !== 'sling' && opts.rateLimits !== 'documented') {
        throw new Error(`--rate-limits must be sling or documented, not ${JSON.stringify(opts.rateLimits)}`);
      }
      const { connection, target } = await connectWorker();
      const worker = await createWorker({
        connection,
        namespace: target.namespace,
        taskQueue: opts.taskQueue,
        deps: { rateLimitMode: opts.rateLimits as RateLimitMode },
      });
      const stop = () => worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.write(`klaviyo-sync worker polling task queue ${opts.taskQueue} on ${target.address} (namespace ${target.namespace})\n`);
      await worker.run();
      await closeAll();
      await connection.close();
    });
}
