/**
 * Re-backfills and state (Temporal dev server, the sandbox over HTTP, embedded Postgres and SQLite): `mode: backfill`
 * reads exactly its range again into an incremental table and leaves the watermark where it was; a start_date that
 * a watermark overrides is said in the run's summary; `klaviyo-sync state show|reset` print and forget a stream's
 * state, after which the next run reads from start_date again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Destination } from '../lib/db/destination';
import type { Knex } from 'knex';
import { connect } from '../lib/db/connect';
import { buildReplicationPlan, parseReplicationYaml } from '../config/replication';
import { formatSummary } from '../client/commands/summary';
import type { ReplicationSummary, StreamSummary } from '../workflows/types';
import { cli } from './helpers/process';
import { checksumOf, requestsDuring, stackWorker, startStack, targetOf, truth, type Stack } from './helpers/stack';

const START = new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10);
const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10) + 'T00:00:00Z';
/** the range backfilled: 200 to 100 days ago */
const FROM = day(200);
const TO = day(100);

const incremental = (target: string, table: string, start = START) => `
source: KLAVIYO
target: ${target}
streams:
  events:
    object: ${table}
    mode: incremental
    source_options:
      start_date: ${start}
`;
const backfill = (target: string, table: string) => `
source: KLAVIYO
target: ${target}
streams:
  events:
    object: ${table}
    mode: backfill
    source_options:
      range: '${FROM},${TO}'
`;

void describe('backfill configuration', () => {
  const plan = (streams: string) =>
    buildReplicationPlan(parseReplicationYaml(`source: KLAVIYO\ntarget: PG\nstreams:\n${streams}`), { now: new Date() });

  void test('mode: backfill plans the range on a stream read in time windows', () => {
    const p = plan(`  events:\n    mode: backfill\n    source_options:\n      range: '2025-03-01,2025-04-01T12:00:00Z'\n`);
    assert.equal(p.streams[0].mode, 'backfill');
    assert.deepEqual(p.streams[0].range, { start: '2025-03-01T00:00:00Z', end: '2025-04-01T12:00:00Z' });
  });

  void test('each misuse fails naming the fix', () => {
    const cases: Array<[string, RegExp]> = [
      [`  events:\n    mode: backfill\n`, /mode: backfill needs the range to read again, e\.g\. range: '2024-03-01,2024-04-01'/],
      [`  events:\n    mode: backfill\n    source_options:\n      range: '2025-04-01,2025-03-01'\n`, /END must be after START/],
      [`  events:\n    mode: backfill\n    source_options:\n      range: '2025-04-01'\n`, /must be 'START,END'/],
      [`  events:\n    mode: backfill\n    source_options:\n      range: '2025-03-01,2999-01-01'\n`, /in the future/],
      [
        `  templates:\n    mode: backfill\n    source_options:\n      range: '2025-03-01,2025-04-01'\n`,
        /backfill re-reads a range of a stream read in time windows \(profiles, events\); templates is not: .*state reset <replication\.yaml> --stream templates/,
      ],
      [
        `  events:\n    mode: incremental\n    source_options:\n      range: '2025-03-01,2025-04-01'\n`,
        /a range is read by mode: backfill only/,
      ],
      [`  '*':\n    mode: backfill\n`, /backfill names one range of one stream: set it on the stream/],
    ];
    for (const [streams, message] of cases) assert.throws(() => plan(streams), message, streams);
  });
});

let stack: Stack;
before(async () => {
  stack = await startStack(['--events', '6000', '--profiles', '1000']);
});
after(async () => {
  await stack?.stop();
});

async function run(id: string, text: string): Promise<StreamSummary> {
  const worker = await stackWorker(stack);
  const summary = (await worker.runUntil(
    stack.temporal.env.client.workflow.execute('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId: id,
      args: [{ name: id, yaml: text }],
    }),
  )) as ReplicationSummary;
  const s = summary.streams[0];
  assert.equal(s.status, 'completed', s.error);
  return s;
}

const inRange = (r: Record<string, unknown>) => {
  const t = Date.parse(String(r.datetime));
  return t >= Date.parse(FROM) && t < Date.parse(TO);
};

for (const target of ['PG', 'LITE'] as const) {
  void test(`${target}: a backfill re-reads exactly its range, upserted, and leaves the watermark`, async (t) => {
    const table = `events_backfill_${target.toLowerCase()}`;
    const object = { schema: 'backfill', table };
    const dest = new Destination(targetOf(stack, target));
    await run(`backfill-${target}-1`, incremental(target, `backfill.${table}`));
    const watermark = await dest.readWatermark(object);
    assert.ok(watermark, 'the incremental run left a watermark');
    const rows = await dest.snapshot(object, ['id']);
    const expected = rows.filter(inRange).map((r) => String(r.id));
    assert.ok(expected.length > 100, `${expected.length} events in the range`);

    // an upstream bug: the range's rows lost or damaged in the table, and one row outside it damaged too
    const db = connect(targetOf(stack, target));
    const clone = (): Knex.QueryBuilder => (target === 'PG' ? db.withSchema('backfill').table(table) : db(`backfill__${table}`));
    await clone().whereIn('id', expected.slice(0, 50)).delete();
    await clone().whereIn('id', expected.slice(50, 60)).update({ uuid: 'damaged' });
    const outside = rows.find((r) => !inRange(r))!;
    await clone().where('id', String(outside.id)).update({ uuid: 'damaged outside' });

    let summary: StreamSummary | undefined;
    const requests = await requestsDuring(stack, async () => {
      summary = await run(`backfill-${target}-2`, backfill(target, `backfill.${table}`));
    });
    assert.equal(summary!.mode, 'backfill');
    assert.equal(summary!.rows, expected.length, 'the run read the range, nothing before or after it');
    const after = await dest.snapshot(object, ['id']);
    assert.deepEqual(checksumOf(after.map((r) => String(r.id))), (await truth(stack)).events, 'the table is exact again');
    assert.equal(after.filter((r) => r.uuid === 'damaged').length, 0, 'the damaged rows of the range were read again');
    assert.equal(after.find((r) => r.id === outside.id)!.uuid, 'damaged outside', 'a row outside the range was not read');
    assert.equal(await dest.readWatermark(object), watermark, 'the watermark is where the incremental run left it');
    t.diagnostic(`${target}: ${expected.length} events in [${FROM}, ${TO}) re-read in ${requests.get_events ?? 0} requests`);

    // the next incremental run goes on from that watermark: one open window, the boundary second only
    const next = await run(`backfill-${target}-3`, incremental(target, `backfill.${table}`));
    assert.ok(next.rows <= 20, `${next.rows} rows: only the watermark's second again`);
    assert.equal(await dest.readWatermark(object), watermark);
  });
}

void test('a start_date a watermark overrides is said in the summary, with the ways to read again', async () => {
  const table = 'events_start_note';
  await run('start-note-1', incremental('PG', `backfill.${table}`));
  const first = await run('start-note-2', incremental('PG', `backfill.${table}`, day(30).slice(0, 10)));
  assert.equal(first.notes?.length, 1);
  assert.match(
    first.notes![0],
    /^start_date \S+ not used: backfill\.events_start_note has a watermark \(\S+\), so this run reads from there; to read again from a date, set mode: backfill with source_options\.range on events, or run `klaviyo-sync state reset <replication\.yaml> --stream events`$/,
  );
  const printed = formatSummary({ replicationId: 'x', name: 'x', streams: [first], rows: first.rows, durationMs: 1 });
  assert.match(printed, /^events: start_date .* not used/m);
});

void test('state show prints each stream; state reset forgets it and the next run reads from start_date', async () => {
  const table = 'events_reset';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-state-'));
  const file = path.join(dir, 'events.yaml');
  fs.writeFileSync(file, incremental('PG', `backfill.${table}`));
  const env = { PATH: process.env.PATH, HOME: dir, PG: stack.env.PG, KLAVIYO: stack.env.KLAVIYO };
  const object = { schema: 'backfill', table };
  const dest = new Destination(targetOf(stack, 'PG'));

  const none = await cli(['state', 'show', file, '--json'], { env, cwd: dir });
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(JSON.parse(none.stdout)[0], {
    stream: 'events',
    object: 'backfill.events_reset',
    mode: null,
    status: null,
    runId: null,
    watermark: null,
    partitions: 0,
    partitionsDone: 0,
    rows: 0,
    pages: 0,
    updatedAt: null,
  });

  const first = await run('state-reset-1', incremental('PG', `backfill.${table}`));
  const watermark = await dest.readWatermark(object);
  const shown = await cli(['state', 'show', file, '--json'], { env, cwd: dir });
  assert.equal(shown.code, 0, shown.stderr);
  const [s] = JSON.parse(shown.stdout) as Array<Record<string, unknown>>;
  assert.equal(s.status, 'finished');
  assert.equal(s.mode, 'incremental');
  assert.equal(s.watermark, watermark);
  assert.equal(s.rows, first.rows);
  const table_ = await cli(['state', 'show', file], { env, cwd: dir });
  assert.match(table_.stdout, /^stream\s+table\s+last run\s+status\s+watermark/m);
  assert.match(
    table_.stdout,
    new RegExp(`^events\\s+backfill\\.events_reset\\s+incremental\\s+finished\\s+${watermark!.replace(/\./g, '\\.')}`, 'm'),
  );

  const unnamed = await cli(['state', 'reset', file], { env, cwd: dir });
  assert.equal(unnamed.code, 1);
  assert.match(unnamed.stderr, /say which streams to reset: --stream <name> \(repeatable\), or --all/);
  const wrong = await cli(['state', 'reset', file, '--stream', 'profiles'], { env, cwd: dir });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /profiles: not a stream of this replication \(it has events\)/);

  const reset = await cli(['state', 'reset', file, '--stream', 'events'], { env, cwd: dir });
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(
    reset.stdout,
    new RegExp(
      `^events \\(backfill\\.events_reset\\): state of 1 partition\\(s\\) deleted \\(the watermark was ${watermark!.replace(/\./g, '\\.')}\\); its next run reads from start_date ${START}T00:00:00Z`,
      'm',
    ),
  );
  assert.equal(await dest.readWatermark(object), null);

  // everything again from start_date, upserted: the same rows, none doubled
  const again = await run('state-reset-2', incremental('PG', `backfill.${table}`));
  assert.equal(again.rows, first.rows);
  assert.equal(again.notes, undefined, 'no watermark, so start_date is used');
  assert.deepEqual(checksumOf((await dest.snapshot(object, ['id'])).map((r) => String(r.id))), (await truth(stack)).events);
  fs.rmSync(dir, { recursive: true, force: true });
});
