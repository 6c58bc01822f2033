/**
 * What the reliability suites measure, shared: a table against the sandbox's truth (rows lost, rows duplicated),
 * the sandbox's request stats between two moments, and the failed activity attempts in workflow histories.
 */
import type { Client } from '@temporalio/client';
import { request } from 'undici';
import type { Destination } from '../../lib/db/destination';
import type { StreamName } from '../../streams/types';
import { idsChecksum } from '../../sandbox/account/checksum';
import { tableIds } from '../helpers/stack';
import { getStream } from '../../streams/streams';

export interface TableCheck {
  stream: StreamName;
  rows: number;
  expected: number;
  rowsLost: number;
  rowsDuplicated: number;
}

/**
 * One table against the truth's count and ids checksum. Duplicates: ids present twice, plus rows beyond the truth's
 * count. Lost: rows the truth has beyond the table's distinct ids, and at least one when the checksum differs
 * although the counts agree (some id replaced by another).
 */
export async function checkTable(
  dest: Destination,
  stream: StreamName,
  object: { schema: string; table: string },
  expected: { count: number; checksum: string },
  opts: { live?: boolean } = {},
): Promise<TableCheck> {
  const ids = await (opts.live ? liveIds(dest, stream, object) : tableIds(dest, stream, object)).catch(() => [] as string[]);
  const distinct = [...new Set(ids)];
  const twice = ids.length - distinct.length;
  const extra = Math.max(0, distinct.length - expected.count);
  let lost = Math.max(0, expected.count - distinct.length);
  if (lost === 0 && extra === 0 && idsChecksum(distinct) !== expected.checksum) lost = 1;
  return { stream, rows: ids.length, expected: expected.count, rowsLost: lost, rowsDuplicated: twice + extra };
}

/**
 * The ids of a table's live rows, those `source_options.deletes: mark` has not marked `_deleted_at`: a row marked
 * wrongly shows as lost, a row deleted in Klaviyo but not marked as duplicated.
 */
async function liveIds(dest: Destination, stream: StreamName, object: { schema: string; table: string }): Promise<string[]> {
  const key = getStream(stream).primaryKey;
  const rows = await dest.snapshot(object, key);
  return rows.filter((r) => (r._deleted_at ?? null) === null).map((r) => key.map((k) => String(r[k])).join(':'));
}

/** `live`: only the rows not marked deleted count (tables of streams with `deletes: mark`) */
export async function checkTables(
  dest: Destination,
  streams: StreamName[],
  schema: string,
  truth: Record<string, { count: number; checksum: string }>,
  opts: { live?: boolean } = {},
): Promise<{ rowsLost: number; rowsDuplicated: number; rows: number; tables: TableCheck[] }> {
  const tables: TableCheck[] = [];
  for (const s of streams) tables.push(await checkTable(dest, s, { schema, table: s }, truth[s], opts));
  return {
    rowsLost: tables.reduce((a, t) => a + t.rowsLost, 0),
    rowsDuplicated: tables.reduce((a, t) => a + t.rowsDuplicated, 0),
    rows: tables.reduce((a, t) => a + t.rows, 0),
    tables,
  };
}

export interface SandboxStats {
  requests: number;
  throttled: number;
  operations: Record<string, Record<string, number>>;
  faultsInjected: Record<string, number>;
}

export async function sandboxStats(baseUrl: string): Promise<SandboxStats> {
  return (await (await request(`${baseUrl}/__sandbox/stats`)).body.json()) as SandboxStats;
}

/**
 * What the sandbox served between two snapshots: API requests (a reset connection counts as status 0), 200 answers,
 * and the faults injected by kind.
 */
export function statsDelta(
  before: SandboxStats,
  after: SandboxStats,
): { requests: number; ok: number; faults: Record<string, number>; faultsTotal: number } {
  // the sandbox's own endpoints (truth, stats, faults) count as the operation `sandbox`: not API requests
  const api = (s: SandboxStats) => Object.entries(s.operations).filter(([op]) => op !== 'sandbox');
  const ok = (s: SandboxStats) => api(s).reduce((a, [, byStatus]) => a + (byStatus['200'] ?? 0), 0);
  const sent = (s: SandboxStats) => api(s).reduce((a, [, byStatus]) => a + Object.values(byStatus).reduce((x, y) => x + y, 0), 0);
  const faults: Record<string, number> = {};
  for (const [kind, n] of Object.entries(after.faultsInjected)) {
    const d = n - (before.faultsInjected[kind] ?? 0);
    if (d > 0) faults[kind] = d;
  }
  return {
    requests: sent(after) - sent(before),
    ok: ok(after) - ok(before),
    faults,
    faultsTotal: Object.values(faults).reduce((a, b) => a + b, 0),
  };
}

/**
 * Activity attempts that failed, from the histories of every workflow whose id starts with `prefix` (every run):
 * a retried attempt leaves no event of its own, so each ActivityTaskStarted's `attempt` - 1 counts the attempts that
 * failed before it, and an ActivityTaskFailed or TimedOut counts its last one. Also the highest attempt any
 * activity reached, and the activities' last failures' messages, a few, to say what failed.
 */
export async function failedActivityAttempts(
  client: Client,
  prefix: string,
): Promise<{ failedAttempts: number; activities: number; maxAttempt: number; failures: string[] }> {
  let failedAttempts = 0;
  let activities = 0;
  let maxAttempt = 0;
  const failures = new Set<string>();
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH '${prefix}'` })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        activities++;
        const attempt = started.attempt ?? 1;
        failedAttempts += Math.max(0, attempt - 1);
        maxAttempt = Math.max(maxAttempt, attempt);
        const msg = started.lastFailure?.message;
        if (msg && failures.size < 5) failures.add(msg.slice(0, 200));
      }
      if (e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes) failedAttempts++;
    }
  }
  return { failedAttempts, activities, maxAttempt, failures: [...failures] };
}

/** An error and its causes' messages, one line (a workflow failure's cause chain says which activity failed and why). */
export function causes(err: unknown): string {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    out.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return out.join(' <- ').slice(0, 1000);
}
