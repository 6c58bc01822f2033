/**
 * What differs between Postgres, SQLite and MySQL/MariaDB: SQL types, how to list a table's columns, value encoding, statement
 * limits, locking. Everything else in lib/db/ is built with knex's query and schema builders (which quote
 * identifiers in each dialect's way: `"klaviyo"."profiles"`, `` `klaviyo__profiles` ``), or where knex cannot say it,
 * one hand-written SQL text for all (double-quoted identifiers, which MySQL reads under ANSI_QUOTES, see connect.ts;
 * `?` placeholders that knex numbers for pg). The MySQL dialect is in ./mysql-dialect.ts.
 */
import type { Knex } from 'knex';
import type { ColumnType } from './column-types';
import { quoteIdent, tableSql, type DbKind, type TableRef } from './naming';
import { mysql } from './mysql-dialect';

export type Db = Knex | Knex.Transaction;

/** A column's name and its portable type, as an upsert writes it. */
export type TypedColumn = readonly [name: string, type: ColumnType];

/** Rows as a dialect's `upsert` sends them (its own form, opaque to callers), with the typed columns they were encoded for. */
export interface EncodedPage {
  readonly columns: readonly TypedColumn[];
  readonly count: number;
  readonly data: unknown;
}

export interface Dialect {
  kind: DbKind;
  /** bound parameters one statement may carry: pg's protocol limit 65535, SQLite's SQLITE_MAX_VARIABLE_NUMBER 32766 */
  maxParams: number;
  /**
   * rows one multi-row INSERT may carry: knex writes SQLite's as `SELECT ... UNION ALL SELECT ...`, and SQLite allows
   * at most 500 terms in a compound SELECT (SQLITE_MAX_COMPOUND_SELECT); Postgres' VALUES lists have no such limit
   */
  maxRows: number;
  sqlType(type: ColumnType): string;
  /** the SQL type of a primary key column: MySQL cannot index TEXT without a length, so its keys are VARCHAR */
  keyType(type: ColumnType): string;
  /**
   * whether DDL is part of the transaction it runs in. Not in MySQL: each DDL statement commits what came before it
   * (connect.ts then begins a new transaction), so writers put what must commit together after their last DDL.
   */
  transactionalDdl: boolean;
  /** the table's columns with their portable types, or null if the table does not exist */
  columns(db: Db, ref: TableRef): Promise<Map<string, ColumnType> | null>;
  addColumnSql(ref: TableRef, name: string, type: ColumnType): string;
  /**
   * Serializes schema changes for one schema across connections until the transaction ends, and creates the schema.
   * Needed because concurrent `CREATE ... IF NOT EXISTS` can still fail with a duplicate-key error in Postgres.
   */
  lockSchema(trx: Knex.Transaction, schema: string): Promise<void>;
  /**
   * whether the state read in writePage takes row locks (`FOR UPDATE`) so two writers of one partition queue instead
   * of interleaving; SQLite has none, and needs none: its write transactions exclude each other (BEGIN IMMEDIATE)
   */
  rowLocks: boolean;
  /** keeps Postgres' `<table>_pkey` naming after staging is renamed to the target */
  renamePrimaryKey(trx: Knex.Transaction, table: TableRef, from: string, to: string): Promise<void>;
  /** a JS value → what the driver binds for a column of this type */
  encode(value: unknown, type: ColumnType): unknown;
  /**
   * A page of rows of JS values (one key per column of `columns`, with its type) in the form `upsert` sends: built
   * before the page's transaction waits for a connection, so that a page in the queue holds this compact form
   * rather than its parsed resources and rows.
   */
  encodePage(rows: readonly Record<string, unknown>[], columns: readonly TypedColumn[]): EncodedPage;
  /**
   * Upserts an encoded page into `ref`: `INSERT ... ON CONFLICT (key) DO UPDATE SET` every other column. The rows'
   * keys must be distinct (one statement cannot update a row twice).
   */
  upsert(trx: Knex.Transaction, ref: TableRef, page: EncodedPage, key: readonly string[]): Promise<void>;
  /** a value read back → the portable form: ISO datetimes, numbers, booleans, parsed JSON */
  decode(value: unknown, type: ColumnType): unknown;
}

/** Runs SQL and returns the result rows, whichever driver answered. */
export async function query<T = Record<string, unknown>>(db: Db, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const result: unknown = await db.raw(sql, bindings as Knex.RawBinding[]);
  // mysql2 answers [rows, fields]; better-sqlite3 the rows (objects); pg an object with `rows`
  if (Array.isArray(result) && Array.isArray(result[0])) return result[0] as T[];
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

export function decodeTimestamp(value: unknown): unknown {
  const date = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

// Postgres text and jsonb cannot hold U+0000, which user-supplied event properties occasionally contain.
const NUL = /\u0000/g;
function withoutNul(value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replace(NUL, '') : value;
}

/** JSON without U+0000 in any string: JSON.stringify writes it as `\u0000`, so only a text that has one needs the slow pass. */
function jsonWithoutNul(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\u0000') ? JSON.stringify(value, (_key, v: unknown) => withoutNul(v)) : text;
}

const POSTGRES_TYPES: Record<ColumnType, string> = {
  text: 'text',
  integer: 'bigint',
  number: 'double precision',
  boolean: 'boolean',
  timestamp: 'timestamptz',
  json: 'jsonb',
};

const postgres: Dialect = {
  kind: 'postgres',
  maxParams: 65535,
  maxRows: Number.POSITIVE_INFINITY,
  sqlType: (type) => POSTGRES_TYPES[type],
  keyType: (type) => POSTGRES_TYPES[type],
  transactionalDdl: true,
  // hand-written: the catalog (format_type: the type as declared); knex's columnInfo reads information_schema's data_type
  async columns(db, ref) {
    const rows = await query<{ name: string; type: string }>(
      db,
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_catalog.pg_attribute a
       WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [tableSql(ref)],
    );
    if (rows.length === 0) return null;
    return new Map(rows.map((r) => [r.name, postgresColumnType(r.type)]));
  },
  addColumnSql: (ref, name, type) => `ALTER TABLE ${tableSql(ref)} ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${POSTGRES_TYPES[type]}`,
  async lockSchema(trx, schema) {
    // hand-written: knex has no advisory locks and no schema-exists check
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`klaviyo-sync schema ${schema}`]);
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: ask first, so a role
    // with rights on an existing schema only can replicate into it
    const exists = await trx.raw('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema]);
    if (exists.rows.length === 0) await trx.schema.createSchemaIfNotExists(schema);
  },
  rowLocks: true,
  async renamePrimaryKey(trx, table, from, to) {
    // hand-written: knex's alterTable cannot rename a constraint
    await trx.raw(`ALTER TABLE ${tableSql(table)} RENAME CONSTRAINT ${quoteIdent(from)} TO ${quoteIdent(to)}`);
  },
  encode(value, type) {
    if (value === null || value === undefined) return null;
    if (type === 'json' || (type === 'text' && typeof value === 'object')) return jsonWithoutNul(value);
    return withoutNul(value);
  },
  // The whole page as one JSON parameter, spread into rows by json_populate_recordset on the server: a short
  // statement of one parameter rather than a VALUES list of rows × columns parameters, which Postgres parses and plans
  // per page and which the client builds (knex) and serializes (pg) one value at a time. Measured by bench/write.bench.ts.
  encodePage(rows, columns) {
    const values = rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [name, type] of columns) out[name] = jsonValue(row[name], type);
      return out;
    });
    return { columns, count: rows.length, data: jsonWithoutNul(values) };
  },
  async upsert(trx, ref, page, key) {
    if (page.count === 0) return;
    const names = page.columns.map(([name]) => name);
    await trx.raw(pageUpsertSql(ref, names, key), [page.data as string]);
  },
  decode(value, type) {
    if (value === null) return null;
    if (type === 'timestamp') return decodeTimestamp(value);
    // bigint and numeric arrive as strings from pg
    if (type === 'integer' || type === 'number') return Number(value);
    return value;
  },
};

/**
 * A JS value as json_populate_recordset reads it for a column of `type`: JSON columns take the value itself (an
 * object stays an object), a text column holding an object takes its JSON text, as `encode` gives it.
 */
function jsonValue(value: unknown, type: ColumnType): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'text' && typeof value === 'object') return JSON.stringify(value);
  return value;
}

const upsertSqlCache = new Map<string, string>();

/** The upsert statement of a page into `ref` for one column set, built once per table and column set. */
function pageUpsertSql(ref: TableRef, names: readonly string[], key: readonly string[]): string {
  const cacheKey = JSON.stringify([ref.schema, ref.name, names, key]);
  let sql = upsertSqlCache.get(cacheKey);
  if (sql === undefined) {
    // knex.raw reads `?` as a placeholder: none can hide in these names, which are lowercase letters, digits and
    // underscores (naming.ts validates every table and column name before any SQL)
    const ident = quoteIdent;
    const table = tableSql(ref);
    const list = names.map(ident).join(', ');
    const updates = names.filter((n) => !key.includes(n)).map((n) => `${ident(n)} = excluded.${ident(n)}`);
    sql =
      `INSERT INTO ${table} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${table}, ?::json) ` +
      `ON CONFLICT (${key.map(ident).join(', ')}) ` +
      (updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING');
    // bounded: a long-lived worker meets a handful of tables and column sets
    if (upsertSqlCache.size >= 1000) upsertSqlCache.clear();
    upsertSqlCache.set(cacheKey, sql);
  }
  return sql;
}

function postgresColumnType(sqlType: string): ColumnType {
  if (sqlType === 'jsonb' || sqlType === 'json') return 'json';
  if (['bigint', 'integer', 'smallint'].includes(sqlType)) return 'integer';
  if (['double precision', 'real'].includes(sqlType) || sqlType.startsWith('numeric')) return 'number';
  if (sqlType === 'boolean') return 'boolean';
  if (sqlType.startsWith('timestamp')) return 'timestamp';
  return 'text';
}

/**
 * SQLite declared types carry the portable type so a table can be read back faithfully. BOOLEAN, DATETIME and JSON
 * have NUMERIC affinity, which leaves 0/1, ISO datetimes and JSON objects/arrays as they are; the one visible effect
 * is that a bare JSON number is stored as a number, which SQLite's json functions treat the same.
 */
const SQLITE_TYPES: Record<ColumnType, string> = {
  text: 'TEXT',
  integer: 'INTEGER',
  number: 'REAL',
  boolean: 'BOOLEAN',
  timestamp: 'DATETIME',
  json: 'JSON',
};

const ISO_DATETIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A Klaviyo datetime (`2025-01-01T10:00:00+00:00`) → UTC with `Z`, keeping every fraction digit, so that SQLite's
 * text comparison orders datetimes correctly. Anything else is stored as given.
 */
export function toUtcIso(value: string): string {
  const m = ISO_DATETIME.exec(value);
  if (!m) return value;
  const offset = m[4].length === 5 ? `${m[4].slice(0, 3)}:${m[4].slice(3)}` : m[4];
  const t = Date.parse(`${m[1]}T${m[2]}${offset.toUpperCase()}`);
  return Number.isNaN(t) ? value : `${new Date(t).toISOString().slice(0, 19)}${m[3] ?? ''}Z`;
}

const sqlite: Dialect = {
  kind: 'sqlite',
  maxParams: 32766,
  maxRows: 500,
  sqlType: (type) => SQLITE_TYPES[type],
  keyType: (type) => SQLITE_TYPES[type],
  transactionalDdl: true,
  // hand-written, like Postgres': the declared types, matched against SQLITE_TYPES (knex's columnInfo rewrites them)
  async columns(db, ref) {
    const rows = await query<{ name: string; type: string }>(db, 'SELECT name, type FROM pragma_table_info(?)', [ref.name]);
    if (rows.length === 0) return null;
    const byType = new Map(Object.entries(SQLITE_TYPES).map(([portable, declared]) => [declared, portable as ColumnType]));
    return new Map(rows.map((r) => [r.name, byType.get(r.type.toUpperCase()) ?? 'text']));
  },
  // SQLite has no ADD COLUMN IF NOT EXISTS; writers hold the write lock (BEGIN IMMEDIATE) while they check and add
  addColumnSql: (ref, name, type) => `ALTER TABLE ${tableSql(ref)} ADD COLUMN ${quoteIdent(name)} ${SQLITE_TYPES[type]}`,
  // one writer at a time already: every transaction begins IMMEDIATE (lib/db/connect.ts)
  async lockSchema() {},
  rowLocks: false,
  // SQLite's primary key index follows its table on rename
  async renamePrimaryKey() {},
  encode(value, type) {
    if (value === null || value === undefined) return null;
    if (type === 'json') return JSON.stringify(value);
    if (type === 'timestamp' && typeof value === 'string') return toUtcIso(value);
    if (typeof value === 'boolean') return type === 'text' ? String(value) : Number(value);
    // better-sqlite3 binds only strings, numbers, bigints, buffers and null
    if (typeof value === 'object') return JSON.stringify(value);
    return value;
  },
  // knex's multi-row INSERT ... ON CONFLICT, of values encoded for better-sqlite3
  ...multiRowUpsert(() => sqlite),
  decode(value, type) {
    if (value === null) return null;
    if (type === 'timestamp') return decodeTimestamp(value);
    if (type === 'boolean') return Boolean(value);
    if (type === 'json') return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
    return value;
  },
};

/**
 * A dialect's `encodePage` and `upsert` as knex's multi-row INSERT with its upsert clause (SQLite's ON CONFLICT,
 * MySQL's ON DUPLICATE KEY UPDATE): the page's rows as objects of values `encode`d for the driver. `dialect` is
 * read when called, so a dialect's own object literal can spread these.
 */
export function multiRowUpsert(dialect: () => Dialect): Pick<Dialect, 'encodePage' | 'upsert'> {
  return {
    encodePage(rows, columns) {
      const d = dialect();
      const data = rows.map((row) => {
        const out: Record<string, unknown> = {};
        for (const [name, type] of columns) out[name] = d.encode(row[name], type);
        return out;
      });
      return { columns, count: rows.length, data };
    },
    async upsert(trx, ref, page, key) {
      const names = page.columns.map(([name]) => name);
      await upsertRows(trx, dialect(), ref, page.data as Record<string, unknown>[], names, key);
    },
  };
}

/** A table's columns as the schema builder declares them: the dialect's SQL type, NOT NULL where asked. */
export interface TableColumn {
  name: string;
  type: ColumnType;
  notNull?: boolean;
}

/** The schema builder for a table's schema (Postgres) or the database (SQLite, whose tables have no schema). */
export function schemaOf(db: Db, ref: TableRef): Knex.SchemaBuilder {
  return ref.schema === null ? db.schema : db.schema.withSchema(ref.schema);
}

/** The query builder for a table: `"schema"."table"` (Postgres) or `` `table` `` (SQLite). */
export function tableOf(db: Db, ref: TableRef): Knex.QueryBuilder {
  return ref.schema === null ? db(ref.name) : db.withSchema(ref.schema).table(ref.name);
}

/**
 * CREATE TABLE with the dialect's types and a primary key constraint named `constraintName`. (The legacy string form
 * of the constraint name: knex 3.3's SQLite compiler prints the `{ constraintName }` form wrongly.)
 */
export async function createTable(
  db: Db,
  d: Dialect,
  ref: TableRef,
  columns: readonly TableColumn[],
  primaryKey: readonly string[],
  constraintName: string,
): Promise<void> {
  await schemaOf(db, ref).createTable(ref.name, (t) => {
    for (const c of columns) {
      const column = t.specificType(c.name, primaryKey.includes(c.name) ? d.keyType(c.type) : d.sqlType(c.type));
      if (c.notNull) column.notNullable();
    }
    t.primary([...primaryKey], constraintName);
  });
}

/**
 * `INSERT ... ON CONFLICT (key) DO UPDATE SET` every other column, in batches that stay under the dialect's
 * bound-parameter and row limits. `rows` hold values the driver binds (Dialect.encode), one key per column.
 */
export async function upsertRows(
  trx: Knex.Transaction,
  d: Dialect,
  ref: TableRef,
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
  key: readonly string[],
): Promise<void> {
  const updates = columns.filter((c) => !key.includes(c));
  const batch = Math.max(1, Math.min(d.maxRows, Math.floor(d.maxParams / columns.length)));
  for (let i = 0; i < rows.length; i += batch) {
    const chunk = rows.slice(i, i + batch) as Record<string, unknown>[];
    // MySQL: knex writes `ON DUPLICATE KEY UPDATE col = VALUES(col)`, on the primary key (the table's only unique key)
    const insert = tableOf(trx, ref)
      .insert(chunk)
      .onConflict([...key]);
    await (updates.length > 0 ? insert.merge(updates) : insert.ignore());
  }
}

export function dialectFor(kind: DbKind): Dialect {
  return kind === 'postgres' ? postgres : kind === 'mysql' ? mysql : sqlite;
}
