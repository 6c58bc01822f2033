/**
 * Connections written as URLs: `postgresql://user:password@host:5432/db?sslmode=require[&schema=s]`,
 * `sqlite:///abs/path.db`, `sqlite://./relative.db` (everything after `sqlite://` is a path; a leading `/` makes it
 * absolute; other paths are relative to the working directory). The object forms build on these.
 */
import path from 'node:path';
import { schemaNameProblem } from '../replication';
import { ConnectionError, PostgresConnection, SqliteConnection, type Connection } from './model';

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
  if (scheme === 'sqlite') return sqliteFromUrl(ctx, url, origin);
  throw new ConnectionError(ctx.name, `${origin}: URL scheme "${scheme}" is not supported: use postgresql:// or sqlite://`);
}

export function postgresFromUrl(ctx: Context, url: string, origin: string, schemaField?: string): PostgresConnection {
  // an unencoded / ? or # in the user or password ends the authority early, and the rest of the password would be
  // kept as path, query or fragment (and printed): an @ after the authority's end is refused, without repeating it
  const afterScheme = url.indexOf('://') + 3;
  const authorityEnd = url.slice(afterScheme).search(/[/?#]/);
  if (authorityEnd !== -1 && url.lastIndexOf('@') > afterScheme + authorityEnd) {
    throw new ConnectionError(
      ctx.name,
      `${origin}: the user or password holds a character that must be percent-encoded (/ ? # @ as %2F %3F %23 %40): use postgresql://user:password@host:5432/db`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // the URL holds the password, so it is not repeated here
    throw new ConnectionError(
      ctx.name,
      `${origin} is not a valid URL: use postgresql://user:password@host:5432/db (percent-encode special characters)`,
    );
  }
  // libpq does not know `schema`; Sling accepts it in the URL, so it is taken out here
  const schemaParam = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  const schema = schemaField ?? schemaParam;
  const problem = schema === undefined ? undefined : schemaNameProblem(schema);
  if (problem) throw new ConnectionError(ctx.name, `${origin}: ${problem}`);
  return new PostgresConnection(ctx.name, parsed.toString(), schema);
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
