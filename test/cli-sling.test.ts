/**
 * Sling's connection commands and files, as real processes against a real sandbox Klaviyo: `conns set` writes
 * env.yaml (checked first, other entries and comments kept, mode 0600, no secret printed), `conns unset` removes an
 * entry, `.env.sling` in the working directory is read (a real variable wins), and `conns discover` lists what a key
 * can read, per scope, with each listing's first page counted against the sandbox's truth; Sling's replication keys
 * that apply (target_options, placeholders) are accepted and the others refused with the reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { cli as runCli, type ProcessResult } from './helpers/process';
import { startSandbox, type SandboxProcess } from './helpers/sandbox';
import type { DiscoveredConnectionStream } from '../client/commands/conns';
import { buildReplicationPlan, parseReplicationYaml } from '../config/replication';

const FULL_KEY = 'pk_sling_full_0123456789';
const LIMITED_KEY = 'pk_sling_limited_0123456789';

let sandbox: SandboxProcess;
let tmp: string;
before(async () => {
  sandbox = await startSandbox(['--size', 'tiny', '--api-key', FULL_KEY, '--api-key', `${LIMITED_KEY}=profiles:read,lists:read`]);
});
after(async () => {
  await sandbox?.stop();
});

/** A fresh HOME and working directory per test: no stray env.yaml or .env.sling is read. */
function home(): string {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-sling-'));
  return tmp;
}
const cli = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = tmp): Promise<ProcessResult> =>
  runCli(args, { cwd, env: { PATH: process.env.PATH, HOME: tmp, ...env } });

function assertNoSecret(r: ProcessResult, ...secrets: string[]): void {
  for (const s of secrets) assert.ok(!`${r.stdout}${r.stderr}`.includes(s), 'a secret was printed');
}

void test('conns set writes env.yaml as Sling does, checked first, keeping what was there; conns unset removes it', async () => {
  const dir = home();
  const slingFile = path.join(dir, '.sling', 'env.yaml');
  const set = await cli([
    'conns',
    'set',
    'KLAVIYO',
    'type=api',
    'spec=klaviyo',
    `secrets={ api_key: ${FULL_KEY}, base_url: ${sandbox.baseUrl} }`,
  ]);
  assert.equal(set.code, 0, set.stderr);
  assertNoSecret(set, FULL_KEY);
  assert.match(
    set.stdout,
    new RegExp(`^KLAVIYO: Klaviyo API at .* \\(private key pk_\\*\\*\\*\\) \\(added in ${slingFile.replace(/\./g, '\\.')}\\)$`, 'm'),
  );
  assert.equal(fs.statSync(slingFile).mode & 0o777, 0o600, 'readable by its owner only');

  const pgUrl = 'postgresql://sync:s3cret@db.example:5432/warehouse?schema=klaviyo';
  fs.appendFileSync(slingFile, '# kept: a comment of the user\n');
  const pg = await cli(['conns', 'set', 'MY_PG', `url=${pgUrl}`]);
  assert.equal(pg.code, 0, pg.stderr);
  assertNoSecret(pg, 's3cret');
  const doc = YAML.parse(fs.readFileSync(slingFile, 'utf8')) as { connections: Record<string, unknown> };
  assert.deepEqual(doc.connections, {
    KLAVIYO: { type: 'api', spec: 'klaviyo', secrets: { api_key: FULL_KEY, base_url: sandbox.baseUrl } },
    MY_PG: pgUrl,
  });
  assert.match(fs.readFileSync(slingFile, 'utf8'), /# kept: a comment of the user/);

  // what was written resolves: conns test reaches the sandbox with it
  const tested = await cli(['conns', 'test', 'KLAVIYO']);
  assert.equal(tested.code, 0, tested.stderr);
  assert.match(tested.stdout, /KLAVIYO: ok: the key has all \d+ scopes/);

  // refused before anything is written, naming the fix, without the secret
  const before = fs.readFileSync(slingFile, 'utf8');
  for (const [args, message] of [
    [['conns', 'set', 'BAD', 'type=api', 'spec=stripe', `secrets={ api_key: ${FULL_KEY} }`], /klaviyo-sync reads only spec: klaviyo/],
    [['conns', 'set', 'BAD', FULL_KEY], /every argument after the name is key=value \(argument 1 is not\)/],
    [['conns', 'set', 'BAD', 'type=postgres'], /./],
  ] as const) {
    const r = await cli([...args]);
    assert.equal(r.code, 1, `${args.join(' ')} fails`);
    assert.match(r.stderr, message);
    assertNoSecret(r, FULL_KEY);
  }
  assert.equal(fs.readFileSync(slingFile, 'utf8'), before, 'nothing written by a refused set');

  // a ./env.yaml comes first in lookups, so set writes there once it exists
  fs.writeFileSync(path.join(dir, 'env.yaml'), 'connections: {}\n');
  const local = await cli(['conns', 'set', 'LOCAL_DB', 'url=sqlite:///tmp/klaviyo-sync-sling.db']);
  assert.equal(local.code, 0, local.stderr);
  assert.match(local.stdout, /LOCAL_DB: sqlite \/tmp\/klaviyo-sync-sling\.db \(added in .*\/env\.yaml\)/);
  assert.deepEqual(YAML.parse(fs.readFileSync(path.join(dir, 'env.yaml'), 'utf8')), {
    connections: { LOCAL_DB: 'sqlite:///tmp/klaviyo-sync-sling.db' },
  });

  const unset = await cli(['conns', 'unset', 'LOCAL_DB']);
  assert.equal(unset.code, 0, unset.stderr);
  assert.deepEqual(YAML.parse(fs.readFileSync(path.join(dir, 'env.yaml'), 'utf8')), { connections: {} });
  const again = await cli(['conns', 'unset', 'LOCAL_DB']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /LOCAL_DB is not in the env\.yaml conns set writes/);
});

void test('.env.sling in the working directory holds connections; a variable of the environment wins', async () => {
  const dir = home();
  fs.writeFileSync(
    path.join(dir, '.env.sling'),
    [
      '# Sling project env file',
      `KLAVIYO="{ type: api, spec: klaviyo, secrets: { api_key: ${FULL_KEY}, base_url: ${sandbox.baseUrl} } }"`,
      `LIMITED='{ type: api, spec: klaviyo, secrets: { api_key: ${LIMITED_KEY}, base_url: ${sandbox.baseUrl} } }'`,
      '',
    ].join('\n'),
  );
  const list = await cli(['conns', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assertNoSecret(list, FULL_KEY, LIMITED_KEY);
  assert.match(list.stdout, /KLAVIYO .*\.env\.sling/);
  const full = await cli(['conns', 'test', 'KLAVIYO']);
  assert.equal(full.code, 0, full.stderr);
  // the environment's LIMITED wins: the full key, so every scope is there
  const env = { LIMITED: sandbox.connection(FULL_KEY) };
  const won = await cli(['conns', 'test', 'LIMITED'], env);
  assert.equal(won.code, 0, won.stderr);
  const fromFile = await cli(['conns', 'test', 'LIMITED']);
  assert.equal(fromFile.code, 1, 'the limited key of .env.sling lacks scopes');
  assert.match(fromFile.stderr, /the key lacks: /);
});

void test('conns discover lists what the key can read, per scope, with first pages that match the account', async () => {
  const dir = home();
  const env = { KLAVIYO: sandbox.connection(FULL_KEY), LIMITED: sandbox.connection(LIMITED_KEY) };
  const r = await cli(['conns', 'discover', 'KLAVIYO', '--json'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  const found = JSON.parse(r.stdout) as DiscoveredConnectionStream[];
  const truth = await sandbox.truth();
  const by = new Map(found.map((f) => [f.stream, f]));
  assert.equal(found.length, Object.keys(truth).length, 'every stream');
  assert.ok(
    found.every((f) => f.missing.length === 0),
    'the full key reads all',
  );
  // tiny account: a stream that fits one page per listing is counted exactly
  for (const name of ['lists', 'segments', 'metrics', 'tags', 'flows', 'campaigns'] as const) {
    const f = by.get(name)!;
    if (!f.more) assert.equal(f.rows, truth[name].count, `${name}: first pages hold every row`);
    else assert.ok(f.rows! < truth[name].count, `${name}: more pages`);
  }
  assert.equal(by.get('list_profiles')!.note, 'read per lists row');
  assert.equal(by.get('profiles')!.more, truth.profiles.count > 100);

  const limited = await cli(['conns', 'discover', 'LIMITED'], env, dir);
  assert.equal(limited.code, 0, limited.stderr);
  assertNoSecret(limited, LIMITED_KEY);
  assert.match(limited.stdout, /^profiles\s+profiles:read\s+yes\s+\d+/m);
  assert.match(limited.stdout, /^events\s+events:read\s+no: lacks events:read\s+-$/m);
  assert.match(limited.stdout, /^list_profiles\s+lists:read, profiles:read\s+yes\s+read per lists row$/m);
  assert.match(limited.stdout, /^\d+ of 22 streams readable with this key$/m);
});

void test("Sling's replication keys: target_options and placeholders that apply are accepted, the others refused with the reason", () => {
  const plan = (yaml: string) =>
    buildReplicationPlan(parseReplicationYaml(`source: KLAVIYO\ntarget: PG\n${yaml}`), { now: new Date(), targetSchema: () => 'raw' });
  const ok = plan(
    "defaults:\n  object: '{target_schema}.klaviyo_{stream_name}'\n  target_options:\n    column_casing: snake\n    add_new_columns: true\nstreams:\n  profiles:\n",
  );
  assert.deepEqual(ok.streams[0].object, { schema: 'raw', table: 'klaviyo_profiles' }, '{target_schema}: the target connection schema');
  for (const casing of ['source', 'target', 'snake', 'lower', 'normalize']) {
    assert.doesNotThrow(() => plan(`defaults:\n  target_options: { column_casing: ${casing} }\nstreams:\n  profiles:\n`), casing);
  }
  const cases: Array<[string, RegExp]> = [
    [
      'column_casing: upper',
      /target_options\.column_casing: "upper" is not accepted: columns are Klaviyo's attribute names, snake_case and lower case/,
    ],
    [
      'add_new_columns: false',
      /target_options\.add_new_columns: .* a new Klaviyo attribute always gets its column \(so no value is lost\)/,
    ],
    ['table_keys: { primary: [id] }', /target_options\.table_keys: does not apply: each stream's table is keyed on its primary key/],
    ['post_sql: select 1', /target_options\.post_sql: does not apply: klaviyo-sync runs no SQL of the config/],
    ['delete_missing: soft', /target_options\.delete_missing: does not apply: use source_options\.deletes: mark/],
    ['colum_casing: snake', /target_options\.colum_casing: unknown target option; supported: column_casing, add_new_columns/],
    ['constructor: 1', /target_options\.constructor: unknown target option/],
  ];
  for (const [option, message] of cases) {
    assert.throws(() => plan(`defaults:\n  target_options:\n    ${option}\nstreams:\n  profiles:\n`), message, option);
  }
  assert.throws(() => plan('streams:\n  profiles:\n    target_options: 3\n'), /streams\.profiles\.target_options: must be a mapping/);
  assert.throws(
    () => plan("streams:\n  profiles:\n    object: '{stream_schema}.{stream_name}'\n"),
    /\{stream_schema\} in "\{stream_schema\}\.\{stream_name\}": a Klaviyo stream has no source schema .*; use \{stream_name\} and \{target_schema\}/,
  );
  assert.throws(() => plan("streams:\n  profiles:\n    object: 'k.{stream_file_name}'\n"), /a Klaviyo stream is not a file/);
  assert.throws(() => plan("streams:\n  profiles:\n    object: 'k.{toString}'\n"), /unknown placeholder \{toString\}/);
  assert.throws(
    () => plan("streams:\n  profiles:\n    object: 'k.p_{run_timestamp}'\n"),
    /would start a new table, and a new state, every run/,
  );
});
