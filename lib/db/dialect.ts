/**
 * What differs between Postgres and SQLite: SQL types, how to list a table's columns, value encoding, parameter
 * limits, locking. Everything else in lib/db/ writes one SQL text for both (double-quoted identifiers,
 * `INSERT ... ON CONFLICT ... DO UPDATE`, `?` placeholders that knex numbers for pg).
 */
import type { Knex } from 'knex';
import type { ColumnType } from './column-types';
import { quoteIdent, tableSql, type DbKind, type TableRef } from './naming';

export type Db = Knex | Knex.Transaction;

export interface Dialect {
  kind: DbKind;
  /** bound parameters one statement may carry: pg's protocol limit 65535, SQLite's SQLITE_MAX_VARIABLE_NUMBER 32766 */
  maxParams: number;
  sqlType(type: ColumnType): string;
  /** the table's columns with their portable types, or null if the table does not exist */
  columns(db: Db, ref: TableRef): Promise<Map<string, ColumnType> | null>;
  addColumnSql(ref: TableRef, name: string, type: ColumnType): string;
  /**
   * Serializes schema changes for one schema across connections until the transaction ends, and creates the schema.
   * Needed because concurrent `CREATE ... IF NOT EXISTS` can still fail with a duplicate-key error in Postgres.
   */
  lockSchema(trx: Knex.Transaction, schema: string): Promise<void>;
  /** appended to the state read in writePage so two writers of one partition queue instead of interleaving */
  forUpdate: string;
  /** keeps Postgres' `<table>_pkey` naming after staging is renamed to the target */
  renamePrimaryKey(trx: Knex.Transaction, table: TableRef, from: string, to: string): Promise<void>;
  /** a JS value → what the driver binds for a column of this type */
  encode(value: unknown, type: ColumnType): unknown;
  /** a value read back → the portable form: ISO datetimes, numbers, booleans, parsed JSON */
  decode(value: unknown, type: ColumnType): unknown;
}

/** Runs SQL and returns the result rows, whichever driver answered. */
export async function query<T = Record<string, unknown>>(db: Db, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const result: unknown = await db.raw(sql, bindings as Knex.RawBinding[]);
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

function decodeTimestamp(value: unknown): unknown {
  const date = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

// Postgres text and jsonb cannot hold U+0000, which user-supplied event properties occasionally contain.
const NUL = /\u0000/g;
function withoutNul(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(NUL, '') : value;
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
  sqlType: (type) => POSTGRES_TYPES[type],
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
  addColumnSql: (ref, name, type) =>
    `ALTER TABLE ${tableSql(ref)} ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${POSTGRES_TYPES[type]}`,
  async lockSchema(trx, schema) {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`klaviyo-sync schema ${schema}`]);
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: ask first, so a role
    // with rights on an existing schema only can replicate into it
    const exists = await trx.raw('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema]);
    if (exists.rows.length === 0) await trx.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  },
  forUpdate: ' FOR UPDATE',
  async renamePrimaryKey(trx, table, from, to) {
    await trx.raw(`ALTER TABLE ${tableSql(table)} RENAME CONSTRAINT ${quoteIdent(from)} TO ${quoteIdent(to)}`);
  },
  encode(value, type) {
    if (value === null || value === undefined) return null;
    if (type === 'json' || (type === 'text' && typeof value === 'object')) {
      return JSON.stringify(value, (_key, v: unknown) => withoutNul(v));
    }
    return withoutNul(value);
  },
  decode(value, type) {
    if (value === null) return null;
    if (type === 'timestamp') return decodeTimestamp(value);
    // bigint and numeric arrive as strings from pg
    if (type === 'integer' || type === 'number') return Number(value);
    return value;
  },
};

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
  sqlType: (type) => SQLITE_TYPES[type],
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
  forUpdate: '',
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
  decode(value, type) {
    if (value === null) return null;
    if (type === 'timestamp') return decodeTimestamp(value);
    if (type === 'boolean') return Boolean(value);
    if (type === 'json') return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
    return value;
  },
};

export function dialectFor(kind: DbKind): Dialect {
  return kind === 'postgres' ? postgres : sqlite;
}
