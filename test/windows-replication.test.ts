/**
 * Time windows end to end (Temporal dev server, the sandbox over HTTP, embedded Postgres and SQLite): a first
 * incremental events run from a start_date reads several windows at once and lands exactly the account's events;
 * the next run reads only what is new; a run terminated mid-backfill is taken over window by window by a new run,
 * which reads what was missing and little more; profiles updated while their windows are read lose nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { request } from 'undici';
import type { temporal } from '@temporalio/proto';
import { Destination } from '../lib/db/destination';
import type { ReplicationSummary, StreamSummary } from '../workflows/types';
import { checksumOf, sandboxResources, stackWorker, startStack, targetOf, truth, type Stack } from './helpers/stack';

let stack: Stack;

before(async () => {
  // 20,000 events over the sandbox's two years, each response slowed a little so windows overlap in time
  stack = await startStack(['--events', '20000', '--profiles', '3000', '--faults', 'slow=1:20']);
});
after(async () => {
  await stack?.stop();
});

/** A start_date just before the sandbox's history (730 days), so every window holds events. */
const START = new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10);

const yaml = (target: string, stream: 'events' | 'profiles', table: string, start = START) => `
source: KLAVIYO
target: ${target}
streams:
  ${stream}:
    object: ${table}
    mode: incremental
    source_options:
      start_date: ${start}
`;

async function run(id: string, text: string, during?: () => Promise<void>): Promise<StreamSummary> {
  const worker = await stackWorker(stack);
  const summary = (await worker.runUntil(async () => {
    const result = stack.temporal.env.client.workflow.execute('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId: id,
      args: [{ name: id, yaml: text }],
    });
    await during?.();
    return result;
  })) as ReplicationSummary;
  const s = summary.streams[0];
  assert.equal(s.status, 'completed', s.error);
  return s;
}

/** The syncPages activities of a stream workflow's history: the windows they read, and the most in flight at once. */
async function pageActivities(
  workflowId: string,
): Promise<{ windows: Set<string>; maxInFlight: number; activities: number; splits: number }> {
  const history = await stack.temporal.env.client.workflow.getHandle(workflowId).fetchHistory();
  const windows = new Set<string>();
  const open = new Set<string>();
  let maxInFlight = 0;
  let activities = 0;
  let splits = 0;
  const ended = (e: temporal.api.history.v1.IHistoryEvent) =>
    e.activityTaskCompletedEventAttributes ??
    e.activityTaskFailedEventAttributes ??
    e.activityTaskTimedOutEventAttributes ??
    e.activityTaskCanceledEventAttributes;
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'splitWindow') splits++;
    if (scheduled?.activityType?.name === 'syncPages') {
      const input = JSON.parse(Buffer.from(scheduled.input!.payloads![0].data!).toString()) as { partition: string };
      windows.add(input.partition);
      open.add(String(e.eventId));
      activities++;
      maxInFlight = Math.max(maxInFlight, open.size);
    }
    const end = ended(e);
    if (end) open.delete(String(end.scheduledEventId));
  }
  return { windows, maxInFlight, activities, splits };
}

async function eventsRequests(): Promise<number> {
  const res = await request(`${stack.sandbox.baseUrl}/__sandbox/stats`);
  const stats = (await res.body.json()) as { operations: Record<string, Record<string, number>> };
  return Object.values(stats.operations.get_events ?? {}).reduce((n, c) => n + c, 0);
}

async function assertExact(dest: Destination, stream: 'events' | 'profiles', object: { schema: string; table: string }): Promise<void> {
  const ids = (await dest.snapshot(object, ['id'])).map((r) => String(r.id));
  assert.equal(new Set(ids).size, ids.length, `${object.table}: duplicates`);
  assert.deepEqual(checksumOf(ids), (await truth(stack))[stream], `${object.schema}.${object.table} equals the account's ${stream}`);
}

void describe('events in time windows', () => {
  for (const target of ['PG', 'LITE'] as const) {
    void test(`${target}: a first run reads windows at once and lands every event; the next reads only the new ones`, async (t) => {
      const object = { schema: 'windows', table: `events_${target.toLowerCase()}` };
      const text = yaml(target, 'events', `windows.${object.table}`);
      const dest = new Destination(targetOf(stack, target));
      const total = (await truth(stack)).events.count;

      const started = Date.now();
      const first = await run(`windows-${target}-1`, text);
      const ms = Date.now() - started;
      const pages = await pageActivities(`windows-${target}-1/events`);
      assert.ok(pages.windows.size >= 16, `${pages.windows.size} windows read`);
      assert.ok(pages.maxInFlight > 4, `${pages.maxInFlight} page activities in flight at once`);
      // 32 planned; the last, fullest ones split while the earlier ones are done and their slots idle
      assert.ok(pages.splits > 0 && pages.windows.size > 32, `${pages.splits} splits, ${pages.windows.size} windows read`);
      assert.equal(first.rows, total, 'every event read once: the windows do not overlap');
      await assertExact(dest, 'events', object);
      t.diagnostic(
        `${target}: ${total} events in ${ms} ms over ${pages.windows.size} windows, ${pages.activities} page activities, ` +
          `at most ${pages.maxInFlight} in flight, ${pages.splits} splits`,
      );

      // rows the next run reads again: those of the watermark's second (greater-or-equal, whole seconds)
      const watermark = await dest.readWatermark(object);
      assert.ok(watermark, 'the first run left a watermark');
      const second0 = Math.floor(Date.parse(watermark) / 1000) * 1000;
      const boundary = (await dest.snapshot(object, ['id'])).filter((r) => Date.parse(String(r.datetime)) >= second0).length;
      const advanced = (await stack.sandbox.admin('advance')) as { eventsAppended: number };
      const before = await eventsRequests();
      const second = await run(`windows-${target}-2`, text);
      const requests = (await eventsRequests()) - before;
      // the new events, plus the rows of the watermark's second again (greater-or-equal)
      assert.ok(second.rows >= advanced.eventsAppended, `${second.rows} rows read, ${advanced.eventsAppended} appended`);
      assert.ok(
        second.rows <= advanced.eventsAppended + boundary,
        `only the new events and the ${boundary} of the watermark's second: ${second.rows} for ${advanced.eventsAppended}`,
      );
      assert.ok(requests <= 3, `${requests} requests: one open window`);
      await assertExact(dest, 'events', object);
      t.diagnostic(
        `${target}: after advance, ${second.rows} rows for ${advanced.eventsAppended} appended (${boundary} at the watermark's second), in ${requests} requests`,
      );
    });
  }

  void test('terminated mid-backfill: a new run takes over the unfinished windows; the table is exact', async (t) => {
    const object = { schema: 'windows', table: 'events_resume' };
    const text = yaml('PG', 'events', `windows.${object.table}`);
    const dest = new Destination(targetOf(stack, 'PG'));
    const total = (await truth(stack)).events.count;
    const worker = await stackWorker(stack);
    const client = stack.temporal.env.client;
    await worker.runUntil(async () => {
      const handle = await client.workflow.start('replicate', {
        taskQueue: 'klaviyo-sync',
        workflowId: 'windows-resume',
        args: [{ name: 'windows-resume', yaml: text }],
      });
      const deadline = Date.now() + 120_000;
      while ((await dest.tableRowCount(object).catch(() => 0)) < total / 3) {
        assert.ok(Date.now() < deadline, 'never got a third of the way');
        await sleep(50);
      }
      await handle.terminate('stopped by the test in the middle of the backfill');
      await assert.rejects(handle.result());
    });
    const committed = await dest.tableRowCount(object);
    assert.ok(committed < total, `stopped mid-stream: ${committed} of ${total}`);

    const before = await eventsRequests();
    const second = await run('windows-resume', text);
    const requests = (await eventsRequests()) - before;
    const missing = total - committed;
    assert.ok(second.rows >= missing, `${second.rows} rows read, ${missing} were missing`);
    // each unfinished window reads its watermark's second again: a row or two each, 32 windows at most
    assert.ok(second.rows <= missing + 64, `the new run read ${second.rows} rows for ${missing} missing`);
    await assertExact(dest, 'events', object);
    t.diagnostic(`${committed} of ${total} committed when terminated; the new run read ${second.rows} rows in ${requests} requests`);
  });
});

void test('profiles updated while their windows are read: none is lost', async (t) => {
  const object = { schema: 'windows', table: 'profiles' };
  // from long before any profile: the sandbox's profiles were updated over its history and since
  const text = yaml('PG', 'profiles', 'windows.profiles', '2015-01-01');
  const dest = new Destination(targetOf(stack, 'PG'));
  let updated = 0;
  // slower pages, so the updates below land while the windows are read
  await stack.sandbox.admin('faults', { slow: { p: 1, ms: 150 } });
  const first = await run('windows-profiles-1', text, async () => {
    // updates land while the windows are read: each moves a profile to the end of the `updated` order
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      updated += ((await stack.sandbox.admin('advance', { scale: 4 })) as { profilesUpdated: number }).profilesUpdated;
    }
  });
  await stack.sandbox.admin('faults', { slow: { p: 1, ms: 20 } });
  assert.ok(updated > 0);
  // what the first run missed was updated after its watermark: the next run reads it
  const api = await sandboxResources(stack, '/api/profiles?page[size]=100');
  const rows = await dest.snapshot(object, ['id']);
  const watermark = Date.parse(first.watermark!);
  const stale = rows.filter((r) => new Date(String(r.updated)).getTime() !== Date.parse(api.get(String(r.id)).attributes.updated));
  const lost = stale.filter((r) => Date.parse(api.get(String(r.id)).attributes.updated) <= watermark - 1000);
  assert.deepEqual(
    lost.map((r) => r.id),
    [],
    'no profile updated before the watermark is stale',
  );
  assert.equal(rows.length, api.size, 'every profile in the table');

  const second = await run('windows-profiles-2', text);
  const after = await dest.snapshot(object, ['id']);
  const differ = after.filter((r) => {
    const a = api.get(String(r.id)).attributes;
    return new Date(String(r.updated)).getTime() !== Date.parse(a.updated) || !isDeepStrictEqual(r.properties, a.properties);
  });
  assert.deepEqual(
    differ.map((r) => r.id),
    [],
    'after the next run every profile is current',
  );
  await assertExact(dest, 'profiles', object);
  t.diagnostic(
    `${updated} profile updates during the first run (${first.rows} rows); ${stale.length} stale after it; the next run read ${second.rows}`,
  );
});
