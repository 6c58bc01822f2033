/**
 * Connections: Sling-style env vars and env.yaml files resolved into connections that really open (a real
 * Postgres, real SQLite files), whose secrets never show in any printable form.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import knex, { type Knex } from 'knex';
import {
  ConnectionError,
  KlaviyoConnection,
  PostgresConnection,
  SqliteConnection,
  describeConnection,
  resolveConnection,
  type Connection,
} from '../config/connections';
import { startPostgres, type TestPostgres } from './helpers/postgres';

const API_KEY = 'pk_0123456789abcdef0123456789abcdef01';

const scratchDirs: string[] = [];
after(() => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A scratch directory used as cwd and HOME, so no real env.yaml on this machine takes part. */
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-conn-'));
  scratchDirs.push(dir);
  return dir;
}

function resolveIn(dir: string, name: string, env: NodeJS.ProcessEnv = {}, expect?: 'klaviyo' | 'database'): Connection {
  return resolveConnection(name, { env: { HOME: dir, ...env }, cwd: dir, expect });
}

function connectionError(fn: () => unknown): ConnectionError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConnectionError, `expected a ConnectionError, got ${String(err)}`);
    assert.equal(err.name, 'ConnectionError');
    return err;
  }
  assert.fail('expected a ConnectionError');
}

/** Every way a connection might end up in a log. */
function printedForms(c: Connection): string[] {
  return [
    JSON.stringify(c),
    JSON.stringify({ nested: [c] }),
    JSON.stringify({ ...c }),
    util.inspect(c),
    util.inspect(c, { showHidden: true, depth: null }),
    util.format('%o %O %s %j', c, c, c, c),
    String(c),
    `${c}`,
    describeConnection(c),
    JSON.stringify(c.redacted()),
    Object.keys(c).join(','),
  ];
}

void describe('Klaviyo connections', () => {
  const dir = scratch();

  void it('reads the YAML flow mapping from an env var, with a base_url for the sandbox', () => {
    const c = resolveIn(dir, 'KLAVIYO', {
      KLAVIYO: `{ type: api, spec: klaviyo, secrets: { api_key: "${API_KEY}" }, base_url: "http://127.0.0.1:4010/" }`,
    });
    assert.ok(c instanceof KlaviyoConnection);
    assert.equal(c.kind, 'klaviyo');
    assert.equal(c.name, 'KLAVIYO');
    assert.equal(c.apiKey, API_KEY);
    assert.equal(Object.getOwnPropertyDescriptor(c, 'apiKey')?.enumerable, false);
    assert.equal(c.baseUrl, 'http://127.0.0.1:4010');
  });

  void it('reads JSON, takes secrets.base_url, and defaults to https://a.klaviyo.com', () => {
    const json = resolveIn(dir, 'K', {
      K: JSON.stringify({ type: 'api', spec: 'klaviyo', secrets: { api_key: API_KEY, base_url: 'http://localhost:9/' } }),
    });
    assert.equal(json.kind === 'klaviyo' && json.baseUrl, 'http://localhost:9');
    const plain = resolveIn(dir, 'K', { K: `{ type: api, spec: klaviyo, secrets: { api_key: ${API_KEY} } }` });
    assert.equal(plain.kind === 'klaviyo' && plain.baseUrl, 'https://a.klaviyo.com');
  });

  void it('never prints the API key', () => {
    const c = resolveIn(dir, 'KLAVIYO', { KLAVIYO: `{ type: api, spec: klaviyo, secrets: { api_key: ${API_KEY} } }` });
    for (const form of printedForms(c)) {
      assert.ok(!form.includes(API_KEY) && !form.includes('0123456789abcdef'), `leaked in: ${form}`);
    }
    assert.equal(describeConnection(c), 'KLAVIYO: Klaviyo API at https://a.klaviyo.com (private key pk_***)');
    assert.deepEqual(JSON.parse(JSON.stringify(c)), {
      kind: 'klaviyo',
      name: 'KLAVIYO',
      baseUrl: 'https://a.klaviyo.com',
      apiKey: 'pk_***',
    });
  });

  void it('says how to define a missing connection', () => {
    const err = connectionError(() => resolveIn(dir, 'KLAVIYO', {}, 'klaviyo'));
    assert.equal(err.connection, 'KLAVIYO');
    assert.match(
      err.message,
      /^connection KLAVIYO not found: set KLAVIYO='\{ type: api, spec: klaviyo, secrets: \{ api_key: pk_\.\.\. \} \}' or add it under connections: in env\.yaml/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'MY_PG', {}, 'database')).message,
      /set MY_PG=postgresql:\/\/user:password@host:5432\/db/,
    );
  });

  void it('rejects missing, public and malformed keys without echoing them', () => {
    const missing = connectionError(() => resolveIn(dir, 'K', { K: '{ type: api, spec: klaviyo }' }));
    assert.match(missing.message, /^env var K has no API key: add secrets: \{ api_key: pk_\.\.\. \}/);
    const publicKey = connectionError(() => resolveIn(dir, 'K', { K: '{ type: api, spec: klaviyo, secrets: { api_key: AbC123 } }' }));
    assert.match(publicKey.message, /a 6-character public key \(site ID\); klaviyo-sync needs a private API key starting with pk_/);
    assert.doesNotMatch(publicKey.message, /AbC123/);
    const other = connectionError(() =>
      resolveIn(dir, 'K', { K: '{ type: api, spec: klaviyo, secrets: { api_key: sk_live_secret_value } }' }),
    );
    assert.match(other.message, /needs a private API key starting with pk_/);
    assert.doesNotMatch(other.message, /secret_value/);
    const bare = connectionError(() => resolveIn(dir, 'K', { K: API_KEY }));
    assert.match(bare.message, /holds a bare API key: wrap it as '\{ type: api, spec: klaviyo/);
    assert.doesNotMatch(bare.message, /0123456789/);
  });

  void it('rejects unknown types, other API specs and unknown keys', () => {
    assert.match(
      connectionError(() => resolveIn(dir, 'K', { K: '{ type: oracle, url: x }' })).message,
      /unknown type "oracle": use api \(with spec: klaviyo\), postgres, mysql or sqlite/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'K', { K: '{ type: api, spec: stripe }' })).message,
      /type api has spec "stripe"; klaviyo-sync reads only spec: klaviyo/,
    );
    assert.match(connectionError(() => resolveIn(dir, 'K', { K: '{ secrets: { api_key: pk_x } }' })).message, /has no type: add type: api/);
    assert.match(
      connectionError(() => resolveIn(dir, 'K', { K: `{ type: api, spec: klaviyo, secrets: { api_key: ${API_KEY}, apikey: y } }` }))
        .message,
      /unknown secrets key apikey; supported: api_key, base_url/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'K', { K: `{ type: api, spec: klaviyo, secrets: { api_key: ${API_KEY} }, base_url: ftp://x }` }))
        .message,
      /base_url must be an http\(s\) URL/,
    );
  });

  void it('does not quote the env var when its YAML is broken', () => {
    const err = connectionError(() => resolveIn(dir, 'K', { K: `{ type: api, secrets: { api_key: ${API_KEY} }` }));
    assert.match(err.message, /^env var K:\d+:\d+: invalid YAML\/JSON \([A-Z_]+\)/);
    assert.doesNotMatch(err.message, /pk_0123/);
  });

  void it('refuses a URL or key where a name belongs, without repeating it', () => {
    for (const name of ['postgresql://u:hunter2@h/db', `${API_KEY}!`]) {
      const err = connectionError(() => resolveIn(dir, name));
      assert.match(err.message, /a connection name has letters, digits and _ only/);
      assert.ok(!util.inspect(err).includes('hunter2') && !util.inspect(err).includes('0123456789'), util.inspect(err));
    }
  });

  void it('checks the role a connection is resolved for', () => {
    const env = { MY_LITE: 'sqlite:///tmp/x.db', KLAVIYO: `{ type: api, spec: klaviyo, secrets: { api_key: ${API_KEY} } }` };
    assert.match(
      connectionError(() => resolveIn(dir, 'MY_LITE', env, 'klaviyo')).message,
      /MY_LITE is a sqlite connection, but a Klaviyo source is needed/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'KLAVIYO', env, 'database')).message,
      /KLAVIYO is a Klaviyo connection, but a database target is needed/,
    );
  });
});

void describe('SQLite connections', () => {
  const dir = scratch();

  void it('maps sqlite:///abs to an absolute path, and relative forms to the working directory', () => {
    const filenameOf = (value: string) => {
      const c = resolveIn(dir, 'LITE', { LITE: value });
      assert.ok(c instanceof SqliteConnection);
      return c.filename;
    };
    assert.equal(filenameOf('sqlite:///var/data/k.db'), '/var/data/k.db');
    assert.equal(filenameOf('sqlite://./rel.db'), path.join(dir, 'rel.db'));
    assert.equal(filenameOf('sqlite://sub/rel.db'), path.join(dir, 'sub', 'rel.db'));
    assert.equal(filenameOf('sqlite://~/home.db'), path.join(dir, 'home.db'));
    assert.equal(filenameOf('sqlite:///tmp/my%20file.db'), '/tmp/my file.db');
    assert.equal(filenameOf('{ type: sqlite, database: data/k.db }'), path.join(dir, 'data', 'k.db'));
    assert.equal(filenameOf('{ type: sqlite, url: "sqlite:///srv/k.db" }'), '/srv/k.db');
    assert.match(connectionError(() => filenameOf('sqlite://')).message, /has no path: use sqlite:\/\/\/abs\/path\/file\.db/);
    assert.match(connectionError(() => filenameOf('{ type: sqlite }')).message, /a sqlite connection needs database:/);
    assert.match(connectionError(() => filenameOf('mssql://u:p@h/db')).message, /URL scheme "mssql" is not supported/);
  });

  void it('gives a filename that SQLite really opens', async () => {
    const open = (filename: string) => knex({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
    const absolute = path.join(dir, 'abs.db');
    for (const [value, expected] of [
      [`sqlite://${absolute}`, absolute],
      ['sqlite://./rel.db', path.join(dir, 'rel.db')],
    ]) {
      const c = resolveIn(dir, 'LITE', { LITE: value });
      assert.ok(c.kind === 'sqlite');
      const db = open(c.filename);
      await db.schema.createTable('t', (t) => t.integer('x'));
      await db('t').insert({ x: 42 });
      await db.destroy();
      assert.ok(fs.existsSync(expected), `${expected} was not created`);
      const reopened = open(expected);
      assert.deepEqual(await reopened('t').select('x'), [{ x: 42 }]);
      await reopened.destroy();
      assert.equal(describeConnection(c), `LITE: sqlite ${expected}`);
    }
  });
});

void describe('env.yaml', () => {
  const klaviyo = (key: string) => `{ type: api, spec: klaviyo, secrets: { api_key: ${key} } }`;

  void it('is searched at $KLAVIYO_SYNC_ENV_FILE, ./env.yaml, then ~/.sling/env.yaml; env vars win', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, '.sling'));
    fs.writeFileSync(
      path.join(dir, '.sling', 'env.yaml'),
      `connections:\n  KLAVIYO: ${klaviyo('pk_home')}\n  HOME_ONLY:\n    type: sqlite\n    database: home.db\nvariables: { other: 1 }\n`,
    );
    fs.writeFileSync(path.join(dir, 'env.yaml'), `connections:\n  KLAVIYO: ${klaviyo('pk_cwd')}\n  my_pg: postgresql://u@h/db\n`);
    fs.writeFileSync(path.join(dir, 'custom.yaml'), `connections:\n  KLAVIYO: ${klaviyo('pk_custom')}\n`);
    const keyOf = (env: NodeJS.ProcessEnv) => {
      const c = resolveIn(dir, 'KLAVIYO', env);
      return c.kind === 'klaviyo' ? c.apiKey : '';
    };
    assert.equal(keyOf({}), 'pk_cwd');
    assert.equal(keyOf({ KLAVIYO_SYNC_ENV_FILE: 'custom.yaml' }), 'pk_custom');
    assert.equal(keyOf({ KLAVIYO_SYNC_ENV_FILE: 'custom.yaml', KLAVIYO: klaviyo('pk_env') }), 'pk_env');
    // a name missing from the first files is looked for in the next; names match regardless of case
    assert.equal(resolveIn(dir, 'HOME_ONLY').kind, 'sqlite');
    assert.equal(resolveIn(dir, 'MY_PG').kind, 'postgres');
    fs.rmSync(path.join(dir, 'env.yaml'));
    assert.equal(keyOf({}), 'pk_home');
    assert.match(
      connectionError(() => resolveIn(dir, 'KLAVIYO', { KLAVIYO_SYNC_ENV_FILE: 'nope.yaml' })).message,
      /\$KLAVIYO_SYNC_ENV_FILE is .*nope\.yaml, which does not exist/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'OTHER')).message,
      new RegExp(`searched the environment, ${path.join(dir, '.sling', 'env.yaml')}`),
    );
  });

  void it('reports a broken env.yaml by file, line and column, without quoting it', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'env.yaml'), `connections:\n  KLAVIYO: { type: api, secrets: { api_key: pk_topsecret }\n  OTHER: x\n`);
    const err = connectionError(() => resolveIn(dir, 'KLAVIYO'));
    assert.match(err.message, new RegExp(`^${path.join(dir, 'env.yaml')}:\\d+:\\d+: invalid YAML/JSON`));
    assert.doesNotMatch(err.message, /topsecret/);
  });
});

void describe('Postgres connections', () => {
  const dir = scratch();
  // characters that must be percent-encoded in a URL, in every part of it; unique per run for a shared PG_TEST_URL
  const user = `sync user@x ${process.pid}`;
  const password = 'p@ss:w/rd#%?&= 1';
  const database = `klaviyo db ${process.pid}`;
  let server: TestPostgres;
  let admin: Knex;
  let host: string;
  let port: number;

  before(async () => {
    server = await startPostgres();
    const u = new URL(server.url);
    host = u.hostname;
    port = Number(u.port || 5432);
    admin = knex({ client: 'pg', connection: server.url, pool: { min: 0, max: 1 } });
    // utility statements take no bind parameters: the names hold no double quotes, the password no single quote,
    // and knex would turn a bare `?` into a placeholder
    await admin.raw(`CREATE ROLE "${user}" LOGIN PASSWORD '${password.replace(/\?/g, '\\?')}'`);
    await admin.raw(`CREATE DATABASE "${database}" OWNER "${user}"`);
  });

  after(async () => {
    if (admin) {
      await admin.raw(`DROP DATABASE IF EXISTS "${database}"`);
      await admin.raw(`DROP ROLE IF EXISTS "${user}"`);
      await admin.destroy();
    }
    await server?.stop();
  });

  /** Connects the way the database layer does (knex with the connection's URL). */
  async function currentUserAndDb(c: Connection): Promise<{ u: string; d: string }> {
    assert.ok(c instanceof PostgresConnection);
    // the failure is asserted on the promise; knex would also print it
    const db = knex({ client: 'pg', connection: c.url, pool: { min: 0, max: 1 }, log: { warn: () => undefined } });
    try {
      const result = await db.raw<{ rows: Array<{ u: string; d: string }> }>('SELECT current_user AS u, current_database() AS d');
      return { ...result.rows[0] };
    } finally {
      await db.destroy();
    }
  }

  void it('builds a URL from fields that a real Postgres accepts, special characters and all', async () => {
    const yaml = `connections:\n  WAREHOUSE:\n    type: postgres\n    host: ${host}\n    port: ${port}\n    user: "${user}"\n    password: "${password}"\n    database: "${database}"\n    schema: analytics\n    sslmode: disable\n`;
    fs.writeFileSync(path.join(dir, 'env.yaml'), yaml);
    const c = resolveIn(dir, 'WAREHOUSE', {}, 'database');
    assert.ok(c instanceof PostgresConnection);
    assert.equal(c.schema, 'analytics');
    assert.equal(Object.getOwnPropertyDescriptor(c, 'url')?.enumerable, false);
    assert.deepEqual(await currentUserAndDb(c), { u: user, d: database });
    for (const form of printedForms(c)) assert.ok(!form.includes('p@ss') && !form.includes('p%40ss'), `leaked in: ${form}`);
    assert.equal(describeConnection(c), `WAREHOUSE: postgres ${user}@${host}:${port}/${database} (schema analytics)`);
  });

  void it('takes a URL from an env var, moving Sling’s ?schema= out of it', async () => {
    const enc = encodeURIComponent;
    const url = `postgresql://${enc(user)}:${enc(password)}@${host}:${port}/${enc(database)}?sslmode=disable&schema=raw`;
    const c = resolveIn(dir, 'MY_PG', { MY_PG: url });
    assert.ok(c instanceof PostgresConnection);
    assert.equal(c.schema, 'raw');
    assert.doesNotMatch(c.url, /schema=/);
    assert.deepEqual(await currentUserAndDb(c), { u: user, d: database });
    assert.deepEqual(c.redacted(), {
      kind: 'postgres',
      name: 'MY_PG',
      url: `postgresql://${enc(user)}:***@${host}:${port}/${enc(database)}?sslmode=disable`,
      schema: 'raw',
    });
  });

  void it('fails to connect with a wrong password, so the test above proves the password got through', async () => {
    const c = resolveIn(dir, 'BAD', {
      BAD: `{ type: postgres, host: ${host}, port: ${port}, user: "${user}", password: wrong, database: "${database}" }`,
    });
    await assert.rejects(currentUserAndDb(c), /password authentication failed/);
  });

  void it('rejects incomplete or mistyped definitions without echoing secrets', () => {
    assert.match(
      connectionError(() => resolveIn(dir, 'P', { P: '{ type: postgres, host: h }' })).message,
      /needs url, or host and database/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'P', { P: '{ type: postgres, host: h, database: d, port: huge }' })).message,
      /port must be a number/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'P', { P: '{ type: postgres, host: h, database: d, password: 123456 }' })).message,
      /password must be a string: quote it/,
    );
    assert.match(
      connectionError(() => resolveIn(dir, 'P', { P: '{ type: postgres, host: h, database: d, pasword: x }' })).message,
      /unknown key pasword; supported: type, url, host/,
    );
    const badUrl = connectionError(() => resolveIn(dir, 'P', { P: 'postgresql://u:s3cr3t@[bad/db' }));
    assert.match(badUrl.message, /env var P is not a valid URL: use postgresql:\/\/user:password@host:5432\/db/);
    assert.doesNotMatch(badUrl.message, /s3cr3t/);
    assert.match(
      connectionError(() => resolveIn(dir, 'P', { P: 'postgresql://h/db?schema=bad-name' })).message,
      /schema "bad-name" is not a valid name: use 1 to 63 lowercase letters/,
    );
  });
});

void describe('hostile connection values (test/reliability/bad-input.test.ts fuzzes them)', () => {
  const errorOf = (value: string): string => {
    try {
      resolveConnection('DB', { env: { DB: value, HOME: os.tmpdir() }, cwd: os.tmpdir() });
    } catch (err) {
      assert.ok(err instanceof ConnectionError, String(err));
      return err.message;
    }
    assert.fail(`accepted: ${value}`);
  };

  void it('refuses credentials in a base_url, whose user part is often the key itself', () => {
    const message = errorOf(`{ type: api, spec: klaviyo, secrets: { api_key: ${API_KEY} }, base_url: "http://${API_KEY}@127.0.0.1:1" }`);
    assert.match(message, /base_url must not hold credentials/);
    assert.ok(!message.includes(API_KEY.slice(3)), message);
  });

  void it('refuses a postgres password whose / ? or # would end the authority, without repeating it', () => {
    for (const url of ['postgresql://u:se#cretpw@h/db', 'postgresql://u?:secretpw@h/db', 'postgresql://u:se/cretpw@h/db']) {
      const message = errorOf(url);
      assert.match(message, /must be percent-encoded/, url);
      assert.doesNotMatch(message, /cretpw/, url);
    }
  });

  void it('masks a key written where a key name goes, and bounds what it repeats', () => {
    assert.match(errorOf(`{ type: api, spec: klaviyo, secrets: { ${API_KEY} } }`), /unknown secrets key "pk_\*\*\*"/);
    assert.match(errorOf(`{ type: ${API_KEY} }`), /unknown type "pk_\*\*\*"/);
    const long = errorOf(`{ type: ${'x'.repeat(100_000)} }`);
    assert.ok(long.length < 400, long);
    assert.match(long, /\(100,000 characters\)/);
  });

  void it('describes a URL with a malformed %-escape instead of throwing', () => {
    const conn = resolveConnection('DB', { env: { DB: 'postgresql://u%zz:pw@h/d%zz' } });
    assert.equal(String(conn), 'DB: postgres u%zz@h/d%zz');
  });

  void it('reports an env.yaml alias bomb, NUL byte or invalid UTF-8 at its line', () => {
    const dir = scratch();
    const file = path.join(dir, 'env.yaml');
    let bomb = 'connections:\n  DB: { type: sqlite, database: x.db }\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 9; i++)
      bomb += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    const cases: Array<[string | Buffer, RegExp]> = [
      [bomb, /env\.yaml:4:\d+: invalid YAML\/JSON \(ALIAS_COUNT\)/],
      ['connections:\n  DB: { type: sqlite, database: "x\0.db" }\n', /env\.yaml:2:\d+: invalid YAML\/JSON \(CONTROL_CHARACTER\)/],
      [Buffer.from([...Buffer.from('connections:\n  DB: x'), 0xc3, 0x28, 0x0a]), /env\.yaml:2:8: not valid UTF-8 \(byte 0xc3\)/],
    ];
    for (const [content, expected] of cases) {
      fs.writeFileSync(file, content);
      assert.throws(() => resolveConnection('DB', { env: { KLAVIYO_SYNC_ENV_FILE: file, HOME: dir }, cwd: dir }), expected);
    }
  });
});
