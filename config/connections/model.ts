/**
 * The connection model: what a resolved connection is (Klaviyo, Postgres, MySQL/MariaDB, SQLite), how it prints (secrets are
 * non-enumerable and every printable view is redacted), and the error resolving one throws.
 */
import type { Target } from '../../lib/db/connect';
import { inspect } from 'node:util';

export const DEFAULT_KLAVIYO_BASE_URL = 'https://a.klaviyo.com';

/** Examples for messages: what a Klaviyo source and a database target look like. */
export const KLAVIYO_EXAMPLE = `'{ type: api, spec: klaviyo, secrets: { api_key: pk_... } }'`;
export const DATABASE_EXAMPLE = `postgresql://user:password@host:5432/db (or mysql://user:password@host:3306/db, sqlite:///abs/path/file.db)`;

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

export type ConnectionKind = 'klaviyo' | 'postgres' | 'mysql' | 'sqlite';

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

/**
 * A MySQL or MariaDB server. Its database is where objects that name no schema go (a schema is a database in MySQL,
 * as in Sling), so it is the connection's schema too.
 */
export class MysqlConnection extends BaseConnection {
  readonly kind = 'mysql' as const;
  /** `mysql://user:password@host:port/database`, password included; non-enumerable */
  declare readonly url: string;

  constructor(
    name: string,
    url: string,
    /** the database named by the connection, if any */
    readonly database?: string,
  ) {
    super(name);
    hide(this, 'url', url);
  }

  get schema(): string | undefined {
    return this.database;
  }

  redacted(): Record<string, unknown> {
    return { kind: this.kind, name: this.name, url: redactUrl(this.url), ...(this.database ? { database: this.database } : {}) };
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

export type DatabaseConnection = PostgresConnection | MysqlConnection | SqliteConnection;

/** What a database pool is opened for (lib/db/connect.ts): a resolved database connection's URL or file. */
export function targetOfConnection(conn: DatabaseConnection): Target {
  return conn.kind === 'sqlite' ? { kind: 'sqlite', filename: conn.filename } : { kind: conn.kind, url: conn.url };
}
export type Connection = KlaviyoConnection | DatabaseConnection;

/** Safe to print: names the connection, its kind and where it points, never a secret. */
export function describeConnection(c: Connection): string {
  switch (c.kind) {
    case 'klaviyo':
      return `${c.name}: Klaviyo API at ${redactUrl(c.baseUrl)} (private key pk_***)`;
    case 'postgres': {
      const u = new URL(c.url);
      const user = u.username ? `${safeDecode(u.username)}@` : '';
      const where = `${user}${u.host}/${safeDecode(u.pathname.slice(1))}`;
      return `${c.name}: postgres ${where}${c.schema ? ` (schema ${c.schema})` : ''}`;
    }
    case 'mysql': {
      const u = new URL(c.url);
      const user = u.username ? `${safeDecode(u.username)}@` : '';
      return `${c.name}: mysql ${user}${u.host}/${safeDecode(u.pathname.slice(1))}`;
    }
    case 'sqlite':
      return `${c.name}: sqlite ${c.filename}`;
  }
}

/** A URL part as written when it holds a malformed %-escape (the URL parser keeps those). */
function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Masks the password of a URL (if any) so it can be printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<invalid URL>';
  }
}
