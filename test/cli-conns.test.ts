/**
 * `klaviyo-sync conns test|list` as real processes against a real sandbox Klaviyo (a full key, a key limited to two
 * scopes, an unknown key), the embedded Postgres (good URL, a port nobody listens on, a wrong password, a role
 * without CREATE) and SQLite files: exit codes, the text, and that no secret is ever printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knex from 'knex';
import { freePort } from '../client/dev-server';
import { startSandbox, type SandboxProcess } from './helpers/sandbox';
import { cli as runCli, type ProcessResult as Result } from './helpers/process';
import { startPostgres, type TestPostgres } from './helpers/postgres';

const FULL_KEY = 'pk_conns_full_0123456789';
const LIMITED_KEY = 'pk_conns_limited_0123456789';
const WRONG_KEY = 'pk_conns_wrong_0123456789';
const LIMITED_PASSWORD = `lim${crypto.randomBytes(6).toString('hex')}`;
/** a schema no earlier run can have created, so "does not exist yet" holds against a shared PG_TEST_URL too */
const SCHEMA = `conns_${crypto.randomBytes(4).toString('hex')}`;

let sandbox: SandboxProcess;
let pg: TestPostgres;
let tmp: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-conns-'));
  [sandbox, pg] = await Promise.all([
    startSandbox(['--size', 'tiny', '--api-key', FULL_KEY, '--api-key', `${LIMITED_KEY}=profiles:read,lists:read`]),
    startPostgres(),
  ]);
});
after(async () => {
  await Promise.allSettled([sandbox?.stop(), pg?.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The CLI in a clean environment: HOME and the working directory are the test's, so no stray env.yaml is read. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = tmp): Promise<Result> =>
  runCli(args, { cwd, env: { PATH: process.env.PATH, HOME: tmp, ...env } });

const klaviyo = (key: string): string => sandbox.connection(key);

function assertNoSecret(r: Result, ...secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `a secret was printed:\n${r.stdout}\n${r.stderr}`);
  }
}

const SCOPES = [
  'profiles:read',
  'lists:read',
  'segments:read',
  'campaigns:read',
  'flows:read',
  'templates:read',
  'events:read',
  'metrics:read',
  'tags:read',
  'catalogs:read',
  'forms:read',
  'coupons:read',
  // only a child stream needs it: probed on the codes of a coupon that does not exist (403 missing, 404 there)
  'coupon-codes:read',
];

/** `scope -> status` from the indented report lines. */
function scopeLines(stdout: string): Record<string, string> {
  return Object.fromEntries([...stdout.matchAll(/^ {2}(\S+:read)\s+(\w+)\s+GET \//gm)].map((m) => [m[1], m[2]]));
}

void test('conns test: Klaviyo keys with every scope, with two, and an unknown one', async () => {
  const [full, limited, wrong] = await Promise.all([
    cli(['conns', 'test', 'KLAVIYO'], { KLAVIYO: klaviyo(FULL_KEY) }),
    cli(['conns', 'test', 'LIMITED'], { LIMITED: klaviyo(LIMITED_KEY) }),
    cli(['conns', 'test', 'WRONG'], { WRONG: klaviyo(WRONG_KEY) }),
  ]);

  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, new RegExp(`^KLAVIYO: Klaviyo API at ${sandbox.baseUrl} \\(private key pk_\\*\\*\\*\\)$`, 'm'));
  assert.deepEqual(scopeLines(full.stdout), Object.fromEntries(SCOPES.map((s) => [s, 'ok'])));
  assert.match(full.stdout, /^KLAVIYO: ok: the key has all 13 scopes the 22 streams need$/m);
  assert.equal(full.stderr, '');

  assert.equal(limited.code, 1);
  assert.deepEqual(
    scopeLines(limited.stdout),
    Object.fromEntries(SCOPES.map((s) => [s, s === 'profiles:read' || s === 'lists:read' ? 'ok' : 'missing'])),
  );
  assert.equal(
    limited.stderr,
    'klaviyo-sync: the key lacks: segments:read, campaigns:read, flows:read, templates:read, events:read, metrics:read, ' +
      'tags:read, catalogs:read, forms:read, coupons:read, coupon-codes:read; grant them to the private key in Klaviyo (Settings > API keys), or disable the streams ' +
      'that need them (segments, campaigns, flows, templates, events, metrics, tags, tag_groups, catalog_items, catalog_variants, catalog_categories, forms, coupons, segment_profiles, campaign_messages, flow_actions, flow_messages, coupon_codes)\n',
  );

  assert.equal(wrong.code, 1);
  assert.deepEqual(scopeLines(wrong.stdout), {}, 'a rejected key stops before any scope is reported');
  assert.equal(
    wrong.stderr,
    `klaviyo-sync: Klaviyo at ${sandbox.baseUrl} rejected the API key of connection WRONG (authentication_failed): ` +
      'put a valid private key (pk_..., from Klaviyo > Settings > API keys) in its secrets.api_key\n',
  );
  for (const r of [full, limited, wrong]) assertNoSecret(r, FULL_KEY, LIMITED_KEY, WRONG_KEY);
});

void test('conns test: Postgres reachable and writable, on a dead port, with a wrong password, and for a role without CREATE', async () => {
  const url = new URL(pg.url);
  const password = decodeURIComponent(url.password);
  const where = (port: string) => `127.0.0.1:${port}/${url.pathname.slice(1)}`;
  const deadPort = new URL(pg.url);
  deadPort.port = String(await freePort());
  const wrongPassword = new URL(pg.url);
  wrongPassword.password = 'not-the-password-42';
  const limitedRole = new URL(pg.url);
  limitedRole.username = 'conns_limited';
  limitedRole.password = LIMITED_PASSWORD;

  const admin = knex({ client: 'pg', connection: pg.url });
  try {
    await admin.raw(`CREATE ROLE conns_limited LOGIN PASSWORD '${LIMITED_PASSWORD}'`);
    const [good, dead, badLogin, noCreate] = await Promise.all([
      cli(['conns', 'test', 'MY_PG'], { MY_PG: `${pg.url}?schema=${SCHEMA}` }),
      cli(['conns', 'test', 'DEAD_PG'], { DEAD_PG: deadPort.toString() }),
      cli(['conns', 'test', 'BAD_PG'], { BAD_PG: wrongPassword.toString() }),
      cli(['conns', 'test', 'LIMITED_PG', '--schema', SCHEMA], { LIMITED_PG: limitedRole.toString() }),
    ]);

    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, new RegExp(`^MY_PG: postgres postgres@${where(url.port)} \\(schema ${SCHEMA}\\)$`, 'm'));
    assert.match(good.stdout, /^ {2}connected to PostgreSQL \d+(\.\d+)* as postgres$/m);
    assert.match(
      good.stdout,
      new RegExp(`^ {2}schema ${SCHEMA} does not exist yet, and can be created \\(tried in a transaction, rolled back\\)$`, 'm'),
    );
    assert.match(good.stdout, new RegExp(`^MY_PG: ok: a replication can write to schema ${SCHEMA}$`, 'm'));
    const left = await admin.raw('select 1 from pg_namespace where nspname = ?', [SCHEMA]);
    assert.equal(left.rows.length, 0, 'the schema was created for real: the test transaction must be rolled back');

    assert.equal(dead.code, 1);
    assert.match(
      dead.stderr,
      new RegExp(
        `^klaviyo-sync: cannot reach Postgres at ${where(deadPort.port)}: connect ECONNREFUSED [^;]+; check that the server runs and the host and port of connection DEAD_PG\\n$`,
      ),
    );

    assert.equal(badLogin.code, 1);
    assert.match(
      badLogin.stderr,
      new RegExp(
        `^klaviyo-sync: Postgres at ${where(url.port)} refused user postgres: password authentication failed for user "postgres"; check the user and password of connection BAD_PG\\n$`,
      ),
    );

    assert.equal(noCreate.code, 1);
    assert.match(noCreate.stdout, /^ {2}connected to PostgreSQL .* as conns_limited$/m);
    assert.match(
      noCreate.stderr,
      new RegExp(
        `^klaviyo-sync: user conns_limited cannot run CREATE SCHEMA IF NOT EXISTS ${SCHEMA} at ${where(url.port)}: permission denied for database ${url.pathname.slice(1)}; ` +
          `GRANT CREATE ON DATABASE ${url.pathname.slice(1)} TO conns_limited, or check another schema with --schema\\n$`,
      ),
    );
    for (const r of [good, dead, badLogin, noCreate]) assertNoSecret(r, password, 'not-the-password-42', LIMITED_PASSWORD);
  } finally {
    await admin.raw('DROP ROLE IF EXISTS conns_limited').catch(() => undefined);
    await admin.destroy();
  }
});

void test('conns test: a role with rights only on an existing schema passes, as the writer needs no CREATE on the database', async () => {
  const owned = `${SCHEMA}_owned`;
  const role = new URL(pg.url);
  role.username = 'conns_schema_only';
  role.password = LIMITED_PASSWORD;
  const admin = knex({ client: 'pg', connection: pg.url });
  try {
    await admin.raw(`CREATE ROLE conns_schema_only LOGIN PASSWORD '${LIMITED_PASSWORD}'`);
    await admin.raw(`CREATE SCHEMA ${owned}`);
    await admin.raw(`GRANT USAGE, CREATE ON SCHEMA ${owned} TO conns_schema_only`);
    const r = await cli(['conns', 'test', 'OWNED_PG', '--schema', owned], { OWNED_PG: role.toString() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^ {2}schema ${owned} exists, and tables can be created in it \\(tried in a transaction, rolled back\\)$`, 'm'),
    );
    assert.match(r.stdout, new RegExp(`^OWNED_PG: ok: a replication can write to schema ${owned}$`, 'm'));
    const left = await admin.raw(`select 1 from pg_tables where schemaname = ?`, [owned]);
    assert.equal(left.rows.length, 0, 'the probe table was rolled back');
    assertNoSecret(r, LIMITED_PASSWORD);
  } finally {
    await admin.raw(`DROP SCHEMA IF EXISTS ${owned} CASCADE`).catch(() => undefined);
    await admin.raw('DROP ROLE IF EXISTS conns_schema_only').catch(() => undefined);
    await admin.destroy();
  }
});

void test('conns test: SQLite files that exist, do not exist yet, are not databases, or cannot be created', async () => {
  const existing = path.join(tmp, 'existing.db');
  const db = knex({ client: 'better-sqlite3', connection: { filename: existing }, useNullAsDefault: true });
  await db.schema.createTable('t', (t) => t.integer('x'));
  await db.destroy();
  const fresh = path.join(tmp, 'new', 'sub', 'fresh.db');
  const text = path.join(tmp, 'notes.txt');
  fs.writeFileSync(text, 'not a database, just text that is long enough to have a header\n'.repeat(4));

  const [ok, created, notDb, underFile, unknown] = await Promise.all([
    cli(['conns', 'test', 'LITE'], { LITE: `sqlite://${existing}` }),
    cli(['conns', 'test', 'FRESH'], { FRESH: 'sqlite://./new/sub/fresh.db' }),
    cli(['conns', 'test', 'TEXT'], { TEXT: `sqlite://${text}` }),
    cli(['conns', 'test', 'UNDER'], { UNDER: `sqlite://${text}/k.db` }),
    cli(['conns', 'test', 'NOPE']),
  ]);

  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^ {2}SQLite 3\\.\\d+\\.\\d+; ${existing} is a database with 1 table$`, 'm'));
  assert.match(ok.stdout, /^LITE: ok: a replication can write to this file$/m);

  assert.equal(created.code, 0, created.stderr);
  assert.match(
    created.stdout,
    new RegExp(`^ {2}SQLite 3\\.\\d+\\.\\d+; ${fresh} does not exist yet, and can be created \\(${tmp} is writable\\)$`, 'm'),
  );
  assert.equal(fs.existsSync(path.join(tmp, 'new')), false, 'testing must not create the file or its directories');

  assert.equal(notDb.code, 1);
  assert.equal(
    notDb.stderr,
    `klaviyo-sync: ${text} cannot be read as a SQLite database (file is not a database): point connection TEXT at a SQLite file or at a path that does not exist yet\n`,
  );
  assert.equal(underFile.code, 1);
  assert.equal(
    underFile.stderr,
    `klaviyo-sync: ${text}/k.db cannot be created because ${text} is a file, not a directory: point connection UNDER at another path\n`,
  );
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^klaviyo-sync: connection NOPE not found: set NOPE=.* or add it under connections: in env\.yaml/);
});

void test('conns list shows env vars and env.yaml connections, masked, with the broken and the shadowed ones marked', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'list-'));
  fs.writeFileSync(
    path.join(dir, 'env.yaml'),
    [
      'connections:',
      '  LITE: { type: sqlite, database: ./k.db }',
      `  KLAVIYO: { type: api, spec: klaviyo, secrets: { api_key: ${LIMITED_KEY} } }`,
      '  BROKEN: { type: postgres }',
    ].join('\n'),
  );
  const password = decodeURIComponent(new URL(pg.url).password);
  const [list, help] = await Promise.all([
    cli(['conns', 'list'], { KLAVIYO: klaviyo(FULL_KEY), MY_PG: pg.url, GREETING: 'hello', SHELL_OPTS: 'type: not a connection' }, dir),
    cli(['conns', 'test', '--help']),
  ]);
  assert.equal(list.code, 0, list.stderr);
  const rows = list.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));
  const envFile = path.join(dir, 'env.yaml');
  const pgUrl = new URL(pg.url);
  assert.deepEqual(rows, [
    ['NAME', 'TYPE', 'SOURCE', 'CONNECTION'],
    ['KLAVIYO', 'klaviyo', 'env var', `Klaviyo API at ${sandbox.baseUrl} (private key pk_***)`],
    ['MY_PG', 'postgres', 'env var', `postgres postgres@${pgUrl.host}${pgUrl.pathname}`],
    [
      'SHELL_OPTS',
      '-',
      'env var',
      'invalid: env var SHELL_OPTS: unknown type "not a connection": use api (with spec: klaviyo), postgres, mysql or sqlite',
    ],
    ['LITE', 'sqlite', envFile, `sqlite ${path.join(dir, 'k.db')}`],
    ['KLAVIYO', 'klaviyo', envFile, 'Klaviyo API at https://a.klaviyo.com (private key pk_***) (unused: env var KLAVIYO comes first)'],
    [
      'BROKEN',
      '-',
      envFile,
      `invalid: ${envFile} (connections.BROKEN): a postgres connection needs url, or host and database (with user, password, port, schema, sslmode as needed)`,
    ],
  ]);
  assertNoSecret(list, FULL_KEY, LIMITED_KEY, password);

  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: klaviyo-sync conns test \[options\] <NAME>/);
  assert.match(help.stdout, /--schema <schema>/);
});
