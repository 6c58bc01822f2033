/**
 * `conns test` for a MySQL/MariaDB connection, with the writer's own code: a login, the target schema (a database:
 * Dialect.lockSchema creates it when missing) and the right to create a table in it. MySQL cannot roll DDL back, so
 * what the probe creates it drops again: a probe table, and the database if the probe created it.
 * Messages name the connection and where it points, never a secret.
 */
import knex, { type Knex } from 'knex';
import { classify, TransientError } from '../errors';
import { createTable, dialectFor, query } from './dialect';
import { mysqlConfig } from './mysql-client';
import { physicalTable, primaryKeyName, quoteIdent, validateObjectName } from './naming';
import { errorMessage, PG_CONNECT_TIMEOUT_MS, PROBE_TABLE, SILENT, type ProbeOptions } from './probe';

/** What a probe needs of a MySQL connection (config/connections' MysqlConnection has it). */
export interface MysqlTarget {
  name: string;
  url: string;
  database?: string;
}

/** `host:port/db` for messages: where the connection points, without user or password. */
export function mysqlAddress(conn: MysqlTarget): string {
  const u = new URL(conn.url);
  return `${u.hostname}:${u.port || '3306'}/${decodeURIComponent(u.pathname.slice(1))}`;
}

export async function probeMysql(conn: MysqlTarget, opts: ProbeOptions): Promise<{ summary: string }> {
  const schema = opts.schema ?? conn.database ?? opts.defaultSchema ?? 'klaviyo';
  validateObjectName({ schema, table: 'probe' });
  const password = decodeURIComponent(new URL(conn.url).password);
  // mysql2 does not put the password in its messages; this makes sure of it
  const scrub = (message: string) => (password ? message.split(password).join('***') : message);
  const where = mysqlAddress(conn);
  const db = knex({
    ...mysqlConfig(conn.url, { min: 0, max: 1 }, { connectTimeout: PG_CONNECT_TIMEOUT_MS }),
    acquireConnectionTimeout: PG_CONNECT_TIMEOUT_MS + 5_000,
    log: SILENT,
  });
  try {
    let server: { version: string; user: string };
    try {
      [server] = await query<{ version: string; user: string }>(db, 'SELECT VERSION() AS version, CURRENT_USER() AS user');
    } catch (err) {
      const problem = loginProblem(err, conn, where, scrub);
      throw classify(err)?.kind === 'transient' ? new TransientError(problem, { type: 'DatabaseUnavailable' }) : new Error(problem);
    }
    const flavour = /mariadb/i.test(server.version) ? 'MariaDB' : 'MySQL';
    opts.print(`connected to ${flavour} ${server.version} as ${server.user}`);

    const existed = (await query(db, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [schema])).length > 0;
    const d = dialectFor('mysql');
    const probe = physicalTable('mysql', schema, PROBE_TABLE);
    let step = 0;
    try {
      await db.transaction(async (trx: Knex.Transaction) => {
        await d.lockSchema(trx, schema);
        step = 1;
        await createTable(trx, d, probe, [{ name: 'id', type: 'integer', notNull: true }], ['id'], primaryKeyName(probe));
        await trx.schema.withSchema(schema).dropTableIfExists(PROBE_TABLE);
        if (!existed) await trx.raw(`DROP DATABASE IF EXISTS ${quoteIdent(schema)}`);
      });
    } catch (err) {
      const [what, grant] =
        step === 0
          ? [`create database ${schema}`, `create it, or GRANT CREATE ON *.* TO ${server.user}`]
          : [`create tables in database ${schema}`, `GRANT ALL ON ${schema}.* TO ${server.user}`];
      throw new Error(
        `user ${server.user} cannot ${what} at ${where}: ${scrub(errorMessage(err))}; ${grant}, or check another schema with --schema`,
      );
    }
    opts.print(
      existed
        ? `database ${schema} exists, and tables can be created in it (a probe table was created and dropped)`
        : `database ${schema} does not exist yet, and can be created (it was created and dropped again)`,
    );
    return { summary: `ok: a replication can write to schema (database) ${schema}` };
  } finally {
    await db.destroy();
  }
}

function loginProblem(err: unknown, conn: MysqlTarget, where: string, scrub: (s: string) => string): string {
  const code = (err as { code?: unknown }).code;
  const reason = scrub(errorMessage(err));
  const user = decodeURIComponent(new URL(conn.url).username) || '(no user)';
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') {
    return `MySQL at ${where} refused user ${user}: ${reason}; check the user and password of connection ${conn.name}`;
  }
  if (code === 'ER_BAD_DB_ERROR') {
    return `MySQL at ${where} has no such database: ${reason}; create it or fix the database name in connection ${conn.name}`;
  }
  return `cannot reach MySQL at ${where}: ${reason}; check that the server runs and the host and port of connection ${conn.name}`;
}
