/**
 * The bound on pages a process holds between their response and their commit (lib/pages-in-memory.ts, a Semaphore
 * of lib/semaphore.ts): places pass in order, an abort takes a waiter out, and a page activity waits for a place
 * after its headers, before its body, writing nothing until it gets one; cancelled while it waits, it ends with
 * nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { DatabasePools } from '../lib/db/connect';
import { PAGES_IN_MEMORY, PAGES_IN_MEMORY_ENV, pagesInMemoryOf, type PagesInMemory } from '../lib/pages-in-memory';
import { Semaphore } from '../lib/semaphore';
import { startSandbox } from '../sandbox';
import type { PagesResult, PrepareResult, StreamTask } from '../workflows/types';

void test('KLAVIYO_SYNC_PAGES_IN_MEMORY: unset for the default, else a whole number ≥ 1; anything else is refused naming it', () => {
  assert.equal(pagesInMemoryOf({}), PAGES_IN_MEMORY);
  assert.equal(pagesInMemoryOf({ [PAGES_IN_MEMORY_ENV]: '4' }), 4);
  for (const bad of ['0', '1.5', 'many', '-2']) {
    assert.throws(
      () => pagesInMemoryOf({ [PAGES_IN_MEMORY_ENV]: bad }),
      /KLAVIYO_SYNC_PAGES_IN_MEMORY must be a whole number of pages/,
      bad,
    );
  }
});

void test('places: at most `size` held, passed on in order, a leave counted once, an aborted waiter gone', async () => {
  const pages = new Semaphore(2);
  const a = await pages.acquire();
  const b = await pages.acquire();
  const order: string[] = [];
  const c = pages.acquire().then((leave) => (order.push('c'), leave));
  const d = pages.acquire().then((leave) => (order.push('d'), leave));
  const ac = new AbortController();
  const e = pages.acquire(ac.signal);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pages.state, { held: 2, waiting: 3 });
  ac.abort(new Error('cancelled'));
  await assert.rejects(e, /cancelled/);
  assert.deepEqual(pages.state, { held: 2, waiting: 2 });
  a();
  a(); // a second leave of the same page frees nothing more
  const leaveC = await c;
  assert.deepEqual(order, ['c']);
  assert.deepEqual(pages.state, { held: 2, waiting: 1 });
  b();
  const leaveD = await d;
  assert.deepEqual(order, ['c', 'd']);
  leaveC();
  leaveD();
  assert.deepEqual(pages.state, { held: 0, waiting: 0 });
  await assert.rejects(pages.acquire(AbortSignal.abort(new Error('already'))), /already/);
});

async function pageActivity(pagesInMemory: PagesInMemory) {
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 7, apiKeys: ['pk_mem'], rateLimits: 'off' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-pages-'));
  const databases = new DatabasePools();
  const activities = createActivities({
    env: {
      KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: sandbox.url, secrets: { api_key: 'pk_mem' } }),
      LITE: `sqlite://${path.join(tmp, 'k.db')}`,
    },
    databases,
    rateLimitMode: 'off',
    heartbeatWhileWaitingMs: 50,
    pagesInMemory,
  });
  const task: StreamTask = {
    replicationId: 'mem',
    replicationName: 'mem',
    runId: 'mem-run-1',
    source: 'KLAVIYO',
    target: 'LITE',
    stream: 'tags',
    mode: 'full-refresh',
    object: { schema: 'klaviyo', table: 'tags' },
  };
  const prep: PrepareResult = await new MockActivityEnvironment().run(activities.prepareStream, task);
  return {
    activities,
    task: { ...task, partition: prep.partitions[0].key },
    async close() {
      await databases.close();
      await sandbox.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

const settled = (p: Promise<unknown>) =>
  Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise((r) => setTimeout(() => r(false), 600)),
  ]);

void test('a page activity waits for a place before it reads a body, heartbeating with no page written, then pages on', async () => {
  const pages = new Semaphore(1);
  const run = await pageActivity(pages);
  try {
    const leave = await pages.acquire();
    const env = new MockActivityEnvironment();
    const beats: Array<{ pages: number }> = [];
    env.on('heartbeat', (d: { pages: number }) => beats.push(d));
    const result = env.run(run.activities.syncPages, run.task);
    assert.equal(await settled(result), false, 'the activity went on while the only place was held');
    assert.deepEqual(pages.state, { held: 1, waiting: 1 });
    assert.ok(beats.length >= 3 && beats.every((b) => b.pages === 0), JSON.stringify(beats));
    leave();
    const done = (await result) as PagesResult;
    assert.ok(done.pages >= 1 && done.rows > 0, JSON.stringify(done));
    assert.deepEqual(pages.state, { held: 0, waiting: 0 }, 'every page left its place once committed');
  } finally {
    await run.close();
  }
});

void test('a page activity cancelled while it waits for a place ends cancelled, and leaves no waiter behind', async () => {
  const pages = new Semaphore(1);
  const run = await pageActivity(pages);
  try {
    const leave = await pages.acquire();
    const env = new MockActivityEnvironment();
    const result = env.run(run.activities.syncPages, run.task);
    assert.equal(await settled(result), false);
    env.cancel();
    await assert.rejects(result, (err: unknown) => err instanceof CancelledFailure);
    assert.deepEqual(pages.state, { held: 1, waiting: 0 });
    leave();
    assert.deepEqual(pages.state, { held: 0, waiting: 0 });
  } finally {
    await run.close();
  }
});
