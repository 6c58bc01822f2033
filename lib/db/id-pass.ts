/**
 * Deletes for incremental streams, by an id pass (`source_options.reconcile_every`): a run lists every id of the
 * stream once more (its ID_PASS partition, the cheapest listing the API allows: one small attribute, the largest
 * page), the writer keeps them in `<table>__ids`, and `finish` marks with `_deleted_at` the table's rows Klaviyo did
 * not list, in the transaction that finishes the run.
 *
 * A row that arrived while the pass listed (created after the pass went past its place) is not among its ids, yet
 * it is there: only rows written before the pass started can be marked, so such a row stays live. A row listed
 * again (marked by an earlier pass) is live again, as a full refresh with `deletes: mark` does it.
 */
import type { Knex } from 'knex';
import type { StreamDef } from '../../streams/types';
import { DELETED_AT, SYNCED_AT } from './columns';
import { createTable, query, schemaOf, tableOf, type Dialect } from './dialect';
import { physicalTable, primaryKeyName, quoteIdent, tableSql, targetTable, type ObjectName, type TableRef } from './naming';

const IDS_SUFFIX = '__ids';
const ID = 'id';

/** The id pass's table of ids beside the target: `<table>__ids`. */
export function idsTable(d: Dialect, object: ObjectName): TableRef {
  return physicalTable(d.kind, object.schema, object.table + IDS_SUFFIX);
}

/** An empty ids table, for a pass that starts (one left by an earlier pass is dropped). */
export async function resetIds(trx: Knex.Transaction, d: Dialect, object: ObjectName): Promise<void> {
  const ref = idsTable(d, object);
  await schemaOf(trx, ref).dropTableIfExists(ref.name);
  await createTable(trx, d, ref, [{ name: ID, type: 'text', notNull: true }], [ID], primaryKeyName(ref));
}

/** Adds a page's ids (a page listed twice adds nothing twice). */
export async function writeIds(trx: Knex.Transaction, d: Dialect, object: ObjectName, ids: readonly string[]): Promise<void> {
  const ref = idsTable(d, object);
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += d.maxRows) {
    await tableOf(trx, ref)
      .insert(unique.slice(i, i + d.maxRows).map((id) => ({ [ID]: id })))
      .onConflict(ID)
      .ignore();
  }
}

/**
 * Marks the target's rows that the pass did not list and that were written before it started (`startedAt`), with
 * `_deleted_at` = `nowIso`; a row it listed that was marked before is live again (the caller drops the ids table
 * once the run's state is saved: `dropIds`). Returns how many rows it marked. Identifiers are validated names (naming.ts), quoted; the times are parameters.
 */
export async function markMissing(
  trx: Knex.Transaction,
  d: Dialect,
  object: ObjectName,
  stream: StreamDef,
  startedAt: string,
  nowIso: string,
): Promise<number> {
  const target = targetTable(d.kind, object);
  const ids = idsTable(d, object);
  const columns = await d.columns(trx, target);
  if (!columns || !(await d.columns(trx, ids))) return 0;
  if (!columns.has(DELETED_AT)) await trx.raw(d.addColumnSql(target, DELETED_AT, 'timestamp'));
  const q = quoteIdent;
  const key = stream.primaryKey[0];
  const time = d.kind === 'postgres' ? '?::timestamptz' : '?';
  const listed = `EXISTS (SELECT 1 FROM ${tableSql(ids)} i WHERE i.${q(ID)} = ${tableSql(target)}.${q(key)})`;
  const missing = `${q(DELETED_AT)} IS NULL AND ${q(SYNCED_AT)} < ${time} AND NOT ${listed}`;
  const started = d.encode(startedAt, 'timestamp') as string;
  const [counted] = await query<{ n: number | string }>(trx, `SELECT COUNT(*) AS n FROM ${tableSql(target)} WHERE ${missing}`, [started]);
  await trx.raw(`UPDATE ${tableSql(target)} SET ${q(DELETED_AT)} = ${time} WHERE ${missing}`, [
    d.encode(nowIso, 'timestamp') as string,
    started,
  ]);
  await trx.raw(`UPDATE ${tableSql(target)} SET ${q(DELETED_AT)} = NULL WHERE ${q(DELETED_AT)} IS NOT NULL AND ${listed}`);
  return Number(counted?.n ?? 0);
}

/** Drops a pass's ids table (its run finished, failed or was cancelled). */
export async function dropIds(db: Knex | Knex.Transaction, d: Dialect, object: ObjectName): Promise<void> {
  const ref = idsTable(d, object);
  await schemaOf(db, ref).dropTableIfExists(ref.name);
}
