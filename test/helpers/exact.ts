/**
 * For the reliability suites that kill processes mid-run: each case on a sandbox of its own, and what the tables
 * hold measured against it: rows lost and duplicated from the sandbox's truth (count and id checksum), values that
 * differ from the API's, and the requests the run made beyond the pages it needed.
 */
import { request } from 'undici';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { Destination } from '../../lib/db/destination';
import { createWorker } from '../../worker';
import { getStream } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import { scopeProbes, scopesOf } from '../../lib/klaviyo/scopes';
import type { ReplicationSummary } from '../../workflows/types';
import { checkTables } from '../reliability/measure';
import { API_KEY, listResources, startSandbox, type SandboxProcess } from './sandbox';
import { startWorkerProcess, type RunningProcess } from './process';

/** A sandbox of its own (so its request counts are the case's), answering after a small delay. */
export function caseSandbox(size: string, extra: string[] = []): Promise<SandboxProcess> {
  return startSandbox(['--size', size, '--seed', '11', '--api-key', API_KEY, '--rate-limits', 'off', ...extra]);
}

/** The replication file of one case: these streams into `schema`, incremental ones from 2015. */
/** `extra`: more source options of the incremental streams, as YAML lines (`deletes: mark`) */
export function caseYaml(
  schema: string,
  streams: Partial<Record<StreamName, 'incremental' | 'full-refresh'>>,
  extra: string[] = [],
): string {
  const options = ['start_date: 2015-01-01', ...extra].map((o) => `\n      ${o}`).join('');
  const lines = Object.entries(streams).map(([s, mode]) =>
    mode === 'incremental' ? `  ${s}:\n    mode: incremental\n    source_options:${options}` : `  ${s}:`,
  );
  return `source: KLAVIYO\ntarget: PG\ndefaults:\n  mode: full-refresh\n  object: ${schema}.{stream_name}\nstreams:\n${lines.join('\n')}\n`;
}

/** Every answer the sandbox gave to the API (admin endpoints aside), whatever its status. */
export async function sandboxRequests(sandbox: SandboxProcess): Promise<number> {
  return Object.values(await sandboxRequestsByOperation(sandbox)).reduce((a, b) => a + b, 0);
}

/** The sandbox's answers per API operation (`get_*`), whatever their status. */
export async function sandboxRequestsByOperation(sandbox: SandboxProcess): Promise<Record<string, number>> {
  const stats = (await (await request(`${sandbox.baseUrl}/__sandbox/stats`)).body.json()) as {
    operations: Record<string, Record<string, number>>;
  };
  return Object.fromEntries(
    Object.entries(stats.operations)
      .filter(([op]) => op.startsWith('get_'))
      .map(([op, byStatus]) => [op, Object.values(byStatus).reduce((a, b) => a + b, 0)]),
  );
}

/** The requests a run needs besides its pages: checkSource's one probe per scope of the selected streams. */
export function probesFor(streams: StreamName[]): number {
  const needed = new Set(streams.map(getStream).flatMap(scopesOf));
  return scopeProbes().filter((p) => needed.has(p.scope)).length;
}

export interface Exactness {
  rowsLost: number;
  rowsDuplicated: number;
  /** per stream, what differed (empty when exact) */
  problems: string[];
}

/**
 * Each stream's table against the sandbox's truth, as every reliability suite counts it
 * (test/reliability/measure.ts `checkTables`), with a line per table that differs.
 */
export async function compareToTruth(
  dest: Destination,
  schema: string,
  streams: StreamName[],
  sandbox: SandboxProcess,
  opts: { live?: boolean } = {},
): Promise<Exactness> {
  const truth = await sandbox.truth();
  const checked = await checkTables(dest, streams, schema, truth, opts);
  const problems = checked.tables
    .filter((t) => t.rowsLost + t.rowsDuplicated > 0)
    .map((t) => `${t.stream}: ${t.rows} rows, truth ${t.expected} (${t.rowsLost} lost, ${t.rowsDuplicated} duplicated)`);
  return { rowsLost: checked.rowsLost, rowsDuplicated: checked.rowsDuplicated, problems };
}

/** Rows whose values differ from what the API serves now (`updated` and the attributes advance changes). */
export async function staleRows(dest: Destination, schema: string, sandbox: SandboxProcess): Promise<{ stale: number; checked: number }> {
  let stale = 0;
  let checked = 0;
  for (const [stream, path] of [
    ['profiles', '/api/profiles?page[size]=100'],
    ['templates', '/api/templates'],
  ] as const) {
    const api = await listResources(sandbox.baseUrl, path);
    for (const row of await dest.snapshot({ schema, table: stream }, ['id'])) {
      const r = api.get(String(row.id));
      checked++;
      if (!r) continue; // an id the sandbox lacks is counted by compareToTruth
      const same = ['updated', 'email', 'first_name', 'last_name', 'name', 'html'].every((attr) => {
        if (!(attr in r.attributes)) return true;
        const want = r.attributes[attr];
        if (attr === 'updated') return new Date(String(row[attr])).getTime() === new Date(want).getTime();
        return (row[attr] ?? null) === (want ?? null);
      });
      if (!same) stale++;
    }
  }
  return { stale, checked };
}

/** The worker environment of a case: its sandbox, the Postgres, the Temporal server. */
export function workerEnv(
  sandbox: SandboxProcess,
  pgUrl: string,
  temporalAddress: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KLAVIYO: sandbox.connection(),
    PG: pgUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    ...extra,
  };
}

export function startQueueWorker(queue: string, env: NodeJS.ProcessEnv): Promise<RunningProcess> {
  return startWorkerProcess(['--task-queue', queue], { env });
}

/**
 * A worker in this process on `queue`, resolving connections from `env`, as the replacement of a killed worker
 * process (it runs the same activities; it is cheaper to start than a process when many cases run at once).
 * `stop()` shuts it down and waits for it.
 */
export async function inProcessWorker(
  connection: NativeConnection,
  queue: string,
  env: NodeJS.ProcessEnv,
): Promise<{ stop(): Promise<void> }> {
  const worker = await createWorker({ connection, taskQueue: queue, deps: { env, rateLimitMode: 'documented' } });
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** The replication's summary, or 'hang' when it did not end within `boundMs` (the run is terminated then). */
export async function resultWithin(handle: WorkflowHandle, boundMs: number): Promise<ReplicationSummary | 'hang'> {
  // the bound's timer is cleared when the run ends first: a pending one would keep the test process alive
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), boundMs)));
  const outcome = await Promise.race([handle.result() as Promise<ReplicationSummary>, bound]).finally(() => clearTimeout(timer));
  if (outcome === 'hang') await handle.terminate('reliability: over its bound').catch(() => undefined);
  return outcome;
}

export function startReplication(client: Client, queue: string, workflowId: string, yaml: string): Promise<WorkflowHandle> {
  return client.workflow.start('replicate', { taskQueue: queue, workflowId, args: [{ name: workflowId, yaml }] });
}

/**
 * Activity attempts after the first, over every run of every workflow whose id starts with `prefix` (the
 * replication, its streams and partitions): how many activities a kill interrupted (a retried attempt is the
 * only kind of start Temporal records after a failed or timed-out one).
 */
export async function retriedActivities(client: Client, prefix: string): Promise<number> {
  let retried = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH '${prefix}'` })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      if ((e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) retried++;
    }
  }
  return retried;
}

/** Pages committed by the run, as its summary says (a page written again after a crash is counted once). */
export function pagesOf(summary: ReplicationSummary): number {
  return summary.streams.reduce((n, s) => n + s.pages + (s.idPassPages ?? 0), 0);
}
