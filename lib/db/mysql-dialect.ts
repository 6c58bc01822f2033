/**
 * The MySQL / MariaDB dialect (knex's `mysql2` client). Tested against MariaDB 10.11 (Debian 12's mariadb-server);
 * written to MySQL 8 too. A schema is a database (naming.ts); hand-written SQL keeps double-quoted identifiers, read
 * under sql_mode ANSI_QUOTES (connect.ts).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { ColumnType } from './column-types';
import { decodeTimestamp, multiRowUpsert, query, type Dialect } from './dialect';
import { quoteIdent, tableSql } from './naming';
import { TransientError } from '../errors';

/** Text compared byte for byte: Klaviyo ids are case-sensitive (list ids like `Y6nRLr`), a `_ci` collation would merge them. */
const TEXT = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';

/**
 * JSON: `json` is MySQL's native JSON type, and in MariaDB an alias of LONGTEXT with a JSON_VALID check (MariaDB has
 * no binary JSON). One declaration works on both and refuses invalid JSON on both; `columns` tells MariaDB's JSON
 * from text by the result metadata MariaDB sends for it. Timestamps: DATETIME(3) holds UTC (the session's time_zone is +00:00, and values are
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

/** The MySQL protocol's column types (mysql2's Types) that the portable types are declared as. */
const PROTOCOL_TYPES: Record<number, ColumnType> = {
  1: 'boolean', // TINY: BOOLEAN is TINYINT(1)
  2: 'integer', // SHORT
  3: 'integer', // LONG
  8: 'integer', // LONGLONG: BIGINT
  9: 'integer', // INT24
  4: 'number', // FLOAT
  5: 'number', // DOUBLE
  246: 'number', // NEWDECIMAL
  7: 'timestamp', // TIMESTAMP
  12: 'timestamp', // DATETIME
  245: 'json', // MySQL's JSON
};

interface ResultField {
  name: string;
  columnType: number;
  /** MariaDB's extended metadata (MARIADB_CLIENT_EXTENDED_METADATA): `json` for its JSON, which is LONGTEXT */
  extendedFormat?: string;
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
  // Hand-written: the columns as a `SELECT * ... LIMIT 0` describes them, not information_schema. Its result metadata
  // has each column's protocol type, and in MariaDB marks JSON (a LONGTEXT there) as such; the statement waits for
  // an ALTER of the table in progress (information_schema skips such a table, so a concurrent writer read it as
  // missing), and inside a transaction holds the table's metadata lock to its end, keeping the next ALTER out
  // (and a MariaDB 10.11 server once crashed, cause not isolated, while the earlier information_schema reads ran
  // beside concurrent DDL)
  async columns(db, ref) {
    let fields: ResultField[];
    try {
      const result = (await db.raw(`SELECT * FROM ${tableSql(ref)} LIMIT 0`)) as unknown as [unknown, ResultField[]];
      fields = result[1];
    } catch (err) {
      // a failed statement leaves a MySQL transaction open and usable
      if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return null;
      throw err;
    }
    return new Map(fields.map((f) => [f.name, f.extendedFormat === 'json' ? 'json' : (PROTOCOL_TYPES[f.columnType] ?? 'text')]));
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
  ...multiRowUpsert(() => mysql),
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
