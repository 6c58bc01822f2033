/**
 * The sync state table, `_klaviyo_sync_state` in the target schema: one row per (stream, partition) holding where the
 * current run is (next_url, done, rows, pages), which run that is (run_id, mode, status), and the watermarks
 * (watermark: promoted by finished runs; run_watermark: the highest cursor written by the current run).
 * It lives next to the data and is written in the same transactions, so state never runs ahead of the rows.
 */
import type { Knex } from 'knex';
import type { Mode } from '../../streams/types';
import type { ColumnType } from './column-types';
import { query, type Db, type Dialect } from './dialect';
import { primaryKeyName, quoteIdent, stateTable, tableSql } from './naming';

/** `superseded`: a newer run of the stream started before this one finished; its writes are refused */
export type RunStatus = 'running' | 'finished' | 'superseded';

export interface PartitionState {
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

const SELECT_LIST = COLUMNS.map((c) => quoteIdent(c.column)).join(', ');

export async function ensureStateTable(trx: Knex.Transaction, d: Dialect, schema: string): Promise<void> {
  const ref = stateTable(d.kind, schema);
  const cols = COLUMNS.map((c) => `${quoteIdent(c.column)} ${d.sqlType(c.type)}${c.notNull ? ' NOT NULL' : ''}`);
  await trx.raw(
    `CREATE TABLE IF NOT EXISTS ${tableSql(ref)} (${cols.join(', ')}, ` +
      `CONSTRAINT ${quoteIdent(primaryKeyName(ref))} PRIMARY KEY (${quoteIdent('stream')}, ${quoteIdent('partition')}))`,
  );
}

function fromDb(d: Dialect, row: Record<string, unknown>): PartitionState {
  const state: Record<string, unknown> = {};
  for (const c of COLUMNS) state[c.key] = d.decode(row[c.column], c.type);
  return state as unknown as PartitionState;
}

/**
 * Every partition row of a stream; none if the state table does not exist yet. `lock` holds the rows until the
 * transaction ends (Postgres; a SQLite write transaction already excludes other writers).
 */
export async function readStreamState(
  db: Db,
  d: Dialect,
  schema: string,
  stream: string,
  lock = false,
): Promise<PartitionState[]> {
  const ref = stateTable(d.kind, schema);
  if (!(await d.columns(db, ref))) return [];
  const rows = await query(
    db,
    `SELECT ${SELECT_LIST} FROM ${tableSql(ref)} WHERE "stream" = ? ORDER BY "partition"${lock ? d.forUpdate : ''}`,
    [stream],
  );
  return rows.map((r) => fromDb(d, r));
}

/** One partition's row, locked like `readStreamState(..., true)`. */
export async function lockPartitionState(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  stream: string,
  partition: string,
): Promise<PartitionState | undefined> {
  const rows = await query(
    trx,
    `SELECT ${SELECT_LIST} FROM ${tableSql(stateTable(d.kind, schema))} WHERE "stream" = ? AND "partition" = ?${d.forUpdate}`,
    [stream, partition],
  );
  return rows.length ? fromDb(d, rows[0]) : undefined;
}

export async function saveState(trx: Knex.Transaction, d: Dialect, schema: string, state: PartitionState): Promise<void> {
  const names = COLUMNS.map((c) => quoteIdent(c.column));
  const updates = names.slice(2).map((n) => `${n} = excluded.${n}`);
  await trx.raw(
    `INSERT INTO ${tableSql(stateTable(d.kind, schema))} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')}) ` +
      `ON CONFLICT ("stream", "partition") DO UPDATE SET ${updates.join(', ')}`,
    COLUMNS.map((c) => d.encode(state[c.key], c.type)) as Knex.RawBinding[],
  );
}

/** Marks the partitions of every other unfinished run of the stream superseded, so late writers of those runs fail. */
export async function supersedeOtherRuns(
  trx: Knex.Transaction,
  d: Dialect,
  schema: string,
  stream: string,
  runId: string,
): Promise<void> {
  await trx.raw(
    `UPDATE ${tableSql(stateTable(d.kind, schema))} SET "status" = 'superseded', "updated_at" = ? ` +
      `WHERE "stream" = ? AND "run_id" <> ? AND "status" = 'running'`,
    [d.encode(new Date().toISOString(), 'timestamp'), stream, runId] as Knex.RawBinding[],
  );
}
