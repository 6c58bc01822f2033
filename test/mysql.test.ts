/**
 * The MySQL / MariaDB target against a real server (test/helpers/mysql.ts: Debian's mariadbd, or MYSQL_TEST_URL): the
 * scenarios of test/db.test.ts (typed and JSON columns, idempotent upserts, atomic full refresh, rows and state in
 * one transaction, new columns), what differs in MySQL (DDL commits implicitly, a schema is a database), the
 * connection forms, the error classes and `conns test`'s probe.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { getStream } from '../streams/streams';
import type { StreamDef } from '../streams/types';
import type { KlaviyoResource } from '../lib/db/columns';
import { closeAll, connect, DatabasePools, type Target } from '../lib/db/connect';
import { Destination, RunStateError } from '../lib/db/destination';
import { dialectFor, query } from '../lib/db/dialect';
import { physicalTable, stateTable, tableSql } from '../lib/db/naming';
import { classify } from '../lib/errors';
import { probeMysql } from '../lib/db/probe-mysql';
import { resolveConnection, targetOfConnection, MysqlConnection } from '../config/connections';
import { startMysql, type TestMysql } from './helpers/mysql';
import { event, ids, item, member, profile, withoutSyncedAt } from './helpers/resources';

const profiles = getStream('profiles');
const events = getStream('events');
const listProfiles = getStream('list_profiles');
const catalogItems = getStream('catalog_items');

let my: TestMysql;
let target: Target;
let dest: Destination;
const runTag = crypto.randomBytes(3).toString('hex');
let n = 0;
/** a fresh schema (a database in MySQL) per test keeps tests independent, also on a reused MYSQL_TEST_URL server */
const fresh = (table: string) => ({ schema: `t${++n}_mysql_${runTag}`, table });

before(async () => {
  my = await startMysql();
  target = { kind: 'mysql', url: my.url };
  dest = new Destination(target);
});

after(async () => {
  const db = connect(target);
  for (const { name } of await query<{ name: string }>(
    db,
    'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?',
    [`%${runTag}`],
  )) {
    await db.raw(`DROP DATABASE "${name}"`);
  }
  await closeAll();
  await my?.stop();
});

type Run = {
  stream: StreamDef;
  mode: 'incremental' | 'full-refresh';
  object: { schema: string; table: string };
  runId: string;
  partitions?: string[];
};
const startRun = async (stream: StreamDef, mode: Run['mode'], extra: Partial<Run> = {}) => {
  const run: Run = { stream, mode, object: fresh(stream.name), runId: 'run-1', ...extra };
  return { run, object: run.object, prepared: await dest.prepare(run) };
};
const page = (run: Run, resources: KlaviyoResource[], nextUrl: string | null, partition = '') =>
  dest.writePage({
    ...run,
    partition,
    ...(run.stream === listProfiles && partition ? { parentId: partition } : {}),
    resources,
    nextUrl,
    done: nextUrl === null,
  });

/** The declared column types of a table, as information_schema shows them. */
async function declared(schema: string, table: string): Promise<Record<string, string>> {
  const rows = await query<{ name: string; type: string }>(
    connect(target),
    'SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [schema, table],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.type]));
}

async function tablesOf(schema: string): Promise<string[]> {
  const rows = await query<{ name: string }>(
    connect(target),
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [schema],
  );
  return rows.map((r) => r.name).sort();
}

void describe('mysql destination', () => {
  void test('the server is MariaDB or MySQL, and a schema is a database of it', async () => {
    assert.match(my.version, /^\d+\.\d+\.\d+/);
    const { object } = await startRun(profiles, 'incremental');
    const schemata = await query(connect(target), 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [object.schema]);
    assert.equal(schemata.length, 1, 'prepare created the database');
    assert.deepEqual(await tablesOf(object.schema), ['_klaviyo_sync_state', 'profiles']);
    assert.deepEqual(physicalTable('mysql', 'klaviyo', 'profiles'), { schema: 'klaviyo', name: 'profiles' });
  });

  void test('writes a page: flat rows with typed and JSON columns, state counted', async () => {
    const { object, run, prepared } = await startRun(profiles, 'incremental');
    assert.deepEqual(prepared, {
      watermark: null,
      resumed: false,
      partitions: { '': { nextUrl: null, done: false, rows: 0, pages: 0, watermark: null } },
    });
    const written = await page(
      run,
      [profile('A', '2025-01-02T00:00:00+00:00'), profile('B', '2025-01-03T00:00:00.5+00:00')],
      'https://a.klaviyo.com/api/profiles?page[cursor]=2',
    );
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
    const types = await declared(object.schema, 'profiles');
    assert.equal(types.id, 'varchar(255)', 'a text primary key is a VARCHAR: MySQL cannot index TEXT');
    assert.equal(types.email, 'longtext');
    assert.equal(types.updated, 'datetime(3)');
    assert.match(types.location, /^(json|longtext)$/, 'JSON: native in MySQL, LONGTEXT with a JSON_VALID check in MariaDB');
    const columns = await dialectFor('mysql').columns(connect(target), { schema: object.schema, name: 'profiles' });
    assert.equal(columns?.get('location'), 'json', 'read back as JSON, not text');
    assert.equal(columns?.get('email'), 'text');
    await assert.rejects(
      connect(target).raw(`UPDATE ${tableSql({ schema: object.schema, name: 'profiles' })} SET "location" = 'not json'`),
      'the JSON column refuses what is not JSON',
    );
    const again = await dest.prepare(run);
    assert.deepEqual(again.partitions[''], {
      nextUrl: 'https://a.klaviyo.com/api/profiles?page[cursor]=2',
      done: false,
      rows: 2,
      pages: 1,
      watermark: '2025-01-03T00:00:00.500Z',
    });
  });

  void test('ids that differ only in case are different rows (binary collation)', async () => {
    const { object, run } = await startRun(profiles, 'incremental');
    await page(run, [profile('abcDEF', '2025-01-02T00:00:00Z'), profile('ABCdef', '2025-01-02T00:00:00Z')], null);
    assert.deepEqual(ids(await dest.snapshot(object, ['id'])), ['ABCdef', 'abcDEF']);
  });

  void test('a new attribute adds a column; older rows read null', async () => {
    const { object, run } = await startRun(profiles, 'incremental');
    await page(run, [profile('A', '2025-01-02T00:00:00Z')], 'u2');
    const second = await page(
      run,
      [
        profile('B', '2025-01-03T00:00:00Z', {
          favorite_color: 'blue',
          score: 7,
          subscriptions: { email: { marketing: { consent: 'SUBSCRIBED' } } },
        }),
        profile('C', '2025-01-03T00:00:00Z', { favorite_color: null, score: 1.5, always_null: null }),
      ],
      null,
    );
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
    assert.deepEqual((await dest.prepare(run)).partitions[''], {
      nextUrl: null,
      done: true,
      rows: 3,
      pages: 2,
      watermark: '2025-01-03T00:00:00.000Z',
    });
  });

  void test('a page that fails commits neither rows nor state (its new column stays: MySQL DDL is not transactional)', async () => {
    const { object, run } = await startRun(profiles, 'incremental');
    await page(run, [profile('A', '2025-01-02T00:00:00Z')], 'u2');
    const db = connect(target);
    await db.raw(
      `CREATE TRIGGER ${tableSql({ schema: object.schema, name: 'boom' })} BEFORE INSERT ON ${tableSql({ schema: object.schema, name: 'profiles' })}
       FOR EACH ROW BEGIN IF NEW.id = 'BAD' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom'; END IF; END`,
    );
    const refused = [profile('B', '2025-01-03T00:00:00Z', { extra: 'x' }), profile('BAD', '2025-01-04T00:00:00Z')];
    await assert.rejects(page(run, refused, 'u3'), /boom/);
    const rows = await dest.snapshot(object, ['id']);
    assert.deepEqual(ids(rows), ['A'], 'B, written before BAD in the same statement, was rolled back');
    assert.equal(rows[0].extra, null, 'the column the failed page added is there, empty');
    const state = await dest.prepare(run);
    assert.deepEqual(state.partitions[''], { nextUrl: 'u2', done: false, rows: 1, pages: 1, watermark: '2025-01-02T00:00:00.000Z' });
  });

  void test('a worker killed after the rows were upserted, before commit, leaves neither rows nor state (and the page after a new column)', async () => {
    const { object, run } = await startRun(profiles, 'incremental');
    await page(run, [profile('A', '2025-01-02T00:00:00Z')], 'u2');
    const script = `
      const { Destination } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'db', 'destination.ts'))});
      const { getStream } = require(${JSON.stringify(path.join(__dirname, '..', 'streams', 'streams.ts'))});
      const dest = new Destination({ kind: 'mysql', url: process.env.URL });
      dest.writePage({ ...JSON.parse(process.env.RUN), stream: getStream('profiles'), partition: '', nextUrl: 'u3', done: false,
        resources: ${JSON.stringify([profile('B', '2025-01-05T00:00:00Z', { brand_new: 'x' })])} });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      env: {
        ...process.env,
        URL: my.url,
        RUN: JSON.stringify({ ...run, stream: undefined }),
        KLAVIYO_SYNC_TEST_CRASH_AT: 'write@profiles',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    assert.match(r.stderr, /crash point write@profiles/);
    assert.deepEqual(ids(await dest.snapshot(object, ['id'])), ['A'], 'the killed transaction wrote no row');
    assert.deepEqual(await dest.progress({ ...run, partition: '' }), {
      nextUrl: 'u2',
      done: false,
      rows: 1,
      pages: 1,
      watermark: '2025-01-02T00:00:00.000Z',
      loopMark: 'u2',
    });
    assert.equal(await dest.readWatermark(object), '2025-01-02T00:00:00.000Z', 'the watermark did not move without its rows');
  });

  void test('writing the same page twice leaves the same rows and counts', async () => {
    const { object, run } = await startRun(events, 'full-refresh');
    const first = {
      ...run,
      partition: '',
      resources: [event('E1', '2025-02-01T00:00:00Z'), event('E2', '2025-02-02T00:00:00Z'), event('E1', '2025-02-01T00:00:00Z')],
      nextUrl: 'https://a.klaviyo.com/api/events?page[cursor]=p2',
      done: false,
    };
    // a full refresh keeps no watermark per page
    assert.deepEqual(await dest.writePage(first), { rows: 2, columnsAdded: [], replayed: false, done: false, watermark: null });
    assert.deepEqual(await dest.writePage(first), { rows: 2, columnsAdded: [], replayed: true, done: false, watermark: null });
    const last = { ...first, resources: [event('E3', '2025-02-03T00:00:00Z')], nextUrl: null, done: true };
    assert.equal((await dest.writePage(last)).replayed, false);
    assert.equal((await dest.writePage(last)).replayed, true);
    assert.deepEqual((await dest.prepare(run)).partitions[''], { nextUrl: null, done: true, rows: 3, pages: 2, watermark: null });
    assert.deepEqual(await dest.finish(run), { rows: 3, pages: 2, watermark: '2025-02-03T00:00:00.000Z' });
    const rows = await dest.snapshot(object, ['id']);
    assert.deepEqual(
      rows.map((r) => [r.id, r.metric_id, r.profile_id, r.timestamp]),
      [
        ['E1', 'M1', 'P-E1', 1738368000],
        ['E2', 'M1', 'P-E2', 1738454400],
        ['E3', 'M1', 'P-E3', 1738540800],
      ],
    );
  });

  void test('a crash between pages resumes: same run id keeps staging and cursors; a new run id starts clean', async () => {
    const { object, run } = await startRun(listProfiles, 'full-refresh', { partitions: ['L1', 'L2'] });
    await page(run, [member('P1', '2025-01-01T00:00:00Z')], 'L1-p2', 'L1');
    await page(run, [member('P1', '2025-01-02T00:00:00Z')], null, 'L2');
    const resumed = await dest.prepare(run);
    assert.equal(resumed.resumed, true);
    assert.deepEqual(resumed.partitions.L1, { nextUrl: 'L1-p2', done: false, rows: 1, pages: 1, watermark: null });
    await assert.rejects(dest.finish(run), (err: Error) => err instanceof RunStateError && /"L1"/.test(err.message));
    await page(run, [member('P2', '2025-01-03T00:00:00Z')], null, 'L1');
    await page(run, [member('P3', '2025-01-04T00:00:00Z')], null, 'L3');
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
    assert.deepEqual(next.partitions.L1, { nextUrl: null, done: false, rows: 0, pages: 0, watermark: '2025-01-03T00:00:00.000Z' });
  });

  void test('full refresh: an unfinished run leaves the old table intact; the swap is atomic and drops rows deleted in Klaviyo', async () => {
    const object = fresh('catalog_items');
    const run1 = { stream: catalogItems, mode: 'full-refresh' as const, object, runId: 'run-1' };
    await dest.prepare(run1);
    await page(run1, [item('a', 1), item('b', 2), item('c', 3)], null);
    assert.equal(await dest.tableRowCount(object), 0, 'nothing reaches the target before finish');
    await dest.finish(run1);
    assert.deepEqual(ids(await dest.snapshot(object, ['id'])), ['a', 'b', 'c']);

    const run2 = { ...run1, runId: 'run-2' };
    await dest.prepare(run2);
    await page(run2, [item('a', 1), item('b', 20)], null);
    assert.deepEqual(
      (await dest.snapshot(object, ['id'])).map((r) => [r.id, r.price]),
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ],
    );
    const run3 = { ...run1, runId: 'run-3' };
    await dest.prepare(run3);
    await assert.rejects(page(run2, [item('z', 9)], null), RunStateError);
    await assert.rejects(dest.finish(run2), RunStateError);
    await page(run3, [item('a', 1), item('b', 20)], null);

    // readers during the swap see the old table or the new one, never none
    const counts: number[] = [];
    let swapping = true;
    const reader = (async () => {
      const db = connect(target);
      while (swapping) {
        const [row] = await query<{ n: number }>(
          db,
          `SELECT COUNT(*) AS n FROM ${tableSql({ schema: object.schema, name: 'catalog_items' })}`,
        );
        counts.push(Number(row.n));
      }
    })();
    try {
      assert.deepEqual(await dest.finish(run3), { rows: 2, pages: 1, watermark: null });
    } finally {
      swapping = false;
      await reader;
    }
    assert.ok(counts.length > 0 && counts.every((c) => c === 3 || c === 2), `every read saw 3 or 2 rows: ${counts.join(',')}`);
    assert.deepEqual(
      (await dest.snapshot(object, ['id'])).map((r) => [r.id, r.price, r.published, r.images]),
      [
        ['a', 1, true, ['https://img/a.png']],
        ['b', 20, true, ['https://img/b.png']],
      ],
    );
    assert.deepEqual(await tablesOf(object.schema), ['_klaviyo_sync_state', 'catalog_items'], 'no staging or replaced table left');
    await dest.prepare({ ...run1, runId: 'run-4' });
  });

  void test('full refresh: a finish whose swap was cut off after the state committed completes it when called again', async () => {
    const object = fresh('catalog_items');
    const run = { stream: catalogItems, mode: 'full-refresh' as const, object, runId: 'run-1' };
    await dest.prepare(run);
    await page(run, [item('a', 1)], null);
    // what a crash between the finished state's commit and the RENAME leaves: the state finished, staging unswapped
    await connect(target).raw(`UPDATE ${tableSql(stateTable('mysql', object.schema))} SET "status" = 'finished'`);
    assert.equal(await dest.tableRowCount(object), 0);
    await dest.finish(run);
    assert.deepEqual(ids(await dest.snapshot(object, ['id'])), ['a']);
    assert.deepEqual(await tablesOf(object.schema), ['_klaviyo_sync_state', 'catalog_items']);
  });

  void test('full refresh with deletes marked: rows gone from Klaviyo are kept with _deleted_at', async () => {
    const object = fresh('catalog_items');
    const run1 = { stream: catalogItems, mode: 'full-refresh' as const, object, runId: 'run-1', markDeleted: true };
    await dest.prepare(run1);
    await page(run1, [item('a', 1), item('b', 2)], null);
    assert.equal((await dest.finish(run1)).markedDeleted, 0);
    const run2 = { ...run1, runId: 'run-2' };
    await dest.prepare(run2);
    await page(run2, [item('a', 1)], null);
    assert.equal((await dest.finish(run2)).markedDeleted, 1);
    const rows = await dest.snapshot(object, ['id']);
    assert.deepEqual(
      rows.map((r) => [r.id, r._deleted_at === null]),
      [
        ['a', true],
        ['b', false],
      ],
    );
  });

  void test('incremental: the watermark commits with each page, never backwards; a late writer of a superseded run is refused', async () => {
    const { object, run: run1 } = await startRun(profiles, 'incremental');
    await page(run1, [profile('A', '2025-01-05T00:00:00+00:00')], 'p2');
    assert.equal(await dest.readWatermark(object), '2025-01-05T00:00:00.000Z');
    await page(run1, [profile('B', '2025-01-07T12:30:00+01:00')], null);
    assert.deepEqual(await dest.finish(run1), { rows: 2, pages: 2, watermark: '2025-01-07T11:30:00.000Z' });
    const run2 = { ...run1, runId: 'run-2' };
    assert.equal((await dest.prepare(run2)).watermark, '2025-01-07T11:30:00.000Z');
    await page(run2, [profile('A', '2025-01-05T00:00:00Z')], 'p2');
    assert.equal(await dest.readWatermark(object), '2025-01-07T11:30:00.000Z');
    await dest.prepare({ ...run1, runId: 'run-3' });
    await assert.rejects(page(run2, [profile('H', '2025-03-01T00:00:00Z')], null), RunStateError);
    assert.equal(await dest.tableRowCount(object), 2);
  });

  void test('concurrent pages of different partitions add the same new column without conflict', async () => {
    const object = fresh('list_profiles');
    const lists = ['L1', 'L2', 'L3'];
    const run = { stream: listProfiles, mode: 'full-refresh' as const, object, runId: 'run-1', partitions: lists };
    await dest.prepare(run);
    const results = await Promise.allSettled(
      lists.map((l, i) =>
        page(run, [{ ...member(`P${i}`, '2025-01-01T00:00:00Z'), attributes: { joined_group_at: '2025-01-01T00:00:00Z' } }], null, l),
      ),
    );
    // two writers adding one column at once: the loser fails transient (ER_DUP_FIELDNAME) and its retry succeeds
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') {
        assert.equal(classify(r.reason)?.kind, 'transient', String(r.reason));
        await page(run, [member(`P${i}`, '2025-01-01T00:00:00Z')], null, lists[i]);
      }
    }
    await dest.finish(run);
    assert.equal((await dest.snapshot(object, ['list_id', 'profile_id'])).length, 3);
  });

  void test('awkward values survive the upsert: ? and quotes in values, U+0000, objects in text, JSON scalars', async () => {
    const { object, run } = await startRun(profiles, 'incremental');
    const resources = [
      profile('A', '2025-01-01T00:00:00Z', {
        note_2: `x?y $1 '"\\`,
        first_name: 'nul\u0000here',
        properties: { note: 'in\u0000json', n: [1, 'two'] },
      }),
      profile('B', '2025-01-02T00:00:00Z', { note_2: 'plain', first_name: { nested: true }, properties: 'just a string' }),
    ];
    await page(run, resources, 'p2');
    await page(run, resources, 'p2');
    const rows = await dest.snapshot(object, ['id']);
    assert.deepEqual(
      rows.map((r) => [r.id, r.note_2, r.first_name, r.properties]),
      [
        ['A', `x?y $1 '"\\`, 'nul\u0000here', { note: 'in\u0000json', n: [1, 'two'] }],
        ['B', 'plain', '{"nested":true}', 'just a string'],
      ],
    );
  });

  void test("db.test.ts's shared scenario leaves the rows it asserts for Postgres and SQLite", async () => {
    const object = { schema: `shared_${runTag}`, table: 'events' };
    const run = { stream: events, mode: 'incremental' as const, object, runId: 'run-1' };
    await dest.prepare(run);
    await page(run, [event('E1', '2025-02-01T00:00:00Z'), event('E2', '2025-02-01T10:00:00.250+02:00')], 'p2');
    const e3 = event('E3', '2025-02-03T00:00:00Z');
    await page(run, [{ ...e3, attributes: { ...e3.attributes, flag: true, ratio: 0.25 } }], null);
    await dest.finish(run);
    const rows = withoutSyncedAt(await dest.snapshot(object, ['id']));
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[1], {
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
    assert.deepEqual([rows[2].flag, rows[2].ratio], [true, 0.25]);
  });

  void test('a page of more rows than one statement takes is written in batches', async () => {
    const { object, run } = await startRun(profiles, 'full-refresh');
    const many = Array.from({ length: 2500 }, (_, i) => profile(`p${String(i).padStart(5, '0')}`, '2025-01-01T00:00:00Z'));
    assert.equal((await page(run, many, null)).rows, 2500);
    await dest.finish(run);
    assert.equal(await dest.tableRowCount(object), 2500);
  });
});

void describe('mysql connections', () => {
  const ctx = { env: {} as NodeJS.ProcessEnv, expect: 'database' as const };

  void test('mysql:// and mariadb:// URLs and the Sling object form resolve to one target; the password never shows', () => {
    const password = 'pa:ss/w@rd';
    const fromUrl = resolveConnection('MY', { ...ctx, env: { MY: `mariadb://u:${encodeURIComponent(password)}@db.example:3307/shop` } });
    const fromObject = resolveConnection('MY', {
      ...ctx,
      env: { MY: JSON.stringify({ type: 'mysql', host: 'db.example', port: 3307, user: 'u', password, database: 'shop' }) },
    });
    for (const conn of [fromUrl, fromObject]) {
      assert.ok(conn instanceof MysqlConnection);
      assert.equal(conn.schema, 'shop', 'the database is where objects that name no schema go');
      assert.deepEqual(targetOfConnection(conn), { kind: 'mysql', url: `mysql://u:${encodeURIComponent(password)}@db.example:3307/shop` });
      for (const shown of [String(conn), JSON.stringify(conn), inspect(conn), JSON.stringify({ ...conn })]) {
        assert.ok(!shown.includes(password) && !shown.includes(encodeURIComponent(password)), shown);
      }
      assert.equal(String(conn), 'MY: mysql u@db.example:3307/shop');
    }
  });

  void test('malformed MySQL connections fail with the fix, without the password', () => {
    const cases: Array<[string, RegExp]> = [
      ['mysql://u:secret@host/db?ssl=true', /options \(ssl\) are not supported/],
      ['mysql://u:sec/ret@host/db', /percent-encoded/],
      ['{ type: mysql, port: 3306 }', /needs url, or host/],
      ['{ type: mysql, host: h, schema: s }', /unknown key "?schema"?/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => resolveConnection('MY', { ...ctx, env: { MY: value } }),
        (err: Error) => message.test(err.message) && !err.message.includes('secret') && !err.message.includes('sec/ret'),
        value,
      );
    }
  });

  void test('errors of a real server are classified: a wrong password and a missing database are user-fixable, a closed port transient', async () => {
    const u = new URL(my.url);
    const attempt = async (url: string) => {
      const d = new Destination({ kind: 'mysql', url });
      return d.lastFullRefresh({ schema: 'klaviyo', table: 'profiles' }, 'profiles').then(
        () => assert.fail('expected a failure'),
        (err: unknown) => err,
      );
    };
    const wrong = new URL(my.url);
    wrong.password = 'not-the-password';
    const denied = classify(await attempt(wrong.toString()));
    assert.equal(denied?.kind, 'user-fixable');
    assert.match(denied!.message, /check the user and password of connection/);
    const missing = new URL(my.url);
    missing.pathname = '/no_such_db';
    const noDb = classify(await attempt(missing.toString()));
    assert.equal(noDb?.kind, 'user-fixable');
    assert.match(noDb!.message, /create the database, or fix its name/);
    const closed = new URL(my.url);
    closed.port = String(Number(u.port) === 1 ? 2 : 1);
    const refused = classify(await attempt(closed.toString()));
    assert.equal(refused?.kind, 'transient');
    assert.match(refused!.message, /ECONNREFUSED/);
    for (const c of [denied, noDb, refused]) assert.ok(!c!.message.includes(my.password), 'no password in the message');
  });

  void test('lock waits and deadlocks of a real server are transient', async () => {
    const db = connect(target);
    const t = tableSql({ schema: my.database, name: `locks_${runTag}` });
    await db.raw(`CREATE TABLE ${t} ("id" int PRIMARY KEY)`);
    await db.raw(`INSERT INTO ${t} VALUES (1), (2)`);
    const a = await db.transaction();
    const b = await db.transaction();
    try {
      await b.raw('SET SESSION innodb_lock_wait_timeout = 1');
      await a.raw(`SELECT * FROM ${t} WHERE "id" = 1 FOR UPDATE`);
      const wait = await b.raw(`SELECT * FROM ${t} WHERE "id" = 1 FOR UPDATE`).then(
        () => assert.fail('expected a lock wait timeout'),
        (err: unknown) => err,
      );
      assert.equal((wait as { code?: string }).code, 'ER_LOCK_WAIT_TIMEOUT');
      assert.equal(classify(wait)?.kind, 'transient');
      await b.raw('SET SESSION innodb_lock_wait_timeout = 20');
      // a and b each hold one row and want the other's: InnoDB ends one of them
      await b.raw(`SELECT * FROM ${t} WHERE "id" = 2 FOR UPDATE`);
      const crossed = await Promise.allSettled([
        a.raw(`SELECT * FROM ${t} WHERE "id" = 2 FOR UPDATE`),
        new Promise((r) => setTimeout(r, 200)).then(() => b.raw(`SELECT * FROM ${t} WHERE "id" = 1 FOR UPDATE`)),
      ]);
      const deadlock = crossed.find((c): c is PromiseRejectedResult => c.status === 'rejected')?.reason;
      assert.equal((deadlock as { code?: string })?.code, 'ER_LOCK_DEADLOCK');
      assert.equal(classify(deadlock)?.kind, 'transient');
    } finally {
      await a.rollback().catch(() => undefined);
      await b.rollback().catch(() => undefined);
      await db.raw(`DROP TABLE ${t}`);
    }
  });

  void test('a server whose sql_mode has NO_BACKSLASH_ESCAPES: quotes and backslashes stay values, and the session runs without it', async () => {
    const db = connect(target);
    const [{ mode }] = await query<{ mode: string }>(db, 'SELECT @@GLOBAL.sql_mode AS mode');
    await db.raw('SET GLOBAL sql_mode = ?', [`${mode},NO_BACKSLASH_ESCAPES`]);
    const pools = new DatabasePools();
    try {
      const other = new Destination(target, { databases: pools });
      const object = fresh('profiles');
      const run = { stream: profiles, mode: 'incremental' as const, object, runId: 'run-1' };
      await other.prepare(run);
      const tricky = `a\\' OR '1'='1 \\"; --`;
      await other.writePage({
        ...run,
        partition: '',
        resources: [profile('A', '2025-01-01T00:00:00Z', { note: tricky })],
        nextUrl: null,
        done: true,
      });
      const [row] = await other.snapshot(object, ['id']);
      assert.equal(row.note, tricky);
      const [{ session }] = await query<{ session: string }>(pools.get(target), 'SELECT @@SESSION.sql_mode AS session');
      assert.ok(!session.split(',').includes('NO_BACKSLASH_ESCAPES') && session.split(',').includes('ANSI_QUOTES'), session);
    } finally {
      await db.raw('SET GLOBAL sql_mode = ?', [mode]);
      await pools.close();
    }
  });

  void test('conns test: connects, and creates and drops what it tries; a wrong password names the fix', async () => {
    const lines: string[] = [];
    const schema = `probe_${runTag}`;
    const ok = await probeMysql({ name: 'MY', url: my.url }, { schema, print: (l) => lines.push(l) });
    assert.match(ok.summary, new RegExp(`can write to schema \\(database\\) ${schema}`));
    assert.match(lines[0], /^connected to (MariaDB|MySQL) \d/);
    assert.match(lines[1], /does not exist yet, and can be created/);
    assert.equal((await query(connect(target), 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [schema])).length, 0);
    const existing: string[] = [];
    await probeMysql({ name: 'MY', url: my.url, database: my.database }, { print: (l) => existing.push(l) });
    assert.match(existing[1], new RegExp(`database ${my.database} exists, and tables can be created in it`));
    assert.ok(!(await tablesOf(my.database)).includes('_klaviyo_sync_conns_test'), 'the probe table was dropped');
    const wrong = new URL(my.url);
    wrong.password = 'nope';
    await assert.rejects(probeMysql({ name: 'MY', url: wrong.toString() }, { schema, print: () => undefined }), (err: Error) => {
      assert.match(err.message, /refused user klaviyo_test: .*check the user and password of connection MY/);
      assert.ok(!err.message.includes(my.password));
      return true;
    });
  });
});
