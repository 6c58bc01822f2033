/**
 * `klaviyo-sync run`, `status` and `--help` as a person uses them: a real process, a real dev server, the sandbox.
 * Every kind of bad input fails with one sentence naming the fix, a non-zero exit, before any workflow starts or
 * anything is written.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import knex from 'knex';
import type { Client } from '@temporalio/client';
import { ROOT } from './helpers/sandbox';
import { cli as runCli, startCli, startWorkerProcess } from './helpers/process';
import net from 'node:net';
import { freePort } from '../client/dev-server';
import { stackWorker, startStack, truth, type Stack } from './helpers/stack';
import { inProcessTaskQueue } from '../workflows/shared';
import { WORKER_HEAP } from '../worker/heap-thread';

let stack: Stack;
const LISTS_ONLY_KEY = 'pk_cli_lists_only_0123456789';

before(async () => {
  stack = await startStack(['--api-key', `${LISTS_ONLY_KEY}=lists:read`]);
});
after(async () => {
  await stack?.stop();
});

/** The CLI as a process with the stack's connections; `killAfterMs` ends one that would wait forever (a workflow no worker takes) with SIGKILL. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}, killAfterMs?: number) =>
  runCli(args, { env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, ...env }, killAfterMs });

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

  // the run's workflow sat on the task queue of the worker `--with-worker` ran, which is gone: status reads the
  // closed run's summary, which needs no worker
  const { taskQueue } = await stack.temporal.env.client.workflow.getHandle('cli-run-good').describe();
  assert.equal(taskQueue, inProcessTaskQueue('cli-run-good'));
  const status = await cli(['status', 'cli-run-good', '--json'], {}, 60_000);
  assert.equal(status.code, 0, status.stderr);
  const progress = JSON.parse(status.stdout) as { status: string; streams: Array<{ stream: 'lists' | 'tags' | 'profiles'; rows: number }> };
  assert.equal(progress.status, 'completed');
  assert.deepEqual(progress.streams.map((s) => s.stream).sort(), ['lists', 'profiles', 'tags']);
  for (const s of progress.streams) assert.equal(s.rows, t[s.stream].count, s.stream);
  const table = await cli(['status', 'cli-run-good'], {}, 60_000);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^tags\\s+full-refresh\\s+completed\\s+${t.tags.count}\\s`, 'm'));
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
      env: { KLAVIYO: stack.sandbox.connection('pk_not_the_key_1234') },
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
  // the commands the hint names exist
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const named = [...r.stderr.matchAll(/`npm run ([\w:-]+)/g)].map((m) => m[1]);
  assert.ok(named.length > 0, r.stderr);
  for (const script of named) assert.ok(script in scripts, `the hint names npm run ${script}, which package.json does not have`);
  assert.match(r.stderr, /`temporal server start-dev`/);
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

const setFaults = (body: unknown) => stack.sandbox.admin('faults', body);

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
  const waits = r.stderr
    .split('\n')
    .filter((l) => /^checking the Klaviyo key \(attempt \d of 5\): Klaviyo throttled .*Next attempt in 1 s\.$/.test(l));
  assert.equal(waits.length, 3, r.stderr);
  await stack.temporal.env.client.workflow.getHandle('cli-run-429').terminate('the pre-check was the point');
});

void test("a key lacking the second stream's scope fails the pre-check naming scope and stream, before any table", async () => {
  await setFaults({});
  const lite = path.join(stack.tmp, 'cli-scope.db');
  const file = writeYaml('cli-scope.yaml', 'source: KLAVIYO\ntarget: SCOPELITE\nstreams:\n  lists:\n  tags:\n');
  const r = await cli(['run', file], {
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    SCOPELITE: `sqlite://${lite}`,
    KLAVIYO: stack.sandbox.connection(LISTS_ONLY_KEY),
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the API key of connection KLAVIYO lacks tags:read, which tags needs: grant it to the private key in Klaviyo/);
  assert.doesNotMatch(r.stderr, /Temporal server/, 'failed before reaching for Temporal');
  assert.doesNotMatch(r.stderr, new RegExp(LISTS_ONLY_KEY));
  assert.equal(fs.existsSync(lite) ? fs.statSync(lite).size : 0, 0, 'nothing was written');
});

void test('the database pre-check rides through a Postgres that is not up yet (connection refused), with the one policy', async () => {
  // a port nothing listens on until the CLI said its first attempt was refused, then a proxy to the test Postgres
  const port = await freePort();
  const pg = new URL(stack.postgres.url);
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(pg.port), pg.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  let opened: Promise<void> = Promise.resolve();
  try {
    const late = new URL(stack.postgres.url);
    late.hostname = '127.0.0.1';
    late.port = String(port);
    const file = writeYaml('cli-late-pg.yaml', GOOD('LATEPG'));
    const run = startCli(['run', file, '--detach', '--workflow-id', 'cli-run-late-pg'], {
      env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, LATEPG: late.toString() },
    });
    opened = run.waitForOutput(/checking LATEPG \(attempt 1 of 5\)/, 120_000).then(
      () => new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', () => resolve())),
      () => undefined,
    );
    const r = await run.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^checking LATEPG \(attempt 1 of 5\): cannot reach Postgres at 127\.0\.0\.1:\d+\/.*ECONNREFUSED.*; next attempt in 1 s$/m,
    );
    assert.doesNotMatch(r.stderr, new RegExp(decodeURIComponent(late.password) || 'no-password'), 'no password in the output');
  } finally {
    // a workflow left on the shared queue would be taken by the standalone workers of later tests
    await stack.temporal.env.client.workflow
      .getHandle('cli-run-late-pg')
      .terminate('the pre-check was the point')
      .catch(() => undefined);
    await opened;
    await new Promise<void>((resolve) => (proxy.listening ? proxy.close(() => resolve()) : resolve()));
  }
});

/** `klaviyo-sync worker` as its own process, as the README's steps leave one running; resolves once it polls. */
const standaloneWorker = (env: NodeJS.ProcessEnv, args: string[] = []) => startWorkerProcess(args, { cwd: stack.tmp, env });

/** Every worker identity that started a workflow or activity task of this workflow and of all its children. */
async function taskIdentities(client: Client, workflowId: string): Promise<Set<string>> {
  const identities = new Set<string>();
  const pending = [workflowId];
  while (pending.length > 0) {
    const history = await client.workflow.getHandle(pending.pop()!).fetchHistory();
    for (const e of history.events ?? []) {
      const identity = e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
      if (identity) identities.add(identity);
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (child) pending.push(child);
    }
  }
  return identities;
}

void test('run --with-worker keeps its tasks from a standalone worker with another environment', async () => {
  // a worker of the shared queue that knows none of this run's connections: a task it took would fail "not found"
  const bare = { PATH: process.env.PATH, HOME: stack.tmp, TEMPORAL_ADDRESS: stack.temporal.address };
  const other = await standaloneWorker(bare);
  try {
    const file = writeYaml('cli-private-queue.yaml', GOOD('QUEUE_LITE'));
    const r = await cli(['run', file, '--with-worker', '--workflow-id', 'cli-run-private-queue'], {
      QUEUE_LITE: `sqlite://${path.join(stack.tmp, 'queue.db')}`,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const t = await truth(stack);
    for (const s of ['lists', 'tags', 'profiles'] as const) {
      assert.match(r.stdout, new RegExp(`^${s}\\s.*completed\\s+${t[s].count}\\s`, 'm'), r.stdout);
    }
    const identities = await taskIdentities(stack.temporal.env.client, 'cli-run-private-queue');
    assert.ok(identities.size > 0);
    for (const identity of identities)
      assert.ok(!identity.startsWith(`${other.child.pid}@`), `the standalone worker ran a task: ${[...identities].join(', ')}`);
    assert.doesNotMatch(other.output(), /not found/, 'the standalone worker failed a task');
    const description = await stack.temporal.env.client.workflow.getHandle('cli-run-private-queue').describe();
    assert.notEqual(description.taskQueue, 'klaviyo-sync', 'an in-process worker polls a queue of its own');
  } finally {
    await other.stop(10_000);
  }
});

void test('a run joining a workflow on another task queue says so; run --with-worker joins it there and finishes it', async () => {
  const file = writeYaml('cli-other-queue.yaml', GOOD('LITE'));
  const config = { source: 'KLAVIYO', target: 'LITE', streams: { tags: null } };
  await stack.temporal.env.client.workflow.start('replicate', {
    taskQueue: 'elsewhere',
    workflowId: 'cli-run-other-queue',
    args: [{ name: 'cli-other-queue', config }],
  });
  const joined = await cli(['run', file, '--detach', '--workflow-id', 'cli-run-other-queue']);
  assert.equal(joined.code, 0, joined.stderr);
  assert.match(
    joined.stderr,
    /cli-run-other-queue is running on task queue elsewhere, not klaviyo-sync: only a worker polling elsewhere executes it/,
  );
  assert.match(joined.stderr, /klaviyo-sync worker --task-queue elsewhere/);

  // the worker of this process polls the queue the workflow is on, so the run ends (it would wait for ever otherwise)
  const finished = await cli(['run', file, '--with-worker', '--workflow-id', 'cli-run-other-queue'], {}, 120_000);
  assert.equal(finished.code, 0, finished.stderr);
  assert.match(finished.stdout, new RegExp(`^tags\\s.*completed\\s+${(await truth(stack)).tags.count}\\s`, 'm'), finished.stdout);
});

void test('a YAML file over 2 MB starts: the workflow gets the parsed config, not the text', async () => {
  const filler = Array.from(
    { length: 30_000 },
    (_, i) => `# ${String(i).padStart(6, '0')} ${'a long comment to make the file big '.repeat(3)}`,
  ).join('\n');
  const file = writeYaml('cli-big.yaml', `${filler}\n${GOOD('LITE')}`);
  assert.ok(fs.statSync(file).size > 3_000_000, 'the file is over Temporal’s 2 MB payload limit');
  const r = await cli(['run', file, '--with-worker', '--workflow-id', 'cli-run-big-yaml']);
  assert.equal(r.code, 0, r.stderr);
  const history = await stack.temporal.env.client.workflow.getHandle('cli-run-big-yaml').fetchHistory();
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  assert.ok(input && input.length < 10_000, `the input is the config (${input?.length} bytes)`);
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(input).toString()) as object).sort(), ['config', 'name']);
});

void test('a start Temporal refuses says why, with the server’s answer and the fix', async () => {
  const file = writeYaml('cli-start-fails.yaml', GOOD('LITE'));
  // the server refuses ids over 1,000 characters: today's message was "Failed to start Workflow", the cause dropped
  const longId = `cli-run-${'x'.repeat(1100)}`;
  const tooLong = await cli(['run', file, '--detach', '--workflow-id', longId]);
  assert.equal(tooLong.code, 1, tooLong.stderr);
  assert.match(
    tooLong.stderr,
    /^klaviyo-sync: Temporal at \S+ \(namespace default\) refused to start workflow cli-run-x{5}[^:]*: .*WorkflowId exceeds maximum allowed length/m,
  );
  const noNamespace = await cli(['run', file, '--detach', '--workflow-id', 'cli-run-no-namespace'], {
    TEMPORAL_NAMESPACE: 'no-such-namespace',
  });
  assert.equal(noNamespace.code, 1, noNamespace.stderr);
  assert.match(
    noNamespace.stderr,
    /refused to start workflow cli-run-no-namespace: .*not found: 'no-such-namespace'; create the namespace \(temporal operator namespace create --namespace no-such-namespace\) or set TEMPORAL_NAMESPACE to one that exists/,
  );
  for (const r of [tooLong, noNamespace]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'a sentence, not a stack trace');
});

void test('worker rate limits: documented by default, else KLAVIYO_SYNC_RATE_LIMITS; the flag wins over it; off paces nothing', async () => {
  const base = { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, KLAVIYO_SYNC_RATE_LIMITS: '' };
  for (const [env, args, mode, from] of [
    [base, [], 'documented', 'the default'],
    [{ ...base, KLAVIYO_SYNC_RATE_LIMITS: 'sling' }, [], 'sling', 'KLAVIYO_SYNC_RATE_LIMITS'],
    [{ ...base, KLAVIYO_SYNC_RATE_LIMITS: 'sling' }, ['--rate-limits', 'documented'], 'documented', '--rate-limits'],
    [base, ['--rate-limits', 'off'], 'off', '--rate-limits'],
  ] as const) {
    const w = await standaloneWorker(env, [...args, '--task-queue', 'cli-rate-limits']);
    await w.stop(10_000);
    assert.match(w.output(), new RegExp(`polling task queue cli-rate-limits .*; rate limits: ${mode} \\(${from}\\)`), w.output());
  }
});

void test('worker heap: a thread of 1024 MB by default, of the size KLAVIYO_SYNC_WORKER_HEAP_MB gives, in the process with 0; a bad value exits 1 naming it', async () => {
  const base = { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address };
  assert.equal(WORKER_HEAP.oldMb, 1024);
  // V8's limit inside the thread: the old generation asked for plus the young generation
  for (const [value, heap] of [
    ['', `a thread of ${WORKER_HEAP.oldMb + WORKER_HEAP.youngMb} MB (the default; KLAVIYO_SYNC_WORKER_HEAP_MB sets another)`],
    ['0', "V8's own sizing in the process (KLAVIYO_SYNC_WORKER_HEAP_MB=0)"],
    ['256', `a thread of ${256 + WORKER_HEAP.youngMb} MB (KLAVIYO_SYNC_WORKER_HEAP_MB=256)`],
  ] as const) {
    // the allocator's arenas as launched: the setting in force, or the one to set
    const arenas = value === '256' ? '2' : '';
    const w = await standaloneWorker(
      { ...base, KLAVIYO_SYNC_WORKER_HEAP_MB: value, MALLOC_ARENA_MAX: arenas, MALLOC_MMAP_THRESHOLD_: '' },
      ['--task-queue', 'cli-heap'],
    );
    await w.stop(10_000);
    assert.ok(w.output().includes(`; heap: ${heap}; allocator: `), w.output());
    const allocator = arenas
      ? 'allocator: MALLOC_ARENA_MAX=2\n'
      : "allocator: glibc's defaults (MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 keep";
    assert.ok(w.output().includes(allocator), w.output());
  }
  const bad = await cli(['worker'], { KLAVIYO_SYNC_WORKER_HEAP_MB: 'lots' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /KLAVIYO_SYNC_WORKER_HEAP_MB must be a whole number of MB, at least 64/);
});

void test('a Postgres role with rights only on an existing schema, named by the connection, replicates into it', async () => {
  const password = `own${Date.now()}`;
  const admin = knex({ client: 'pg', connection: stack.postgres.url });
  try {
    // no CREATE on the database: CREATE SCHEMA IF NOT EXISTS is refused even though the schema exists
    await admin.raw(`CREATE ROLE run_owner LOGIN PASSWORD '${password}'`);
    await admin.raw('CREATE SCHEMA run_owned');
    await admin.raw('GRANT USAGE, CREATE ON SCHEMA run_owned TO run_owner');
  } finally {
    await admin.destroy();
  }
  const url = new URL(stack.postgres.url);
  url.username = 'run_owner';
  url.password = password;
  url.searchParams.set('schema', 'run_owned');
  const file = writeYaml('cli-owned-schema.yaml', 'source: KLAVIYO\ntarget: OWNED\nstreams:\n  tags:\n  lists:\n');
  const r = await cli(['run', file, '--with-worker', '--workflow-id', 'cli-run-owned-schema'], { OWNED: url.toString() });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr + r.stdout, new RegExp(password));
  const t = await truth(stack);
  const db = knex({ client: 'pg', connection: stack.postgres.url });
  try {
    for (const s of ['tags', 'lists'] as const) {
      const rows = await db.raw<{ rows: Array<{ n: string }> }>(`select count(*) as n from run_owned.${s}`);
      assert.equal(Number(rows.rows[0].n), t[s].count, s);
    }
    const elsewhere = await db.raw<{ rows: unknown[] }>(
      `select 1 from pg_tables where schemaname <> 'run_owned' and tableowner = 'run_owner'`,
    );
    assert.equal(elsewhere.rows.length, 0, 'nothing was written outside the connection’s schema');
  } finally {
    await db.destroy();
  }
});
