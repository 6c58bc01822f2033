/**
 * Where a connection NAME is looked up, first match wins (the one implementation: resolving and `conns list` both
 * follow it):
 *   1. an environment variable of that name (or its upper-case form) holding a URL or a YAML/JSON object;
 *   2. the same variable in `./.env.sling`, Sling's project env file (dotenv lines; ./dotenv-sling.ts);
 *   3. `connections.<NAME>` in an env.yaml: `$KLAVIYO_SYNC_ENV_FILE`, then `./env.yaml`, then `~/.sling/env.yaml`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputFileError, readInputFile } from '../files';
import { ConnectionError, DATABASE_EXAMPLE, KLAVIYO_EXAMPLE, type Connection } from './model';
import { fromDefinition, parseYamlQuietly } from './parse-object';
import { isPlainObject } from './parse-url';
import { readDotenvSling } from './dotenv-sling';

export const ENV_FILE_VARIABLE = 'KLAVIYO_SYNC_ENV_FILE';

/** Letters, digits and _, not starting with a digit: what an env var and an env.yaml key can be named. */
export const CONNECTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ResolveConnectionOptions {
  /** defaults to process.env */
  env?: NodeJS.ProcessEnv;
  /** where `./env.yaml` and relative SQLite paths are looked up; defaults to process.cwd() */
  cwd?: string;
  /** the role the connection must play (source: klaviyo, target: database); checked and used in hints */
  expect?: 'klaviyo' | 'database';
  /** whether `./.env.sling` is read (default true; `conns list` resolves each source on its own) */
  dotenv?: boolean;
}

/**
 * The schema a target connection names (a Postgres connection's `schema`, or `?schema=` in its URL; a MySQL
 * connection's database), which is where objects that name no schema go, as in Sling. Undefined for SQLite, for none, and when the connection does not
 * resolve (that is reported where the connection is used).
 */
export function targetSchemaOf(name: string, opts: Omit<ResolveConnectionOptions, 'expect'> = {}): string | undefined {
  try {
    const conn = resolveConnection(name, { ...opts, expect: 'database' });
    return conn.kind === 'postgres' || conn.kind === 'mysql' ? conn.schema : undefined;
  } catch (err) {
    if (err instanceof ConnectionError) return undefined;
    throw err;
  }
}

export function resolveConnection(name: string, opts: ResolveConnectionOptions = {}): Connection {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const home = env.HOME || os.homedir();
  if (!CONNECTION_NAME.test(name)) {
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
  const dotenv = opts.dotenv === false ? null : readDotenvSling(cwd);
  if (dotenv) {
    searched.push(dotenv.file);
    for (const key of new Set([name, name.toUpperCase()])) {
      const value = dotenv.vars[key];
      if (value !== undefined && value.trim() !== '') {
        return checkRole(fromDefinition(ctx, value, `${dotenv.file} (${key})`), opts.expect);
      }
    }
  }
  for (const file of envFiles(name, env, cwd, home)) {
    searched.push(file);
    const connections = readEnvFile(name, file);
    const key =
      Object.keys(connections).find((k) => k === name) ?? Object.keys(connections).find((k) => k.toUpperCase() === name.toUpperCase());
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
    throw new ConnectionError(
      c.name,
      `${c.name} is a ${c.kind} connection, but a Klaviyo source is needed: use a connection like ${KLAVIYO_EXAMPLE}`,
    );
  }
  if (expect === 'database' && c.kind === 'klaviyo') {
    throw new ConnectionError(c.name, `${c.name} is a Klaviyo connection, but a database target is needed: use ${DATABASE_EXAMPLE}`);
  }
  return c;
}

export interface EnvFileSearch {
  /** the env.yaml files that exist, in lookup order */
  files: string[];
  /** `$KLAVIYO_SYNC_ENV_FILE` names a file that does not exist: its absolute path */
  missingExplicit?: string;
}

/** The env.yaml files a lookup reads, in order: `$KLAVIYO_SYNC_ENV_FILE`, `./env.yaml`, `~/.sling/env.yaml`. */
export function envFileSearch(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  home = env.HOME || os.homedir(),
): EnvFileSearch {
  const files: string[] = [];
  let missingExplicit: string | undefined;
  const explicit = env[ENV_FILE_VARIABLE];
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (fs.existsSync(file)) files.push(file);
    else missingExplicit = file;
  }
  for (const file of [path.join(cwd, 'env.yaml'), path.join(home, '.sling', 'env.yaml')]) {
    if (!files.includes(file) && fs.existsSync(file)) files.push(file);
  }
  return missingExplicit === undefined ? { files } : { files, missingExplicit };
}

/** Existing env.yaml files in lookup order; an explicitly named one must exist. */
function envFiles(name: string, env: NodeJS.ProcessEnv, cwd: string, home: string): string[] {
  const { files, missingExplicit } = envFileSearch(env, cwd, home);
  if (missingExplicit !== undefined) {
    throw new ConnectionError(name, `$${ENV_FILE_VARIABLE} is ${missingExplicit}, which does not exist: fix the path or unset it`);
  }
  return files;
}

function readEnvFile(name: string, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readInputFile(file, 'an env.yaml');
  } catch (err) {
    if (err instanceof InputFileError) throw new ConnectionError(name, err.message);
    throw err;
  }
  const root = parseYamlQuietly(name, text, file);
  if (root === null || root === undefined) return {};
  if (!isPlainObject(root)) throw new ConnectionError(name, `${file}: expected a mapping with a connections: key`);
  const connections = root.connections;
  if (connections === undefined || connections === null) return {};
  if (!isPlainObject(connections)) throw new ConnectionError(name, `${file}: connections: must be a mapping of NAME: { type: ... }`);
  return connections;
}
