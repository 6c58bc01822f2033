/**
 * The columns of the tables this process writes, per database pool and table, so that a page does not read the
 * catalog: a page whose columns are all known runs no catalog query at all.
 *
 * The cache may be behind the database, never ahead of it in a way that loses a value:
 * - a column another process added that the cache lacks: a page that needs it reads the catalog afresh (under the
 *   write lock in SQLite, after ADD COLUMN IF NOT EXISTS in Postgres) before adding it, so it is never added twice;
 *   a page that does not need it writes the columns it has, as it would have anyway;
 * - a table dropped or recreated behind our back (by hand, or by another process's prepare or swap): the statement
 *   that meets it fails, the caller forgets the table and writes the page again with the catalog read afresh;
 * - this process's own prepare, finish and cancel, which create, drop or swap tables, forget them when they end.
 *
 * Entries are recorded only after the transaction that read them commits (an ADD COLUMN rolled back leaves no
 * column), and not at all if the table was forgotten in the meantime: each forget bumps a version, and a writer
 * records what it read only if the version is still the one it started with.
 */
import type { Knex } from 'knex';
import type { ColumnType } from './column-types';
import { tableSql, type TableRef } from './naming';

export type TableColumns = ReadonlyMap<string, ColumnType>;

interface PoolEntry {
  tables: Map<string, TableColumns>;
  version: number;
}

const byPool = new WeakMap<Knex, PoolEntry>();

function entryOf(db: Knex): PoolEntry {
  let entry = byPool.get(db);
  if (!entry) byPool.set(db, (entry = { tables: new Map(), version: 0 }));
  return entry;
}

/** What a writer saw when it started: the cached columns (if any) and the version to record against. */
export interface ColumnsLookup {
  columns: TableColumns | undefined;
  version: number;
}

export function cachedColumns(db: Knex, ref: TableRef): ColumnsLookup {
  const entry = entryOf(db);
  return { columns: entry.tables.get(tableSql(ref)), version: entry.version };
}

/** Records a table's columns as a committed transaction left them, unless a forget came after `lookup`. */
export function recordColumns(db: Knex, ref: TableRef, columns: TableColumns, lookup: ColumnsLookup): void {
  const entry = entryOf(db);
  if (entry.version === lookup.version) entry.tables.set(tableSql(ref), columns);
}

/** Forgets tables whose shape may have changed: the next writer of each reads the catalog. */
export function forgetColumns(db: Knex, refs: readonly TableRef[]): void {
  const entry = entryOf(db);
  entry.version++;
  for (const ref of refs) entry.tables.delete(tableSql(ref));
}
