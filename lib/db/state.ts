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
import { isIdPass } from '../../streams/partitions';
import type { ColumnType } from './column-types';
import { createTable, query, tableOf, upsertRows, type Db, type Dialect } from './dialect';
import { primaryKeyName, quoteIdent, stateTable, tableSql, type TableRef } from './naming';

/** `superseded`: a newer run of the stream started before this one finished; its writes are refused */
export type RunStatus = 'running' | 'finished' | 'superseded' | 'cancelled' | 'failed';

/** One row of the state table, as stored (the workflows' per-partition summary is PartitionState in workflows/types.ts). */
export interface StateRow {
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
  /**
   * the `links.next` saved when this run's page count of the partition last reached a power of two (Brent's cycle
   * check): a later `links.next` equal to it means paging went round in a loop, however many pages long, across any
   * number of activity calls (lib/klaviyo/paging.ts)
   */
  loopMark: string | null;
  /**
   * when the last full refresh of the table by this stream finished (every run after it carries the time on), so
   * an incremental stream with `full_refresh_every` knows when to read everything again; null: none yet
   */
  fullRefreshAt: string | null;
  /**
   * when the last id pass that marked the table's deleted rows started (lib/db/id-pass.ts; every run after it carries
   * the time on), so an incremental stream with `reconcile_every` knows when one is due; on a running id pass's own
   * row, when that pass started; null: none yet
   */
  reconciledAt: string | null;
}

/** A partition of the run `model` belongs to, not read yet: no cursor, no watermark, no counts. */
export function unreadPartition(model: StateRow, partition: string, updatedAt: string): StateRow {
  return {
    ...model,
    partition,
    nextUrl: null,
    done: false,
    watermark: null,
    runWatermark: null,
    loopMark: null,
    rows: 0,
    pages: 0,
    updatedAt,
  };
}

/** `added`: a nullable column later versions added; an older state table gets it by ALTER TABLE (migrateStateTable) */
const COLUMNS: Array<{ key: keyof StateRow; column: string; type: ColumnType; notNull?: true; added?: true }> = [
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
  { key: 'loopMark', column: 'loop_mark', type: 'text', added: true },
  { key: 'fullRefreshAt', column: 'full_refresh_at', type: 'timestamp', added: true },
  { key: 'reconciledAt', column: 'reconciled_at', type: 'timestamp', added: true },
];

const KEY = ['table_name', 'partition'];
const SELECT_COLUMNS = COLUMNS.map((c) => c.column);

/** The state table's CREATE TABLE, as `name` (a rebuild) with the constraint name of `ref`. */
function create(trx: Knex.Transaction, d: Dialect, ref: TableRef, name: TableRef = ref): Promise<void> {
  const columns = COLUMNS.map((c) => ({ name: c.column, type: c.type, notNull: c.notNull === true }));
  return createTable(trx, d, name, columns, KEY, primaryKeyName(ref));
}

/** Creates the state table, or migrates one from before state belonged to tables; in the caller's transaction. */
export async function ensureStateTable(trx: Knex.Transaction, d: Dialect, schema: string): Promise<void> {
  // prepare holds the schema lock (Dialect.lockSchema), so no other run creates it in between
  if ((await migrateStateTable(trx, d, schema)) === 'missing') await create(trx, d, stateTable(d.kind, schema));
}

/**
 * Migrates, in the caller's transaction, a state table keyed by (stream, partition), as versions before issue #7
 * made it, to (table_name, partition); `current` if there is nothing to do, `missing` if there is no state table.
 * Such a table cannot say which table a row was for: each row goes to the table named after its stream, where the
 * default `object: <schema>.{stream_name}` put it. A replication into another table name (e.g. `us_profiles`) then
 * finds no state and reads again from its start_date (upserts: nothing lost, nothing doubled).
 */
export async function migrateStateTable(trx: Knex.Transaction, d: Dialect, schema: string): Promise<'current' | 'migrated' | 'missing'> {
  const ref = stateTable(d.kind, schema);
  let existing = await d.columns(trx, ref);
  if (!existing) return 'missing';
  if (COLUMNS.every((c) => existing!.has(c.column))) return 'current';
  // one migration at a time (prepare already holds this lock; a writer of a run started before the upgrade does not)
  await d.lockSchema(trx, schema);
  existing = (await d.columns(trx, ref))!;
  if (COLUMNS.every((c) => existing!.has(c.column))) return 'current';
  if (!existing.has('table_name')) await rekeyByTable(trx, d, ref, existing);
  // columns later versions added (nullable): a plain ADD COLUMN in both dialects (knex's alterTable could say it,
  // but this sits with the rest of the one-off migration)
  const now = (await d.columns(trx, ref))!;
  for (const c of COLUMNS.filter((x) => x.added && !now.has(x.column))) {
    await trx.raw(`ALTER TABLE ${tableSql(ref)} ADD COLUMN ${quoteIdent(c.column)} ${d.sqlType(c.type)}`);
  }
  return 'migrated';
}

/** (stream, partition) → (table_name, partition), in the caller's transaction (see migrateStateTable). */
async function rekeyByTable(trx: Knex.Transaction, d: Dialect, ref: TableRef, existing: Map<string, unknown>): Promise<void> {
  // Hand-written: a one-off migration whose steps knex cannot say as they are (ALTER COLUMN ... SET NOT NULL alone,
  // without re-declaring the type; INSERT ... SELECT renaming a column), kept in one place and run once per schema.
  const others = COLUMNS.filter((c) => c.key !== 'table' && existing.has(c.column)).map((c) => quoteIdent(c.column));
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
  } else if (d.kind === 'mysql') {
    // MySQL targets came after issue #7: their state tables were keyed by table from the start
    throw new Error(`state table ${tableSql(ref)} has no table_name column, which klaviyo-sync never made in MySQL: drop it`);
  } else {
    // SQLite cannot change a primary key: rebuild the table (DDL is transactional in SQLite)
    const rebuilt: TableRef = { schema: null, name: `${ref.name}__rebuild` };
    await trx.raw(`DROP TABLE IF EXISTS ${tableSql(rebuilt)}`);
    await create(trx, d, ref, rebuilt);
    await trx.raw(
      `INSERT INTO ${tableSql(rebuilt)} ("table_name", ${others.join(', ')}) SELECT "stream", ${others.join(', ')} FROM ${tableSql(ref)}`,
    );
    await trx.raw(`DROP TABLE ${tableSql(ref)}`);
    await trx.raw(`ALTER TABLE ${tableSql(rebuilt)} RENAME TO ${quoteIdent(ref.name)}`);
  }
}

/**
 * When the table's last full refresh by `stream` finished, from its state rows; null if it never had one. A
 * finished full refresh recorded before `full_refresh_at` existed counts by its rows' `updated_at`.
 */
/**
 * When the last id pass over the table by `stream` that finished started; null if none did. Every row carries it
 * on, whatever its run's end; the pass's own row is there only while a pass has not finished, and does not count.
 */
export function lastReconcile(rows: StateRow[], stream: string): string | null {
  let last: string | null = null;
  for (const s of rows) {
    if (s.stream !== stream || isIdPass(s.partition) || s.reconciledAt === null) continue;
    if (last === null || Date.parse(s.reconciledAt) > Date.parse(last)) last = s.reconciledAt;
  }
  return last;
}

export function lastFullRefresh(rows: StateRow[], stream: string): string | null {
  let last: string | null = null;
  for (const s of rows) {
    if (s.stream !== stream) continue;
    const at = s.fullRefreshAt ?? (s.mode === 'full-refresh' && s.status === 'finished' ? s.updatedAt : null);
    if (at !== null && (last === null || Date.parse(at) > Date.parse(last))) last = at;
  }
  return last;
}

function fromDb(d: Dialect, row: Record<string, unknown>): StateRow {
  const state: Record<string, unknown> = {};
  for (const c of COLUMNS) state[c.key] = d.decode(row[c.column] ?? null, c.type);
  return state as unknown as StateRow;
}

/**
 * Every partition row of a target table; none if the state table does not exist yet. `lock` holds the rows until
 * the transaction ends (Postgres; a SQLite write transaction already excludes other writers). A state table not yet
 * migrated (only `prepare` migrates) is read the way the migration will assign its rows.
 */
export async function readTableState(db: Db, d: Dialect, schema: string, table: string, lock = false): Promise<StateRow[]> {
  const ref = stateTable(d.kind, schema);
  const columns = await d.columns(db, ref);
  if (!columns) return [];
  if (!columns.has('table_name')) {
    const legacy = SELECT_COLUMNS.filter((c) => c !== 'table_name' && columns.has(c));
    const rows: Record<string, unknown>[] = await tableOf(db, ref).select(legacy).where('stream', table).orderBy('partition');
    return rows.map((r) => fromDb(d, { ...r, table_name: r.stream }));
  }
  const select = tableOf(db, ref)
    .select(SELECT_COLUMNS.filter((c) => columns.has(c)))
    .where('table_name', table)
    .orderBy('partition');
  const rows: Record<string, unknown>[] = await (lock && d.rowLocks ? select.forUpdate() : select);
  return rows.map((r) => fromDb(d, r));
}

/** One partition's row, locked like `readTableState(..., true)`. */
export async function lockPartitionState(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  partition: string,
): Promise<StateRow | undefined> {
  const select = tableOf(trx, stateTable(d.kind, schema)).select(SELECT_COLUMNS).where({ table_name: table, partition });
  const rows: Record<string, unknown>[] = await (d.rowLocks ? select.forUpdate() : select);
  return rows.length ? fromDb(d, rows[0]) : undefined;
}

export async function saveState(trx: Knex.Transaction, d: Dialect, schema: string, state: StateRow): Promise<void> {
  const row = Object.fromEntries(COLUMNS.map((c) => [c.column, d.encode(state[c.key], c.type)]));
  await upsertRows(trx, d, stateTable(d.kind, schema), [row], SELECT_COLUMNS, KEY);
}

/**
 * Ends the running partitions of one run of a table (`cancelled`), or of every other run (`superseded`), so a late
 * writer of those runs is refused.
 */
async function endRunning(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  run: { only: string } | { except: string },
  status: 'superseded' | 'cancelled' | 'failed',
  now: Date,
): Promise<void> {
  const rows = tableOf(trx, stateTable(d.kind, schema))
    .update({ status, updated_at: d.encode(now.toISOString(), 'timestamp') })
    .where({ table_name: table, status: 'running' });
  await ('only' in run ? rows.where('run_id', run.only) : rows.whereNot('run_id', run.except));
}

/** Marks the partitions of every other unfinished run of the table superseded, so late writers of those runs fail. */
export function supersedeOtherRuns(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  runId: string,
  now: Date,
): Promise<void> {
  return endRunning(trx, d, schema, table, { except: runId }, 'superseded', now);
}

/** Marks a cancelled run's partitions of the table `cancelled`, so a late writer of that run is refused. */
export function cancelRunState(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  runId: string,
  now: Date,
  status: 'cancelled' | 'failed' = 'cancelled',
): Promise<void> {
  return endRunning(trx, d, schema, table, { only: runId }, status, now);
}

/** Deletes the given partitions' rows of a table (a few: the time windows a run replaced or collapsed). */
export async function deletePartitions(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  table: string,
  partitions: string[],
): Promise<void> {
  if (partitions.length === 0) return;
  await tableOf(trx, stateTable(d.kind, schema)).where('table_name', table).whereIn('partition', partitions).delete();
}
