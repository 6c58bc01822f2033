/**
 * `klaviyo-sync conns list` and `klaviyo-sync conns test <NAME>`, after Sling's `conns` commands.
 *
 * `test` asks each kind of connection what a replication will need from it: a Klaviyo key, one cheap request per
 * scope the streams use; Postgres, a login, the target schema (created only when it is missing, as the writer does)
 * and the right to create tables in it (tried in a transaction that is rolled back); SQLite, a file that is a
 * database and can be written, or a place to create one. Nothing is written anywhere. Output names connections
 * through describeConnection, so no secret is printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import knex, { type Knex } from 'knex';
import YAML from 'yaml';
import {
  ENV_FILE_VARIABLE,
  describeConnection,
  resolveConnection,
  type Connection,
  type KlaviyoConnection,
  type PostgresConnection,
  type SqliteConnection,
} from '../../config/connections';
import { DEFAULT_SCHEMA, schemaNameProblem } from '../../config/replication';
import { STREAMS } from '../../streams/streams';
import { classify, SyncError, TransientError, withRetries } from '../../lib/errors';
import { KlaviyoClient } from '../../lib/klaviyo/client';
import { KlaviyoErrorType, type KlaviyoFailureDetails } from '../../lib/klaviyo/errors';
import { createRateLimiter } from '../../lib/klaviyo/ratelimit';
import { probeScope, scopeProbes, type ScopeProbe } from '../../lib/klaviyo/scopes';
import { dialectFor } from '../../lib/db/dialect';
import { physicalTable, tableSql } from '../../lib/db/naming';
import { formatTable } from './table';

export function registerConnsCommand(program: Command): void {
  const conns = program.command('conns').description('List and test the connections replications name (env vars and env.yaml)');
  conns
    .command('list')
    .description('List the connections found in env vars and env.yaml files (secrets masked)')
    .action(() => {
      process.stdout.write(formatConnectionList(listConnections()));
    });
  conns
    .command('test')
    .description(
      'Test a connection: a Klaviyo key is checked for every scope the streams need; a database for login and for ' +
        'the right to create tables in the target schema, and the schema when it is missing (Postgres), or the file ' +
        '(SQLite). Exits 1 if anything is missing.',
    )
    .argument('<NAME>', 'connection name (an env var, or a key under connections: in env.yaml)')
    .option('--schema <schema>', `Postgres schema to check (default: the connection's schema, else ${DEFAULT_SCHEMA})`)
    .action(async (name: string, opts: { schema?: string }) => {
      checkSchemaOption(opts.schema);
      const conn = resolveConnection(name);
      process.stdout.write(`${describeConnection(conn)}\n`);
      const { summary } = await testConnection(conn, { schema: opts.schema, print: (line) => process.stdout.write(`  ${line}\n`) });
      process.stdout.write(`${conn.name}: ${summary}\n`);
    });
}

export interface TestOptions {
  /** Postgres: the schema to try to create (default: the connection's, else `klaviyo`) */
  schema?: string;
  /** each finding as it is made, one line */
  print: (line: string) => void;
}

/** Resolves with a one-line summary when the connection can do everything a replication needs; throws otherwise. */
export async function testConnection(conn: Connection, opts: TestOptions): Promise<{ summary: string }> {
  switch (conn.kind) {
    case 'klaviyo':
      return testKlaviyo(conn, opts);
    case 'postgres':
      return testPostgres(conn, opts);
    case 'sqlite':
      return testSqlite(conn, opts);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Klaviyo

export interface ScopeCheck {
  scope: string;
  status: 'ok' | 'missing' | 'error';
  /** what went wrong, for status `error` */
  detail?: string;
}

async function testKlaviyo(conn: KlaviyoConnection, opts: TestOptions): Promise<{ summary: string }> {
  const client = new KlaviyoClient({
    baseUrl: conn.baseUrl,
    apiKey: conn.apiKey,
    // each operation's published limits: ten requests to ten operations go out at once, and never too fast
    limiter: createRateLimiter({ mode: 'documented' }),
    connection: conn.name,
  });
  const probes = scopeProbes();
  const width = Math.max(...probes.map((p) => p.scope.length));
  const print = (probe: ScopeProbe, r: ScopeCheck) =>
    opts.print(`${probe.scope.padEnd(width)}  ${r.status.padEnd(7)}  GET ${probe.stream.path}${r.detail ? `: ${r.detail}` : ''}`);
  // One request first: a wrong key or an unreachable server ends the test before nine more requests say the same.
  const first = await checkScope(client, conn, probes[0]);
  print(probes[0], first);
  const rest = await Promise.all(probes.slice(1).map((p) => checkScope(client, conn, p)));
  rest.forEach((r, i) => print(probes[i + 1], r));
  const results = [first, ...rest];

  const missing = results.filter((r) => r.status === 'missing').map((r) => r.scope);
  const failed = results.filter((r) => r.status === 'error');
  const problems: string[] = [];
  if (missing.length > 0) {
    const them = missing.length > 1 ? 'them' : 'it';
    const streams = STREAMS.filter((s) => s.scopes.some((sc) => missing.includes(sc))).map((s) => s.name);
    problems.push(
      `the key lacks: ${missing.join(', ')}; grant ${them} to the private key in Klaviyo (Settings > API keys), ` +
        `or disable the streams that need ${them} (${streams.join(', ')})`,
    );
  }
  if (failed.length > 0) {
    problems.push(`${failed.map((r) => r.scope).join(', ')} could not be checked (see above); run conns test again`);
  }
  if (problems.length > 0) throw new Error(problems.join('; and '));
  return { summary: `ok: the key has all ${results.length} scopes the ${STREAMS.length} streams need` };
}

/** One scope's probe, retried with the one policy (a 429 waits Retry-After, a 5xx backs off). */
async function checkScope(client: KlaviyoClient, conn: KlaviyoConnection, probe: ScopeProbe): Promise<ScopeCheck> {
  try {
    return { scope: probe.scope, status: await withRetries(() => probeScope(client, conn.baseUrl, probe)) };
  } catch (err) {
    if (!(err instanceof SyncError)) throw err;
    const details = err.details as KlaviyoFailureDetails | undefined;
    switch (err.type) {
      case KlaviyoErrorType.AuthError:
        throw new Error(
          `Klaviyo at ${conn.baseUrl} rejected the API key of connection ${conn.name} (${details?.code ?? 'authentication_failed'}): ` +
            `put a valid private key (pk_..., from Klaviyo > Settings > API keys) in its secrets.api_key`,
        );
      case KlaviyoErrorType.NetworkError: {
        const reason = details?.detail ?? err.message;
        const code = details?.code && !reason.includes(details.code) ? `${details.code} ` : '';
        throw new Error(`cannot reach Klaviyo at ${conn.baseUrl}: ${code}${reason}; check the network, or the base_url of connection ${conn.name}`);
      }
      default:
        return { scope: probe.scope, status: 'error', detail: err.message };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Postgres

const PG_CONNECT_TIMEOUT_MS = 10_000;
/** created and dropped with the rolled-back transaction; only its name could ever be seen */
const PROBE_TABLE = '_klaviyo_sync_conns_test';

/** `host:port/db` for messages: where the connection points, without user or password. */
export function postgresAddress(conn: PostgresConnection): string {
  const u = new URL(conn.url);
  return `${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
}

async function testPostgres(conn: PostgresConnection, opts: TestOptions): Promise<{ summary: string }> {
  const schema = opts.schema ?? conn.schema ?? DEFAULT_SCHEMA;
  checkSchemaOption(schema);
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
    const steps = [
      (trx: Knex.Transaction) => dialectFor('postgres').lockSchema(trx, schema),
      (trx: Knex.Transaction) => trx.raw(`CREATE TABLE ${tableSql(physicalTable('postgres', schema, PROBE_TABLE))} (id integer)`),
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
      throw new Error(`user ${server.user} cannot ${what} at ${where}: ${scrub(errorMessage(err))}; ${grant}, or check another schema with --schema`);
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

/** The schema goes into SQL, so it must be a name the writer accepts (lib/db/naming.ts). */
export function checkSchemaOption(schema: string | undefined): void {
  const problem = schema === undefined ? undefined : schemaNameProblem(schema);
  if (problem) throw new Error(`--schema: ${problem}`);
}

function postgresLoginProblem(err: unknown, conn: PostgresConnection, where: string, scrub: (s: string) => string): string {
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
const SILENT = { warn() {}, error() {}, debug() {}, deprecate() {} };

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  let message = err instanceof Error ? err.message : String(err);
  if (/^Knex: Timeout acquiring a connection/.test(message)) return `no answer within ${PG_CONNECT_TIMEOUT_MS / 1000} s`;
  // knex puts the statement in front of the driver's message (none of ours contains ' - ')
  if (/^(select|create)\b/i.test(message) && message.includes(' - ')) message = message.slice(message.indexOf(' - ') + 3);
  return message || (err as { code?: string }).code || 'unknown error';
}

// ---------------------------------------------------------------------------------------------------------------
// SQLite

async function testSqlite(conn: SqliteConnection, opts: TestOptions): Promise<{ summary: string }> {
  const file = conn.filename;
  // ENOTDIR too means there is no such file: a parent is a file, which the search for a directory below reports
  const stat = fs.existsSync(file) ? fs.statSync(file) : undefined;
  if (stat?.isDirectory()) throw new Error(`${file} is a directory: point connection ${conn.name} at a database file inside it, e.g. ${path.join(file, 'klaviyo.db')}`);

  if (stat) {
    const { version, tables } = await readSqlite(file).catch((err: unknown) => {
      throw new Error(`${file} cannot be read as a SQLite database (${errorMessage(err)}): point connection ${conn.name} at a SQLite file or at a path that does not exist yet`);
    });
    opts.print(`SQLite ${version}; ${file} is a database with ${tables} table${tables === 1 ? '' : 's'}`);
    // the write-ahead log and shared-memory files are created next to the database
    for (const target of [file, path.dirname(file)]) {
      if (!writable(target)) throw new Error(`${target} is not writable by this user: fix its permissions, or point connection ${conn.name} elsewhere`);
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
  if (!writable(dir)) throw new Error(`${file} cannot be created because ${dir} is not writable by this user: fix its permissions, or point connection ${conn.name} elsewhere`);
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

// ---------------------------------------------------------------------------------------------------------------
// conns list

export interface ListedConnection {
  name: string;
  /** `env var` or the env.yaml file it was read from */
  source: string;
  connection?: Connection;
  /** why it could not be read (no secret in it: ConnectionError messages never repeat values) */
  problem?: string;
  /** the earlier source that wins for this name, if any */
  shadowedBy?: string;
}

/** Looks like someone meant it as a connection: a database URL, or an object with a `type:` key. */
function looksLikeConnection(value: string): boolean {
  const v = value.trim();
  return /^(postgres|postgresql|sqlite):\/\//i.test(v) || /(^|[{,\s])["']?type["']?\s*:/.test(v);
}

/** Connections in lookup order: env vars, then each env.yaml resolveConnection searches. */
export function listConnections(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ListedConnection[] {
  const listed: ListedConnection[] = [];
  const home = env.HOME || os.homedir();
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (value === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || !looksLikeConnection(value)) continue;
    listed.push(resolveListed(name, 'env var', () => resolveConnection(name, { env: { [name]: value, HOME: home }, cwd })));
  }

  const files: string[] = [];
  const explicit = env[ENV_FILE_VARIABLE];
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (fs.existsSync(file)) files.push(file);
    else listed.push({ name: `$${ENV_FILE_VARIABLE}`, source: 'env var', problem: `${file} does not exist: fix the path or unset it` });
  }
  for (const file of [path.join(cwd, 'env.yaml'), path.join(home, '.sling', 'env.yaml')]) {
    if (!files.includes(file) && fs.existsSync(file)) files.push(file);
  }
  for (const file of files) {
    const names = connectionNames(file);
    if (typeof names === 'string') {
      listed.push({ name: '-', source: file, problem: names });
      continue;
    }
    for (const name of names) {
      // resolving against this file alone tells what it defines, whatever an env var or an earlier file says
      listed.push(resolveListed(name, file, () => resolveConnection(name, { env: { [ENV_FILE_VARIABLE]: file, HOME: home }, cwd })));
    }
  }

  // An env var is looked up by its exact name (or the name's upper case), an env.yaml key regardless of case: so an
  // entry is unused when an earlier source defines the same name in any case.
  const winners = new Map<string, ListedConnection>();
  for (const entry of listed) {
    const key = entry.name.toUpperCase();
    const winner = winners.get(key);
    if (winner === undefined) winners.set(key, entry);
    else if (winner.source !== entry.source) entry.shadowedBy = winner.source === 'env var' ? `env var ${winner.name}` : winner.source;
  }
  return listed;
}

function resolveListed(name: string, source: string, resolve: () => Connection): ListedConnection {
  try {
    return { name, source, connection: resolve() };
  } catch (err) {
    return { name, source, problem: err instanceof Error ? err.message : String(err) };
  }
}

/** The connection names an env.yaml defines, or why it cannot be read (never quoting its text, which has secrets). */
function connectionNames(file: string): string[] | string {
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) return `not valid YAML (${doc.errors[0].code}); run conns test on one of its connections to see where`;
  const root: unknown = doc.toJS();
  const connections = root && typeof root === 'object' ? (root as { connections?: unknown }).connections : undefined;
  if (connections === undefined || connections === null) return [];
  if (typeof connections !== 'object' || Array.isArray(connections)) return 'connections: must be a mapping of NAME: { type: ... }';
  return Object.keys(connections);
}

export function formatConnectionList(listed: ListedConnection[]): string {
  if (listed.length === 0) {
    return (
      `no connections found: set one in an env var (e.g. KLAVIYO='{ type: api, spec: klaviyo, secrets: { api_key: pk_... } }', ` +
      `MY_PG=postgresql://user:password@host:5432/db) or under connections: in ./env.yaml or ~/.sling/env.yaml\n`
    );
  }
  const rows = listed.map((l) => {
    const what = l.connection ? describeConnection(l.connection).slice(l.connection.name.length + 2) : `invalid: ${l.problem}`;
    return [l.name, l.connection?.kind ?? '-', l.source, l.shadowedBy ? `${what} (unused: ${l.shadowedBy} comes first)` : what];
  });
  return formatTable(['NAME', 'TYPE', 'SOURCE', 'CONNECTION'], rows);
}
