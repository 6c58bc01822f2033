/**
 * writePage keeps each table's columns in a per-pool cache (lib/db/column-cache.ts) instead of reading the catalog on
 * every page. Against real SQLite files and a real Postgres: the catalog is read once, not per page; a column another
 * process (a second pool on the same database) added between two pages is neither added twice nor loses a value; a
 * table dropped and recreated behind the writer's back costs no failed page; prepare and finish forget the tables
 * they reshape.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import { getStream } from '../streams/streams';
import type { KlaviyoResource } from '../lib/db/columns';
import { DatabasePools, type Target } from '../lib/db/connect';
import { Destination, RunStateError } from '../lib/db/destination';
import { physicalTable, tableSql } from '../lib/db/naming';
import { startPostgres, type TestPostgres } from './helpers/postgres';

const events = getStream('events');
const tags = getStream('tags');

function event(id: string, extra: Record<string, unknown> = {}): KlaviyoResource {
  return {
    type: 'event',
    id,
    attributes: {
      timestamp: 1738404000,
      datetime: '2025-02-01T10:00:00+00:00',
      uuid: `uuid-${id}`,
      event_properties: { value: 1 },
      ...extra,
    },
    relationships: { metric: { data: { type: 'metric', id: 'M1' } }, profile: { data: { type: 'profile', id: `P-${id}` } } },
  };
}

const tag = (id: string, extra: Record<string, unknown> = {}): KlaviyoResource => ({
  type: 'tag',
  id,
  attributes: { name: `tag ${id}`, ...extra },
});

/** What one pool sent: catalog reads (the dialect's column listing) and failed statements. */
function watch(db: Knex): { catalogReads: () => number; failures: () => string[]; reset: () => void } {
  let reads = 0;
  let failed: string[] = [];
  db.on('query', (q: { sql: string }) => {
    if (/pg_attribute|pragma_table_info/.test(q.sql)) reads++;
  });
  db.on('query-error', (err: Error) => failed.push(err.message));
  return {
    catalogReads: () => reads,
    failures: () => failed,
    reset: () => {
      reads = 0;
      failed = [];
    },
  };
}

let pg: TestPostgres;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-column-cache-'));
const runTag = crypto.randomBytes(3).toString('hex');
const pools: DatabasePools[] = [];

before(async () => {
  pg = await startPostgres();
});

after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await pg?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

for (const kind of ['sqlite', 'postgres'] as const) {
  void describe(`${kind}: the column cache`, () => {
    let target: Target;
    let n = 0;
    const fresh = (table: string) => ({ schema: `c${++n}_${kind}_${runTag}`, table });
    /** A Destination on a pool of its own: what another worker process has. */
    const worker = () => {
      const databases = new DatabasePools();
      pools.push(databases);
      return { dest: new Destination(target, { databases }), db: databases.get(target) };
    };

    before(() => {
      target = kind === 'sqlite' ? { kind, filename: path.join(tmp, 'cache.db') } : { kind, url: pg.url };
    });

    void test('the catalog is read by the first page, not by the pages after it', async () => {
      const { dest, db } = worker();
      const seen = watch(db);
      const run = { stream: events, mode: 'incremental' as const, object: fresh('events'), runId: 'r1' };
      await dest.prepare(run);
      seen.reset();
      await dest.writePage({ ...run, partition: '', resources: [event('E1')], nextUrl: 'u2', done: false });
      // the table's columns, and once per schema and process the state table's (lib/db/state.ts checks its shape)
      const firstPage = seen.catalogReads();
      assert.ok(firstPage >= 1, 'the first page reads the columns');
      for (let i = 2; i <= 5; i++)
        await dest.writePage({ ...run, partition: '', resources: [event(`E${i}`)], nextUrl: i === 5 ? null : `u${i + 1}`, done: i === 5 });
      assert.equal(seen.catalogReads(), firstPage, 'four more pages, no catalog query');
      assert.deepEqual(seen.failures(), []);
      assert.equal(await dest.tableRowCount(run.object), 5);
    });

    void test('a column another process added between two pages: not added twice, no value lost', async () => {
      const a = worker();
      const b = worker();
      const object = fresh('events');
      const run = { stream: events, mode: 'incremental' as const, object, runId: 'r1' };
      await a.dest.prepare(run);
      await a.dest.writePage({ ...run, partition: '', resources: [event('E1')], nextUrl: 'u2', done: false });
      // the activity moves to another worker, whose page brings a new attribute
      const byB = await b.dest.writePage({
        ...run,
        partition: '',
        resources: [event('E2', { channel: 'sms' })],
        nextUrl: 'u3',
        done: false,
      });
      assert.deepEqual(byB.columnsAdded, ['channel']);
      // back on the first worker, whose cache knows no `channel`: a page with it, and a page without it
      const seen = watch(a.db);
      const byA = await a.dest.writePage({
        ...run,
        partition: '',
        resources: [event('E3', { channel: 'email', device: 'ios' })],
        nextUrl: 'u4',
        done: false,
      });
      assert.deepEqual(byA.columnsAdded, ['device'], 'channel was there already: only device is new');
      assert.deepEqual(seen.failures(), [], 'no ALTER of a column that exists (SQLite has no ADD COLUMN IF NOT EXISTS)');
      await a.dest.writePage({ ...run, partition: '', resources: [event('E4')], nextUrl: null, done: true });
      const rows = await a.dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.channel, r.device]),
        [
          ['E1', null, null],
          ['E2', 'sms', null],
          ['E3', 'email', 'ios'],
          ['E4', null, null],
        ],
      );
    });

    /** One page written (its columns cached), then the table dropped and made again by hand with `columns`. */
    const recreatedAfterOnePage = async (columns: string) => {
      const { dest, db } = worker();
      const object = fresh('events');
      const run = { stream: events, mode: 'incremental' as const, object, runId: 'r1' };
      await dest.prepare(run);
      await dest.writePage({ ...run, partition: '', resources: [event('E1', { channel: 'sms' })], nextUrl: 'u2', done: false });
      const table = tableSql(physicalTable(kind, object.schema, 'events'));
      await db.raw(`DROP TABLE ${table}`);
      await db.raw(
        `CREATE TABLE ${table} ("id" text PRIMARY KEY, ${columns}"_synced_at" ${kind === 'postgres' ? 'timestamptz' : 'DATETIME'})`,
      );
      return { dest, db, run, object, table };
    };

    void test('a table dropped and recreated between pages: the page is written, no attempt fails', async () => {
      // by hand: the table recreated with its key and nothing else
      const { dest, db, run, object, table } = await recreatedAfterOnePage('');
      const written = await dest.writePage({
        ...run,
        partition: '',
        resources: [event('E2', { channel: 'email' })],
        nextUrl: 'u3',
        done: false,
      });
      assert.deepEqual(
        written.columnsAdded.sort(),
        ['channel', 'datetime', 'event_properties', 'metric_id', 'profile_id', 'timestamp', 'uuid'],
        'the columns the recreated table lacked, added again',
      );
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.channel, r.metric_id, r.uuid, r.event_properties]),
        [['E2', 'email', 'M1', 'uuid-E2', { value: 1 }]],
      );

      // dropped and not recreated: the page says what to do, as without a cache
      await db.raw(`DROP TABLE ${table}`);
      await assert.rejects(
        dest.writePage({ ...run, partition: '', resources: [event('E3')], nextUrl: null, done: true }),
        (err: unknown) => err instanceof RunStateError && /does not exist; call prepare first/.test(err.message),
      );
    });

    void test('a table recreated with another type for a column: the attempt fails naming it, the next one writes the page', async () => {
      // the next page is encoded before its transaction with the cached types (channel: text); the table it meets
      // has channel as JSON, which no page encoded for text may be written into
      const { dest, run, object } = await recreatedAfterOnePage(`"channel" ${kind === 'postgres' ? 'jsonb' : 'JSON'}, `);
      const page = { ...run, partition: '', resources: [event('E2', { channel: 'email' })], nextUrl: 'u3', done: false };
      await assert.rejects(dest.writePage(page), /the table's column types changed while the page was written; fetch and write it again/);
      // the activity's retry: the same page, fetched again, with the catalog read afresh
      await dest.writePage({ ...page, resources: [event('E2', { channel: 'email' })] });
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.channel]),
        [['E2', 'email']],
      );
    });

    void test('prepare and finish forget the tables they create and swap: no statement meets a stale column set', async () => {
      const { dest, db } = worker();
      const seen = watch(db);
      const object = fresh('tags');
      const first = { stream: tags, mode: 'full-refresh' as const, object, runId: 'r1' };
      await dest.prepare(first);
      await dest.writePage({ ...first, partition: '', resources: [tag('T1', { color: 'red' })], nextUrl: 'u2', done: false });
      await dest.writePage({ ...first, partition: '', resources: [tag('T2', { color: 'blue' })], nextUrl: null, done: true });
      await dest.finish(first);
      // a new run: staging recreated without `color`, though the cache had it for the staging table
      const second = { ...first, runId: 'r2' };
      await dest.prepare(second);
      seen.reset();
      const written = await dest.writePage({
        ...second,
        partition: '',
        resources: [tag('T3', { color: 'green' })],
        nextUrl: null,
        done: true,
      });
      assert.deepEqual(written.columnsAdded, ['color']);
      assert.deepEqual(seen.failures(), [], 'the page did not fail first on a cached column set');
      assert.equal(seen.catalogReads() >= 1, true, 'prepare made the page read the catalog');
      await dest.finish(second);
      const rows = await dest.snapshot(object, ['id']);
      assert.deepEqual(
        rows.map((r) => [r.id, r.color]),
        [['T3', 'green']],
      );
    });

    if (kind === 'postgres') {
      void test('U+0000 is still taken out of text and JSON values (Postgres cannot store it)', async () => {
        const { dest } = worker();
        const object = fresh('events');
        const run = { stream: events, mode: 'incremental' as const, object, runId: 'r1' };
        await dest.prepare(run);
        await dest.writePage({
          ...run,
          partition: '',
          resources: [event('E1', { uuid: 'a\u0000b', event_properties: { note: 'x\u0000y', plain: 'back\\u0000slash' } })],
          nextUrl: null,
          done: true,
        });
        const [row] = await dest.snapshot(object, ['id']);
        assert.equal(row.uuid, 'ab');
        assert.deepEqual(row.event_properties, { note: 'xy', plain: 'back\\u0000slash' });
      });
    }
  });
}
