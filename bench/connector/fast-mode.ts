/**
 * `fast`: limits and latency off, events only: end-to-end event rows/s into Postgres and into SQLite, and where a
 * page's time goes (HTTP, JSON, database, the rest), from the timing the page activities report.
 */
import path from 'node:path';
import type { PageTiming } from '../../workflows/types';
import { streamFigures, type StreamFigures } from './figures';
import { awaitReplication, replicationYaml, startReplication } from './replication';
import { BENCH_KEY, startBenchSandbox } from './sandbox';
import type { Services } from './services';
import { temporalActions, type ActionGroup } from './temporal-actions';
import { startWorkers, type WorkerFigures } from './workers';

export interface FastOptions {
  preset: string;
  seed: string;
  /** the sandbox's --latency (off), or undefined where it has none */
  latency: string | undefined;
  workers: number;
  /** the worker's KLAVIYO_SYNC_RATE_LIMITS: off where the worker has it, else documented */
  workerRateLimits: string;
  maxMinutes: number;
}

/**
 * Where the events stream's time went, in ms summed over its page activities, against its wall time.
 * - http: from the rate limiter's grant until the response body was read (time to headers + body);
 * - json: JSON.parse of the body and its JSON:API shape check;
 * - db: writePage, the page and its cursor in one transaction;
 * - wait: the rate limiter's wait;
 * - inActivityOther: the rest of each page activity (reading its cursor, heartbeats, building URLs);
 * - betweenActivities: the stream's wall time not inside a page activity (Temporal: scheduling the next activity,
 *   workflow tasks, prepare and finish);
 * - temporalOther = wall − (http + json + db): what the chain of page activities spent outside HTTP, JSON and the
 *   database, i.e. wait + inActivityOther + betweenActivities.
 * With several page-activity chains at once (parallel windows), the sums exceed the wall time: `overlap` says by
 * how much (Σ activity time / wall), and shares are then of Σ activity time.
 */
export interface TimeSplit {
  wallMs: number;
  pages: number;
  timing: PageTiming;
  inActivityOtherMs: number;
  betweenActivitiesMs: number;
  temporalOtherMs: number;
  overlap: number;
}

export interface FastRun {
  target: 'PG' | 'LITE';
  workflowId: string;
  /** start accepted to result */
  wallS: number;
  rows: number;
  /** end-to-end: rows / wallS */
  rowsPerS: number;
  stream: StreamFigures;
  split: TimeSplit | null;
  workers: WorkerFigures[];
  actions: ActionGroup[];
}

export interface FastResult {
  mode: 'fast';
  options: FastOptions;
  sandboxArgs: string[];
  runs: FastRun[];
}

export function timeSplit(wallMs: number, pages: number, t: PageTiming | null): TimeSplit | null {
  if (!t) return null;
  const inActivityOtherMs = t.activityMs - (t.waitMs + t.httpMs + t.jsonMs + t.dbMs);
  return {
    wallMs,
    pages,
    timing: t,
    inActivityOtherMs,
    betweenActivitiesMs: Math.max(0, wallMs - t.activityMs),
    temporalOtherMs: Math.max(wallMs, t.activityMs) - (t.httpMs + t.jsonMs + t.dbMs),
    overlap: t.activityMs / wallMs,
  };
}

export async function runFast(services: Services, opts: FastOptions): Promise<FastResult> {
  const sandbox = await startBenchSandbox({ preset: opts.preset, seed: opts.seed, rateLimits: 'off', latency: opts.latency });
  const workers = await startWorkers(opts.workers, {
    temporalAddress: services.temporal.address,
    klaviyo: sandbox.process.connection(BENCH_KEY),
    pg: services.postgres.url,
    lite: `sqlite://${path.join(services.tmp, 'bench-fast.db')}`,
    rateLimits: opts.workerRateLimits,
  });
  const runs: FastRun[] = [];
  try {
    const truth = await sandbox.process.truth();
    for (const target of ['PG', 'LITE'] as const) {
      const workflowId = `bench-fast-${target.toLowerCase()}`;
      const before = await sandbox.stats();
      workers.measure();
      const run = await startReplication(services.client, workflowId, replicationYaml(['events'], target, 'bench_fast'));
      const { summary, wallS } = await awaitReplication(run, opts.maxMinutes);
      const after = await sandbox.stats();
      const stream = streamFigures(summary, before, after, 'off', truth)[0];
      const events = summary.streams[0];
      runs.push({
        target,
        workflowId,
        wallS,
        rows: summary.rows,
        rowsPerS: summary.rows / wallS,
        stream,
        split: timeSplit(events.durationMs, events.pages, events.timing ?? null),
        workers: workers.figures(),
        actions: await temporalActions(services.client, workflowId),
      });
    }
    return { mode: 'fast', options: opts, sandboxArgs: sandbox.args, runs };
  } finally {
    await workers.stop();
    await sandbox.stop();
  }
}
