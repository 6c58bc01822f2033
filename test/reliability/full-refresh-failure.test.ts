/**
 * A full refresh failing midway, on Postgres and on SQLite: a first run of `profiles` (full refresh, ~30 pages)
 * completes; the sandbox's clock moves (profiles updated); a second run is failed midway by a 403 (user-fixable:
 * the stream fails at once) while a reader reads the target table every ~100 ms: each read's ids and `updated`
 * values must equal the first run's (any read that differs, or fails, counts its missing or changed rows as lost).
 * Afterwards the staging table must be gone, and a third run must complete with the table equal to the sandbox's
 * truth, values included.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Destination } from '../../lib/db/destination';
import { connect } from '../../lib/db/connect';
import { stagingTable } from '../../lib/db/naming';
import { idsChecksum } from '../../sandbox/account/checksum';
import type { ReplicationSummary } from '../../workflows/types';
import { advance, sandboxResources, stackWorker, startStack, targetOf, truth, type Stack } from '../helpers/stack';
import { recordFigures, SHORT } from './figures';
import { causes } from './measure';

const SUITE = 'full-refresh-failure';
const READ_EVERY_MS = 100;
const RUN_BOUND_MS = 120_000;

let stack: Stack;

before(async () => {
  // ~30 pages of 100 profiles, each answer slowed a little, so the second run is failed while it pages
  stack = await startStack(['--profiles', SHORT ? '3000' : '10000', '--latency', 'base=60,row=0.2']);
});
after(async () => {
  await stack?.stop();
});

const yaml = (target: 'PG' | 'LITE') => `source: KLAVIYO
target: ${target}
streams:
  profiles:
    mode: full-refresh
    object: klaviyo.profiles
`;

type Snapshot = Map<string, string>;

/** The target table's ids and their `updated`, as a reader sees them. */
async function read(dest: Destination): Promise<Snapshot> {
  const rows = await dest.snapshot({ schema: 'klaviyo', table: 'profiles' }, ['id']);
  return new Map(rows.map((r) => [String(r.id), String(r.updated instanceof Date ? r.updated.toISOString() : r.updated)]));
}

/** Rows of `expected` that `seen` lacks or holds with another value, and rows `seen` has that `expected` has not. */
function differences(expected: Snapshot, seen: Snapshot): { lost: number; extra: number } {
  let lost = 0;
  for (const [id, v] of expected) if (seen.get(id) !== v) lost++;
  let extra = 0;
  for (const id of seen.keys()) if (!expected.has(id)) extra++;
  return { lost, extra };
}

async function stagingExists(stack: Stack, target: 'PG' | 'LITE'): Promise<boolean> {
  const t = targetOf(stack, target);
  const ref = stagingTable(t.kind, { schema: 'klaviyo', table: 'profiles' });
  const db = connect(t);
  return ref.schema ? db.schema.withSchema(ref.schema).hasTable(ref.name) : db.schema.hasTable(ref.name);
}

async function run(target: 'PG' | 'LITE', workflowId: string): Promise<ReplicationSummary> {
  const worker = await stackWorker(stack);
  return (await worker.runUntil(
    stack.temporal.env.client.workflow.execute('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId,
      args: [{ name: workflowId, yaml: yaml(target) }],
      workflowExecutionTimeout: RUN_BOUND_MS,
    }),
  )) as ReplicationSummary;
}

for (const target of ['PG', 'LITE'] as const) {
  void test(`${target}: a full refresh failing midway leaves the previous table intact and readable, and no staging`, async () => {
    const dest = new Destination(targetOf(stack, target));
    await stack.sandbox.admin('faults', {});

    // 1. a run that completes
    const first = await run(target, `fr-${target}-1`);
    assert.ok(first.streams.every((s) => s.status === 'completed'));
    const expected = await read(dest);
    const t1 = (await truth(stack)).profiles;
    assert.deepEqual({ count: expected.size, checksum: idsChecksum([...expected.keys()]) }, t1, 'the first run is exact');

    // the account changes: a swap of the failed run's rows would show as changed values
    await advance(stack);

    // 2. a run failed midway (a 403 once staging holds pages), read throughout
    let reads = 0;
    let readsDiffering = 0;
    let readErrors = 0;
    let worstLost = 0;
    let worstExtra = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        reads++;
        try {
          const d = differences(expected, await read(dest));
          if (d.lost + d.extra > 0) readsDiffering++;
          worstLost = Math.max(worstLost, d.lost);
          worstExtra = Math.max(worstExtra, d.extra);
        } catch {
          readErrors++;
          readsDiffering++;
          worstLost = expected.size;
        }
        await sleep(READ_EVERY_MS);
      }
    })();
    const failer = (async () => {
      const t = targetOf(stack, target);
      const ref = stagingTable(t.kind, { schema: 'klaviyo', table: 'profiles' });
      const db = connect(t);
      const table = () => (ref.schema ? db.withSchema(ref.schema).table(ref.name) : db.table(ref.name));
      for (;;) {
        if (stop) return 0;
        const n = await table()
          .count({ n: '*' })
          .then(([r]) => Number(r.n))
          .catch(() => 0);
        if (n >= 500) break;
        await sleep(20);
      }
      await stack.sandbox.admin('faults', { failNext: { count: 1, status: 403 } });
      return (await table()
        .count({ n: '*' })
        .then(([r]) => Number(r.n))
        .catch(() => 0)) as number;
    })();
    let failure: unknown;
    const started = Date.now();
    try {
      await run(target, `fr-${target}-2`);
    } catch (err) {
      failure = err;
    }
    const secondMs = Date.now() - started;
    // a few reads after the failure, too
    await sleep(5 * READ_EVERY_MS);
    stop = true;
    const [stagedAtFault] = await Promise.all([failer, reader]);
    const stagingLeft = await stagingExists(stack, target);
    const afterFailure = differences(expected, await read(dest));

    // 3. a run that completes: the table equals the sandbox's truth, values included
    const third = await run(target, `fr-${target}-3`);
    const now = await read(dest);
    const t3 = (await truth(stack)).profiles;
    const sandboxProfiles = await sandboxResources(stack, '/api/profiles?page[size]=100');
    const fresh: Snapshot = new Map([...sandboxProfiles].map(([id, r]) => [id, new Date(r.attributes.updated).toISOString()]));
    const finalDiff = differences(fresh, new Map([...now].map(([id, v]) => [id, new Date(v).toISOString()])));
    const stagingAfterThird = await stagingExists(stack, target);

    recordFigures({
      suite: SUITE,
      case: `${target}: failed midway, then a run that completes`,
      faults: 1,
      rowsLost: worstLost + afterFailure.lost + finalDiff.lost,
      rowsDuplicated: worstExtra + afterFailure.extra + finalDiff.extra,
      hangs: 0,
      details: {
        reads,
        readsDiffering,
        readErrors,
        stagedAtFault,
        secondRunSeconds: Math.round(secondMs / 100) / 10,
        stagingLeftAfterFailure: stagingLeft ? 1 : 0,
        stagingLeftAfterThird: stagingAfterThird ? 1 : 0,
        failure: failure ? causes(failure).slice(0, 300) : 'none',
      },
    });
    assert.ok(failure, 'the second run failed');
    assert.match(causes(failure), /403|permission|forbidden/i, 'it failed on the 403, at once');
    assert.ok(stagedAtFault > 0 && stagedAtFault < t1.count, `the failure came midway (${stagedAtFault} of ${t1.count} staged)`);
    assert.ok(reads >= 5, `the reader read throughout (${reads} reads)`);
    assert.equal(readsDiffering, 0, `every read equalled the first run's table (${readsDiffering} of ${reads} differed)`);
    assert.deepEqual(afterFailure, { lost: 0, extra: 0 }, 'after the failure the table is the first run’s');
    assert.equal(stagingLeft, false, 'the failed run dropped its staging table');
    assert.ok(third.streams.every((s) => s.status === 'completed'));
    assert.deepEqual({ count: now.size, checksum: idsChecksum([...now.keys()]) }, t3, 'the third run is exact');
    assert.deepEqual(finalDiff, { lost: 0, extra: 0 }, 'the third run has the current values');
    assert.equal(stagingAfterThird, false);
  });
}
