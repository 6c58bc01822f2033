/**
 * `klaviyo-sync run`, `status` and `--help` as a person uses them: a real process, a real dev server, the sandbox.
 * Every kind of bad input fails with one sentence naming the fix, a non-zero exit, before any workflow starts or
 * anything is written.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, ROOT } from './helpers/sandbox';
import net from 'node:net';
import { request } from 'undici';
import { freePort } from '../client/dev-server';
import { stackWorker, startStack, truth, type Stack } from './helpers/stack';

let stack: Stack;
const LISTS_ONLY_KEY = 'pk_cli_lists_only_0123456789';

before(async () => {
  stack = await startStack(['--api-key', `${LISTS_ONLY_KEY}=lists:read`]);
});
after(async () => {
  await stack?.stop();
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function writeYaml(name: string, text: string): string {
  const file = path.join(stack.tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

const GOOD = (target: string) => `
source: KLAVIYO
target: ${target}
streams:
  lists:
  tags:
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
`;

void test('run --with-worker replicates, prints rows per stream; status prints the same figures', async () => {
  const file = writeYaml('cli-good.yaml', GOOD('LITE'));
  const r = await cli(['run', file, '--with-worker', '--workflow-id', 'cli-run-good']);
  assert.equal(r.code, 0, r.stderr);
  const t = await truth(stack);
  for (const s of ['lists', 'tags', 'profiles'] as const) {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${s} `));
    assert.ok(line, `summary has ${s}:\n${r.stdout}`);
    assert.match(line!, new RegExp(`completed\\s+${t[s].count}\\s`), line);
  }
  assert.doesNotMatch(r.stdout + r.stderr, /pk_e2e_test_key/, 'the key is never printed');

  // a query of a closed workflow is answered by a worker replaying it
  const worker = await stackWorker(stack);
  const status = await worker.runUntil(cli(['status', 'cli-run-good', '--json']));
  assert.equal(status.code, 0, status.stderr);
  const progress = JSON.parse(status.stdout) as { status: string; streams: Array<{ stream: 'lists' | 'tags' | 'profiles'; rows: number }> };
  assert.equal(progress.status, 'completed');
  for (const s of progress.streams) assert.equal(s.rows, t[s.stream].count, s.stream);
});

void test('bad input fails before anything starts, each with the fix', async () => {
  const deadTemporal = { TEMPORAL_ADDRESS: '127.0.0.1:1' }; // reaching Temporal at all would be a different error
  const cases: Array<{ name: string; yaml: string; env?: NodeJS.ProcessEnv; expect: RegExp }> = [
    { name: 'yaml syntax', yaml: 'source: KLAVIYO\ntarget: LITE\nstreams:\n  lists: [unclosed\n', expect: /cli-yaml-syntax\.yaml:\d+:\d+/ },
    { name: 'unknown stream', yaml: 'source: KLAVIYO\ntarget: LITE\nstreams:\n  listz:\n', expect: /listz.*the streams are: profiles/s },
    { name: 'missing connection', yaml: GOOD('NOPE_DB'), expect: /NOPE_DB/ },
    {
      name: 'database unreachable',
      yaml: GOOD('DEADPG'),
      env: { DEADPG: 'postgresql://u:secretpw@127.0.0.1:1/db' },
      expect: /127\.0\.0\.1:1/,
    },
    {
      name: 'bad api key',
      yaml: GOOD('LITE'),
      env: { KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: stack.sandbox.baseUrl, secrets: { api_key: 'pk_not_the_key_1234' } }) },
      expect: /api_key/,
    },
  ];
  for (const c of cases) {
    const file = writeYaml(`cli-${c.name.replace(/ /g, '-')}.yaml`, c.yaml);
    const r = await cli(['run', file], { ...deadTemporal, ...c.env });
    assert.equal(r.code, 1, `${c.name}: exit code\n${r.stderr}`);
    assert.match(r.stderr, c.expect, `${c.name}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /Temporal server/, `${c.name}: failed before reaching for Temporal`);
    assert.doesNotMatch(r.stderr, /secretpw|pk_not_the_key_1234/, `${c.name}: no secret in the message`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${c.name}: a sentence, not a stack trace`);
  }
});

void test('an unreachable Temporal names the address tried and the fix', async () => {
  const file = writeYaml('cli-temporal.yaml', GOOD('LITE'));
  const r = await cli(['run', file], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the Temporal server at 127\.0\.0\.1:1.*TEMPORAL_ADDRESS/s);
});

void test('every command has --help', async () => {
  const top = await cli(['--help']);
  assert.equal(top.code, 0);
  const commands = [...top.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  assert.ok(commands.length >= 9, `commands: ${commands.join(', ')}`);
  for (const c of commands) {
    const r = await cli([c, '--help']);
    assert.equal(r.code, 0, `${c} --help`);
    assert.match(r.stdout, /Usage: klaviyo-sync/, `${c} --help`);
  }
});

void test('run --detach starts the workflow and prints its id; a worker finishes it', async () => {
  const file = writeYaml('cli-detach.yaml', GOOD('LITE'));
  const r = await cli(['run', file, '--detach', '--workflow-id', 'cli-run-detached']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'cli-run-detached');
  const worker = await stackWorker(stack);
  const handle = stack.temporal.env.client.workflow.getHandle('cli-run-detached');
  const summary = (await worker.runUntil(handle.result())) as { streams: Array<{ status: string }> };
  assert.ok(summary.streams.every((s) => s.status === 'completed'));
});

async function setFaults(body: unknown): Promise<void> {
  const res = await request(`${stack.sandbox.baseUrl}/__sandbox/faults`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
}

void test('the pre-check rides through three 503s with the one retry policy, then the run completes', async (t) => {
  t.after(() => setFaults({}));
  await setFaults({ failNext: { count: 3, status: 503 } });
  const file = writeYaml('cli-503.yaml', GOOD('LITE'));
  const t0 = Date.now();
  const r = await cli(['run', file, '--with-worker', '--workflow-id', 'cli-run-503']);
  assert.equal(r.code, 0, r.stderr);
  // three failed attempts of the first probe, waiting 1, 2 and 4 s (RETRY_POLICY), then the other probes
  const retries = r.stderr.split('\n').filter((l) => /^checking the Klaviyo key \(attempt \d of 5\): Klaviyo answered 503/.test(l));
  assert.equal(retries.length, 3, r.stderr);
  assert.match(retries[2], /attempt 3 of 5.*Next attempt in 4 s\./);
  assert.ok(Date.now() - t0 >= 7_000, 'waited the backoff');
});

void test('the pre-check waits out three 429s (Retry-After: 1) instead of exiting 1 saying it is retrying', async (t) => {
  t.after(() => setFaults({}));
  await setFaults({ failNext: { count: 3, status: 429 } });
  const file = writeYaml('cli-429.yaml', GOOD('LITE'));
  const r = await cli(['run', file, '--detach', '--workflow-id', 'cli-run-429']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'cli-run-429');
  const waits = r.stderr.split('\n').filter((l) => /^checking the Klaviyo key \(attempt \d of 5\): Klaviyo throttled .*Next attempt in 1 s\.$/.test(l));
  assert.equal(waits.length, 3, r.stderr);
  await stack.temporal.env.client.workflow.getHandle('cli-run-429').terminate('the pre-check was the point');
});

void test('a key lacking the second stream\'s scope fails the pre-check naming scope and stream, before any table', async () => {
  await setFaults({});
  const lite = path.join(stack.tmp, 'cli-scope.db');
  const file = writeYaml('cli-scope.yaml', 'source: KLAVIYO\ntarget: SCOPELITE\nstreams:\n  lists:\n  tags:\n');
  const r = await cli(['run', file], {
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    SCOPELITE: `sqlite://${lite}`,
    KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: stack.sandbox.baseUrl, secrets: { api_key: LISTS_ONLY_KEY } }),
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the API key of connection KLAVIYO lacks tags:read, which tags needs: grant it to the private key in Klaviyo/);
  assert.doesNotMatch(r.stderr, /Temporal server/, 'failed before reaching for Temporal');
  assert.doesNotMatch(r.stderr, new RegExp(LISTS_ONLY_KEY));
  assert.equal(fs.existsSync(lite) ? fs.statSync(lite).size : 0, 0, 'nothing was written');
});

void test('the database pre-check rides through a Postgres that is not up yet (connection refused), with the one policy', async () => {
  // a port nothing listens on for 2.5 s, then a proxy to the test Postgres
  const port = await freePort();
  const pg = new URL(stack.postgres.url);
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(pg.port), pg.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  const opened = new Promise<void>((resolve) => setTimeout(() => proxy.listen(port, '127.0.0.1', () => resolve()), 2_500));
  try {
    const late = new URL(stack.postgres.url);
    late.hostname = '127.0.0.1';
    late.port = String(port);
    const file = writeYaml('cli-late-pg.yaml', GOOD('LATEPG'));
    const r = await cli(['run', file, '--detach', '--workflow-id', 'cli-run-late-pg'], { LATEPG: late.toString() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^checking LATEPG \(attempt 1 of 5\): cannot reach Postgres at 127\.0\.0\.1:\d+\/.*ECONNREFUSED.*; next attempt in 1 s$/m);
    assert.doesNotMatch(r.stderr, new RegExp(decodeURIComponent(late.password) || 'no-password'), 'no password in the output');
    await stack.temporal.env.client.workflow.getHandle('cli-run-late-pg').terminate('the pre-check was the point');
  } finally {
    await opened;
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});
