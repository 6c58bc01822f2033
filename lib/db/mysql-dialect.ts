/**
 * The MySQL / MariaDB dialect (knex's `mysql2` client). Tested against MariaDB 10.11 (Debian 12's mariadb-server);
 * written to MySQL 8 too. A schema is a database (naming.ts); hand-written SQL keeps double-quoted identifiers, read
 * under sql_mode ANSI_QUOTES (connect.ts).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { ColumnType } from './column-types';
import { decodeTimestamp, query, upsertRows, type Dialect } from './dialect';
import { quoteIdent, tableSql } from './naming';
import { TransientError } from '../errors';

/** Text compared byte for byte: Klaviyo ids are case-sensitive (list ids like `Y6nRLr`), a `_ci` collation would merge them. */
const TEXT = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';

/**
 * JSON: `json` is MySQL's native JSON type, and in MariaDB an alias of LONGTEXT with a JSON_VALID check (MariaDB has
 * no binary JSON). One declaration works on both and refuses invalid JSON on both; `columns` tells MariaDB's JSON
 * from text by that check. Timestamps: DATETIME(3) holds UTC (the session's time_zone is +00:00, and values are
 * written as UTC), to the millisecond as every dialect's decode gives them. Primary key text: VARCHAR(255), as
 * InnoDB indexes at most 3072 bytes (a composite key of two is 2040 bytes in utf8mb4).
 */
const MYSQL_TYPES: Record<ColumnType, string> = {
  text: `longtext ${TEXT}`,
  integer: 'bigint',
  number: 'double',
  boolean: 'boolean',
  timestamp: 'datetime(3)',
  json: 'json',
};
const KEY_TEXT = `varchar(255) ${TEXT}`;

function mysqlColumnType(dataType: string, jsonCheck: boolean): ColumnType {
  const t = dataType.toLowerCase();
  if (t === 'json' || (t === 'longtext' && jsonCheck)) return 'json';
  if (['bigint', 'int', 'integer', 'mediumint', 'smallint'].includes(t)) return 'integer';
  if (['double', 'float', 'decimal', 'real'].includes(t)) return 'number';
  if (t === 'tinyint') return 'boolean';
  if (t === 'datetime' || t === 'timestamp') return 'timestamp';
  return 'text';
}

/** An ISO datetime (any offset) → `YYYY-MM-DD HH:MM:SS.mmm` in UTC, what DATETIME takes; anything else as given. */
function toMysqlDatetime(value: string): string {
  const t = Date.parse(value);
  return Number.isNaN(t) ? value : new Date(t).toISOString().slice(0, 23).replace('T', ' ');
}

/** GET_LOCK names are at most 64 characters: the schema's is hashed. */
function lockName(schema: string): string {
  return `klaviyo-sync schema ${crypto.createHash('sha1').update(schema).digest('hex')}`;
}
const LOCK_TIMEOUT_S = 120;

export const mysql: Dialect = {
  kind: 'mysql',
  // mysql2's query() inlines the values client-side, so no placeholder limit applies; the rows per statement keep
  // one INSERT of big JSON values well under max_allowed_packet (16 MB by default)
  maxParams: 65535,
  maxRows: 500,
  sqlType: (type) => MYSQL_TYPES[type],
  keyType: (type) => (type === 'text' ? KEY_TEXT : MYSQL_TYPES[type]),
  transactionalDdl: false,
  // hand-written: information_schema's data types, and MariaDB's JSON checks (its JSON is LONGTEXT)
  async columns(db, ref) {
    const schema = ref.schema ?? '';
    const rows = await query<{ name: string; type: string }>(
      db,
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, ref.name],
    );
    if (rows.length === 0) return null;
    let json = new Set<string>();
    if (rows.some((r) => r.type.toLowerCase() === 'longtext')) {
      const checks = await query<{ name: string }>(
        db,
        `SELECT CONSTRAINT_NAME AS name FROM information_schema.CHECK_CONSTRAINTS
         WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'`,
        [schema, ref.name],
      );
      // MariaDB names a column's own check after the column
      json = new Set(checks.map((c) => c.name));
    }
    return new Map(rows.map((r) => [r.name, mysqlColumnType(r.type, json.has(r.name))]));
  },
  // MySQL has no ADD COLUMN IF NOT EXISTS (MariaDB has): two writers adding one column at once fail one of them with
  // ER_DUP_FIELDNAME, which errors.ts classifies as transient; the retry reads the catalog afresh
  addColumnSql: (ref, name, type) => `ALTER TABLE ${tableSql(ref)} ADD COLUMN ${quoteIdent(name)} ${MYSQL_TYPES[type]}`,
  /**
   * A named lock (GET_LOCK) serializes the schema's DDL across connections: unlike row locks it outlives the implicit
   * commits of DDL, and connect.ts releases it when the transaction ends (RELEASE_ALL_LOCKS), like Postgres'
   * transaction-scoped advisory lock. Then the database, created only when missing (CREATE DATABASE needs the
   * global CREATE privilege even when it exists).
   */
  async lockSchema(trx: Knex.Transaction, schema: string) {
    const rows = await query<{ got: number | null }>(trx, 'SELECT GET_LOCK(?, ?) AS got', [lockName(schema), LOCK_TIMEOUT_S]);
    if (Number(rows[0]?.got) !== 1) {
      throw new TransientError(`another writer held the lock of schema ${schema} for ${LOCK_TIMEOUT_S} s; this is retried`, {
        type: 'DatabaseUnavailable',
      });
    }
    const exists = await query(trx, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [schema]);
    if (exists.length === 0) await trx.raw(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(schema)} ${TEXT}`);
  },
  // InnoDB's SELECT ... FOR UPDATE
  rowLocks: true,
  // MySQL's primary key is always named PRIMARY
  async renamePrimaryKey() {},
  encode(value, type) {
    if (value === null || value === undefined) return null;
    if (type === 'json') return JSON.stringify(value);
    if (type === 'timestamp' && typeof value === 'string') return toMysqlDatetime(value);
    if (typeof value === 'boolean') return type === 'text' ? String(value) : Number(value);
    if (typeof value === 'object') return JSON.stringify(value);
    return value;
  },
  // knex's multi-row INSERT ... ON DUPLICATE KEY UPDATE
  encodePage(rows, columns) {
    const data = rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [name, type] of columns) out[name] = mysql.encode(row[name], type);
      return out;
    });
    return { columns, count: rows.length, data };
  },
  async upsert(trx, ref, page, key) {
    await upsertRows(
      trx,
      mysql,
      ref,
      page.data as Record<string, unknown>[],
      page.columns.map(([name]) => name),
      key,
    );
  },
  decode(value, type) {
    if (value === null) return null;
    if (type === 'timestamp') return decodeTimestamp(value);
    if (type === 'boolean') return Boolean(Number(value));
    // bigint beyond 2^53 and decimals may arrive as strings
    if (type === 'integer' || type === 'number') return Number(value);
    // JSON arrives as its text (mysql-client.ts's typeCast)
    if (type === 'json') return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
    return value;
  },
};
