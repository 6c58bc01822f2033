/**
 * The write side of a sync: activities fetch a Klaviyo page and hand it here; rows never pass through Temporal.
 *
 * Any activity can die mid-page and be retried, so:
 * - every write is an upsert on the primary key (a page written twice leaves the same rows);
 * - a page's rows and its partition's state commit in one transaction (state never runs ahead of the data);
 * - a full refresh loads a staging table and swaps it in only in `finish`, in one transaction, so readers see the
 *   old table or the new one and a run that dies leaves the old table as it was;
 * - state belongs to the target table (several replications of one stream into one schema each have their own) and
 *   is keyed by run id: `prepare` with the same run id resumes, a new run id starts from the first page and shuts
 *   out any late writer of the old run;
 * - an incremental stream sorted ascending by its cursor commits its watermark with each page, so a new run (after
 *   a failed, terminated or timed-out one) continues from the last committed page instead of its start date.
 */
import { crashPoint } from '../crash-points';
import type { Knex } from 'knex';
import type { Mode, ParentRowFilter, StreamDef } from '../../streams/types';
import { isIdPass, keepsParentRow, partitionsOf } from '../../streams/partitions';
import { dropIds, markMissing, resetIds, writeIds } from './id-pass';
import { includedColumns } from '../../streams/options';
import {
  baseColumns,
  DELETED_AT,
  includedLookup,
  pageColumns,
  toRow,
  type ColumnDef,
  type KlaviyoResource,
  type Row,
  type RowOrigin,
} from './columns';
import { cachedColumns, forgetColumns, recordColumns, type TableColumns } from './column-cache';
import { processDatabases, type DatabasePools, type Target } from './connect';
import { systemNow, type Now } from '../clock';
import { createTable, dialectFor, query, schemaOf, tableOf, type Dialect, type EncodedPage, type TypedColumn } from './dialect';
import {
  primaryKeyName,
  replacedTable,
  stateTable,
  quoteIdent,
  stagingTable,
  tableSql,
  targetTable,
  validateColumnName,
  validateObjectName,
  type ObjectName,
  type TableRef,
} from './naming';
import {
  ensureStateTable,
  migrateStateTable,
  lastFullRefresh,
  lastReconcile,
  lockPartitionState,
  readTableState,
  saveState,
  deletePartitions,
  supersedeOtherRuns,
  cancelRunState,
  unreadPartition,
  type StateRow,
} from './state';
import { claimTables, type ReplicationRun, type RunningCheck } from './claims';
import { earliestWatermark, laterWatermark, pageWatermark, watermarkPerPage, windowsWatermark, type WindowState } from './watermark';
import { isWindowKey, parseWindowKey, pastWindow, splitWindow, windowKey, type WindowProgress } from '../../streams/windows';

export interface RunInput {
  stream: StreamDef;
  mode: Mode;
  object: ObjectName;
  runId: string;
  /** finish: a full refresh keeps the rows it did not find again, with `_deleted_at` set (DELETED_AT) */
  markDeleted?: boolean;
}

export interface PrepareInput extends RunInput {
  /** channel/archived labels, list ids, ...; omitted or empty for an unpartitioned stream (partition '') */
  partitions?: string[];
}

export interface PartitionProgress {
  /** where to continue; null: start from the first page (or nothing left if `done`) */
  nextUrl: string | null;
  done: boolean;
  rows: number;
  pages: number;
  /**
   * this partition's watermark: what earlier runs have safely read, committed per page for incremental streams
   * sorted by their cursor and by finished runs otherwise (incremental runs start from it, less the overlap)
   */
  watermark: string | null;
}

/** Where a page activity continues from: its partition's progress, and the loop mark its paging guard checks. */
export interface PartitionCursor extends PartitionProgress {
  /** a `links.next` this run already followed (see StateRow.loopMark): meeting it again means a paging loop */
  loopMark: string | null;
}

/** What `prepare` found or set up in the database (the prepareStream activity returns the workflow's PrepareResult). */
export interface PreparedRun {
  /** the earliest partition watermark: a safe common starting point; null if any partition has none */
  watermark: string | null;
  /** true when this run id was already in progress and its cursors were kept */
  resumed: boolean;
  partitions: Record<string, PartitionProgress>;
}

export interface WritePageInput extends RunInput {
  partition: string;
  resources: KlaviyoResource[];
  /** the parent's id for child streams (the list id of list_profiles) */
  parentId?: string;
  /** the stream's options turned on, and the page's `included` resources their columns are read from */
  options?: readonly string[];
  included?: KlaviyoResource[];
  /** `links.next` of this page; null on the last page */
  nextUrl: string | null;
  done: boolean;
}

export interface WritePageResult {
  /** rows upserted (duplicates within the page counted once) */
  rows: number;
  columnsAdded: string[];
  /** the page had been committed before (a retry after a crash): rows rewritten, counts left alone */
  replayed: boolean;
  /** the partition is read to its end: the page said so, or it reached the end of the partition's time window */
  done: boolean;
  /** the partition's watermark once the page is committed (how far a listing sorted by its cursor has read) */
  watermark: string | null;
}

/** What `finish` read back from the state table (the finishStream activity adds the table's rows: FinishResult). */
export interface RunTotals {
  /** rows and pages written by the run, over all partitions */
  rows: number;
  pages: number;
  /** rows a full refresh with `markDeleted` did not find again and kept, marked deleted by this run */
  markedDeleted?: number;
  /** pages of ids the run's id pass read (id-pass.ts), beside the `pages` of its listings */
  idPassPages?: number;
  watermark: string | null;
}

/** A write or finish for a run that is not the stream's current unfinished run: not worth retrying. */
export class RunStateError extends Error {
  override name = 'RunStateError';
}

const MODES: readonly Mode[] = ['full-refresh', 'incremental', 'backfill'];

/** A page made ready for writing: everything that does not depend on the database, computed once per page. */
interface PageToWrite {
  /** the page's input without its resources (the rows hold what is needed of them) */
  input: WritePageInput;
  where: string;
  /** the rows, unless `encoded` holds them already (then null: the rows are garbage by the time the page waits) */
  rows: Row[] | null;
  /** the rows encoded for the dialect's upsert with the cached column types, when the cache covered every column */
  encoded: EncodedPage | undefined;
  rowCount: number;
  columns: ColumnDef[];
  pageMax: string | null;
  syncedAt: Date;
}

/** Schemas whose state table is known to be keyed by table, per database: checked once per process, not per page. */
const currentStateTables = new WeakMap<Knex, Set<string>>();

function checkRun(input: RunInput): ObjectName {
  const object = validateObjectName(input.object);
  const where = `stream ${input.stream?.name}`;
  if (!MODES.includes(input.mode)) {
    throw new Error(`${where}: mode must be one of ${MODES.join(', ')}, got ${JSON.stringify(input.mode)}`);
  }
  if (typeof input.runId !== 'string' || input.runId === '') throw new Error(`${where}: runId must be a non-empty string`);
  return object;
}

function progressOf(states: StateRow[], resumed: boolean): PreparedRun {
  const partitions: Record<string, PartitionProgress> = {};
  for (const s of states) {
    partitions[s.partition] = { nextUrl: s.nextUrl, done: s.done, rows: s.rows, pages: s.pages, watermark: s.watermark };
  }
  // the id pass reads no cursor: it says nothing of the watermark
  const read = states.filter((s) => !isIdPass(s.partition));
  return { watermark: earliestWatermark(read.map((s) => s.watermark)), resumed, partitions };
}

/** A data table: its columns, the primary key's NOT NULL, and the `<table>_pkey` constraint. */
async function createDataTable(
  trx: Knex.Transaction,
  d: Dialect,
  ref: TableRef,
  columns: ColumnDef[],
  primaryKey: string[],
): Promise<void> {
  const defs = columns.map((c) => ({ name: c.name, type: c.type, notNull: primaryKey.includes(c.name) }));
  await createTable(trx, d, ref, defs, primaryKey, primaryKeyName(ref));
}

/** Klaviyo can repeat a resource within a page; one statement may not update a row twice (Postgres rejects it). */
function dedupe(rows: Row[], primaryKey: string[]): Row[] {
  const byKey = new Map<unknown, Row>();
  // a single-column key (every stream but the memberships) is its own map key: no JSON per row
  const keyOf = primaryKey.length === 1 ? (row: Row) => row[primaryKey[0]] : (row: Row) => JSON.stringify(primaryKey.map((k) => row[k]));
  for (const row of rows) byKey.set(keyOf(row), row);
  return byKey.size === rows.length ? rows : [...byKey.values()];
}

/** Encodes a page's rows for the driver and upserts them on the primary key. */
/** The page's columns typed by `types`, or undefined when one of them is not there. */
function typedColumns(columns: readonly ColumnDef[], types: TableColumns): TypedColumn[] | undefined {
  const typed: TypedColumn[] = [];
  for (const c of columns) {
    const type = types.get(c.name);
    if (type === undefined) return undefined;
    typed.push([c.name, type]);
  }
  return typed;
}

/**
 * The page encoded for the table's columns as the transaction found them: as encoded before it when those types are
 * the ones it was encoded with, else from its rows. A page encoded early has no rows left to encode again; should the
 * catalog read afresh (a table recreated behind our back) disagree with its types, the attempt fails and the
 * activity's retry fetches the page again, its cursor unchanged.
 */
function encodedFor(d: Dialect, page: PageToWrite, existing: TableColumns, where: string): EncodedPage {
  const { encoded, rows, columns } = page;
  if (encoded) {
    if (encoded.columns.every(([name, type]) => existing.get(name) === type)) return encoded;
    throw new Error(`${where}: the table's column types changed while the page was written; fetch and write it again`);
  }
  return d.encodePage(
    rows!,
    columns.map((c) => [c.name, existing.get(c.name) ?? 'text'] as const),
  );
}

/** A failure that a stale cached column set cannot have caused: not worth writing the page again. */
function staleColumnsCannotExplain(err: unknown): boolean {
  return err instanceof RunStateError;
}

export class Destination {
  private readonly db: Knex;
  private readonly d: Dialect;
  private readonly now: Now;

  /** `databases`: where its pool comes from (default: the process's); `now`: the clock of state and `_synced_at` */
  constructor(target: Target, options: { databases?: DatabasePools; now?: Now } = {}) {
    this.db = (options.databases ?? processDatabases()).get(target);
    this.d = dialectFor(target.kind);
    this.now = options.now ?? systemNow;
  }

  /**
   * Claims a replication's target tables for its run, all at once (claims.ts): refused, naming the holder, if
   * another replication still running holds any of them.
   */
  async claimTables(objects: ObjectName[], run: ReplicationRun, running: RunningCheck): Promise<void> {
    const checked = objects.map((o) => validateObjectName(o));
    await this.db.transaction((trx) => claimTables(trx, this.d, checked, run, running, this.now()));
  }

  /**
   * Gets a stream ready for a run: schema, state table, the target table if missing, and for a full refresh the
   * staging table. The same run id (and mode) still in progress resumes: staging and cursors are kept. A different
   * run id starts every partition from the first page and empties staging. A target table that had to be created
   * resets the watermarks: an empty table has nothing to be incremental on.
   */
  async prepare(input: PrepareInput): Promise<PreparedRun> {
    const object = checkRun(input);
    const { stream, mode, runId } = input;
    const partitions = [...new Set(input.partitions?.length ? input.partitions : [''])];
    const d = this.d;
    return this.reshaping(object, async (trx) => {
      await d.lockSchema(trx, object.schema);
      await ensureStateTable(trx, d, object.schema);
      const target = targetTable(d.kind, object);
      const targetExisted = (await d.columns(trx, target)) !== null;
      if (!targetExisted) await createDataTable(trx, d, target, baseColumns(stream), stream.primaryKey);

      const existing = await readTableState(trx, d, object.schema, object.table, true);
      const ofRun = existing.filter((s) => s.runId === runId && s.mode === mode);
      if (ofRun.length > 0 && ofRun.every((s) => s.status === 'finished')) return progressOf(ofRun, true);
      // an incremental run writes into the target: if that was dropped, the pages its cursors account for are gone
      let resumed = ofRun.some((s) => s.status === 'running') && (targetExisted || mode === 'full-refresh');

      const staging = mode === 'full-refresh' ? stagingTable(d.kind, object) : null;
      // staging gone (dropped by hand?) means the rows the cursors account for are gone too: start over
      if (staging && resumed && !(await d.columns(trx, staging))) resumed = false;
      // Other runs are superseded before staging is recreated: in MySQL that DDL commits what came before it, so a
      // late writer of the old run finds its run superseded rather than writing into the new run's staging
      if (!resumed) {
        await supersedeOtherRuns(trx, d, object.schema, object.table, runId, this.now());
        // the time windows of an earlier run: this run took over what they had left (or starts afresh), so the
        // state table holds one run's windows at most
        const replaced = existing.filter((s) => isWindowKey(s.partition) && !partitions.includes(s.partition)).map((s) => s.partition);
        await deletePartitions(trx, d, object.schema, object.table, replaced);
      }
      if (staging && !resumed) {
        await schemaOf(trx, staging).dropTableIfExists(staging.name);
        await createDataTable(trx, d, staging, baseColumns(stream), stream.primaryKey);
      }
      // an id pass's table of ids, afresh, after the same supersede as staging
      if (!resumed && partitions.some(isIdPass)) await resetIds(trx, d, object);

      const byPartition = new Map(existing.map((s) => [s.partition, s]));
      const updatedAt = this.now().toISOString();
      const states: StateRow[] = [];
      for (const partition of partitions) {
        const prev = byPartition.get(partition);
        if (resumed && prev?.runId === runId && prev.mode === mode && prev.status === 'running') {
          states.push(prev);
          continue;
        }
        // a watermark counts only for the stream that wrote it, into the table as it still is
        const ours = targetExisted && prev?.stream === stream.name;
        const watermark = ours ? prev.watermark : null;
        const fresh: StateRow = {
          table: object.table,
          stream: stream.name,
          partition,
          runId,
          mode,
          nextUrl: null,
          done: false,
          watermark,
          runWatermark: null,
          loopMark: null,
          rows: 0,
          pages: 0,
          status: 'running',
          updatedAt,
          fullRefreshAt: ours ? lastFullRefresh([prev], stream.name) : null,
          // an id pass's row: when it started (id-pass.ts marks only rows written before); else the last pass's
          reconciledAt: isIdPass(partition) ? updatedAt : ours ? prev.reconciledAt : null,
        };
        await saveState(trx, d, object.schema, fresh);
        states.push(fresh);
      }
      return progressOf(states, resumed);
    });
  }

  /**
   * Writes one page in one transaction: adds columns for new attributes, upserts the rows (into staging for a full
   * refresh, into the target for incremental) and advances the partition's state: its cursor, and for an incremental
   * stream sorted by its cursor the watermark (the page's highest cursor value, capped at now), so a new run
   * continues from the last committed page. A page whose `nextUrl`/`done` the
   * state already holds was committed before a crash: its rows are upserted again but not counted again.
   * A partition the run was not prepared with joins the run here.
   *
   * The table's columns come from the process's cache (column-cache.ts), so a page that brings no new column reads
   * no catalog: five statements (lock the state row, upsert the rows, save the state, begin and commit). A page that
   * fails with a cached column set is written once more with the catalog read afresh (the transaction rolled back,
   * so that is safe): a table dropped or recreated behind our back does not cost an activity attempt.
   */
  async writePage(given: WritePageInput): Promise<WritePageResult> {
    const object = checkRun(given);
    const { stream, mode, runId, partition } = given;
    const where = `stream ${stream.name}, partition ${JSON.stringify(partition)}, run ${runId}`;
    if (typeof partition !== 'string') throw new Error(`${where}: partition must be a string ('' when unpartitioned)`);
    if (given.nextUrl === null && !given.done) throw new Error(`${where}: a page without a next URL must be the last (done: true)`);
    if (isIdPass(partition)) return this.writeIdsPage(given, object, where);
    const syncedAt = this.now();
    const syncedAtIso = syncedAt.toISOString();
    const origin: RowOrigin = {
      parentId: given.parentId,
      columns: partitionsOf(stream).columnsOf(partition),
      included: includedLookup(includedColumns(stream, given.options), given.included),
    };
    let rows = dedupe(
      given.resources.map((r) => toRow(stream, r, origin, syncedAtIso)),
      stream.primaryKey,
    );
    // A time window holds the rows before its end. Its listing asks for no more (less-than), but the first half of a
    // split window keeps the listing it had, up to the old end: the rows from its new end on are the second
    // half's, and meeting one ends this half (the listing is sorted by the cursor).
    const window = mode !== 'full-refresh' && stream.cursor && isWindowKey(partition) ? parseWindowKey(partition) : null;
    const field = stream.cursor?.field;
    const inWindow = window && field ? rows.filter((r) => !pastWindow(window, r[field])) : rows;
    // the resources stay behind: the rows hold what is kept of them
    const input = { ...given, resources: [], included: undefined, ...(inWindow.length < rows.length ? { nextUrl: null, done: true } : {}) };
    rows = inWindow;
    const columns = pageColumns(stream, rows);
    const pageMax = pageWatermark(stream, rows, syncedAt);
    const ref = mode === 'full-refresh' ? stagingTable(this.d.kind, object) : targetTable(this.d.kind, object);
    const lookup = cachedColumns(this.db, ref);
    // Encoded now, with the cached types, if they cover the page: a page waits for one of the pool's connections
    // (behind the pages of 48 slots) holding only its encoded form, not its resources and rows (the fast bench: ~9%
    // less worker CPU per row; the peak RSS did not move, see README's Performance). Otherwise the transaction
    // encodes the rows.
    const cachedTypes = lookup.columns && typedColumns(columns, lookup.columns);
    const encoded = cachedTypes ? this.d.encodePage(rows, cachedTypes) : undefined;
    const page: PageToWrite = { input, where, rows: encoded ? null : rows, encoded, rowCount: rows.length, columns, pageMax, syncedAt };
    rows = [];
    try {
      const { result, tableColumns } = await this.writePageOnce(page, object, ref, lookup.columns);
      recordColumns(this.db, ref, tableColumns, lookup);
      return result;
    } catch (err) {
      // the table may have been dropped or recreated behind our back: whatever failed, read the catalog next time
      forgetColumns(this.db, [ref]);
      if (lookup.columns === undefined || staleColumnsCannotExplain(err)) throw err;
      // The transaction rolled back, so writing the page again is safe; with the catalog read afresh, a stale
      // cache never costs an activity attempt. A failure with nothing cached is the real one, and is thrown.
      const fresh = cachedColumns(this.db, ref);
      const { result, tableColumns } = await this.writePageOnce(page, object, ref, undefined);
      recordColumns(this.db, ref, tableColumns, fresh);
      return result;
    }
  }

  /** A page of the id pass: its ids kept aside (id-pass.ts) and the partition's cursor, in one transaction. */
  private async writeIdsPage(input: WritePageInput, object: ObjectName, where: string): Promise<WritePageResult> {
    const { mode, runId, partition, nextUrl, done } = input;
    const ids = input.resources.map((r) => r.id);
    return this.db.transaction(async (trx) => {
      await this.stateTableCurrent(trx, object.schema);
      const state = await lockPartitionState(trx, this.d, object.schema, object.table, partition);
      if (!state || state.runId !== runId || state.mode !== mode) {
        throw new RunStateError(`${where}: the id pass belongs to another run, or was never prepared; this run was superseded`);
      }
      if (state.status !== 'running') throw new RunStateError(`${where}: the run is ${state.status}; nothing more can be written to it`);
      const replayed = state.pages > 0 && state.nextUrl === nextUrl && state.done === done;
      await writeIds(trx, this.d, object, ids);
      crashPoint('write', `${input.stream.name}${partition}`);
      if (!replayed) {
        const pages = state.pages + 1;
        await saveState(trx, this.d, object.schema, {
          ...state,
          nextUrl,
          done,
          rows: state.rows + ids.length,
          pages,
          updatedAt: this.now().toISOString(),
          loopMark: isPowerOfTwo(pages) ? nextUrl : state.loopMark,
        });
      }
      return { rows: ids.length, columnsAdded: [], replayed, done, watermark: null };
    });
  }

  /**
   * One transaction of writePage. `known`: the table's columns as cached, or undefined to read them from the
   * catalog. Returns the result and the table's columns as the transaction leaves them.
   */
  private async writePageOnce(
    page: PageToWrite,
    object: ObjectName,
    ref: TableRef,
    known: TableColumns | undefined,
  ): Promise<{ result: WritePageResult; tableColumns: TableColumns }> {
    const { input, where, rowCount, columns, pageMax, syncedAt } = page;
    const { stream, mode, runId, partition, nextUrl, done } = input;
    // incremental pages land in the target, so with a listing sorted by the cursor the page is safe progress at once
    const perPage = mode !== 'full-refresh' && watermarkPerPage(stream);
    const d = this.d;
    return this.db.transaction(async (trx) => {
      await this.stateTableCurrent(trx, object.schema);
      const lockState = async (): Promise<StateRow> => {
        const state =
          (await lockPartitionState(trx, d, object.schema, object.table, partition)) ?? (await this.joinRun(trx, input, object, where));
        if (state.runId !== runId || state.mode !== mode) {
          throw new RunStateError(`${where}: the partition belongs to run ${state.runId} (${state.mode}); this run was superseded`);
        }
        if (state.status !== 'running') {
          throw new RunStateError(`${where}: the run is ${state.status}; nothing more can be written to it`);
        }
        return state;
      };
      let state = await lockState();

      // The catalog only when nothing is cached or the page brings a column the cache lacks: then read afresh, since
      // another process may have added it meanwhile (in SQLite this transaction holds the write lock, so what it
      // reads stays true until it commits; Postgres' ADD COLUMN IF NOT EXISTS is safe either way).
      let existing = known;
      if (!existing || columns.some((c) => !existing!.has(c.name))) {
        const read = await d.columns(trx, ref);
        if (!read) throw new RunStateError(`${where}: table ${tableSql(ref)} does not exist; call prepare first`);
        existing = read;
      }
      const added = columns.filter((c) => !existing!.has(c.name));
      // columns first: an ALTER takes the table's strongest lock, and taking it before our own row locks avoids deadlocks
      for (const c of added) {
        // hand-written (Dialect.addColumnSql): Postgres' ADD COLUMN IF NOT EXISTS, which knex's alterTable cannot say
        await trx.raw(d.addColumnSql(ref, c.name, c.type));
      }
      // after an ALTER (which holds the table's lock until commit), the catalog says which type won if another
      // writer added the same column at the same moment with another type
      if (added.length > 0) existing = (await d.columns(trx, ref))!;
      // MySQL: the ALTER committed the state row read above and released its lock (mysql-client.ts began a new
      // transaction): lock and check it again, so the rows and the state below commit together, as in one transaction
      if (added.length > 0 && !d.transactionalDdl) state = await lockState();
      if (rowCount > 0) await d.upsert(trx, ref, encodedFor(d, page, existing, where), stream.primaryKey);
      crashPoint('write', stream.name);

      const replayed = state.pages > 0 && state.nextUrl === nextUrl && state.done === done;
      const watermark = perPage ? laterWatermark(state.watermark, pageMax) : state.watermark;
      if (!replayed) {
        await saveState(trx, d, object.schema, {
          ...state,
          nextUrl,
          done,
          rows: state.rows + rowCount,
          pages: state.pages + 1,
          watermark,
          runWatermark: laterWatermark(state.runWatermark, pageMax),
          updatedAt: syncedAt.toISOString(),
          // Brent's cycle check: remember the next link each time the run's page count reaches a power of two
          loopMark: isPowerOfTwo(state.pages + 1) ? nextUrl : state.loopMark,
        });
      }
      return { result: { rows: rowCount, columnsAdded: added.map((c) => c.name), replayed, done, watermark }, tableColumns: existing };
    });
  }

  /**
   * A transaction that may create, drop or swap the object's tables (prepare, finish, cancel): the column cache
   * forgets both of them when it ends, committed or not, so the next page reads the catalog.
   */
  private async reshaping<T>(object: ObjectName, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(work);
    } finally {
      forgetColumns(this.db, [targetTable(this.d.kind, object), stagingTable(this.d.kind, object)]);
    }
  }

  /**
   * A run started before the upgrade to per-table state can still be writing: its writes and finish migrate the state
   * table as prepare does. Remembered only once seen current, since a migration done here commits with the page.
   */
  private async stateTableCurrent(trx: Knex.Transaction, schema: string): Promise<void> {
    let known = currentStateTables.get(this.db);
    if (known?.has(schema)) return;
    if ((await migrateStateTable(trx, this.d, schema)) !== 'current') return;
    if (!known) currentStateTables.set(this.db, (known = new Set()));
    known.add(schema);
  }

  private async joinRun(trx: Knex.Transaction, input: WritePageInput, object: ObjectName, where: string): Promise<StateRow> {
    const states = await readTableState(trx, this.d, object.schema, object.table, true);
    const model = states.find((s) => s.runId === input.runId && s.mode === input.mode && s.status === 'running');
    if (!model) throw new RunStateError(`${where}: no such run in progress; call prepare first`);
    // a run's windows are planned by prepare and changed only by splitWindow: one missing was split or replaced
    if (isWindowKey(input.partition)) throw new RunStateError(`${where}: the run holds no such time window (it was split or replaced)`);
    const state = unreadPartition(model, input.partition, this.now().toISOString());
    await saveState(trx, this.d, object.schema, state);
    return state;
  }

  /**
   * When the table's last full refresh by the stream finished (ISO), or null if it never had one (nor a state table):
   * what `full_refresh_every` is measured from.
   */
  async lastFullRefresh(object: ObjectName, stream: string): Promise<string | null> {
    validateObjectName(object);
    return lastFullRefresh(await readTableState(this.db, this.d, object.schema, object.table), stream);
  }

  /**
   * Ends a run once every partition is done. Full refresh: staging replaces the target in one transaction (rows
   * deleted in Klaviyo disappear). Both modes: each partition's watermark becomes the later of it and the run's
   * (already so for incremental streams sorted by their cursor, whose pages committed it).
   * Calling it again for a finished run returns the same result.
   */
  async finish(input: RunInput): Promise<RunTotals> {
    const object = checkRun(input);
    const { stream, mode, runId } = input;
    const d = this.d;
    const where = `stream ${stream.name}, run ${runId}`;
    return this.reshaping(object, async (trx) => {
      await d.lockSchema(trx, object.schema);
      await this.stateTableCurrent(trx, object.schema);
      const table = await readTableState(trx, d, object.schema, object.table, true);
      const ofRun = table.filter((s) => s.runId === runId);
      // the id pass's own row: its rows are ids, its pages no cursor's; what it marks is the run's markedDeleted
      const idPass = ofRun.find((s) => isIdPass(s.partition));
      const states = ofRun.filter((s) => s !== idPass);
      const summary = (): RunTotals => ({
        rows: states.reduce((n, s) => n + s.rows, 0),
        pages: states.reduce((n, s) => n + s.pages, 0),
        watermark: earliestWatermark(states.map((s) => s.watermark)),
      });
      if (states.length === 0) throw new RunStateError(`${where}: no such run; call prepare first`);
      if (states.some((s) => s.mode !== mode)) {
        throw new RunStateError(`${where}: the run was prepared as ${states[0].mode}, not ${mode}`);
      }
      if (states.every((s) => s.status === 'finished')) {
        // MySQL commits the finished state just before the swap (see below): a crash in between left staging
        // unswapped, and finish called again completes the swap, unless a newer run has begun to use staging
        const swapLeft =
          mode === 'full-refresh' &&
          !d.transactionalDdl &&
          !table.some((s) => s.status === 'running') &&
          (await d.columns(trx, stagingTable(d.kind, object)));
        if (swapLeft) await this.swap(trx, object, where);
        const at = states[0].fullRefreshAt;
        const again = mode === 'full-refresh' && input.markDeleted && at ? await this.markedAt(trx, object, at) : undefined;
        return { ...summary(), ...(again !== undefined ? { markedDeleted: again } : {}) };
      }
      if (states.some((s) => s.status === 'superseded')) {
        throw new RunStateError(`${where}: a newer run of the stream started; this one cannot finish`);
      }
      const pending = ofRun.filter((s) => !s.done).map((s) => JSON.stringify(s.partition));
      if (pending.length > 0) {
        throw new RunStateError(
          `${where}: ${pending.length} partition(s) not read to the end ` +
            `(${pending.slice(0, 10).join(', ')}${pending.length > 10 ? ', ...' : ''}); ` +
            `write their last page (done: true, an empty page for a partition that vanished) before finish`,
        );
      }
      const updatedAt = this.now().toISOString();
      let marked = mode === 'full-refresh' && input.markDeleted ? await this.keepDeleted(trx, object, stream, updatedAt) : undefined;
      // The swap and the finished state commit together where DDL is transactional. In MySQL the swap (RENAME
      // TABLE, atomic by itself) commits implicitly: it comes last, so the state it commits first says finished,
      // and a crash between the two is completed by finish called again (above)
      const swapFirst = mode === 'full-refresh' && d.transactionalDdl;
      if (swapFirst) await this.swap(trx, object, where);
      if (idPass) {
        marked = await markMissing(trx, d, object, stream, idPass.reconciledAt!, updatedAt);
        crashPoint('mark', stream.name);
        await deletePartitions(trx, d, object.schema, object.table, [idPass.partition]);
        // every row of the run carries the pass on: the table was reconciled as of its start
        for (const s of states) s.reconciledAt = idPass.reconciledAt;
      }
      const passed = idPass ? { idPassPages: idPass.pages } : {};
      const marks = marked !== undefined ? { markedDeleted: marked } : {};
      if (states.some((s) => isWindowKey(s.partition))) {
        const collapsed = await this.collapseWindows(trx, object, input, table, states, updatedAt);
        states.splice(0, states.length, collapsed);
      } else {
        for (const s of states) {
          s.watermark = laterWatermark(s.watermark, s.runWatermark);
          if (mode === 'full-refresh') s.fullRefreshAt = updatedAt;
          s.status = 'finished';
          s.updatedAt = updatedAt;
          await saveState(trx, d, object.schema, s);
        }
      }
      if (mode === 'full-refresh' && !swapFirst) await this.swap(trx, object, where);
      // last: in MySQL a DROP commits what came before it, the marks and the finished state together
      if (idPass) await dropIds(trx, d, object);
      return { ...summary(), ...marks, ...passed };
    });
  }

  /**
   * The rows a finished full refresh marked deleted, for a finish called again: those whose `_deleted_at` is the
   * run's time (a row marked by an earlier run keeps that run's time).
   */
  private async markedAt(trx: Knex.Transaction, object: ObjectName, atIso: string): Promise<number> {
    const target = targetTable(this.d.kind, object);
    if (!(await this.d.columns(trx, target))?.has(DELETED_AT)) return 0;
    const at = this.d.kind === 'postgres' ? '?::timestamptz' : '?';
    const [row] = await query<{ n: number | string }>(
      trx,
      `SELECT COUNT(*) AS n FROM ${tableSql(target)} WHERE ${quoteIdent(DELETED_AT)} = ${at}`,
      [atIso],
    );
    return Number(row?.n ?? 0);
  }

  /**
   * Before a full refresh's swap with `markDeleted`: the target's rows that staging lacks (gone from Klaviyo) are
   * copied into staging with `_deleted_at` set (kept where an earlier run set it), so the swap keeps them, marked. Staging
   * gets the target's columns it lacks first, so no value of a kept row is lost. Returns how many rows were marked by
   * this run. The identifiers are validated names (naming.ts), quoted; the time is a parameter.
   */
  private async keepDeleted(trx: Knex.Transaction, object: ObjectName, stream: StreamDef, nowIso: string): Promise<number> {
    const d = this.d;
    const staging = stagingTable(d.kind, object);
    const target = targetTable(d.kind, object);
    const old = await d.columns(trx, target);
    const fresh = await d.columns(trx, staging);
    if (!fresh) return 0;
    // the column from the first run on, so that `WHERE _deleted_at IS NULL` works before anything was deleted
    if (!fresh.has(DELETED_AT)) await trx.raw(d.addColumnSql(staging, DELETED_AT, 'timestamp'));
    if (!old) return 0;
    for (const [name, type] of old) if (!fresh.has(name) && name !== DELETED_AT) await trx.raw(d.addColumnSql(staging, name, type));
    const columns = [...old.keys()].filter((c) => c !== DELETED_AT);
    const ident = quoteIdent;
    const now = d.kind === 'postgres' ? '?::timestamptz' : '?';
    const deletedAt = old.has(DELETED_AT) ? `COALESCE(t.${ident(DELETED_AT)}, ${now})` : now;
    const sameKey = stream.primaryKey.map((k) => `s.${ident(k)} = t.${ident(k)}`).join(' AND ');
    const missing = `NOT EXISTS (SELECT 1 FROM ${tableSql(staging)} s WHERE ${sameKey})`;
    const newlyMarked = old.has(DELETED_AT) ? ` AND t.${ident(DELETED_AT)} IS NULL` : '';
    const counted = await query<{ n: number | string }>(
      trx,
      `SELECT COUNT(*) AS n FROM ${tableSql(target)} t WHERE ${missing}${newlyMarked}`,
    );
    await trx.raw(
      `INSERT INTO ${tableSql(staging)} (${[...columns, DELETED_AT].map(ident).join(', ')}) ` +
        `SELECT ${columns.map((c) => `t.${ident(c)}`).join(', ')}, ${deletedAt} FROM ${tableSql(target)} t WHERE ${missing}`,
      [d.encode(nowIso, 'timestamp') as string],
    );
    return Number(counted[0]?.n ?? 0);
  }

  /**
   * A finished run of time windows becomes the stream's one state row (partition ''), carrying the windows'
   * watermark (`windowsWatermark`: the highest, since all are done) and the run's totals, so the state table does
   * not grow run after run. The row a run before it left ('' with a watermark, also from before windows) is the base.
   */
  private async collapseWindows(
    trx: Knex.Transaction,
    object: ObjectName,
    input: RunInput,
    table: StateRow[],
    windows: StateRow[],
    updatedAt: string,
  ): Promise<StateRow> {
    const base = table.find((s) => s.partition === '' && s.stream === input.stream.name)?.watermark ?? null;
    const states: WindowState[] = windows.map((s) => ({ start: parseWindowKey(s.partition)!.start, watermark: s.watermark, done: s.done }));
    const row: StateRow = {
      table: object.table,
      stream: input.stream.name,
      partition: '',
      runId: input.runId,
      mode: input.mode,
      nextUrl: null,
      done: true,
      // a backfill read a range again, maybe after a gap from the watermark: what was read before it stands
      watermark: input.mode === 'backfill' ? base : windowsWatermark(base, states),
      runWatermark: windows.reduce<string | null>((w, s) => laterWatermark(w, s.runWatermark), null),
      rows: windows.reduce((n, s) => n + s.rows, 0),
      pages: windows.reduce((n, s) => n + s.pages, 0),
      status: 'finished',
      updatedAt,
      loopMark: null,
      fullRefreshAt: input.mode === 'full-refresh' ? updatedAt : lastFullRefresh(table, input.stream.name),
      reconciledAt: windows.find((s) => s.reconciledAt !== null)?.reconciledAt ?? lastReconcile(table, input.stream.name),
    };
    await deletePartitions(
      trx,
      this.d,
      object.schema,
      object.table,
      windows.map((s) => s.partition),
    );
    await saveState(trx, this.d, object.schema, row);
    return row;
  }

  /**
   * What planning a run of time windows starts from (streams/windows.ts): the table's watermark (its '' row, as
   * finished runs and versions before windows left it), and the windows an unfinished earlier run (failed,
   * terminated, cancelled) left, which the new run takes over instead of reading again from the watermark.
   * Nothing when the target table is gone: an empty table has nothing to be incremental on.
   */
  async windowsBefore(input: RunInput): Promise<{ watermark: string | null; unfinished: WindowProgress[] }> {
    const object = checkRun(input);
    if (!(await this.d.columns(this.db, targetTable(this.d.kind, object)))) return { watermark: null, unfinished: [] };
    const states = (await readTableState(this.db, this.d, object.schema, object.table)).filter((s) => s.stream === input.stream.name);
    const watermark = states.find((s) => s.partition === '')?.watermark ?? null;
    const windows = states.filter((s) => isWindowKey(s.partition) && s.mode === 'incremental' && s.status !== 'finished');
    // one run's windows at most (prepare deletes those it replaced); the latest written, should there be more
    const latest = windows.reduce<StateRow | undefined>((l, s) => (!l || s.updatedAt > l.updatedAt ? s : l), undefined);
    const unfinished = windows
      .filter((s) => s.runId === latest?.runId)
      .map((s) => ({ window: parseWindowKey(s.partition)!, watermark: s.watermark, done: s.done }));
    return { watermark, unfinished };
  }

  private async swap(trx: Knex.Transaction, object: ObjectName, where: string): Promise<void> {
    const d = this.d;
    const staging = stagingTable(d.kind, object);
    const target = targetTable(d.kind, object);
    if (!(await d.columns(trx, staging))) {
      throw new RunStateError(`${where}: staging table ${tableSql(staging)} is missing; run the stream again`);
    }
    try {
      if (d.transactionalDdl) {
        await schemaOf(trx, target).dropTableIfExists(target.name);
        await schemaOf(trx, staging).renameTable(staging.name, target.name);
        await d.renamePrimaryKey(trx, target, primaryKeyName(staging), primaryKeyName(target));
      } else {
        // MySQL: one RENAME TABLE of both is atomic, so readers see the old table or the new one, never none
        const replaced = replacedTable(d.kind, object);
        await schemaOf(trx, replaced).dropTableIfExists(replaced.name);
        const renames = (await d.columns(trx, target))
          ? `${tableSql(target)} TO ${tableSql(replaced)}, ${tableSql(staging)} TO ${tableSql(target)}`
          : `${tableSql(staging)} TO ${tableSql(target)}`;
        // hand-written: knex's renameTable renames one table per statement
        await trx.raw(`RENAME TABLE ${renames}`);
        await schemaOf(trx, replaced).dropTableIfExists(replaced.name);
      }
      crashPoint('swap', object.table);
    } catch (err) {
      throw new Error(
        `${where}: could not replace ${tableSql(target)} with ${tableSql(staging)} (a full refresh swaps tables, so ` +
          `views or foreign keys on the table block it; drop them or sync the stream incrementally): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /**
   * Where one partition of a run stands, read fresh from the state table: a page activity starts (or, after a
   * crash, resumes) from here. A partition the run was not prepared with starts from its first page.
   */
  async progress(input: RunInput & { partition: string }): Promise<PartitionCursor> {
    const object = checkRun(input);
    const states = await readTableState(this.db, this.d, object.schema, object.table);
    const s = states.find((x) => x.partition === input.partition);
    if (!s || s.runId !== input.runId || s.mode !== input.mode) {
      if (!states.some((x) => x.runId === input.runId && x.mode === input.mode && x.status === 'running')) {
        throw new RunStateError(`stream ${input.stream.name}, run ${input.runId}: no such run in progress; call prepare first`);
      }
      return { nextUrl: null, done: false, rows: 0, pages: 0, watermark: null, loopMark: null };
    }
    if (s.status === 'superseded')
      throw new RunStateError(`stream ${input.stream.name}, run ${input.runId}: a newer run of the stream started`);
    return {
      nextUrl: s.nextUrl,
      done: s.done || s.status === 'finished',
      rows: s.rows,
      pages: s.pages,
      watermark: s.watermark,
      loopMark: s.loopMark,
    };
  }

  /**
   * Splits a time window of a running incremental run that is being read (streams/windows.ts `splitWindow`, into
   * `parts` pieces, 2 by default), in one transaction: its row becomes the first piece's, cursor, counts and
   * watermark kept, and every later piece gets a fresh row. Returns the windows that now cover what it had left,
   * first the one its cursor continues in: the pieces; the window alone if too little is left to split; none if it
   * is done. Called again after it committed (a retry), it finds the window gone and returns the same pieces. Only the workflow that pages the window calls
   * this, between two of its activities, so no page of the window is being written meanwhile.
   */
  async splitWindow(input: RunInput & { partition: string; minWindowSeconds: number; parts?: number }): Promise<string[]> {
    const object = checkRun(input);
    const { partition, runId, mode } = input;
    const window = parseWindowKey(partition);
    const where = `stream ${input.stream.name}, partition ${JSON.stringify(partition)}, run ${runId}`;
    if (!window || mode === 'full-refresh')
      throw new Error(`${where}: only a time window of an incremental run or a backfill can be split`);
    return this.db.transaction(async (trx) => {
      const d = this.d;
      const state = await lockPartitionState(trx, d, object.schema, object.table, partition);
      if (!state) {
        // split before (this is a retry): the run's windows within its bounds
        const all = await readTableState(trx, d, object.schema, object.table, true);
        const within = all.filter((s) => {
          const w = s.runId === runId && s.mode === mode && s.status === 'running' && !s.done && parseWindowKey(s.partition);
          return w && w.start >= window.start && (window.end === null || (w.end !== null && w.end <= window.end));
        });
        if (within.length === 0) throw new RunStateError(`${where}: the run holds no such time window`);
        return within.map((s) => s.partition).sort();
      }
      if (state.runId !== runId || state.mode !== mode || state.status !== 'running') {
        throw new RunStateError(`${where}: the window belongs to run ${state.runId} (${state.status}); this run was superseded`);
      }
      if (state.done) return [];
      const pieces = splitWindow(window, state.watermark, this.now(), input.minWindowSeconds, input.parts);
      if (!pieces) return [partition];
      const [first, ...later] = pieces.map(windowKey);
      const updatedAt = this.now().toISOString();
      await deletePartitions(trx, d, object.schema, object.table, [partition]);
      await saveState(trx, d, object.schema, { ...state, partition: first, updatedAt });
      for (const key of later) await saveState(trx, d, object.schema, unreadPartition(state, key, updatedAt));
      return [first, ...later];
    });
  }

  /**
   * The partitions a run was prepared with (its state rows; none before its first `prepare`): a later prepare of
   * the same run (after continue-as-new, or a retry) takes its partitions from here instead of listing them again.
   */
  async runPartitions(input: RunInput): Promise<string[]> {
    const object = checkRun(input);
    const states = await readTableState(this.db, this.d, object.schema, object.table);
    return states.filter((s) => s.runId === input.runId && s.mode === input.mode).map((s) => s.partition);
  }

  /**
   * The distinct non-empty values of one column of a target table (a parent stream's ids), of the rows `rows` keeps
   * if given; null if there is no such table.
   */
  async columnValues(object: ObjectName, column: string, rows?: ParentRowFilter): Promise<string[] | null> {
    const ref = targetTable(this.d.kind, validateObjectName(object));
    const name = validateColumnName(column, 'column values');
    const columns = await this.d.columns(this.db, ref);
    if (!columns) return null;
    if (!rows) {
      const values: Array<{ v: unknown }> = await tableOf(this.db, ref).distinct({ v: name }).whereNotNull(name);
      return values.map((r) => String(r.v)).filter((v) => v !== '');
    }
    // the rows kept by the filter's own rule (keepsParentRow), not by SQL's LIKE, whose `_` matches any character
    const field = validateColumnName(rows.field, 'column values filter');
    if (!columns.has(field)) throw new Error(`table ${tableSql(ref)} has no column ${field} to choose the parent rows by`);
    const values: Array<{ v: unknown; f: unknown }> = await tableOf(this.db, ref).distinct({ v: name, f: field }).whereNotNull(name);
    return [...new Set(values.filter((r) => keepsParentRow(rows, r.f)).map((r) => String(r.v)))].filter((v) => v !== '');
  }

  /** A table's partition's watermark, or without `partition` the earliest over its partitions (null if none). */
  async readWatermark(object: ObjectName, partition?: string): Promise<string | null> {
    const { schema, table } = validateObjectName(object);
    const states = await readTableState(this.db, this.d, schema, table);
    if (partition !== undefined) return states.find((s) => s.partition === partition)?.watermark ?? null;
    // a backfill's windows re-read a range: they say nothing of what is read up to the watermark
    const windows = states.filter((s) => isWindowKey(s.partition) && s.mode !== 'backfill');
    if (windows.length > 0) {
      // a run of time windows in progress (or left unfinished): what is read without a gap, from the '' row on
      const base = states.find((s) => s.partition === '')?.watermark ?? null;
      return windowsWatermark(
        base,
        windows.map((s) => ({ start: parseWindowKey(s.partition)!.start, watermark: s.watermark, done: s.done })),
      );
    }
    const read = states.filter((s) => !isIdPass(s.partition));
    return read.length ? earliestWatermark(read.map((s) => s.watermark)) : null;
  }

  /** When the last finished id pass over the table by `stream` started (id-pass.ts); null if none did. */
  async lastReconcile(object: ObjectName, stream: string): Promise<string | null> {
    validateObjectName(object);
    return lastReconcile(await readTableState(this.db, this.d, object.schema, object.table), stream);
  }

  /** The state rows of a table (every stream's, every partition), as `klaviyo-sync state show` prints them. */
  async stateOf(object: ObjectName): Promise<StateRow[]> {
    const { schema, table } = validateObjectName(object);
    return readTableState(this.db, this.d, schema, table);
  }

  /**
   * Forgets what a stream has read into a table (`klaviyo-sync state reset`): its state rows are deleted, so its next
   * incremental run starts from `start_date` (or the stream's lookback) and a full refresh from its first page; the
   * table's rows stay, and reading them again upserts. Refused while a run of it is in progress, unless `force`
   * (that run then fails at its next page: its state is gone). Returns the rows deleted.
   */
  async resetState(object: ObjectName, stream: string, opts: { force?: boolean } = {}): Promise<StateRow[]> {
    const { schema, table } = validateObjectName(object);
    const d = this.d;
    return this.db.transaction(async (trx) => {
      if (!(await d.columns(trx, stateTable(d.kind, schema)))) return [];
      const rows = (await readTableState(trx, d, schema, table, true)).filter((s) => s.stream === stream);
      const running = rows.filter((s) => s.status === 'running');
      if (running.length > 0 && !opts.force) {
        throw new RunStateError(
          `${stream} into ${schema}.${table} has a run in progress (run ${running[0].runId}, ${running.length} partition(s) not ` +
            `finished): let it end or cancel it (temporal workflow cancel), then reset; a run that was terminated leaves this ` +
            `too: reset with --force`,
        );
      }
      await deletePartitions(
        trx,
        d,
        schema,
        table,
        rows.map((s) => s.partition),
      );
      return rows;
    });
  }

  async tableRowCount(object: ObjectName): Promise<number> {
    const ref = targetTable(this.d.kind, validateObjectName(object));
    const [row] = await tableOf(this.db, ref).count({ n: '*' });
    return Number(row.n);
  }

  /**
   * Every row of the target table ordered by `keyColumns`, with values decoded to one portable form (ISO datetimes
   * to the millisecond, numbers, booleans, parsed JSON) so the two dialects can be compared. For tests and checks.
   */
  async snapshot(object: ObjectName, keyColumns: string[]): Promise<Row[]> {
    const ref = targetTable(this.d.kind, validateObjectName(object));
    const order = keyColumns.map((c) => validateColumnName(c, 'snapshot key'));
    const types = await this.d.columns(this.db, ref);
    if (!types) throw new Error(`snapshot: table ${tableSql(ref)} does not exist`);
    const rows: Row[] = await tableOf(this.db, ref).select('*').orderBy(order);
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, this.d.decode(v, types.get(k) ?? 'text')])));
  }

  /**
   * A cancelled run of a stream: its state rows stop saying running (`cancelled`, so a late writer of the run is
   * refused) and, for a full refresh, its staging table is dropped. The target table keeps what the last completed
   * run swapped in; the next run starts afresh. Staging that a newer run of the stream already uses is left alone.
   */
  async cancelRun(input: RunInput): Promise<{ stagingDropped: boolean }> {
    return this.endRun(input, 'cancelled');
  }

  /**
   * A failed run of a stream (a failure retrying cannot fix, or its attempts spent), as `cancelRun` but marked
   * `failed`: a failed full refresh leaves the previous table as the last completed run swapped it in, and no
   * staging table behind.
   */
  async failRun(input: RunInput): Promise<{ stagingDropped: boolean }> {
    return this.endRun(input, 'failed');
  }

  private async endRun(input: RunInput, ended: 'cancelled' | 'failed'): Promise<{ stagingDropped: boolean }> {
    const object = checkRun(input);
    const { mode, runId } = input;
    const d = this.d;
    return this.reshaping(object, async (trx) => {
      await d.lockSchema(trx, object.schema);
      await this.stateTableCurrent(trx, object.schema);
      const states = await readTableState(trx, d, object.schema, object.table, true);
      if (states.some((s) => s.runId === runId && s.status === 'running'))
        await cancelRunState(trx, d, object.schema, object.table, runId, this.now(), ended);
      const newerRun = states.some((s) => s.runId !== runId && s.status === 'running');
      // an id pass the run had started leaves no ids behind (the next pass starts afresh)
      if (!newerRun && states.some((s) => s.runId === runId && isIdPass(s.partition))) await dropIds(trx, d, object);
      if (mode !== 'full-refresh' || newerRun) return { stagingDropped: false };
      const staging = stagingTable(d.kind, object);
      const existed = (await d.columns(trx, staging)) !== null;
      if (existed) await schemaOf(trx, staging).dropTableIfExists(staging.name);
      return { stagingDropped: existed };
    });
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
