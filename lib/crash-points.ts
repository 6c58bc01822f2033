/**
 * Test-only crash points, for the reliability suite's worker kills (test/reliability/worker-kill.test.ts). With
 * `KLAVIYO_SYNC_TEST_CRASH_AT=<point>[@<tag>][:<n>]` in a worker's environment, the process kills itself with
 * SIGKILL the n-th time (default: the first) it reaches that point with that tag (default: any), as a machine
 * losing power would: no `finally`, no rollback sent, no flush. It first writes one line to stderr,
 * `klaviyo-sync crash point <point>@<tag> #<n>: SIGKILL`, so a test can tell which point ended the process.
 * Without the variable every call returns at once and does nothing.
 *
 * The points, and their tag:
 *   plan     planReplication starts (the replication's first activity)                       tag: the replication name
 *   fetch    a page's answer has its status and headers, its body is not read yet           tag: the operation (get_events)
 *   write    inside a page's write transaction: rows upserted, cursor not saved, not committed    tag: the stream
 *            (an id pass's page: ids kept, cursor not saved; tag: the stream and `#ids`, e.g. profiles#ids)
 *   written  a page activity committed its last page of the call and has not completed yet      tag: the stream
 *   swap     inside a full refresh's swap transaction: old table dropped, staging renamed, not committed  tag: the table
 *   mark     inside the finish of a run with an id pass: its rows marked deleted, not committed    tag: the stream
 *   resumed  prepareStream of a run that reads its partitions back (a continue-as-new, a retry)  tag: the stream
 */
import fs from 'node:fs';

export type CrashPoint = 'plan' | 'fetch' | 'write' | 'written' | 'swap' | 'mark' | 'resumed';

export const CRASH_AT_VARIABLE = 'KLAVIYO_SYNC_TEST_CRASH_AT';

const reached = new Map<string, number>();

/** Parses `<point>[@<tag>][:<n>]`; null for an unset or malformed value (malformed: a test's mistake, so it says so). */
export function parseCrashAt(text: string | undefined): { point: string; tag?: string; n: number } | null {
  if (!text) return null;
  const m = /^([a-z]+)(?:@([^:]+))?(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`${CRASH_AT_VARIABLE} must be <point>[@<tag>][:<n>], not ${JSON.stringify(text)}`);
  return { point: m[1], ...(m[2] ? { tag: m[2] } : {}), n: m[3] ? Number(m[3]) : 1 };
}

/** Kills this process if `KLAVIYO_SYNC_TEST_CRASH_AT` names this point (and tag) and this is its n-th time. */
export function crashPoint(point: CrashPoint, tag: string): void {
  const spec = process.env[CRASH_AT_VARIABLE];
  if (!spec) return;
  const want = parseCrashAt(spec)!;
  if (want.point !== point || (want.tag !== undefined && want.tag !== tag)) return;
  const n = (reached.get(spec) ?? 0) + 1;
  reached.set(spec, n);
  if (n !== want.n) return;
  fs.writeSync(2, `klaviyo-sync crash point ${point}@${tag} #${n}: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
  // nothing of this thread runs on while the signal lands
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}
