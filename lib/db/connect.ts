/**
 * The database pools: one knex instance per destination in a `DatabasePools` registry, so every activity of a worker
 * shares one pool per target (the worker injects the registry into its activities; by default the process's).
 * Postgres through `pg`; SQLite through better-sqlite3 in WAL mode (readers never block the writer) with a busy
 * timeout, and with write transactions that take the write lock when they begin (see ImmediateSqliteClient).
 * MySQL/MariaDB through mysql2 (./mysql-client.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';

export type Target = { kind: 'postgres'; url: string } | { kind: 'sqlite'; filename: string } | { kind: 'mysql'; url: string };

/** how long a SQLite writer waits for another process's write transaction before failing with SQLITE_BUSY */
const SQLITE_BUSY_TIMEOUT_MS = 30_000;

/*
 * knex (3.3) has no public way to begin a SQLite transaction other than with `BEGIN;`: Transaction_Sqlite.begin
 * hard-codes it, `transaction(..., { isolationLevel })` is ignored with a warning (and would not mean IMMEDIATE),
 * and the pool's afterCreate hook runs once per connection, not per transaction. So the client is subclassed.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- knex exposes no public hook for the SQLite BEGIN statement */
const BetterSqlite3Client = require('knex/lib/dialects/better-sqlite3') as new (config: Knex.Config) => any;
const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction') as new (...args: any[]) => any;
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * knex opens SQLite transactions with a plain (deferred) BEGIN, which takes the write lock only at the first write.
 * If another process committed in between, that upgrade fails with SQLITE_BUSY at once, without waiting for the busy
 * timeout. BEGIN IMMEDIATE takes the lock up front, so concurrent writers queue instead of failing; it also makes
 * read-then-write sequences inside a transaction (state checks, column checks) consistent.
 */
class ImmediateSqliteTransaction extends SqliteTransaction {
  begin(conn: unknown): Promise<unknown> {
    return (this as any).query(conn, 'BEGIN IMMEDIATE;');
  }
}

class ImmediateSqliteClient extends BetterSqlite3Client {
  transaction(...args: unknown[]): unknown {
    return new ImmediateSqliteTransaction(this, ...args);
  }
}

function cacheKey(target: Target): string {
  return target.kind === 'sqlite' ? `sqlite ${path.resolve(target.filename)}` : `${target.kind} ${target.url}`;
}

function create(target: Target): Knex {
  if (target.kind === 'postgres') {
    // min 0: an idle worker holds no connections
    return knex({ client: 'pg', connection: target.url, pool: { min: 0, max: 10 } });
  }
  if (target.kind === 'mysql') {
    // loaded for a MySQL target only: it loads knex's MySQL dialect, which no other worker needs in memory
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { mysqlConfig } = require('./mysql-client') as typeof import('./mysql-client');
    return knex(mysqlConfig(target.url, { min: 0, max: 10 }));
  }
  const filename = path.resolve(target.filename);
  fs.mkdirSync(path.dirname(filename), { recursive: true });
  return knex({
    client: ImmediateSqliteClient as unknown as typeof knex.Client,
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  });
}

/** A knex instance per target, created on first use, all closed together. */
export class DatabasePools {
  private readonly cache = new Map<string, Knex>();

  /** The shared knex instance for a target, created on first use. */
  get(target: Target): Knex {
    const key = cacheKey(target);
    let db = this.cache.get(key);
    if (!db) {
      db = create(target);
      this.cache.set(key, db);
    }
    return db;
  }

  /** Closes every pool opened so far; a later `get` opens a new one. */
  async close(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    await Promise.all(all.map((db) => db.destroy()));
  }
}

const processPools = new DatabasePools();

/** The process's registry: the default of workers and of a Destination given none. */
export function processDatabases(): DatabasePools {
  return processPools;
}

/** The process's shared knex instance for a target, created on first use. */
export function connect(target: Target): Knex {
  return processPools.get(target);
}

/** Closes every pool of the process's registry (worker shutdown, end of a test file). */
export async function closeAll(): Promise<void> {
  await processPools.close();
}
