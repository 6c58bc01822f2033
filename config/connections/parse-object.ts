/**
 * Connections written as YAML or JSON objects: `{ type: api, spec: klaviyo, secrets: { api_key, base_url? },
 * base_url? }`, `{ type: postgres, url }` or `{ type: postgres, host, port?, user?, password?, database, schema?,
 * sslmode? }`, `{ type: mysql, url }` or `{ type: mysql, host, port?, user?, password?, database? }` (also
 * `type: mariadb`), `{ type: sqlite, database: path }` (or `url`); and the entry point for any definition, a string (URL,
 * or an object's YAML/JSON text, as env vars hold it) or an object (as env.yaml holds it).
 */
import { YamlInputError, echo, listKeys, parseYamlSafely } from '../input';
import {
  ConnectionError,
  DATABASE_EXAMPLE,
  DEFAULT_KLAVIYO_BASE_URL,
  KLAVIYO_EXAMPLE,
  KlaviyoConnection,
  SqliteConnection,
  type Connection,
  type MysqlConnection,
  type PostgresConnection,
} from './model';
import { URL_PATTERN, fromUrl, isPlainObject, mysqlFromUrl, postgresFromUrl, resolvePath, sqliteFromUrl, type Context } from './parse-url';

/**
 * Parses YAML that may hold secrets: errors keep the position and the parser's description but never the
 * offending text, which the yaml package would otherwise quote.
 */
export function parseYamlQuietly(name: string, text: string, origin: string): unknown {
  try {
    return parseYamlSafely(text);
  } catch (err) {
    if (!(err instanceof YamlInputError)) throw err;
    const e = err.problems[0];
    const where = e.line === undefined ? origin : `${origin}:${e.line}:${e.col}`;
    throw new ConnectionError(name, `${where}: invalid YAML/JSON (${e.code}): ${firstSentence(e.message)}`);
  }
}

/** The yaml package's descriptions come first; anything after a colon may be quoted input. */
function firstSentence(message: string): string {
  return message.split(':')[0].trim();
}

export function fromDefinition(ctx: Context, definition: unknown, origin: string): Connection {
  if (typeof definition === 'string') {
    const text = definition.trim();
    if (URL_PATTERN.test(text)) return fromUrl(ctx, text, origin);
    if (text.startsWith('pk_')) {
      throw new ConnectionError(ctx.name, `${origin} holds a bare API key: wrap it as ${KLAVIYO_EXAMPLE}`);
    }
    const parsed = parseYamlQuietly(ctx.name, text, origin);
    if (!isPlainObject(parsed)) {
      throw new ConnectionError(
        ctx.name,
        `${origin} is neither a URL nor a YAML/JSON object: use ${KLAVIYO_EXAMPLE} or ${DATABASE_EXAMPLE}`,
      );
    }
    return fromObject(ctx, parsed, origin);
  }
  if (isPlainObject(definition)) return fromObject(ctx, definition, origin);
  throw new ConnectionError(ctx.name, `${origin} must be a URL or an object with a type: (api, postgres, mysql or sqlite)`);
}

const KLAVIYO_KEYS = ['type', 'spec', 'secrets', 'base_url'];
const KLAVIYO_SECRET_KEYS = ['api_key', 'base_url'];
const POSTGRES_KEYS = ['type', 'url', 'host', 'port', 'user', 'password', 'database', 'schema', 'sslmode'];
const MYSQL_KEYS = ['type', 'url', 'host', 'port', 'user', 'password', 'database'];
const SQLITE_KEYS = ['type', 'database', 'url'];

function fromObject(ctx: Context, def: Record<string, unknown>, origin: string): Connection {
  const type = typeof def.type === 'string' ? def.type.toLowerCase() : def.type;
  switch (type) {
    case 'api':
      return klaviyoFromObject(ctx, def, origin);
    case 'postgres':
    case 'postgresql':
      return postgresFromObject(ctx, def, origin);
    case 'mysql':
    case 'mariadb':
      return mysqlFromObject(ctx, def, origin);
    case 'sqlite':
      return sqliteFromObject(ctx, def, origin);
    case undefined:
    case null:
      throw new ConnectionError(ctx.name, `${origin} has no type: add type: api (with spec: klaviyo), postgres, mysql or sqlite`);
    default:
      throw new ConnectionError(
        ctx.name,
        `${origin}: unknown type ${echo(def.type)}: use api (with spec: klaviyo), postgres, mysql or sqlite`,
      );
  }
}

function rejectUnknownKeys(ctx: Context, def: Record<string, unknown>, allowed: string[], origin: string, where = ''): void {
  const unknown = Object.keys(def).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new ConnectionError(
      ctx.name,
      `${origin}: unknown ${where}key${unknown.length > 1 ? 's' : ''} ${listKeys(unknown)}; supported: ${allowed.join(', ')}`,
    );
  }
}

function klaviyoFromObject(ctx: Context, def: Record<string, unknown>, origin: string): KlaviyoConnection {
  rejectUnknownKeys(ctx, def, KLAVIYO_KEYS, origin);
  if (def.spec !== 'klaviyo') {
    const got = def.spec === undefined ? 'no spec' : `spec ${echo(def.spec)}`;
    throw new ConnectionError(ctx.name, `${origin}: type api has ${got}; klaviyo-sync reads only spec: klaviyo`);
  }
  const secrets = def.secrets ?? {};
  if (!isPlainObject(secrets)) throw new ConnectionError(ctx.name, `${origin}: secrets must be a mapping like { api_key: pk_... }`);
  rejectUnknownKeys(ctx, secrets, KLAVIYO_SECRET_KEYS, origin, 'secrets ');

  const rawKey = secrets.api_key;
  if (rawKey === undefined || rawKey === null || (typeof rawKey === 'string' && rawKey.trim() === '')) {
    throw new ConnectionError(
      ctx.name,
      `${origin} has no API key: add secrets: { api_key: pk_... } (a private key from Klaviyo > Settings > API keys)`,
    );
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
  const base = new URL(rawBase);
  if (base.username !== '' || base.password !== '') {
    // not repeated: what sits before the @ is a credential, often the key itself
    throw new ConnectionError(
      ctx.name,
      `${origin}: base_url must not hold credentials (user or password before an @): the key goes in secrets.api_key`,
    );
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
    throw new ConnectionError(
      ctx.name,
      `${origin}: a postgres connection needs url, or host and database (with user, password, port, schema, sslmode as needed)`,
    );
  }
  const { auth, hostPort } = authority(ctx, def, host, origin);
  const sslmode = field('sslmode');
  const query = sslmode === undefined ? '' : `?sslmode=${encodeURIComponent(sslmode)}`;
  return postgresFromUrl(ctx, `postgresql://${auth}${hostPort}/${encodeURIComponent(database)}${query}`, origin, schema);
}

/** `user:password@` and `host:port` of an object form, percent-encoded for its URL. */
function authority(ctx: Context, def: Record<string, unknown>, host: string, origin: string): { auth: string; hostPort: string } {
  const port = def.port ?? undefined;
  const portIsValid =
    (typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port))) && Number(port) >= 1 && Number(port) <= 65535;
  if (port !== undefined && !portIsValid) {
    throw new ConnectionError(ctx.name, `${origin}: port must be a number between 1 and 65535`);
  }
  const field = (key: string): string | undefined => (typeof def[key] === 'string' && def[key] !== '' ? def[key] : undefined);
  const user = field('user');
  const password = field('password');
  const auth = user === undefined ? '' : `${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}${port === undefined ? '' : `:${Number(port)}`}`;
  return { auth, hostPort };
}

/** Sling's form: `{ type: mysql, host, port?, user?, password?, database? }`, or `{ type: mysql, url }`. */
function mysqlFromObject(ctx: Context, def: Record<string, unknown>, origin: string): MysqlConnection {
  rejectUnknownKeys(ctx, def, MYSQL_KEYS, origin);
  for (const key of ['url', 'host', 'user', 'password', 'database']) {
    if (def[key] !== undefined && def[key] !== null && typeof def[key] !== 'string') {
      throw new ConnectionError(ctx.name, `${origin}: ${key} must be a string: quote it`);
    }
  }
  const field = (key: string): string | undefined => (typeof def[key] === 'string' && def[key] !== '' ? def[key] : undefined);
  const url = field('url');
  if (url !== undefined) {
    if (!/^(mysql|mariadb):\/\//i.test(url)) throw new ConnectionError(ctx.name, `${origin}: url must start with mysql://`);
    return mysqlFromUrl(ctx, url, origin);
  }
  const host = field('host');
  if (host === undefined) {
    throw new ConnectionError(ctx.name, `${origin}: a mysql connection needs url, or host (with user, password, port, database as needed)`);
  }
  const { auth, hostPort } = authority(ctx, def, host, origin);
  const database = field('database');
  return mysqlFromUrl(ctx, `mysql://${auth}${hostPort}/${database === undefined ? '' : encodeURIComponent(database)}`, origin);
}

function sqliteFromObject(ctx: Context, def: Record<string, unknown>, origin: string): SqliteConnection {
  rejectUnknownKeys(ctx, def, SQLITE_KEYS, origin);
  if (typeof def.url === 'string' && def.url !== '') {
    if (!/^sqlite:\/\//i.test(def.url)) throw new ConnectionError(ctx.name, `${origin}: url must start with sqlite://`);
    return sqliteFromUrl(ctx, def.url, origin);
  }
  if (typeof def.database !== 'string' || def.database === '') {
    throw new ConnectionError(
      ctx.name,
      `${origin}: a sqlite connection needs database: /path/to/file.db (relative paths start at the working directory)`,
    );
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
