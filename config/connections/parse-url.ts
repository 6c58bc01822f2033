/**
 * Connections written as URLs: `postgresql://user:password@host:5432/db?sslmode=require[&schema=s]`,
 * `mysql://user:password@host:3306/db` (or `mariadb://`),
 * `sqlite:///abs/path.db`, `sqlite://./relative.db` (everything after `sqlite://` is a path; a leading `/` makes it
 * absolute; other paths are relative to the working directory). The object forms build on these.
 */
import path from 'node:path';
import { schemaNameProblem } from '../replication';
import { ConnectionError, MysqlConnection, PostgresConnection, SqliteConnection, type Connection } from './model';

export interface Context {
  /** the connection name being resolved */
  name: string;
  /** where relative SQLite paths start */
  cwd: string;
  /** what `~` stands for */
  home: string;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const URL_PATTERN = /^[a-z][a-z0-9+.-]*:\/\//i;

export function fromUrl(ctx: Context, url: string, origin: string): Connection {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return postgresFromUrl(ctx, url, origin);
  if (scheme === 'mysql' || scheme === 'mariadb') return mysqlFromUrl(ctx, url, origin);
  if (scheme === 'sqlite') return sqliteFromUrl(ctx, url, origin);
  throw new ConnectionError(ctx.name, `${origin}: URL scheme "${scheme}" is not supported: use postgresql://, mysql:// or sqlite://`);
}

/** The URL parsed, or an error that names the form without repeating the URL (it holds the password). */
function parseAuthorityUrl(ctx: Context, url: string, origin: string, example: string): URL {
  // an unencoded / ? or # in the user or password ends the authority early, and the rest of the password would be
  // kept as path, query or fragment (and printed): an @ after the authority's end is refused, without repeating it
  const afterScheme = url.indexOf('://') + 3;
  const authorityEnd = url.slice(afterScheme).search(/[/?#]/);
  if (authorityEnd !== -1 && url.lastIndexOf('@') > afterScheme + authorityEnd) {
    throw new ConnectionError(
      ctx.name,
      `${origin}: the user or password holds a character that must be percent-encoded (/ ? # @ as %2F %3F %23 %40): use ${example}`,
    );
  }
  try {
    return new URL(url);
  } catch {
    throw new ConnectionError(ctx.name, `${origin} is not a valid URL: use ${example} (percent-encode special characters)`);
  }
}

export function postgresFromUrl(ctx: Context, url: string, origin: string, schemaField?: string): PostgresConnection {
  const parsed = parseAuthorityUrl(ctx, url, origin, 'postgresql://user:password@host:5432/db');
  // libpq does not know `schema`; Sling accepts it in the URL, so it is taken out here
  const schemaParam = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  const schema = schemaField ?? schemaParam;
  const problem = schema === undefined ? undefined : schemaNameProblem(schema);
  if (problem) throw new ConnectionError(ctx.name, `${origin}: ${problem}`);
  return new PostgresConnection(ctx.name, parsed.toString(), schema);
}

const MYSQL_EXAMPLE = 'mysql://user:password@host:3306/db';

/** `mysql://user:password@host:3306/db` or `mariadb://...`: mysql2 takes no URL options here, so none are accepted. */
export function mysqlFromUrl(ctx: Context, url: string, origin: string): MysqlConnection {
  const parsed = parseAuthorityUrl(ctx, url, origin, MYSQL_EXAMPLE);
  if (parsed.hostname === '') throw new ConnectionError(ctx.name, `${origin}: the MySQL URL has no host: use ${MYSQL_EXAMPLE}`);
  const options = [...parsed.searchParams.keys()];
  if (options.length > 0 || parsed.hash !== '') {
    throw new ConnectionError(
      ctx.name,
      `${origin}: MySQL URL options (${options.join(', ') || '#'}) are not supported: use ${MYSQL_EXAMPLE} with nothing after the database`,
    );
  }
  let database: string;
  try {
    database = decodeURIComponent(parsed.pathname.slice(1));
  } catch {
    throw new ConnectionError(ctx.name, `${origin}: the database name has a malformed %-escape`);
  }
  if (database.includes('/')) throw new ConnectionError(ctx.name, `${origin}: the database name cannot hold /: use ${MYSQL_EXAMPLE}`);
  // one form for the pool cache and the driver, whichever scheme was written
  parsed.protocol = 'mysql:';
  return new MysqlConnection(ctx.name, parsed.toString().replace(/\/$/, ''), database || undefined);
}

export function sqliteFromUrl(ctx: Context, url: string, origin: string): SqliteConnection {
  const rest = url.slice('sqlite://'.length).replace(/[?#].*$/, '');
  let file: string;
  try {
    file = decodeURIComponent(rest);
  } catch {
    throw new ConnectionError(ctx.name, `${origin}: the SQLite path has a malformed %-escape`);
  }
  if (file === '')
    throw new ConnectionError(ctx.name, `${origin}: the SQLite URL has no path: use sqlite:///abs/path/file.db or sqlite://./file.db`);
  return new SqliteConnection(ctx.name, resolvePath(ctx, file));
}

export function resolvePath(ctx: Context, file: string): string {
  if (file === '~' || file.startsWith('~/')) return path.join(ctx.home, file.slice(1));
  return path.resolve(ctx.cwd, file);
}
