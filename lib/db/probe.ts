/**
 * What a replication needs from a database, checked without writing anything (`conns test`, `run`'s pre-check),
 * with the writer's own code: Postgres, a login, the target schema (created only when it is missing:
 * Dialect.lockSchema) and the right to create a table in it (dialect.ts createTable), both in a transaction that is
 * rolled back; SQLite, a file that is a database and can be written, or a place to create one; MySQL in
 * ./probe-mysql.ts.
 * Messages name the connection and where it points, never a secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { classify, TransientError } from '../errors';
import { createTable, dialectFor } from './dialect';
import { physicalTable, primaryKeyName, validateObjectName } from './naming';

/** What a probe needs of a Postgres connection (config/connections' PostgresTarget has it; lib/ sits below config/). */
export interface PostgresTarget {
  name: string;
  url: string;
  schema?: string;
}

/** What a probe needs of a SQLite connection. */
export interface SqliteTarget {
  name: string;
  filename: string;
}

export interface ProbeOptions {
  /** Postgres: the schema to try to create (default: the connection's, else `defaultSchema`) */
  schema?: string;
  /** the schema a replication writes to when neither `schema` nor the connection names one */
  defaultSchema?: string;
  /** each finding as it is made, one line */
  print: (line: string) => void;
}

export const PG_CONNECT_TIMEOUT_MS = 10_000;
/** created and dropped with the rolled-back transaction; only its name could ever be seen */
export const PROBE_TABLE = '_klaviyo_sync_conns_test';

/** `host:port/db` for messages: where the connection points, without user or password. */
export function postgresAddress(conn: PostgresTarget): string {
  const u = new URL(conn.url);
  return `${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
}

export async function probePostgres(conn: PostgresTarget, opts: ProbeOptions): Promise<{ summary: string }> {
  const schema = opts.schema ?? conn.schema ?? opts.defaultSchema ?? 'klaviyo';
  // the schema goes into SQL: the writer's rule first (a connection's schema was checked when it was parsed)
  validateObjectName({ schema, table: 'probe' });
  const url = new URL(conn.url);
  const password = decodeURIComponent(url.password);
  // pg does not put the password in its messages; this makes sure of it
  const scrub = (message: string) => (password ? message.split(password).join('***') : message);
  const where = postgresAddress(conn);
  // A pool of its own rather than the workers' shared one: a single connection with a connect timeout.
  const db = knex({
    client: 'pg',
    connection: { connectionString: conn.url, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS },
    pool: { min: 0, max: 1 },
    acquireConnectionTimeout: PG_CONNECT_TIMEOUT_MS + 5_000,
    log: SILENT,
  });
  try {
    let server: { version: string; user: string };
    try {
      const res = await db.raw(`select current_setting('server_version') as version, current_user as "user"`);
      server = res.rows[0];
    } catch (err) {
      const problem = postgresLoginProblem(err, conn, where, scrub);
      // classified as the worker classifies it: an unreachable or restarting server is worth another attempt
      throw classify(err)?.kind === 'transient' ? new TransientError(problem, { type: 'DatabaseUnavailable' }) : new Error(problem);
    }
    opts.print(`connected to PostgreSQL ${server.version} as ${server.user}`);

    const existed = (await db.raw('select 1 from pg_namespace where nspname = ?', [schema])).rows.length > 0;
    // what a replication does first, with the writer's own code: the schema, created only when it is missing
    // (lib/db/dialect.ts lockSchema), then a table in it
    const d = dialectFor('postgres');
    const probe = physicalTable('postgres', schema, PROBE_TABLE);
    const steps = [
      (trx: Knex.Transaction) => d.lockSchema(trx, schema),
      (trx: Knex.Transaction) =>
        createTable(trx, d, probe, [{ name: 'id', type: 'integer', notNull: true }], ['id'], primaryKeyName(probe)),
    ];
    const trx = await db.transaction();
    let step = 0;
    try {
      for (; step < steps.length; step++) await steps[step](trx);
    } catch (err) {
      const database = decodeURIComponent(url.pathname.slice(1));
      // creating a missing schema needs CREATE on the database
      const [what, grant] =
        step === 0
          ? [`run CREATE SCHEMA IF NOT EXISTS ${schema}`, `GRANT CREATE ON DATABASE ${database} TO ${server.user}`]
          : [`create tables in schema ${schema}`, `GRANT CREATE ON SCHEMA ${schema} TO ${server.user}`];
      throw new Error(
        `user ${server.user} cannot ${what} at ${where}: ${scrub(errorMessage(err))}; ${grant}, or check another schema with --schema`,
      );
    } finally {
      await trx.rollback();
    }
    opts.print(
      existed
        ? `schema ${schema} exists, and tables can be created in it (tried in a transaction, rolled back)`
        : `schema ${schema} does not exist yet, and can be created (tried in a transaction, rolled back)`,
    );
    return { summary: `ok: a replication can write to schema ${schema}` };
  } finally {
    await db.destroy();
  }
}

function postgresLoginProblem(err: unknown, conn: PostgresTarget, where: string, scrub: (s: string) => string): string {
  const code = (err as { code?: unknown }).code;
  const reason = scrub(errorMessage(err));
  const user = decodeURIComponent(new URL(conn.url).username) || '(default user)';
  // SQLSTATE class 28: invalid authorization (wrong password, no pg_hba.conf entry)
  if (typeof code === 'string' && code.startsWith('28')) {
    return `Postgres at ${where} refused user ${user}: ${reason}; check the user and password of connection ${conn.name}`;
  }
  if (code === '3D000') {
    return `Postgres at ${where} has no such database: ${reason}; create it or fix the database name in connection ${conn.name}`;
  }
  return `cannot reach Postgres at ${where}: ${reason}; check that the server runs and the host and port of connection ${conn.name}`;
}

/** knex would log a failed connection with its stack; the failure is reported once, as a sentence, instead. */
export const SILENT = { warn() {}, error() {}, debug() {}, deprecate() {} };

export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  let message = err instanceof Error ? err.message : String(err);
  if (/^Knex: Timeout acquiring a connection/.test(message)) return `no answer within ${PG_CONNECT_TIMEOUT_MS / 1000} s`;
  // knex puts the statement in front of the driver's message (none of ours contains ' - ')
  if (/^(select|create)\b/i.test(message) && message.includes(' - ')) message = message.slice(message.indexOf(' - ') + 3);
  return message || (err as { code?: string }).code || 'unknown error';
}

// SQLite

export async function probeSqlite(conn: SqliteTarget, opts: ProbeOptions): Promise<{ summary: string }> {
  const file = conn.filename;
  // ENOTDIR too means there is no such file: a parent is a file, which the search for a directory below reports
  const stat = fs.existsSync(file) ? fs.statSync(file) : undefined;
  if (stat?.isDirectory())
    throw new Error(
      `${file} is a directory: point connection ${conn.name} at a database file inside it, e.g. ${path.join(file, 'klaviyo.db')}`,
    );

  if (stat) {
    const { version, tables } = await readSqlite(file).catch((err: unknown) => {
      throw new Error(
        `${file} cannot be read as a SQLite database (${errorMessage(err)}): point connection ${conn.name} at a SQLite file or at a path that does not exist yet`,
      );
    });
    opts.print(`SQLite ${version}; ${file} is a database with ${tables} table${tables === 1 ? '' : 's'}`);
    // the write-ahead log and shared-memory files are created next to the database
    for (const target of [file, path.dirname(file)]) {
      if (!writable(target))
        throw new Error(`${target} is not writable by this user: fix its permissions, or point connection ${conn.name} elsewhere`);
    }
    opts.print(`${file} and its directory are writable`);
    return { summary: 'ok: a replication can write to this file' };
  }

  const { version } = await readSqlite(':memory:');
  let dir = path.dirname(file);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  if (!fs.statSync(dir).isDirectory()) {
    throw new Error(`${file} cannot be created because ${dir} is a file, not a directory: point connection ${conn.name} at another path`);
  }
  if (!writable(dir))
    throw new Error(
      `${file} cannot be created because ${dir} is not writable by this user: fix its permissions, or point connection ${conn.name} elsewhere`,
    );
  opts.print(`SQLite ${version}; ${file} does not exist yet, and can be created (${dir} is writable)`);
  return { summary: 'ok: a replication can create this file' };
}

async function readSqlite(filename: string): Promise<{ version: string; tables: number }> {
  const db = knex({
    client: 'better-sqlite3',
    connection: { filename, options: { readonly: filename !== ':memory:' } },
    useNullAsDefault: true,
    log: SILENT,
  });
  try {
    const [{ version }] = await db.raw<Array<{ version: string }>>('select sqlite_version() as version');
    // reading the schema is what fails on a file that is not a database
    const [{ tables }] = await db.raw<Array<{ tables: number }>>(`select count(*) as tables from sqlite_master where type = 'table'`);
    return { version, tables };
  } finally {
    await db.destroy();
  }
}

function writable(target: string): boolean {
  try {
    fs.accessSync(target, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
