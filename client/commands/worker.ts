/** `klaviyo-sync worker`: runs a worker on the `klaviyo-sync` task queue until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { connectWorker } from '../temporal';
import { TASK_QUEUE } from '../../workflows/shared';
import { createWorker } from '../../worker';
import type { RateLimitMode } from '../../lib/klaviyo/ratelimit';
import { closeAll } from '../../lib/db/connect';

const RATE_LIMIT_MODES: readonly RateLimitMode[] = ['sling', 'documented'];

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: executes replications started by `klaviyo-sync run` or `temporal workflow start`')
    .option('--task-queue <name>', 'task queue to poll', TASK_QUEUE)
    // no commander default: an unset flag leaves KLAVIYO_SYNC_RATE_LIMITS its say
    .option(
      '--rate-limits <mode>',
      "sling (3 requests/s, 3 at once) or documented (each endpoint's published limits); default: $KLAVIYO_SYNC_RATE_LIMITS, else sling",
    )
    .action(async (opts: { taskQueue: string; rateLimits?: string }) => {
      const rateLimits = rateLimitMode(opts.rateLimits, process.env);
      const { connection, target } = await connectWorker();
      const worker = await createWorker({
        connection,
        namespace: target.namespace,
        taskQueue: opts.taskQueue,
        deps: { rateLimitMode: rateLimits.mode },
      });
      const stop = () => worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.write(
        `klaviyo-sync worker polling task queue ${opts.taskQueue} on ${target.address} (namespace ${target.namespace}); ` +
          `rate limits: ${rateLimits.mode} (${rateLimits.from})\n`,
      );
      await worker.run();
      await closeAll();
      await connection.close();
    });
}

/** The flag, else KLAVIYO_SYNC_RATE_LIMITS, else sling; and where it came from. */
export function rateLimitMode(flag: string | undefined, env: NodeJS.ProcessEnv): { mode: RateLimitMode; from: string } {
  const [value, from] =
    flag !== undefined
      ? [flag, '--rate-limits']
      : env.KLAVIYO_SYNC_RATE_LIMITS
        ? [env.KLAVIYO_SYNC_RATE_LIMITS, 'KLAVIYO_SYNC_RATE_LIMITS']
        : ['sling', 'the default'];
  if (!(RATE_LIMIT_MODES as readonly string[]).includes(value)) {
    throw new Error(`${from} must be sling or documented, not ${JSON.stringify(value)}`);
  }
  return { mode: value as RateLimitMode, from };
}
