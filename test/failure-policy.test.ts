/**
 * The one retry policy, end to end (a real Temporal dev server, the sandbox over HTTP, Postgres, SQLite): failures
 * retrying cannot fix end the replication in seconds, with the fix in the message and one attempt; a paging loop
 * ends naming the URL; a key without the second stream's scope fails before any table exists.
 *
 * Each case is given CAP_MS to fail; past that it counts as still retrying, and the workflow is terminated, so a
 * regression shows as "still retrying after 90 s at attempt N" rather than as a 25-minute test.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import knex from 'knex';
import { request } from 'undici';
import type { WorkflowHandle } from '@temporalio/client';
import { API_KEY, stackWorker, startStack, type Stack } from './helpers/stack';

const LISTS_ONLY_KEY = 'pk_e2e_lists_only_0123456789';
const CAP_MS = 90_000;

let stack: Stack;

before(async () => {
  stack = await startStack(['--api-key', `${LISTS_ONLY_KEY}=lists:read`]);
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await faults({});
});

const faults = (body: unknown) => stack.sandbox.admin('faults', body);

async function apiRequests(): Promise<number> {
  const res = await request(`${stack.sandbox.baseUrl}/__sandbox/stats`);
  return ((await res.body.json()) as { requests: number }).requests;
}

interface Outcome {
  /** false: still running at CAP_MS (then terminated) */
  failed: boolean;
  /** every message of the failure's cause chain */
  text: string;
  ms: number;
  /** the highest attempt any activity of the replication reached */
  attempts: number;
}

function chain(err: unknown): string {
  const parts: string[] = [];
  for (let e: any = err; e; e = e.cause) parts.push(String(e.message));
  return parts.join(' <- ');
}

/** The highest activity attempt in the histories of the replication and its stream children, and of pending ones. */
async function maxAttempt(handle: WorkflowHandle, streams: string[]): Promise<number> {
  let max = 0;
  for (const id of [handle.workflowId, ...streams.map((s) => `${handle.workflowId}/${s}`)]) {
    const h = stack.temporal.env.client.workflow.getHandle(id);
    const history = await h.fetchHistory().catch(() => undefined);
    for (const e of history?.events ?? []) max = Math.max(max, e.activityTaskStartedEventAttributes?.attempt ?? 0);
    const d = await h.describe().catch(() => undefined);
    for (const a of d?.raw.pendingActivities ?? []) max = Math.max(max, a.attempt ?? 0);
  }
  return max;
}

async function replicate(yaml: string, workflowId: string, streams: string[], env: NodeJS.ProcessEnv = stack.env): Promise<Outcome> {
  const worker = await stackWorker(stack, env);
  const client = stack.temporal.env.client;
  const t0 = Date.now();
  const handle = await client.workflow.start('replicate', { taskQueue: 'klaviyo-sync', workflowId, args: [{ name: workflowId, yaml }] });
  let timer: NodeJS.Timeout | undefined;
  const capped = new Promise<'capped'>((resolve) => (timer = setTimeout(() => resolve('capped'), CAP_MS)));
  const result = await worker.runUntil(
    Promise.race([
      handle.result().then(
        () => ({ ok: true as const }),
        (err: unknown) => ({ ok: false as const, err }),
      ),
      capped,
    ]),
  );
  clearTimeout(timer);
  const ms = Date.now() - t0;
  if (result === 'capped') {
    const attempts = await maxAttempt(handle, streams);
    await handle.terminate('test cap reached').catch(() => undefined);
    return { failed: false, text: '', ms, attempts };
  }
  assert.equal(result.ok, false, `${workflowId} was expected to fail, and completed`);
  return { failed: true, text: chain(result.ok ? undefined : result.err), ms, attempts: await maxAttempt(handle, streams) };
}

function assertFailedFast(o: Outcome, what: string): void {
  assert.ok(o.failed, `${what}: still retrying after ${o.ms} ms, at attempt ${o.attempts}`);
  assert.equal(o.attempts, 1, `${what}: failed after ${o.attempts} attempts (${o.ms} ms): ${o.text}`);
  assert.ok(o.ms < 30_000, `${what}: took ${o.ms} ms`);
  assert.doesNotMatch(o.text, new RegExp(API_KEY), 'the key never appears in a failure');
  console.log(`${what}: failed in ${o.ms} ms, ${o.attempts} attempt(s)`);
}

const TAGS_INTO = (target: string, table = 'tags') => `
source: KLAVIYO
target: ${target}
streams:
  tags:
    object: klaviyo.${table}
`;

void test('a page that is not JSON fails the stream at once, naming what came back and the base URL', async () => {
  await faults({ mangle: { kind: 'invalid-json', path: '/api/tags', skip: 1 } });
  const o = await replicate(TAGS_INTO('LITE', 'tags_bad_json'), 'fp-invalid-json', ['tags']);
  assertFailedFast(o, 'invalid JSON');
  assert.match(o.text, /not JSON \(it begins .*base URL/);
});

void test('a numeric resource id fails the stream at once, naming the field and the value', async () => {
  await faults({ mangle: { kind: 'numeric-id', path: '/api/tags', skip: 1 } });
  const o = await replicate(TAGS_INTO('LITE', 'tags_numeric_id'), 'fp-numeric-id', ['tags']);
  assertFailedFast(o, 'numeric id');
  assert.match(o.text, /data\[0\]\.id = the number 1 where a JSON:API page has a string/);
});

void test('a relative links.next fails the stream at once, naming it', async () => {
  await faults({ mangle: { kind: 'relative-next', path: '/api/tags', skip: 1 } });
  const o = await replicate(TAGS_INTO('LITE', 'tags_relative'), 'fp-relative-next', ['tags']);
  assertFailedFast(o, 'relative links.next');
  assert.match(o.text, /links\.next = the string "\/api\/tags[^"]*" where a JSON:API page has an absolute URL/);
});

void test('a links.next pointing at its own page ends the stream naming the URL, after one request', async () => {
  await faults({ mangle: { kind: 'self-next', path: '/api/tags' } });
  const before = await apiRequests();
  const o = await replicate(TAGS_INTO('LITE', 'tags_loop'), 'fp-self-next', ['tags']);
  const requests = (await apiRequests()) - before;
  assertFailedFast(o, 'self-looping links.next');
  assert.match(o.text, /links\.next for stream tags points back at the page itself: http:\/\/127\.0\.0\.1:\d+\/api\/tags/);
  // the pre-check's probe of tags:read, prepare (none for tags), then the first page: its next link is refused
  assert.ok(requests <= 3, `${requests} requests to the sandbox`);
});

void test('a links.next that loops back over more pages than one activity call reads ends the stream naming the URL', async () => {
  // 7 pages of events, then back to the first: one call reads 5 pages (stackWorker), so no call sees a page twice;
  // the loop mark saved with the state (at pages 1, 2, 4, 8, ...) catches it across calls
  const period = 7;
  await faults({ mangle: { kind: 'loop-next', path: '/api/events', skip: 1, period } });
  const before = await apiRequests();
  const yaml = `
source: KLAVIYO
target: LITE
streams:
  events:
    object: klaviyo.events_loop
`;
  const o = await replicate(yaml, 'fp-long-loop', ['events']);
  const requests = (await apiRequests()) - before;
  assertFailedFast(o, `a links.next loop of ${period} pages`);
  assert.match(o.text, /links\.next for stream events points back at a page already read .*: http:\/\/127\.0\.0\.1:\d+\/api\/events/);
  // Brent's bound: the mark at page 8 lies in the loop, and the loop returns to it 7 pages later
  assert.ok(requests <= 2 + 8 + period, `${requests} requests to the sandbox for a loop of ${period} pages`);
  console.log(`a links.next loop of ${period} pages: stopped after ${requests} requests`);
});

void test('a wrong database password fails at once naming the connection and the fix', async () => {
  const u = new URL(stack.postgres.url);
  u.password = 'not-the-password';
  const env = { ...stack.env, BADPG: u.toString() };
  const o = await replicate(TAGS_INTO('BADPG'), 'fp-bad-password', ['tags'], env);
  assertFailedFast(o, 'wrong database password');
  assert.match(o.text, /28P01.*check the user and password of connection BADPG/);
  assert.doesNotMatch(o.text, /not-the-password/);
});

void test('a view on a full-refresh table fails the swap at once, saying to drop it', async () => {
  const db = knex({ client: 'pg', connection: stack.postgres.url });
  try {
    await db.raw('CREATE SCHEMA IF NOT EXISTS viewed');
    await db.raw('CREATE TABLE IF NOT EXISTS viewed.tags (id text PRIMARY KEY)');
    await db.raw('CREATE OR REPLACE VIEW viewed.tag_ids AS SELECT id FROM viewed.tags');
    const yaml = `
source: KLAVIYO
target: PG
streams:
  tags:
    object: viewed.tags
`;
    const o = await replicate(yaml, 'fp-view-blocks-swap', ['tags']);
    assertFailedFast(o, 'a view blocking the swap');
    assert.match(o.text, /views or foreign keys on the table block it; drop them or sync the stream incrementally/);
  } finally {
    await db.raw('DROP SCHEMA IF EXISTS viewed CASCADE');
    await db.destroy();
  }
});

void test("a key without the second stream's scope fails before any table exists, naming scope and stream", async () => {
  const file = `${stack.tmp}/scope.db`;
  const env = {
    ...stack.env,
    KLAVIYO: stack.sandbox.connection(LISTS_ONLY_KEY),
    SCOPELITE: `sqlite://${file}`,
  };
  const yaml = `
source: KLAVIYO
target: SCOPELITE
streams:
  lists:
  tags:
`;
  const o = await replicate(yaml, 'fp-missing-scope', ['lists', 'tags'], env);
  assertFailedFast(o, 'missing scope of the second stream');
  assert.match(o.text, /lacks tags:read, which tags needs: grant it .* or disable that stream/);
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  assert.equal(size, 0, 'no table (nor database file) was created');
});
