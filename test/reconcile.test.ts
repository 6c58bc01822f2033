/**
 * Deletes for incremental streams by an id pass (`source_options.reconcile_every` with `deletes: mark`): the pass
 * lists every id with one small attribute at the largest page, and `finish` marks the rows Klaviyo no longer lists
 * with `_deleted_at`, except rows written after the pass started (created while it listed). In the writer on real
 * SQLite, Postgres and MariaDB, then end to end into SQLite and Postgres: replications on a Temporal dev server
 * after the sandbox's `advance {deletes: true}` deleted profiles (their events and memberships with them) and
 * templates.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { buildReplicationPlan, parseReplicationYaml } from '../config/replication';
import { Destination } from '../lib/db/destination';
import type { Target } from '../lib/db/connect';
import { startMysql, type TestMysql } from './helpers/mysql';
import type { KlaviyoResource } from '../lib/db/columns';
import { idsPageUrl } from '../lib/klaviyo/urls';
import { formatProgress } from '../client/commands/status';
import { progressQuery } from '../workflows/shared';
import { ID_PASS } from '../streams/partitions';
import { getStream } from '../streams/streams';
import type { StreamName } from '../streams/types';
import type { ReplicationSummary } from '../workflows/types';
import { requestsDuring, replicateWith, stackWorker, startStack, liveAndMarked, targetOf, truth, type Stack } from './helpers/stack';

const templates = getStream('templates');
const template = (id: string, updated: string): KlaviyoResource => ({ type: 'template', id, attributes: { name: `t ${id}`, updated } });
const day = (n: number) => `2026-12-0${n}T00:00:00.000Z`;

let stack: Stack;
let mysql: TestMysql;
const runTag = crypto.randomBytes(3).toString('hex');
before(async () => {
  [stack, mysql] = await Promise.all([startStack(['--profiles', '400', '--events', '3000']), startMysql()]);
});
after(async () => {
  await Promise.allSettled([stack?.stop(), mysql?.stop()]);
});

const targetFor = (kind: 'sqlite' | 'postgres' | 'mysql'): Target =>
  kind === 'mysql' ? { kind: 'mysql', url: mysql.url } : targetOf(stack, kind === 'sqlite' ? 'LITE' : 'PG');

void describe('reconcile_every: configuration', () => {
  const plan = (streams: string) =>
    buildReplicationPlan(parseReplicationYaml(`source: KLAVIYO\ntarget: PG\nstreams:\n${streams}`), { now: new Date() });

  void test('an incremental stream with deletes: mark plans its id pass every reconcile_every', () => {
    const [s] = plan(`  profiles:\n    mode: incremental\n    source_options: { deletes: mark, reconcile_every: 7d }\n`).streams;
    assert.equal(s.reconcileEverySeconds, 7 * 86_400);
    assert.equal(s.markDeleted, true);
    assert.equal(s.mode, 'incremental');
  });

  void test('each misuse fails naming the fix', () => {
    const cases: Array<[string, RegExp]> = [
      [
        `  profiles:\n    mode: incremental\n    source_options: { reconcile_every: 7d }\n`,
        /an id pass marks the rows gone from Klaviyo; set source_options\.deletes: mark on profiles too/,
      ],
      [`  tags:\n    source_options: { deletes: mark, reconcile_every: 7d }\n`, /an id pass reconciles incremental runs only/],
      [
        `  list_profiles:\n    mode: incremental\n    source_options: { deletes: mark, reconcile_every: 7d }\n`,
        /list_profiles has no id pass \(it is read through its parent; its full_refresh_every, 7d by default, removes who left\)/,
      ],
      [
        `  profiles:\n    mode: incremental\n    source_options: { deletes: mark }\n`,
        /set source_options\.reconcile_every \(e\.g\. 7d: an id pass lists every id now and then, the cheapest way\) or source_options\.full_refresh_every/,
      ],
      [
        `  profiles:\n    mode: incremental\n    source_options: { deletes: mark, reconcile_every: weekly }\n`,
        /must be a duration such as 12h or 7d/,
      ],
    ];
    for (const [streams, message] of cases) assert.throws(() => plan(streams), message, streams);
  });

  void test("the pass's request: one attribute, the largest page, no filter, no sort, no additional fields", () => {
    const url = new URL(idsPageUrl('https://a.klaviyo.com', getStream('profiles')));
    assert.equal(url.pathname, '/api/profiles');
    assert.deepEqual(
      [...url.searchParams],
      [
        ['fields[profile]', 'updated'],
        ['page[size]', '100'],
      ],
    );
    assert.deepEqual([...new URL(idsPageUrl('https://a.klaviyo.com', getStream('events'))).searchParams], [['fields[event]', 'datetime']]);
  });
});

for (const kind of ['sqlite', 'postgres', 'mysql'] as const) {
  void test(`${kind}: the id pass marks what it did not list, but not rows written since it started; a row listed again is live`, async () => {
    let clock = Date.parse(day(1));
    const dest = new Destination(targetFor(kind), { now: () => new Date(clock) });
    const object = { schema: `rec_${kind}_${runTag}`, table: 'templates' };
    const run = (runId: string) => ({ stream: templates, mode: 'incremental' as const, object, runId });
    const table = async () =>
      Object.fromEntries((await dest.snapshot(object, ['id'])).map((r) => [r.id, (r._deleted_at as string | null | undefined) ?? null]));

    await dest.prepare({ ...run('A'), partitions: [''] });
    await dest.writePage({
      ...run('A'),
      partition: '',
      resources: ['T1', 'T2', 'T3'].map((id) => template(id, day(1))),
      nextUrl: null,
      done: true,
    });
    assert.equal((await dest.finish(run('A'))).markedDeleted, undefined, 'no pass, nothing marked');

    // run B's pass starts at day 2; T4 is created while it lists (after it went past T4's place), T2 and T3 are gone
    clock = Date.parse(day(2));
    await dest.prepare({ ...run('B'), partitions: ['', ID_PASS] });
    clock += 3_600_000;
    await dest.writePage({ ...run('B'), partition: '', resources: [template('T4', day(2))], nextUrl: null, done: true });
    const ids = {
      ...run('B'),
      partition: ID_PASS,
      resources: [template('T1', day(1))],
      nextUrl: 'https://a.klaviyo.com/api/templates?page[cursor]=2',
      done: false,
    };
    assert.deepEqual(await dest.writePage(ids), { rows: 1, columnsAdded: [], replayed: false, done: false, watermark: null });
    assert.equal((await dest.writePage(ids)).replayed, true, 'a page of ids written twice counts once');
    await dest.writePage({ ...ids, resources: [], nextUrl: null, done: true });
    const b = await dest.finish(run('B'));
    assert.equal(b.markedDeleted, 2);
    assert.equal(b.rows, 1, "the run's rows are its listings' (the ids are not rows)");
    assert.equal(b.idPassPages, 2, 'the pages of ids, apart');
    const marked = new Date(clock).toISOString();
    assert.deepEqual(await table(), { T1: null, T2: marked, T3: marked, T4: null });
    assert.equal(await dest.lastReconcile(object, 'templates'), day(2), 'reconciled as of when the pass started');
    assert.equal(await dest.readWatermark(object), day(2), 'the watermark is the listing’s, untouched by the pass');
    assert.deepEqual(
      (await dest.stateOf(object)).map((s) => s.partition),
      [''],
      'the pass leaves no state row behind',
    );

    // run C: T2 is listed again (live), T3 keeps the time it was first missed
    clock = Date.parse(day(3));
    await dest.prepare({ ...run('C'), partitions: ['', ID_PASS] });
    await dest.writePage({ ...run('C'), partition: '', resources: [], nextUrl: null, done: true });
    await dest.writePage({
      ...run('C'),
      partition: ID_PASS,
      resources: ['T1', 'T2', 'T4'].map((id) => template(id, day(1))),
      nextUrl: null,
      done: true,
    });
    assert.equal((await dest.finish(run('C'))).markedDeleted, 0);
    assert.deepEqual(await table(), { T1: null, T2: null, T3: marked, T4: null });

    // a pass cancelled midway leaves no ids table, and the next pass starts afresh
    clock = Date.parse(day(4));
    await dest.prepare({ ...run('D'), partitions: ['', ID_PASS] });
    await dest.writePage({
      ...run('D'),
      partition: ID_PASS,
      resources: [template('T1', day(1))],
      nextUrl: 'https://a.klaviyo.com/api/templates?page[cursor]=x',
      done: false,
    });
    await dest.cancelRun(run('D'));
    assert.equal(await dest.lastReconcile(object, 'templates'), day(3), 'a cancelled pass reconciled nothing');
    await dest.prepare({ ...run('E'), partitions: ['', ID_PASS] });
    await dest.writePage({ ...run('E'), partition: '', resources: [], nextUrl: null, done: true });
    await dest.writePage({
      ...run('E'),
      partition: ID_PASS,
      resources: ['T1', 'T2', 'T4'].map((id) => template(id, day(1))),
      nextUrl: null,
      done: true,
    });
    assert.equal((await dest.finish(run('E'))).markedDeleted, 0, "run D's ids did not linger");
  });
}

void test('end to end: profiles, their events and templates deleted by advance are marked by the id pass; live rows equal the truth', async (t) => {
  const start = new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10);
  const streams: StreamName[] = ['profiles', 'events', 'templates'];
  for (const name of ['LITE', 'PG'] as const) {
    const schema = `rec_${name.toLowerCase()}_${runTag}`;
    const yaml = (every: string) => `
source: KLAVIYO
target: ${name}
defaults:
  object: ${schema}.{stream_name}
  mode: incremental
  source_options: { start_date: ${start}, deletes: mark, reconcile_every: ${every} }
streams:
  profiles:
  events:
  templates:
`;
    const dest = new Destination(targetOf(stack, name));
    const first = await replicateWith(stack, yaml('0'), `reconcile-${name}-1`);
    assert.ok(
      first.streams.every((s) => s.status === 'completed' && s.markedDeleted === undefined),
      'a first run reads everything: no pass',
    );
    const before = Object.fromEntries(await Promise.all(streams.map(async (s) => [s, await liveAndMarked(dest, s, schema)] as const)));

    const changes = (await stack.sandbox.admin('advance', { deletes: true })) as Record<string, number>;
    assert.ok(changes.profilesDeleted > 0 && changes.templatesDeleted > 0 && changes.eventsDeleted > 0, JSON.stringify(changes));
    let second: ReplicationSummary | undefined;
    const requests = await requestsDuring(stack, async () => {
      second = await replicateWith(stack, yaml('0'), `reconcile-${name}-2`);
    });
    const t2 = await truth(stack);
    for (const s of streams) {
      const summary = second!.streams.find((x) => x.stream === s)!;
      assert.equal(summary.status, 'completed', summary.error);
      const now = await liveAndMarked(dest, s, schema);
      const gone = before[s].live.filter((id) => !now.live.includes(id)).sort();
      assert.equal(now.live.length, t2[s].count, `${s}: live rows = truth`);
      assert.deepEqual(now.marked, gone, `${s}: exactly the rows gone since the first run are marked`);
      assert.equal(summary.markedDeleted, gone.length, `${s}: the summary counts the rows marked`);
      const perPage = getStream(s).pageSize ?? getStream(s).servedPageSize;
      assert.equal(summary.idPassPages, Math.max(1, Math.ceil(t2[s].count / perPage)), `${s}: the pass read full pages of ${perPage} ids`);
    }
    assert.equal(before.profiles.live.length - (await liveAndMarked(dest, 'profiles', schema)).live.length, changes.profilesDeleted);
    t.diagnostic(`${name}: run 2 (with id passes) sent ${JSON.stringify(requests)} for ${JSON.stringify(changes)}`);

    // the replication said why its streams added a pass, as `klaviyo-sync status` prints it
    // (a closed workflow's query is answered by a worker replaying it)
    const progress = await (
      await stackWorker(stack)
    ).runUntil(stack.temporal.env.client.workflow.getHandle(`reconcile-${name}-2`).query(progressQuery));
    assert.match(formatProgress(progress), /profiles adds an id pass: no id pass over rec_\w+\.profiles yet \(reconcile_every 0s\)/);

    // a week between passes: the next run has none, and what was marked stays marked
    const third = await replicateWith(stack, yaml('7d'), `reconcile-${name}-3`);
    for (const s of streams) {
      const summary = third.streams.find((x) => x.stream === s)!;
      assert.equal(summary.markedDeleted, undefined, `${s}: no pass within reconcile_every`);
      assert.equal((await liveAndMarked(dest, s, schema)).marked.length, second!.streams.find((x) => x.stream === s)!.markedDeleted);
    }
  }
});
