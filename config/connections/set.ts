/**
 * `klaviyo-sync conns set NAME key=value ...`, as Sling's: the connection written under `connections:` of an
 * env.yaml, checked first (a definition that would not resolve is refused and nothing is written), the file's other
 * entries and comments kept, and the file readable by its owner only. Secrets are never echoed: what the command
 * prints is the connection's redacted description.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, isMap } from 'yaml';
import { ConnectionError, describeConnection, type Connection } from './model';
import { fromDefinition, parseYamlQuietly } from './parse-object';
import { CONNECTION_NAME, ENV_FILE_VARIABLE } from './lookup';

export interface SetConnectionOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * `key=value` pairs → the definition env.yaml holds: a lone `url=` is the URL itself; otherwise a mapping whose
 * values are read as YAML where they are written as a flow mapping or sequence (`secrets='{ api_key: pk_... }'`).
 */
export function definitionOf(name: string, pairs: string[]): unknown {
  if (pairs.length === 0) {
    throw new ConnectionError(
      name,
      "give the connection as key=value pairs, e.g. url=postgresql://... or type=api spec=klaviyo secrets='{ api_key: pk_... }'",
    );
  }
  const def: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    // never echoed: the pair may be a secret typed without its key
    if (at <= 0) throw new ConnectionError(name, `every argument after the name is key=value (argument ${pairs.indexOf(pair) + 1} is not)`);
    const key = pair.slice(0, at).trim().toLowerCase();
    const value = pair.slice(at + 1).trim();
    if (key in def) throw new ConnectionError(name, `${key} is given twice`);
    def[key] = /^[{[]/.test(value) ? parseYamlQuietly(name, value, `${key}=`) : value;
  }
  const keys = Object.keys(def);
  return keys.length === 1 && keys[0] === 'url' ? def.url : def;
}

/**
 * The env.yaml `conns set` writes: `$KLAVIYO_SYNC_ENV_FILE` when set, else the first of `./env.yaml` and
 * `~/.sling/env.yaml` that exists (so the entry is the one lookups find), else `~/.sling/env.yaml`, Sling's own.
 */
export function envFileToWrite(opts: SetConnectionOptions = {}): string {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const home = env.HOME || os.homedir();
  const explicit = env[ENV_FILE_VARIABLE];
  if (explicit) return path.resolve(cwd, explicit);
  const local = path.join(cwd, 'env.yaml');
  const sling = path.join(home, '.sling', 'env.yaml');
  return fs.existsSync(local) ? local : sling;
}

/** Writes NAME into the env.yaml (envFileToWrite); returns the file and the connection as it now resolves. */
export function setConnection(
  name: string,
  pairs: string[],
  opts: SetConnectionOptions = {},
): { file: string; connection: Connection; replaced: boolean } {
  if (!CONNECTION_NAME.test(name)) {
    throw new ConnectionError('(invalid name)', 'a connection name has letters, digits and _ only (e.g. KLAVIYO, MY_PG)');
  }
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const definition = definitionOf(name, pairs);
  const file = envFileToWrite(opts);
  // checked before anything is written, as a lookup from here resolves it: one that would not fails, naming the fix
  const connection = fromDefinition({ name, cwd, home: env.HOME || os.homedir() }, definition, `conns set ${name}`);
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ConnectionError(name, `${file} is not valid YAML (${doc.errors[0].code}): fix it first`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new ConnectionError(name, `${file} is not a mapping: fix it first`);
  const replaced = doc.hasIn(['connections', name]);
  doc.setIn(['connections', name], definition);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, String(doc), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return { file, connection, replaced };
}

/** The line `conns set` prints: the connection with its secrets masked, and where it went. */
export function setConnectionLine(r: { file: string; connection: Connection; replaced: boolean }): string {
  return `${describeConnection(r.connection)} (${r.replaced ? 'replaced' : 'added'} in ${r.file})`;
}

/** `conns unset NAME`: removes the entry from the env.yaml `conns set` writes; returns that file, or null if it had none. */
export function unsetConnection(name: string, opts: SetConnectionOptions = {}): string | null {
  const file = envFileToWrite(opts);
  if (!fs.existsSync(file)) return null;
  const doc = parseDocument(fs.readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) throw new ConnectionError(name, `${file} is not valid YAML (${doc.errors[0].code}): fix it first`);
  if (!doc.hasIn(['connections', name])) return null;
  doc.deleteIn(['connections', name]);
  fs.writeFileSync(file, String(doc), { mode: 0o600 });
  return file;
}
