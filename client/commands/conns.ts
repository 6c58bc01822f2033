/**
 * `klaviyo-sync conns list` and `klaviyo-sync conns test <NAME>`, after Sling's `conns` commands. The database
 * probes live beside the writer (lib/db/probe.ts), the scope probe in lib/klaviyo/scopes.ts.
 *
 * `test` asks each kind of connection what a replication will need from it: a Klaviyo key, one cheap request per
 * scope the streams use; Postgres, a login, the target schema (created only when it is missing, as the writer does)
 * and the right to create tables in it (tried in a transaction that is rolled back); SQLite, a file that is a
 * database and can be written, or a place to create one. Nothing is written anywhere. Output names connections
 * through describeConnection, so no secret is printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Command } from 'commander';
import YAML from 'yaml';
import {
  CONNECTION_NAME,
  ENV_FILE_VARIABLE,
  describeConnection,
  envFileSearch,
  readDotenvSling,
  resolveConnection,
  setConnection,
  setConnectionLine,
  unsetConnection,
  type Connection,
  type KlaviyoConnection,
} from '../../config/connections';
import { DEFAULT_SCHEMA, schemaNameProblem } from '../../config/replication';
import { STREAMS } from '../../streams/streams';
import { parentOf, partitionsOf } from '../../streams/partitions';
import { rateOperation } from '../../streams/options';
import type { StreamDef } from '../../streams/types';
import { firstPageUrl } from '../../lib/klaviyo/urls';
import { SyncError, withRetries } from '../../lib/errors';
import { KlaviyoClient } from '../../lib/klaviyo/client';
import { KlaviyoErrorType, type KlaviyoFailureDetails } from '../../lib/klaviyo/errors';
import { createRateLimiter } from '../../lib/klaviyo/ratelimit';
import { probeScope, scopeProbes, type ScopeProbe } from '../../lib/klaviyo/scopes';
import { probePostgres, probeSqlite, type ProbeOptions } from '../../lib/db/probe';
import { probeMysql } from '../../lib/db/probe-mysql';
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
    .option('--schema <schema>', `Postgres schema or MySQL database to check (default: the connection's, else ${DEFAULT_SCHEMA})`)
    .action(async (name: string, opts: { schema?: string }) => {
      checkSchemaOption(opts.schema);
      const conn = resolveConnection(name);
      process.stdout.write(`${describeConnection(conn)}\n`);
      const { summary } = await testConnection(conn, { schema: opts.schema, print: (line) => process.stdout.write(`  ${line}\n`) });
      process.stdout.write(`${conn.name}: ${summary}\n`);
    });
  conns
    .command('set')
    .description(
      "Add or replace a connection in env.yaml, as Sling's conns set: $KLAVIYO_SYNC_ENV_FILE, else ./env.yaml if it " +
        'exists, else ~/.sling/env.yaml (mode 0600). It is checked first, and its secrets are never printed.',
    )
    .argument('<NAME>', 'connection name: letters, digits and _')
    .argument(
      '<key=value...>',
      "url=postgresql://... (or sqlite:///path), or type=api spec=klaviyo secrets='{ api_key: pk_... }', or type=postgres host=... user=...",
    )
    .action((name: string, pairs: string[]) => {
      process.stdout.write(`${setConnectionLine(setConnection(name, pairs))}\n`);
    });
  conns
    .command('unset')
    .description('Remove a connection from the env.yaml conns set writes')
    .argument('<NAME>', 'connection name')
    .action((name: string) => {
      const file = unsetConnection(name);
      if (!file) throw new Error(`${name} is not in the env.yaml conns set writes; conns list shows where each connection is`);
      process.stdout.write(`removed ${name} from ${file}\n`);
    });
  conns
    .command('discover')
    .description(
      "The streams a Klaviyo connection's key can read, per scope, with the rows of each stream's first page (one " +
        "request per listing; a stream read per parent row says so), as Sling lists a connection's streams",
    )
    .argument('<NAME>', 'a Klaviyo connection')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const conn = resolveConnection(name, { expect: 'klaviyo' }) as KlaviyoConnection;
      const found = await discoverConnection(conn);
      process.stdout.write(opts.json ? `${JSON.stringify(found, null, 2)}\n` : formatDiscovered(found));
    });
}

/** One stream as `conns discover` finds it. */
export interface DiscoveredConnectionStream {
  stream: string;
  scopes: string[];
  /** the scopes the key lacks (empty: readable) */
  missing: string[];
  /** rows on the first page of each listing, summed; null when not read (a child stream, or a scope missing) */
  rows: number | null;
  /** a listing has more pages than the first */
  more: boolean;
  /** what else to know: a child stream is read per parent row */
  note?: string;
}

/**
 * The key's scopes (as `conns test` probes them), then the first page of each listing of every readable top-level
 * stream (a stream partitioned by filters: one per filter), at the documented rates.
 */
export async function discoverConnection(conn: KlaviyoConnection): Promise<DiscoveredConnectionStream[]> {
  const client = checkClient(conn);
  const checks = await checkScopes(client, conn, scopeProbes());
  const failed = checks.filter((c) => c.status === 'error');
  if (failed.length > 0) throw new Error(`${failed.map((c) => `${c.scope}: ${c.detail}`).join('; ')}; run conns discover again`);
  const missingScopes = new Set(checks.filter((c) => c.status === 'missing').map((c) => c.scope));
  return Promise.all(
    STREAMS.map(async (s): Promise<DiscoveredConnectionStream> => {
      const missing = s.scopes.filter((sc) => missingScopes.has(sc));
      const base = { stream: s.name, scopes: [...s.scopes], missing };
      const parent = parentOf(s);
      if (parent) return { ...base, rows: null, more: false, note: `read per ${parent.stream} row` };
      if (missing.length > 0) return { ...base, rows: null, more: false };
      const { rows, more } = await firstPages(client, conn, s);
      return { ...base, rows, more };
    }),
  );
}

async function firstPages(client: KlaviyoClient, conn: KlaviyoConnection, stream: StreamDef): Promise<{ rows: number; more: boolean }> {
  const parts = partitionsOf(stream);
  const keys = parts.fixedKeys ?? [''];
  const pages = await Promise.all(
    keys.map((key) => {
      const { partitionFilter } = parts.request(key);
      const url = firstPageUrl(conn.baseUrl, stream, { partitionFilter, since: null, now: new Date() });
      return withRetries(() => client.getPage(url, { operation: rateOperation(stream, undefined) }));
    }),
  );
  return {
    rows: pages.reduce((n, p) => n + (Array.isArray(p.document.data) ? p.document.data.length : p.document.data ? 1 : 0), 0),
    more: pages.some((p) => Boolean(p.document.links?.next)),
  };
}

export function formatDiscovered(found: DiscoveredConnectionStream[]): string {
  const readable = found.filter((f) => f.missing.length === 0).length;
  return (
    formatTable(
      ['STREAM', 'SCOPES', 'READABLE', 'FIRST PAGE ROWS'],
      found.map((f) => [
        f.stream,
        f.scopes.join(', '),
        f.missing.length === 0 ? 'yes' : `no: lacks ${f.missing.join(', ')}`,
        f.note ?? (f.rows === null ? '-' : `${f.rows}${f.more ? '+ (more pages)' : ''}`),
      ]),
    ) + `${readable} of ${found.length} streams readable with this key\n`
  );
}

export type TestOptions = ProbeOptions;

/** Resolves with a one-line summary when the connection can do everything a replication needs; throws otherwise. */
export async function testConnection(conn: Connection, opts: TestOptions): Promise<{ summary: string }> {
  switch (conn.kind) {
    case 'klaviyo':
      return testKlaviyo(conn, opts);
    case 'postgres':
      return probePostgres(conn, { defaultSchema: DEFAULT_SCHEMA, ...opts });
    case 'mysql':
      return probeMysql(conn, { defaultSchema: DEFAULT_SCHEMA, ...opts });
    case 'sqlite':
      return probeSqlite(conn, opts);
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

/** The CLI's client for checks: each operation's published limits, so requests to many operations go out at once, never too fast. */
function checkClient(conn: KlaviyoConnection): KlaviyoClient {
  return new KlaviyoClient({
    baseUrl: conn.baseUrl,
    apiKey: conn.apiKey,
    limiter: createRateLimiter({ mode: 'documented' }),
    connection: conn.name,
  });
}

/** Every scope's probe: one request first (a wrong key or an unreachable server ends it before the others say the same), then the rest at once. */
async function checkScopes(client: KlaviyoClient, conn: KlaviyoConnection, probes: ScopeProbe[]): Promise<ScopeCheck[]> {
  const first = await checkScope(client, conn, probes[0]);
  return [first, ...(await Promise.all(probes.slice(1).map((p) => checkScope(client, conn, p))))];
}

async function testKlaviyo(conn: KlaviyoConnection, opts: TestOptions): Promise<{ summary: string }> {
  const probes = scopeProbes();
  const results = await checkScopes(checkClient(conn), conn, probes);
  const width = Math.max(...probes.map((p) => p.scope.length));
  results.forEach((r, i) =>
    opts.print(`${probes[i].scope.padEnd(width)}  ${r.status.padEnd(7)}  GET ${probes[i].stream.path}${r.detail ? `: ${r.detail}` : ''}`),
  );

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
        throw new Error(
          `cannot reach Klaviyo at ${conn.baseUrl}: ${code}${reason}; check the network, or the base_url of connection ${conn.name}`,
        );
      }
      default:
        return { scope: probe.scope, status: 'error', detail: err.message };
    }
  }
}

/** The schema goes into SQL, so it must be a name the writer accepts (lib/db/naming.ts). */
export function checkSchemaOption(schema: string | undefined): void {
  const problem = schema === undefined ? undefined : schemaNameProblem(schema);
  if (problem) throw new Error(`--schema: ${problem}`);
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

/** Connections in lookup order: env vars, `./.env.sling`, then each env.yaml resolveConnection searches. */
export function listConnections(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ListedConnection[] {
  const listed: ListedConnection[] = [];
  const home = env.HOME || os.homedir();
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (value === undefined || !CONNECTION_NAME.test(name) || !looksLikeConnection(value)) continue;
    listed.push(resolveListed(name, 'env var', () => resolveConnection(name, { env: { [name]: value, HOME: home }, cwd, dotenv: false })));
  }
  const dotenv = readDotenvSling(cwd);
  for (const [name, value] of Object.entries(dotenv?.vars ?? {}).sort(([a], [b]) => a.localeCompare(b)) as Array<[string, string]>) {
    if (!CONNECTION_NAME.test(name) || !looksLikeConnection(value)) continue;
    listed.push(resolveListed(name, dotenv!.file, () => resolveConnection(name, { env: { HOME: home }, cwd })));
  }

  // the order resolveConnection reads them in
  const { files, missingExplicit } = envFileSearch(env, cwd, home);
  if (missingExplicit !== undefined) {
    listed.push({
      name: `$${ENV_FILE_VARIABLE}`,
      source: 'env var',
      problem: `${missingExplicit} does not exist: fix the path or unset it`,
    });
  }
  for (const file of files) {
    const names = connectionNames(file);
    if (typeof names === 'string') {
      listed.push({ name: '-', source: file, problem: names });
      continue;
    }
    for (const name of names) {
      // resolving against this file alone tells what it defines, whatever an env var or an earlier file says
      listed.push(
        resolveListed(name, file, () => resolveConnection(name, { env: { [ENV_FILE_VARIABLE]: file, HOME: home }, cwd, dotenv: false })),
      );
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
