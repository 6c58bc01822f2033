/**
 * `sling`: the same replication with the worker paced as Sling paces Klaviyo (3 requests/s, 3 at once, for the
 * whole account) against documented limits. It would take hours on a large account, so it runs for a bounded time,
 * its rows/s are read from the sandbox's count of answered pages, and it is terminated.
 */
import path from 'node:path';
import { getStream } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import type { ReplicationSummary } from '../../workflows/types';
import { awaitReplication, replicationYaml, startReplication } from './replication';
import { BENCH_KEY, requestsBetween, startBenchSandbox } from './sandbox';
import type { Services } from './services';
import { startWorkers, type WorkerFigures } from './workers';

export interface SlingOptions {
  preset: string;
  seed: string;
  /** the sandbox's --rate-limits: documented or scale:N */
  rateLimits: string;
  latency: string | undefined;
  streams: StreamName[];
  workers: number;
  seconds: number;
}

export interface SlingStream {
  stream: StreamName;
  requests: number;
  ok: number;
  rateLimited: number;
  /** answered pages × the endpoint's served page size (the replication's own rows when it finished in time) / s */
  rowsPerS: number;
}

export interface SlingResult {
  mode: 'sling';
  options: SlingOptions;
  sandboxArgs: string[];
  /** how long it ran before it was measured and terminated */
  seconds: number;
  /** it finished before the bound (then its figures are the whole run's) */
  completed: boolean;
  streams: SlingStream[];
  workers: WorkerFigures[];
}

export async function runSling(services: Services, opts: SlingOptions, workflowId = 'bench-sling'): Promise<SlingResult> {
  const sandbox = await startBenchSandbox({ preset: opts.preset, seed: opts.seed, rateLimits: opts.rateLimits, latency: opts.latency });
  const workers = await startWorkers(opts.workers, {
    temporalAddress: services.temporal.address,
    klaviyo: sandbox.process.connection(BENCH_KEY),
    pg: services.postgres.url,
    lite: `sqlite://${path.join(services.tmp, `${workflowId}.db`)}`,
    rateLimits: 'sling',
  });
  try {
    const before = await sandbox.stats();
    workers.measure();
    const run = await startReplication(services.client, workflowId, replicationYaml(opts.streams, 'PG', workflowId.replace(/-/g, '_')));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), opts.seconds * 1000)));
    const done = await Promise.race([awaitReplication(run, opts.seconds / 60 + 1), bound]);
    clearTimeout(timer);
    const after = await sandbox.stats();
    const seconds = (performance.now() - run.startedAt) / 1000;
    const workerFigures = workers.figures();
    if (!done) await run.handle.terminate(`bench: sling measured for ${opts.seconds} s`);
    const summary: ReplicationSummary | undefined = done?.summary;
    const streams = opts.streams.map((stream): SlingStream => {
      const def = getStream(stream);
      const req = requestsBetween(before, after, def.operation);
      const ok = req.byStatus['200'] ?? 0;
      const finished = summary?.streams.find((s) => s.stream === stream);
      const rows = finished ? finished.rows : ok * def.servedPageSize;
      return { stream, requests: req.total, ok, rateLimited: req.byStatus['429'] ?? 0, rowsPerS: rows / seconds };
    });
    return {
      mode: 'sling',
      options: opts,
      sandboxArgs: sandbox.args,
      seconds,
      completed: done !== undefined,
      streams,
      workers: workerFigures,
    };
  } finally {
    await workers.stop();
    await sandbox.stop();
  }
}
