/**
 * `limits`: the replication against Klaviyo's documented rate limits (or `scale:N` of them) and latency, with the
 * worker's documented pacing: how close each stream gets to its endpoint's steady limit, at what cost in 429s,
 * worker CPU and memory, and Temporal actions.
 */
import path from 'node:path';
import type { StreamName } from '../../streams/types';
import { streamFigures, type StreamFigures } from './figures';
import { awaitReplication, replicationYaml, startReplication } from './replication';
import { BENCH_KEY, startBenchSandbox } from './sandbox';
import type { Services } from './services';
import { temporalActions, type ActionGroup } from './temporal-actions';
import { rateShareFor, startWorkers, type WorkerFigures } from './workers';
import { usageOf } from './proc-stats';

export interface LimitsOptions {
  preset: string;
  seed: string;
  /** the sandbox's --rate-limits: documented or scale:N */
  rateLimits: string;
  /** the sandbox's --latency, or undefined where it has none */
  latency: string | undefined;
  streams: StreamName[];
  workers: number;
  maxMinutes: number;
}

export interface LimitsResult {
  mode: 'limits';
  workflowId: string;
  options: LimitsOptions;
  workerRateLimits: string;
  sandboxArgs: string[];
  /** the replication's wall time, start accepted to result */
  wallS: number;
  rows: number;
  streams: StreamFigures[];
  workers: WorkerFigures[];
  sandboxCpuS: number;
  actions: ActionGroup[];
}

export async function runLimits(services: Services, opts: LimitsOptions, workflowId = 'bench-limits'): Promise<LimitsResult> {
  const sandbox = await startBenchSandbox({ preset: opts.preset, seed: opts.seed, rateLimits: opts.rateLimits, latency: opts.latency });
  const workerRateLimits = 'documented';
  const workers = await startWorkers(opts.workers, {
    temporalAddress: services.temporal.address,
    klaviyo: sandbox.process.connection(BENCH_KEY),
    pg: services.postgres.url,
    lite: `sqlite://${path.join(services.tmp, `${workflowId}.db`)}`,
    rateLimits: workerRateLimits,
    rateShare: rateShareFor(opts.rateLimits),
  });
  try {
    const before = await sandbox.stats();
    const sandboxCpu = usageOf(sandbox.pid)?.cpuS ?? NaN;
    workers.measure();
    const run = await startReplication(services.client, workflowId, replicationYaml(opts.streams, 'PG', workflowId.replace(/-/g, '_')));
    const { summary, wallS } = await awaitReplication(run, opts.maxMinutes);
    const after = await sandbox.stats();
    const workerFigures = workers.figures();
    const sandboxCpuS = (usageOf(sandbox.pid)?.cpuS ?? NaN) - sandboxCpu;
    const truth = await sandbox.process.truth();
    await workers.stop(workerFigures);
    return {
      mode: 'limits',
      workflowId,
      options: opts,
      workerRateLimits,
      sandboxArgs: sandbox.args,
      wallS,
      rows: summary.rows,
      streams: streamFigures(summary, before, after, opts.rateLimits, truth),
      workers: workerFigures,
      sandboxCpuS,
      actions: await temporalActions(services.client, workflowId),
    };
  } finally {
    await workers.stop();
    await sandbox.stop();
  }
}
