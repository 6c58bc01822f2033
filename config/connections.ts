/**
 * Sling-style connections: a replication names its source and target, and the secrets live elsewhere.
 *
 * A connection NAME is looked up, first match wins:
 *   1. an environment variable of that name (or its upper-case form) holding
 *      - a URL: `postgresql://user:password@host:5432/db?sslmode=require[&schema=s]`, `sqlite:///abs/path.db`,
 *        `sqlite://./relative.db` (everything after `sqlite://` is a path; a leading `/` makes it absolute, so
 *        `sqlite:///data/k.db` is `/data/k.db`; other paths are relative to the working directory), or
 *      - a YAML or JSON object, e.g. `{ type: api, spec: klaviyo, secrets: { api_key: pk_... } }`;
 *   2. `connections.<NAME>` in an env.yaml: `$KLAVIYO_SYNC_ENV_FILE`, then `./env.yaml`, then `~/.sling/env.yaml`.
 *
 * Object forms: `{ type: api, spec: klaviyo, secrets: { api_key, base_url? }, base_url? }`,
 * `{ type: postgres, url }` or `{ type: postgres, host, port?, user?, password?, database, schema?, sslmode? }`,
 * `{ type: sqlite, database: path }` (or `url`).
 *
 * Secrets (the API key, a Postgres URL with its password) are non-enumerable and every printable view of a
 * connection (`toString`, `JSON.stringify`, `util.inspect`, error messages) is redacted, so a stray log cannot leak
 * them. Connections are resolved where they are used (activities, CLI); never pass one through a workflow.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import YAML, { LineCounter } from 'yaml';
import { schemaNameProblem } from './replication';

export const DEFAULT_KLAVIYO_BASE_URL = 'https://a.klaviyo.com';
export const ENV_FILE_VARIABLE = 'KLAVIYO_SYNC_ENV_FILE';

const KLAVIYO_EXAMPLE = `'{ type: api, spec: klaviyo, secrets: { api_key: pk_... } }'`;
const DATABASE_EXAMPLE = `postgresql://user:password@host:5432/db (or sqlite:///abs/path/file.db)`;

export class ConnectionError extends Error {
  constructor(
    /** the connection name being resolved */
    readonly connection: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

export type ConnectionKind = 'klaviyo' | 'postgres' | 'sqlite';

abstract class BaseConnection {
  abstract readonly kind: ConnectionKind;

  constructor(readonly name: string) {}

  /** A plain object with every secret masked: what logs, JSON and inspect show. */
  abstract redacted(): Record<string, unknown>;

  toJSON(): Record<string, unknown> {
    return this.redacted();
  }

  toString(): string {
    return describeConnection(this as unknown as Connection);
  }

  [inspect.custom](): Record<string, unknown> {
    return this.redacted();
  }
}

/** A non-enumerable property: JSON.stringify, spreading and Object.keys leave it out ([inspect.custom] covers inspect). */
function hide(target: object, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
}

export class KlaviyoConnection extends BaseConnection {
  readonly kind = 'klaviyo' as const;
  /** the private API key (`pk_...`); non-enumerable */
  declare readonly apiKey: string;

  constructor(
    name: string,
    apiKey: string,
    /** without a trailing slash, e.g. `https://a.klaviyo.com` */
    readonly baseUrl: string,
  ) {
    super(name);
    hide(this, 'apiKey', apiKey);
  }

  redacted(): Record<string, unknown> {
    return { kind: this.kind, name: this.name, baseUrl: redactUrl(this.baseUrl), apiKey: 'pk_***' };
  }
}

export class PostgresConnection extends BaseConnection {
  readonly kind = 'postgres' as const;
  /** a libpq-style URL for pg/knex, password included; non-enumerable */
  declare readonly url: string;

  constructor(
    name: string,
    url: string,
    /** the schema named by the connection, if any */
    readonly schema?: string,
  ) {
    super(name);
    hide(this, 'url', url);
  }

  redacted(): Record<string, unknown> {
    return { kind: this.kind, name: this.name, url: redactUrl(this.url), ...(this.schema ? { schema: this.schema } : {}) };
  }
}

export class SqliteConnection extends BaseConnection {
  readonly kind = 'sqlite' as const;

  constructor(
    name: string,
    /** absolute path of the database file */
    readonly filename: string,
  ) {
    super(name);
  }

  redacted(): Record<string, unknown> {
    return { kind: this.kind, name: this.name, filename: this.filename };
  }
}

export type DatabaseConnection = PostgresConnection | SqliteConnection;
export type Connection = KlaviyoConnection | DatabaseConnection;

export interface ResolveConnectionOptions {
  /** defaults to process.env */
  env?: NodeJS.ProcessEnv;
  /** where `./env.yaml` and relative SQLite paths are looked up; defaults to process.cwd() */
  cwd?: string;
  /** the role the connection must play (source: klaviyo, target: database); checked and used in hints */
  expect?: 'klaviyo' | 'database';
}

/** Safe to print: names the connection, its kind and where it points, never a secret. */
export function describeConnection(c: Connection): string {
  switch (c.kind) {
    case 'klaviyo':
      return `${c.name}: Klaviyo API at ${redactUrl(c.baseUrl)} (private key pk_***)`;
    case 'postgres': {
      const u = new URL(c.url);
      const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
      const where = `${user}${u.host}/${decodeURIComponent(u.pathname.slice(1))}`;
      return `${c.name}: postgres ${where}${c.schema ? ` (schema ${c.schema})` : ''}`;
    }
    case 'sqlite':
      return `${c.name}: sqlite ${c.filename}`;
  }
}

/**
 * The schema a target connection names (a Postgres connection's `schema`, or `?schema=` in its URL), which is where
 * objects that name no schema go, as in Sling. Undefined for SQLite, for none, and when the connection does not
 * resolve (that is reported where the connection is used).
 */
export function targetSchemaOf(name: string, opts: Omit<ResolveConnectionOptions, 'expect'> = {}): string | undefined {
  try {
    const conn = resolveConnection(name, { ...opts, expect: 'database' });
    return conn.kind === 'postgres' ? conn.schema : undefined;
  } catch (err) {
    if (err instanceof ConnectionError) return undefined;
    throw err;
  }
}

export function resolveConnection(name: string, opts: ResolveConnectionOptions = {}): Connection {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const home = env.HOME || os.homedir();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    // not repeated: a URL or key passed where a name belongs would carry its secret into the log
    throw new ConnectionError(
      '(invalid name)',
      'a connection name has letters, digits and _ only (e.g. KLAVIYO, MY_PG): put URLs and keys in an env var of that name, or in env.yaml',
    );
  }
  const ctx = { name, cwd, home };

  for (const key of new Set([name, name.toUpperCase()])) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') {
      return checkRole(fromDefinition(ctx, value, `env var ${key}`), opts.expect);
    }
  }

  const searched: string[] = [];
  for (const file of envFiles(name, env, cwd, home)) {
    searched.push(file);
    const connections = readEnvFile(name, file);
    const key = Object.keys(connections).find((k) => k === name) ?? Object.keys(connections).find((k) => k.toUpperCase() === name.toUpperCase());
    if (key !== undefined) return checkRole(fromDefinition(ctx, connections[key], `${file} (connections.${key})`), opts.expect);
  }

  const examples =
    opts.expect === 'database'
      ? `set ${name}=${DATABASE_EXAMPLE}`
      : opts.expect === 'klaviyo'
        ? `set ${name}=${KLAVIYO_EXAMPLE}`
        : `set ${name}=${KLAVIYO_EXAMPLE} for Klaviyo, or ${name}=${DATABASE_EXAMPLE} for a database,`;
  throw new ConnectionError(
    name,
    `connection ${name} not found: ${examples} or add it under connections: in env.yaml (searched the environment` +
      `${searched.length ? `, ${searched.join(', ')}` : ''}; $${ENV_FILE_VARIABLE} names another env.yaml)`,
  );
}

function checkRole(c: Connection, expect: ResolveConnectionOptions['expect']): Connection {
  if (expect === 'klaviyo' && c.kind !== 'klaviyo') {
    throw new ConnectionError(c.name, `${c.name} is a ${c.kind} connection, but a Klaviyo source is needed: use a connection like ${KLAVIYO_EXAMPLE}`);
  }
  if (expect === 'database' && c.kind === 'klaviyo') {
    throw new ConnectionError(c.name, `${c.name} is a Klaviyo connection, but a database target is needed: use ${DATABASE_EXAMPLE}`);
  }
  return c;
}

/** Existing env.yaml files in lookup order; an explicitly named one must exist. */
function envFiles(name: string, env: NodeJS.ProcessEnv, cwd: string, home: string): string[] {
  const files: string[] = [];
  const explicit = env[ENV_FILE_VARIABLE];
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!fs.existsSync(file)) {
      throw new ConnectionError(name, `$${ENV_FILE_VARIABLE} is ${file}, which does not exist: fix the path or unset it`);
    }
    files.push(file);
  }
  for (const file of [path.join(cwd, 'env.yaml'), path.join(home, '.sling', 'env.yaml')]) {
    if (!files.includes(file) && fs.existsSync(file)) files.push(file);
  }
  return files;
}

function readEnvFile(name: string, file: string): Record<string, unknown> {
  const text = fs.readFileSync(file, 'utf8');
  const root = parseYamlQuietly(name, text, file);
  if (root === null || root === undefined) return {};
  if (!isPlainObject(root)) throw new ConnectionError(name, `${file}: expected a mapping with a connections: key`);
  const connections = root.connections;
  if (connections === undefined || connections === null) return {};
  if (!isPlainObject(connections)) throw new ConnectionError(name, `${file}: connections: must be a mapping of NAME: { type: ... }`);
  return connections;
}

/**
 * Parses YAML that may hold secrets: errors keep the position and the parser's description but never the
 * offending text, which the yaml package would otherwise quote.
 */
function parseYamlQuietly(name: string, text: string, origin: string): unknown {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const { line, col } = lineCounter.linePos(e.pos[0]);
    throw new ConnectionError(name, `${origin}:${line}:${col}: invalid YAML/JSON (${e.code}): ${firstSentence(e.message)}`);
  }
  return doc.toJS();
}

/** The yaml package's descriptions come first; anything after a colon may be quoted input. */
function firstSentence(message: string): string {
  return message.split(':')[0].trim();
}

interface Context {
  name: string;
  cwd: string;
  home: string;
}

const URL_PATTERN = /^[a-z][a-z0-9+.-]*:\/\//i;

function fromDefinition(ctx: Context, definition: unknown, origin: string): Connection {
  if (typeof definition === 'string') {
    const text = definition.trim();
    if (URL_PATTERN.test(text)) return fromUrl(ctx, text, origin);
    if (text.startsWith('pk_')) {
      throw new ConnectionError(ctx.name, `${origin} holds a bare API key: wrap it as ${KLAVIYO_EXAMPLE}`);
    }
    const parsed = parseYamlQuietly(ctx.name, text, origin);
    if (!isPlainObject(parsed)) {
      throw new ConnectionError(ctx.name, `${origin} is neither a URL nor a YAML/JSON object: use ${KLAVIYO_EXAMPLE} or ${DATABASE_EXAMPLE}`);
    }
    return fromObject(ctx, parsed, origin);
  }
  if (isPlainObject(definition)) return fromObject(ctx, definition, origin);
  throw new ConnectionError(ctx.name, `${origin} must be a URL or an object with a type: (api, postgres or sqlite)`);
}

function fromUrl(ctx: Context, url: string, origin: string): Connection {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return postgresFromUrl(ctx, url, origin);
  if (scheme === 'sqlite') return sqliteFromUrl(ctx, url, origin);
  throw new ConnectionError(ctx.name, `${origin}: URL scheme "${scheme}" is not supported: use postgresql:// or sqlite://`);
}

function postgresFromUrl(ctx: Context, url: string, origin: string, schemaField?: string): PostgresConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // the URL holds the password, so it is not repeated here
    throw new ConnectionError(ctx.name, `${origin} is not a valid URL: use postgresql://user:password@host:5432/db (percent-encode special characters)`);
  }
  // libpq does not know `schema`; Sling accepts it in the URL, so it is taken out here
  const schemaParam = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  const schema = schemaField ?? schemaParam;
  const problem = schema === undefined ? undefined : schemaNameProblem(schema);
  if (problem) throw new ConnectionError(ctx.name, `${origin}: ${problem}`);
  return new PostgresConnection(ctx.name, parsed.toString(), schema);
}

function sqliteFromUrl(ctx: Context, url: string, origin: string): SqliteConnection {
  const rest = url.slice('sqlite://'.length).replace(/[?#].*$/, '');
  let file: string;
  try {
    file = decodeURIComponent(rest);
  } catch {
    throw new ConnectionError(ctx.name, `${origin}: the SQLite path has a malformed %-escape`);
  }
  if (file === '') throw new ConnectionError(ctx.name, `${origin}: the SQLite URL has no path: use sqlite:///abs/path/file.db or sqlite://./file.db`);
  return new SqliteConnection(ctx.name, resolvePath(ctx, file));
}

function resolvePath(ctx: Context, file: string): string {
  if (file === '~' || file.startsWith('~/')) return path.join(ctx.home, file.slice(1));
  return path.resolve(ctx.cwd, file);
}

const KLAVIYO_KEYS = ['type', 'spec', 'secrets', 'base_url'];
const KLAVIYO_SECRET_KEYS = ['api_key', 'base_url'];
const POSTGRES_KEYS = ['type', 'url', 'host', 'port', 'user', 'password', 'database', 'schema', 'sslmode'];
const SQLITE_KEYS = ['type', 'database', 'url'];

function fromObject(ctx: Context, def: Record<string, unknown>, origin: string): Connection {
  const type = typeof def.type === 'string' ? def.type.toLowerCase() : def.type;
  switch (type) {
    case 'api':
      return klaviyoFromObject(ctx, def, origin);
    case 'postgres':
    case 'postgresql':
      return postgresFromObject(ctx, def, origin);
    case 'sqlite':
      return sqliteFromObject(ctx, def, origin);
    case undefined:
    case null:
      throw new ConnectionError(ctx.name, `${origin} has no type: add type: api (with spec: klaviyo), postgres or sqlite`);
    default:
      throw new ConnectionError(ctx.name, `${origin}: unknown type "${String(def.type)}": use api (with spec: klaviyo), postgres or sqlite`);
  }
}

function rejectUnknownKeys(ctx: Context, def: Record<string, unknown>, allowed: string[], origin: string, where = ''): void {
  const unknown = Object.keys(def).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new ConnectionError(ctx.name, `${origin}: unknown ${where}key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; supported: ${allowed.join(', ')}`);
  }
}

function klaviyoFromObject(ctx: Context, def: Record<string, unknown>, origin: string): KlaviyoConnection {
  rejectUnknownKeys(ctx, def, KLAVIYO_KEYS, origin);
  if (def.spec !== 'klaviyo') {
    const got = def.spec === undefined ? 'no spec' : `spec "${String(def.spec)}"`;
    throw new ConnectionError(ctx.name, `${origin}: type api has ${got}; klaviyo-sync reads only spec: klaviyo`);
  }
  const secrets = def.secrets ?? {};
  if (!isPlainObject(secrets)) throw new ConnectionError(ctx.name, `${origin}: secrets must be a mapping like { api_key: pk_... }`);
  rejectUnknownKeys(ctx, secrets, KLAVIYO_SECRET_KEYS, origin, 'secrets ');

  const rawKey = secrets.api_key;
  if (rawKey === undefined || rawKey === null || (typeof rawKey === 'string' && rawKey.trim() === '')) {
    throw new ConnectionError(ctx.name, `${origin} has no API key: add secrets: { api_key: pk_... } (a private key from Klaviyo > Settings > API keys)`);
  }
  if (typeof rawKey !== 'string') throw new ConnectionError(ctx.name, `${origin}: secrets.api_key must be a string: quote it`);
  const apiKey = rawKey.trim();
  if (!apiKey.startsWith('pk_')) {
    const what = apiKey.length === 6 ? 'a 6-character public key (site ID)' : 'not a private key';
    throw new ConnectionError(ctx.name, `${origin}: secrets.api_key is ${what}; klaviyo-sync needs a private API key starting with pk_`);
  }

  const rawBase = def.base_url ?? secrets.base_url ?? DEFAULT_KLAVIYO_BASE_URL;
  if (typeof rawBase !== 'string' || !isHttpUrl(rawBase)) {
    throw new ConnectionError(ctx.name, `${origin}: base_url must be an http(s) URL such as ${DEFAULT_KLAVIYO_BASE_URL}`);
  }
  return new KlaviyoConnection(ctx.name, apiKey, rawBase.replace(/\/+$/, ''));
}

function postgresFromObject(ctx: Context, def: Record<string, unknown>, origin: string): PostgresConnection {
  rejectUnknownKeys(ctx, def, POSTGRES_KEYS, origin);
  for (const key of ['url', 'host', 'user', 'password', 'database', 'schema', 'sslmode']) {
    if (def[key] !== undefined && def[key] !== null && typeof def[key] !== 'string') {
      throw new ConnectionError(ctx.name, `${origin}: ${key} must be a string: quote it`);
    }
  }
  const field = (key: string): string | undefined => (typeof def[key] === 'string' && def[key] !== '' ? def[key] : undefined);
  const schema = field('schema');
  const url = field('url');
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//i.test(url)) throw new ConnectionError(ctx.name, `${origin}: url must start with postgresql://`);
    return postgresFromUrl(ctx, url, origin, schema);
  }
  const host = field('host');
  const database = field('database');
  if (host === undefined || database === undefined) {
    throw new ConnectionError(ctx.name, `${origin}: a postgres connection needs url, or host and database (with user, password, port, schema, sslmode as needed)`);
  }
  const port = def.port ?? undefined;
  const portIsValid = (typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port))) && Number(port) >= 1 && Number(port) <= 65535;
  if (port !== undefined && !portIsValid) {
    throw new ConnectionError(ctx.name, `${origin}: port must be a number between 1 and 65535`);
  }
  const user = field('user');
  const password = field('password');
  const auth = user === undefined ? '' : `${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}${port === undefined ? '' : `:${Number(port)}`}`;
  const sslmode = field('sslmode');
  const query = sslmode === undefined ? '' : `?sslmode=${encodeURIComponent(sslmode)}`;
  return postgresFromUrl(ctx, `postgresql://${auth}${hostPort}/${encodeURIComponent(database)}${query}`, origin, schema);
}

function sqliteFromObject(ctx: Context, def: Record<string, unknown>, origin: string): SqliteConnection {
  rejectUnknownKeys(ctx, def, SQLITE_KEYS, origin);
  if (typeof def.url === 'string' && def.url !== '') {
    if (!/^sqlite:\/\//i.test(def.url)) throw new ConnectionError(ctx.name, `${origin}: url must start with sqlite://`);
    return sqliteFromUrl(ctx, def.url, origin);
  }
  if (typeof def.database !== 'string' || def.database === '') {
    throw new ConnectionError(ctx.name, `${origin}: a sqlite connection needs database: /path/to/file.db (relative paths start at the working directory)`);
  }
  return new SqliteConnection(ctx.name, resolvePath(ctx, def.database));
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Masks the password of a URL (if any) so it can be printed. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<invalid URL>';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
