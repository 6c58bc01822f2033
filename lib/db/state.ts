/**
 * The sync state table, `_klaviyo_sync_state` in the target schema: one row per (target table, partition) holding
 * where the current run is (next_url, done, rows, pages), which run that is (run_id, mode, status), which stream
 * fills the table, and the watermarks (watermark: what is safely read, committed with each page of an incremental
 * stream sorted by its cursor and promoted by finished runs otherwise; run_watermark: the highest cursor written by
 * the current run). Keyed by table, not by stream: several replications of one stream (two accounts, or one account
 * into `us_profiles` and `eu_profiles`) into one schema each keep their own state.
 * It lives next to the data and is written in the same transactions, so state never runs ahead of the rows.
 */
import type { Knex } from 'knex';
import type { Mode } from '../../streams/types';
import type { ColumnType } from './column-types';
import { query, type Db, type Dialect } from './dialect';
import { primaryKeyName, quoteIdent, stateTable, tableSql, type TableRef } from './naming';

/** `superseded`: a newer run of the stream started before this one finished; its writes are refused */
export type RunStatus = 'running' | 'finished' | 'superseded' | 'cancelled';

export interface PartitionState {
  /** the target table (within the state table's schema), e.g. `profiles` or `us_profiles` */
  table: string;
  /** the stream that fills it */
  stream: string;
  /** '' for unpartitioned streams */
  partition: string;
  runId: string;
  mode: Mode;
  /** the URL of the next page to read; null before the first page and after the last */
  nextUrl: string | null;
  /** the partition has been read to its last page in this run */
  done: boolean;
  watermark: string | null;
  runWatermark: string | null;
  /** rows and pages written by this run */
  rows: number;
  pages: number;
  status: RunStatus;
  updatedAt: string;
}

const COLUMNS: Array<{ key: keyof PartitionState; column: string; type: ColumnType; notNull?: true }> = [
  { key: 'table', column: 'table_name', type: 'text', notNull: true },
  { key: 'stream', column: 'stream', type: 'text', notNull: true },
  { key: 'partition', column: 'partition', type: 'text', notNull: true },
  { key: 'runId', column: 'run_id', type: 'text', notNull: true },
  { key: 'mode', column: 'mode', type: 'text', notNull: true },
  { key: 'nextUrl', column: 'next_url', type: 'text' },
  { key: 'done', column: 'done', type: 'boolean', notNull: true },
  { key: 'watermark', column: 'watermark', type: 'text' },
  { key: 'runWatermark', column: 'run_watermark', type: 'text' },
  { key: 'rows', column: 'rows', type: 'integer', notNull: true },
  { key: 'pages', column: 'pages', type: 'integer', notNull: true },
  { key: 'status', column: 'status', type: 'text', notNull: true },
  { key: 'updatedAt', column: 'updated_at', type: 'timestamp', notNull: true },
];

const KEY = ['table_name', 'partition'];
const SELECT_LIST = COLUMNS.map((c) => quoteIdent(c.column)).join(', ');

function createSql(d: Dialect, ref: TableRef, name: TableRef = ref): string {
  const cols = COLUMNS.map((c) => `${quoteIdent(c.column)} ${d.sqlType(c.type)}${c.notNull ? ' NOT NULL' : ''}`);
  return (
    `CREATE TABLE IF NOT EXISTS ${tableSql(name)} (${cols.join(', ')}, ` +
    `CONSTRAINT ${quoteIdent(primaryKeyName(ref))} PRIMARY KEY (${KEY.map(quoteIdent).join(', ')}))`
  );
}

/** Creates the state table, or migrates one from before state belonged to tables; in the caller's transaction. */
export async function ensureStateTable(trx: Knex.Transaction, d: Dialect, schema: string): Promise<void> {
  if ((await migrateStateTable(trx, d, schema)) === 'missing') await trx.raw(createSql(d, stateTable(d.kind, schema)));
}

/**
 * Migrates, in the caller's transaction, a state table keyed by (stream, partition), as versions before issue #7
 * made it, to (table_name, partition); `current` if there is nothing to do, `missing` if there is no state table.
 * Such a table cannot say which table a row was for: each row goes to the table named after its stream, where the
 * default `object: <schema>.{stream_name}` put it. A replication into another table name (e.g. `us_profiles`) then
 * finds no state and reads again from its start_date (upserts: nothing lost, nothing doubled).
 */
export async function migrateStateTable(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
): Promise<'current' | 'migrated' | 'missing'> {
  const ref = stateTable(d.kind, schema);
  let existing = await d.columns(trx, ref);
  if (!existing) return 'missing';
  if (existing.has('table_name')) return 'current';
  // one migration at a time (prepare already holds this lock; a writer of a run started before the upgrade does not)
  await d.lockSchema(trx, schema);
  existing = await d.columns(trx, ref);
  if (existing?.has('table_name')) return 'current';
  const others = COLUMNS.filter((c) => c.key !== 'table').map((c) => quoteIdent(c.column));
  const key = `PRIMARY KEY (${KEY.map(quoteIdent).join(', ')})`;
  if (d.kind === 'postgres') {
    const [pkey] = await query<{ name: string }>(
      trx,
      `SELECT conname AS name FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(?) AND contype = 'p'`,
      [tableSql(ref)],
    );
    await trx.raw(`ALTER TABLE ${tableSql(ref)} ADD COLUMN "table_name" text`);
    await trx.raw(`UPDATE ${tableSql(ref)} SET "table_name" = "stream"`);
    await trx.raw(`ALTER TABLE ${tableSql(ref)} ALTER COLUMN "table_name" SET NOT NULL`);
    if (pkey) await trx.raw(`ALTER TABLE ${tableSql(ref)} DROP CONSTRAINT ${quoteIdent(pkey.name)}`);
    await trx.raw(`ALTER TABLE ${tableSql(ref)} ADD CONSTRAINT ${quoteIdent(primaryKeyName(ref))} ${key}`);
  } else {
    // SQLite cannot change a primary key: rebuild the table (DDL is transactional in SQLite)
    const rebuilt: TableRef = { schema: null, name: `${ref.name}__rebuild` };
    await trx.raw(`DROP TABLE IF EXISTS ${tableSql(rebuilt)}`);
    await trx.raw(createSql(d, ref, rebuilt));
    await trx.raw(
      `INSERT INTO ${tableSql(rebuilt)} ("table_name", ${others.join(', ')}) SELECT "stream", ${others.join(', ')} FROM ${tableSql(ref)}`,
    );
    await trx.raw(`DROP TABLE ${tableSql(ref)}`);
    await trx.raw(`ALTER TABLE ${tableSql(rebuilt)} RENAME TO ${quoteIdent(ref.name)}`);
  }
  return 'migrated';
}

function fromDb(d: Dialect, row: Record<string, unknown>): PartitionState {
  const state: Record<string, unknown> = {};
  for (const c of COLUMNS) state[c.key] = d.decode(row[c.column], c.type);
  return state as unknown as PartitionState;
}

/**
 * Every partition row of a target table; none if the state table does not exist yet. `lock` holds the rows until
 * the transaction ends (Postgres; a SQLite write transaction already excludes other writers). A state table not yet
 * migrated (only `prepare` migrates) is read the way the migration will assign its rows.
 */
export async function readTableState(db: Db, d: Dialect, schema: string, table: string, lock = false): Promise<PartitionState[]> {
  const ref = stateTable(d.kind, schema);
  const columns = await d.columns(db, ref);
  if (!columns) return [];
  if (!columns.has('table_name')) {
    const legacy = COLUMNS.filter((c) => c.key !== 'table');
    const rows = await query(
      db,
      `SELECT ${legacy.map((c) => quoteIdent(c.column)).join(', ')} FROM ${tableSql(ref)} WHERE "stream" = ? ORDER BY "partition"`,
      [table],
    );
    return rows.map((r) => fromDb(d, { ...r, table_name: r.stream }));
  }
  const rows = await query(
    db,
    `SELECT ${SELECT_LIST} FROM ${tableSql(ref)} WHERE "table_name" = ? ORDER BY "partition"${lock ? d.forUpdate : ''}`,
    [table],
  );
  return rows.map((r) => fromDb(d, r));
}

/** One partition's row, locked like `readTableState(..., true)`. */
export async function lockPartitionState(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  partition: string,
): Promise<PartitionState | undefined> {
  const rows = await query(
    trx,
    `SELECT ${SELECT_LIST} FROM ${tableSql(stateTable(d.kind, schema))} WHERE "table_name" = ? AND "partition" = ?${d.forUpdate}`,
    [table, partition],
  );
  return rows.length ? fromDb(d, rows[0]) : undefined;
}

export async function saveState(trx: Knex.Transaction, d: Dialect, schema: string, state: PartitionState): Promise<void> {
  const names = COLUMNS.map((c) => quoteIdent(c.column));
  const updates = COLUMNS.filter((c) => !KEY.includes(c.column)).map((c) => `${quoteIdent(c.column)} = excluded.${quoteIdent(c.column)}`);
  await trx.raw(
    `INSERT INTO ${tableSql(stateTable(d.kind, schema))} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')}) ` +
      `ON CONFLICT (${KEY.map(quoteIdent).join(', ')}) DO UPDATE SET ${updates.join(', ')}`,
    COLUMNS.map((c) => d.encode(state[c.key], c.type)) as Knex.RawBinding[],
  );
}

/** Marks the partitions of every other unfinished run of the table superseded, so late writers of those runs fail. */
export async function supersedeOtherRuns(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  runId: string,
  now: Date,
): Promise<void> {
  await trx.raw(
    `UPDATE ${tableSql(stateTable(d.kind, schema))} SET "status" = 'superseded', "updated_at" = ? ` +
      `WHERE "table_name" = ? AND "run_id" <> ? AND "status" = 'running'`,
    [d.encode(now.toISOString(), 'timestamp'), table, runId] as Knex.RawBinding[],
  );
}

/** Marks a cancelled run's partitions of the table `cancelled`, so a late writer of that run is refused. */
export async function cancelRunState(trx: Knex.Transaction, d: Dialect, schema: string, table: string, runId: string, now: Date): Promise<void> {
  await trx.raw(
    `UPDATE ${tableSql(stateTable(d.kind, schema))} SET "status" = 'cancelled', "updated_at" = ? ` +
      `WHERE "table_name" = ? AND "run_id" = ? AND "status" = 'running'`,
    [d.encode(now.toISOString(), 'timestamp'), table, runId] as Knex.RawBinding[],
  );
}
