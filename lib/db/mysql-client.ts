/**
 * knex's mysql2 client, configured for klaviyo-sync's writer:
 * - each connection adds ANSI_QUOTES to the server's sql_mode (the double-quoted identifiers of lib/db's hand-written
 *   SQL; knex's builders quote with backticks, which stay valid) and STRICT_ALL_TABLES (a value that does not fit its
 *   column is an error, never silently cut), takes NO_BACKSLASH_ESCAPES out (sessionSqlMode), and sets time_zone
 *   +00:00 (DATETIME holds UTC);
 * - DDL commits implicitly in MySQL, ending the transaction it runs in, and later statements would autocommit one by
 *   one: inside a knex transaction, the client begins a new one right after each DDL statement, so what a writer
 *   runs after its last DDL commits (or rolls back) together. Writers order their steps for this (destination.ts);
 * - a transaction's end releases the named locks it took (Dialect.lockSchema), as Postgres' advisory xact locks are.
 */
import knex, { type Knex } from 'knex';

/* eslint-disable @typescript-eslint/no-require-imports -- knex exposes no public hook around a MySQL statement */
const MySql2Client = require('knex/lib/dialects/mysql2') as new (config: Knex.Config) => any;
/* eslint-enable @typescript-eslint/no-require-imports */

/** Statements that commit implicitly in MySQL (the ones lib/db runs). */
const DDL = /^\s*(create|alter|drop|rename|truncate)\b/i;
const TRANSACTION_END = /^\s*(commit|rollback)\b(?!\s+to\b)/i;

interface Query {
  sql?: string;
}

class KlaviyoSyncMySqlClient extends MySql2Client {
  async _query(connection: { __knexTxId?: string }, obj: Query | string): Promise<unknown> {
    const sql = typeof obj === 'string' ? obj : (obj?.sql ?? '');
    const inTransaction = connection.__knexTxId !== undefined;
    try {
      return await super._query(connection, obj);
    } finally {
      if (inTransaction && DDL.test(sql)) await super._query(connection, { sql: 'START TRANSACTION' });
      if (TRANSACTION_END.test(sql)) await super._query(connection, { sql: 'SELECT RELEASE_ALL_LOCKS()' }).catch(() => undefined);
    }
  }
}

/** mysql2's connection options from `mysql://user:password@host:port/database` (or `mariadb://`). */
export function mysqlConnectionOptions(url: string): Record<string, unknown> {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.slice(1));
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    ...(database ? { database } : {}),
    charset: 'utf8mb4',
    // DATETIME values are UTC both ways
    timezone: 'Z',
    // BIGINT beyond 2^53 as a string rather than a rounded number
    supportBigNumbers: true,
    // JSON as its text, which the dialect's decode parses: mysql2 would parse it itself, and a JSON string value
    // ("just a string") would then be indistinguishable from the text of a JSON document
    jsonStrings: true,
  };
}

/**
 * The session's sql_mode: the server's, with ANSI_QUOTES and STRICT_ALL_TABLES added and NO_BACKSLASH_ESCAPES taken
 * out: mysql2 inlines values escaped with backslashes (version 3 follows that mode by itself; a driver that did not
 * would let a `\'` in a value end its string).
 */
export function sessionSqlMode(serverMode: string): string {
  const modes = serverMode.split(',').filter((m) => m !== '' && m !== 'NO_BACKSLASH_ESCAPES');
  for (const m of ['ANSI_QUOTES', 'STRICT_ALL_TABLES']) if (!modes.includes(m)) modes.push(m);
  return modes.join(',');
}

type RawConnection = { query(sql: string, values: unknown[], cb: (err: Error | null, rows?: unknown) => void): void };

/** The knex config of a MySQL target's pool. */
export function mysqlConfig(url: string, pool: Knex.PoolConfig, extra: Record<string, unknown> = {}): Knex.Config {
  return {
    client: KlaviyoSyncMySqlClient as unknown as typeof knex.Client,
    connection: { ...mysqlConnectionOptions(url), ...extra },
    pool: {
      ...pool,
      afterCreate(conn: RawConnection, done: (err: Error | null, conn: unknown) => void) {
        conn.query('SELECT @@SESSION.sql_mode AS mode', [], (err, rows) => {
          if (err) return done(err, conn);
          const mode = sessionSqlMode(String((rows as Array<{ mode: string }>)[0].mode));
          conn.query("SET SESSION sql_mode = ?, time_zone = '+00:00'", [mode], (e) => done(e, conn));
        });
      },
    },
  };
}
