/**
 * Sync state at a real account's scale, end to end (Temporal dev server, the sandbox over HTTP, embedded Postgres):
 * - state belongs to a target table: several replications of one stream into one schema, and two accounts into one
 *   schema, each keep their own watermark and land exact tables;
 * - no update is skipped at a watermark's second: a profile updated later in the same second is read again;
 * - committed progress survives a new run: a terminated incremental backfill continues from its last committed
 *   page; a terminated full refresh leaves the previous table intact and a new run starts from the first page.
 * Each test but the full-refresh one failed before issue #7's fixes (the numbers are in their messages).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { request } from 'undici';
import { Destination } from '../lib/db/destination';
import type { ReplicationSummary, StreamSummary } from '../workflows/types';
import { startSandbox, type SandboxProcess } from './helpers/sandbox';
import { API_KEY, checksumOf, sandboxResources, stackWorker, startStack, targetOf, type Stack } from './helpers/stack';

let stack: Stack;
/** a second account, other seed: other ids and other data */
let accountB: SandboxProcess;
/** an account with many events, each response slowed a little, so a run can be stopped in the middle of a stream */
let big: SandboxProcess;
let env: NodeJS.ProcessEnv;
let dest: Destination;

const connection = (sandbox: SandboxProcess) => sandbox.connection();

before(async () => {
  stack = await startStack();
  const common = ['--size', 'tiny', '--api-key', API_KEY, '--rate-limits', 'off'];
  [accountB, big] = await Promise.all([
    startSandbox([...common, '--seed', '12']),
    startSandbox([...common, '--seed', '13', '--events', '20000', '--faults', 'slow=1:30']),
  ]);
  env = { ...stack.env, KLAVIYO_B: connection(accountB), KLAVIYO_BIG: connection(big) };
  dest = new Destination(targetOf(stack, 'PG'));
});
after(async () => {
  await Promise.allSettled([accountB?.stop(), big?.stop()]);
  await stack?.stop();
});

async function admin(sandbox: SandboxProcess, path: string, body?: unknown): Promise<any> {
  const res = await request(
    `${sandbox.baseUrl}/__sandbox/${path}`,
    body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) },
  );
  const json = (await res.body.json()) as any;
  assert.equal(res.statusCode, 200, `${path}: ${JSON.stringify(json)}`);
  return json;
}
const truthOf = (sandbox: SandboxProcess) => admin(sandbox, 'truth');
const advanceAt = (sandbox: SandboxProcess, at: Date, scale = 1) => admin(sandbox, 'advance', { at: at.toISOString(), scale });

/** Runs replications at once with one worker of this process; each settles to its summary or its error. */
async function runAll(runs: Array<{ id: string; yaml: string }>): Promise<Array<PromiseSettledResult<ReplicationSummary>>> {
  const worker = await stackWorker(stack, env);
  const client = stack.temporal.env.client;
  return worker.runUntil(
    Promise.allSettled(
      runs.map(
        (r) =>
          client.workflow.execute('replicate', {
            taskQueue: 'klaviyo-sync',
            workflowId: r.id,
            args: [{ name: r.id, yaml: r.yaml }],
          }) as Promise<ReplicationSummary>,
      ),
    ),
  );
}

async function run(id: string, yaml: string): Promise<ReplicationSummary> {
  const [result] = await runAll([{ id, yaml }]);
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

function streamOf(summary: ReplicationSummary, stream: string): StreamSummary {
  const s = summary.streams.find((x) => x.stream === stream);
  assert.ok(s, `${stream} in the summary`);
  assert.equal(s.status, 'completed', `${stream}: ${s.error ?? ''}`);
  return s;
}

const yaml = (source: string, streams: Record<string, { table: string; mode?: string }>) => `
source: ${source}
target: PG
streams:
${Object.entries(streams)
  .map(
    ([stream, o]) => `  ${stream}:
    object: ${o.table}
    mode: ${o.mode ?? 'incremental'}${(o.mode ?? 'incremental') === 'incremental' ? '\n    source_options:\n      start_date: 2015-01-01' : ''}`,
  )
  .join('\n')}
`;

/** Every profile of the table has the `updated` and `properties` the API serves now: no update was missed. */
async function assertProfilesCurrent(sandbox: SandboxProcess, object: { schema: string; table: string }): Promise<void> {
  const api = await sandboxResources({ ...stack, sandbox } as Stack, '/api/profiles?page[size]=100');
  const rows = await dest.snapshot(object, ['id']);
  assert.equal(rows.length, api.size, `${object.table}: row count`);
  const stale: string[] = [];
  for (const row of rows) {
    const r = api.get(String(row.id));
    assert.ok(r, `${object.table}: ${row.id} is not in the account`);
    const same =
      new Date(String(row.updated)).getTime() === new Date(r.attributes.updated).getTime() &&
      isDeepStrictEqual(row.properties, r.attributes.properties);
    if (!same) stale.push(`${row.id} (table ${String(row.updated)}, API ${r.attributes.updated})`);
  }
  assert.deepEqual(stale, [], `${object.schema}.${object.table}: profiles missing their latest update`);
}

/** The table's ids, as the sandbox's truth counts them. */
async function tableIds(d: Destination, object: { schema: string; table: string }): Promise<string[]> {
  return (await d.snapshot(object, ['id'])).map((r) => String(r.id));
}

async function assertExact(sandbox: SandboxProcess, stream: 'profiles' | 'events', object: { schema: string; table: string }) {
  const ids = await tableIds(dest, object);
  assert.equal(new Set(ids).size, ids.length, `${object.table}: duplicates`);
  assert.deepEqual(checksumOf(ids), (await truthOf(sandbox))[stream], `${object.schema}.${object.table} equals the account's ${stream}`);
}

void describe('state belongs to a target table', () => {
  void test('two replications of profiles into one schema each keep their own watermark', async () => {
    const us = yaml('KLAVIYO', { profiles: { table: 'multi.us_profiles' } });
    const eu = yaml('KLAVIYO', { profiles: { table: 'multi.eu_profiles' } });
    await run('multi-us-1', us);
    await run('multi-eu-1', eu);
    const changed = await advanceAt(stack.sandbox, new Date(), 10);
    assert.equal(changed.profilesUpdated, 10);
    const us2 = streamOf(await run('multi-us-2', us), 'profiles');
    const eu2 = streamOf(await run('multi-eu-2', eu), 'profiles');
    // each table reads the 10 updated profiles (and the rows of its watermark's second again: the overlap)
    assert.ok(us2.rows >= 10, `us_profiles read ${us2.rows} rows after 10 updates`);
    assert.ok(eu2.rows >= 10, `eu_profiles read ${eu2.rows} rows after 10 updates (a shared watermark reads 0)`);
    await assertProfilesCurrent(stack.sandbox, { schema: 'multi', table: 'us_profiles' });
    await assertProfilesCurrent(stack.sandbox, { schema: 'multi', table: 'eu_profiles' });
  });

  void test('two replications of one stream into one schema run at once: neither supersedes the other', async () => {
    // with events (eight pages each), so both runs are in progress together
    await advanceAt(stack.sandbox, new Date(), 10);
    const both = await runAll([
      { id: 'multi-us-3', yaml: yaml('KLAVIYO', { profiles: { table: 'multi.us_profiles' }, events: { table: 'multi.us_events' } }) },
      { id: 'multi-eu-3', yaml: yaml('KLAVIYO', { profiles: { table: 'multi.eu_profiles' }, events: { table: 'multi.eu_events' } }) },
    ]);
    for (const r of both) {
      assert.equal(
        r.status,
        'fulfilled',
        `both runs complete: ${r.status === 'rejected' ? String(r.reason?.cause?.message ?? r.reason) : ''}`,
      );
    }
    for (const table of ['us', 'eu']) {
      await assertProfilesCurrent(stack.sandbox, { schema: 'multi', table: `${table}_profiles` });
      await assertExact(stack.sandbox, 'events', { schema: 'multi', table: `${table}_events` });
    }
  });

  void test('two accounts into one schema: each table equals its own account', async () => {
    const a = yaml('KLAVIYO', { profiles: { table: 'shared.a_profiles' }, events: { table: 'shared.a_events' } });
    const b = yaml('KLAVIYO_B', { profiles: { table: 'shared.b_profiles' }, events: { table: 'shared.b_events' } });
    await run('accounts-a-1', a);
    await run('accounts-b-1', b);
    // account A changes first, account B two seconds later; B is synced first
    await advanceAt(stack.sandbox, new Date(), 5);
    await sleep(2000);
    await advanceAt(accountB, new Date(), 5);
    await run('accounts-b-2', b);
    await run('accounts-a-2', a);
    for (const [sandbox, prefix] of [
      [stack.sandbox, 'a'],
      [accountB, 'b'],
    ] as const) {
      await assertExact(sandbox, 'profiles', { schema: 'shared', table: `${prefix}_profiles` });
      await assertExact(sandbox, 'events', { schema: 'shared', table: `${prefix}_events` });
      await assertProfilesCurrent(sandbox, { schema: 'shared', table: `${prefix}_profiles` });
    }
  });
});

void test("no update is skipped at a watermark's second: profiles updated later in the same second are read", async (t) => {
  const object = { schema: 'second', table: 'profiles' };
  const profiles = yaml('KLAVIYO', { profiles: { table: 'second.profiles' } });
  await run('second-0', profiles);
  // Klaviyo's `updated` has one-second resolution: T, a run, then more updates at the same T
  const at = new Date(Math.floor(Date.now() / 1000) * 1000);
  const first = await advanceAt(stack.sandbox, at, 20);
  assert.equal(first.profilesUpdated, 20);
  const r1 = streamOf(await run('second-1', profiles), 'profiles');
  assert.ok(r1.rows >= 20, `the first run after T read ${r1.rows} rows`);
  assert.equal(r1.watermark, at.toISOString(), 'the watermark is T');
  const second = await advanceAt(stack.sandbox, at, 20);
  assert.equal(second.profilesUpdated, 20);
  const r2 = streamOf(await run('second-2', profiles), 'profiles');
  // greater-than(updated, T) reads none of them; the overlap re-reads T's second: the 20 profiles updated first at T
  // (already in the table, upserted again) and the 20 updated at T again (fewer if some were drawn twice)
  assert.ok(r2.rows >= 20, `the run after the second update at T read ${r2.rows} rows (0 without an overlap)`);
  assert.ok(r2.rows <= 40, `the overlap re-read only T's second: ${r2.rows} rows, ${r2.rows - 20} of them re-read`);
  t.diagnostic(
    `after 20 updates at T: ${r1.rows} rows; after 20 more at the same T: ${r2.rows} rows (${r2.rows - 20} re-read by the overlap)`,
  );
  await assertProfilesCurrent(stack.sandbox, object);
  await assertExact(stack.sandbox, 'profiles', object);

  // `source_options.lookback` widens the overlap: with 1d, the run reads every profile updated after T - 1 d - 1 s
  const lookback = profiles.replace('start_date: 2015-01-01', 'start_date: 2015-01-01\n      lookback: 1d');
  const r3 = streamOf(await run('second-3', lookback), 'profiles');
  const api = await sandboxResources(stack, '/api/profiles?page[size]=100');
  const inDay = [...api.values()].filter((p) => Date.parse(p.attributes.updated) > at.getTime() - 86_401_000).length;
  assert.equal(r3.rows, inDay, `lookback 1d re-read the ${inDay} profiles updated in the day before the watermark`);
  t.diagnostic(`with lookback 1d: ${r3.rows} rows`);
});

void describe('committed progress survives a new run', () => {
  async function eventsRequests(): Promise<number> {
    const stats = await admin(big, 'stats');
    return Object.values((stats.operations.get_events ?? {}) as Record<string, number>).reduce((n, c) => n + c, 0);
  }

  /** Starts a replication, waits until `ready`, terminates it, and returns once the worker has stopped. */
  async function terminateWhen(id: string, text: string, ready: () => Promise<boolean>): Promise<void> {
    const worker = await stackWorker(stack, env);
    const client = stack.temporal.env.client;
    await worker.runUntil(async () => {
      const handle = await client.workflow.start('replicate', {
        taskQueue: 'klaviyo-sync',
        workflowId: id,
        args: [{ name: id, yaml: text }],
      });
      const deadline = Date.now() + 120_000;
      while (!(await ready())) {
        assert.ok(Date.now() < deadline, `${id}: never got far enough to be stopped`);
        await sleep(100);
      }
      await handle.terminate('stopped by the test in the middle of a stream');
      await assert.rejects(handle.result());
    });
  }

  void test('a terminated incremental backfill: a new run continues from the last committed page', async (t) => {
    const object = { schema: 'resume', table: 'events' };
    const events = yaml('KLAVIYO_BIG', { events: { table: 'resume.events' } });
    const total = (await truthOf(big)).events.count;
    await terminateWhen('resume-events', events, async () => (await dest.tableRowCount(object).catch(() => 0)) >= 4000);
    const committed = await dest.tableRowCount(object);
    assert.ok(committed < total, `stopped mid-stream: ${committed} of ${total} events committed`);

    // a new run of the same workflow id (a new run id; a new workflow id behaves the same)
    const before = await eventsRequests();
    const second = streamOf(await run('resume-events', events), 'events');
    const requests = (await eventsRequests()) - before;
    // it reads what was not committed, plus the rows of the last committed watermark's second again
    assert.ok(second.rows >= total - committed, `the new run read ${second.rows} rows, ${total - committed} were missing`);
    assert.ok(
      second.rows <= total - committed + 200,
      `the new run read ${second.rows} rows in ${requests} requests for ${total - committed} missing (${committed} committed before)`,
    );
    await assertExact(big, 'events', object);
    t.diagnostic(`${committed} of ${total} events committed when stopped; the new run read ${second.rows} rows in ${requests} requests`);
  });

  void test('a terminated full refresh leaves the previous table intact; a new run starts again from the first page', async (t) => {
    const object = { schema: 'full', table: 'events' };
    const events = yaml('KLAVIYO_BIG', { events: { table: 'full.events', mode: 'full-refresh' } });
    await run('full-events-1', events);
    const previous = await truthOf(big);
    await assertExact(big, 'events', object);

    await advanceAt(big, new Date(), 5);
    const start = await eventsRequests();
    await terminateWhen('full-events-2', events, async () => (await eventsRequests()) - start >= 30);
    const ids = await tableIds(dest, object);
    assert.deepEqual(checksumOf(ids), previous.events, 'the table still holds the last full load');
    const stopped = (await eventsRequests()) - start;

    const before = await eventsRequests();
    const third = streamOf(await run('full-events-3', events), 'events');
    const now = await truthOf(big);
    assert.equal(third.rows, now.events.count, 'the new run read every row again, from the first page');
    const requests = (await eventsRequests()) - before;
    assert.ok(requests >= Math.ceil(now.events.count / 200), 'every page requested');
    await assertExact(big, 'events', object);
    t.diagnostic(
      `stopped after ${stopped} requests with ${previous.events.count} rows intact; the new run read ${third.rows} of ${now.events.count} rows in ${requests} requests`,
    );
  });
});
