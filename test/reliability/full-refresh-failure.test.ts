/**
 * A full refresh failing midway, on Postgres and on SQLite: a first run of `profiles` (full refresh, ~20 pages)
 * completes; the sandbox's clock moves (profiles updated); a second run is failed midway by a 403 (user-fixable:
 * the stream fails at once), a third is terminated midway, each while a reader reads the target table every
 * ~100 ms: each read's ids and `updated` values must equal the first run's (the worst read's missing or changed
 * rows count as lost; a read that fails, as all of them). The failed run must have dropped its staging table (the
 * terminated one runs no code: the next run drops it), and a fourth run must complete with the table equal to the
 * sandbox's truth, values included, and no staging table left.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Destination } from '../../lib/db/destination';
import { connect } from '../../lib/db/connect';
import { stagingTable } from '../../lib/db/naming';
import { idsChecksum } from '../../sandbox/account/checksum';
import type { WorkflowHandle } from '@temporalio/client';
import type { ReplicationSummary } from '../../workflows/types';
import { advance, sandboxResources, stackWorker, startStack, targetOf, truth, type Stack } from '../helpers/stack';
import { recordFigures, SHORT } from './figures';
import { causes } from './measure';

const SUITE = 'full-refresh-failure';
const READ_EVERY_MS = 100;
const RUN_BOUND_MS = 120_000;

let stack: Stack;

before(async () => {
  // ~20 pages of 100 profiles (100 in the long form), each answer slowed a little, so the second run is failed while it pages
  stack = await startStack(['--profiles', SHORT ? '2000' : '10000', '--latency', 'base=60,row=0.2']);
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

/** Starts a run with a worker of this process; `during` runs beside it; resolves with its end (summary or failure). */
async function run(
  target: 'PG' | 'LITE',
  workflowId: string,
  during: (handle: WorkflowHandle) => Promise<void> = async () => {},
): Promise<{ summary?: ReplicationSummary; failure?: unknown; ms: number }> {
  const worker = await stackWorker(stack);
  const started = Date.now();
  return worker.runUntil(async () => {
    const handle = await stack.temporal.env.client.workflow.start('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId,
      args: [{ name: workflowId, yaml: yaml(target) }],
      workflowExecutionTimeout: RUN_BOUND_MS,
    });
    const beside = during(handle);
    try {
      return { summary: (await handle.result()) as ReplicationSummary, ms: Date.now() - started };
    } catch (failure) {
      return { failure, ms: Date.now() - started };
    } finally {
      await beside;
    }
  });
}

/** The staging table's rows, 0 while it does not exist. */
async function stagedRows(target: 'PG' | 'LITE'): Promise<number> {
  const t = targetOf(stack, target);
  const ref = stagingTable(t.kind, { schema: 'klaviyo', table: 'profiles' });
  const db = connect(t);
  const table = ref.schema ? db.withSchema(ref.schema).table(ref.name) : db.table(ref.name);
  return table
    .count({ n: '*' })
    .then(([r]) => Number(r.n))
    .catch(() => 0);
}

/**
 * A run interrupted once its staging table holds 500 rows (`interrupt`), while a reader reads the target every
 * READ_EVERY_MS and compares each read with `expected`, through the run's end and a little after.
 */
async function interruptedRun(
  target: 'PG' | 'LITE',
  workflowId: string,
  expected: Snapshot,
  interrupt: (handle: WorkflowHandle) => Promise<void>,
) {
  const dest = new Destination(targetOf(stack, target));
  const r = { reads: 0, readsDiffering: 0, readErrors: 0, worstLost: 0, worstExtra: 0, stagedAtInterrupt: 0 };
  let stop = false;
  const reader = (async () => {
    while (!stop) {
      r.reads++;
      try {
        const d = differences(expected, await read(dest));
        if (d.lost + d.extra > 0) r.readsDiffering++;
        r.worstLost = Math.max(r.worstLost, d.lost);
        r.worstExtra = Math.max(r.worstExtra, d.extra);
      } catch {
        // unreadable: every row is missing for that reader
        r.readErrors++;
        r.readsDiffering++;
        r.worstLost = expected.size;
      }
      await sleep(READ_EVERY_MS);
    }
  })();
  const end = await run(target, workflowId, async (handle) => {
    for (;;) {
      const n = await stagedRows(target);
      if (n >= 500) break;
      await sleep(20);
    }
    await interrupt(handle);
    r.stagedAtInterrupt = await stagedRows(target);
  });
  // a few reads after the end, too
  await sleep(5 * READ_EVERY_MS);
  stop = true;
  await reader;
  const afterwards = differences(expected, await read(dest));
  return { ...r, ...end, afterwards, stagingLeft: await stagingExists(stack, target) };
}

for (const target of ['PG', 'LITE'] as const) {
  void test(`${target}: a full refresh failing or terminated midway leaves the previous table intact and readable`, async () => {
    const dest = new Destination(targetOf(stack, target));
    await stack.sandbox.admin('faults', {});

    // 1. a run that completes
    const first = await run(target, `fr-${target}-1`);
    assert.ifError(first.failure);
    const expected = await read(dest);
    const t1 = (await truth(stack)).profiles;
    assert.deepEqual({ count: expected.size, checksum: idsChecksum([...expected.keys()]) }, t1, 'the first run is exact');

    // the account changes: a swap of an interrupted run's rows would show as changed values
    await advance(stack);

    // 2. a run failed midway by a 403 (user-fixable: the stream fails at once), read throughout
    const failed = await interruptedRun(target, `fr-${target}-2`, expected, async () => {
      await stack.sandbox.admin('faults', { failNext: { count: 1, status: 403 } });
    });
    // 3. a run terminated midway (no workflow code runs: the next run must clean up), read throughout
    const terminated = await interruptedRun(target, `fr-${target}-3`, expected, async (handle) => {
      await handle.terminate('reliability: terminated midway');
    });

    // 4. a run that completes: the table equals the sandbox's truth, values included; no staging left
    const last = await run(target, `fr-${target}-4`);
    const now = await read(dest);
    const t4 = (await truth(stack)).profiles;
    const sandboxProfiles = await sandboxResources(stack, '/api/profiles?page[size]=100');
    const fresh: Snapshot = new Map([...sandboxProfiles].map(([id, r]) => [id, new Date(r.attributes.updated).toISOString()]));
    const finalDiff = differences(fresh, new Map([...now].map(([id, v]) => [id, new Date(v).toISOString()])));
    const stagingAfterLast = await stagingExists(stack, target);

    for (const [how, r] of [
      ['failed (403)', failed],
      ['terminated', terminated],
    ] as const) {
      recordFigures({
        suite: SUITE,
        case: `${target}: ${how} midway`,
        faults: 1,
        rowsLost: r.worstLost + r.afterwards.lost,
        rowsDuplicated: r.worstExtra + r.afterwards.extra,
        hangs: r.summary || r.failure ? 0 : 1,
        details: {
          reads: r.reads,
          readsDiffering: r.readsDiffering,
          readErrors: r.readErrors,
          stagedAtInterrupt: r.stagedAtInterrupt,
          runSeconds: Math.round(r.ms / 100) / 10,
          stagingLeft: r.stagingLeft ? 1 : 0,
          failure: r.failure ? causes(r.failure).slice(0, 200) : 'none',
        },
      });
    }
    recordFigures({
      suite: SUITE,
      case: `${target}: the next run completes`,
      rowsLost: finalDiff.lost,
      rowsDuplicated: finalDiff.extra,
      details: { rows: now.size, stagingLeft: stagingAfterLast ? 1 : 0 },
    });

    for (const [how, r] of [
      ['failed', failed],
      ['terminated', terminated],
    ] as const) {
      assert.ok(r.failure, `the ${how} run did not complete`);
      assert.ok(r.stagedAtInterrupt > 0 && r.stagedAtInterrupt < t1.count, `${how} midway (${r.stagedAtInterrupt} of ${t1.count} staged)`);
      assert.ok(r.reads >= 5, `${how}: the reader read throughout (${r.reads} reads)`);
      assert.equal(r.readsDiffering, 0, `${how}: every read equalled the first run's table (${r.readsDiffering} of ${r.reads} differed)`);
      assert.deepEqual(r.afterwards, { lost: 0, extra: 0 }, `${how}: afterwards the table is the first run's`);
    }
    assert.match(causes(failed.failure), /403/, 'the failed run failed on the 403, at once');
    assert.equal(failed.stagingLeft, false, 'the failed run dropped its staging table');
    // a terminated run runs no code of its own: its staging stays until the next run of the table drops it
    assert.match(causes(terminated.failure), /terminated/i);
    assert.ifError(last.failure);
    assert.ok(last.summary!.streams.every((s) => s.status === 'completed'));
    assert.deepEqual({ count: now.size, checksum: idsChecksum([...now.keys()]) }, t4, 'the last run is exact');
    assert.deepEqual(finalDiff, { lost: 0, extra: 0 }, 'the last run has the current values');
    assert.equal(stagingAfterLast, false, 'no staging table is left after the next run');
  });
}
