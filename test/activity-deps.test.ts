/**
 * `createActivities(deps)` works with what it is given: the rate limiter of each account, the HTTP agent, the
 * database pools and the clock (no module singleton, no `new Date()` of its own), as a test passes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Agent, type Dispatcher } from 'undici';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { DatabasePools } from '../lib/db/connect';
import { createRateLimiter, type RateLimiter } from '../lib/klaviyo/ratelimit';
import { startSandbox } from '../sandbox';
import type { FinishResult, PagesResult, PrepareResult, StreamTask } from '../workflows/types';
import type { StreamName } from '../streams/types';

class CountingAgent extends Agent {
  requests = 0;
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.requests++;
    return super.dispatch(options, handler);
  }
}

void test('the activities use the injected limiter, HTTP agent, database pools and clock', async () => {
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 5, apiKeys: ['pk_deps_test'], rateLimits: 'off' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-deps-'));
  const file = path.join(tmp, 'klaviyo.db');
  // a clock of its own: a whole second a minute ago, so no request names a future instant
  const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const accounts: string[] = [];
  let acquired = 0;
  const limiterFor = (account: string): RateLimiter => {
    accounts.push(account);
    const inner = createRateLimiter({ mode: 'documented' });
    return {
      acquire: (op, signal) => (acquired++, inner.acquire(op, signal)),
      penalize: (op, seconds) => inner.penalize(op, seconds),
    };
  };
  const dispatcher = new CountingAgent();
  const databases = new DatabasePools();
  try {
    const activities = createActivities({
      env: {
        KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: sandbox.url, secrets: { api_key: 'pk_deps_test' } }),
        LITE: `sqlite://${file}`,
      },
      limiterFor,
      dispatcher,
      databases,
      now: () => NOW,
    });
    const task: StreamTask = {
      replicationId: 'deps',
      replicationName: 'deps',
      runId: 'deps-run-1',
      source: 'KLAVIYO',
      target: 'LITE',
      stream: 'tags',
      mode: 'full-refresh',
      object: { schema: 'klaviyo', table: 'tags' },
    };
    const env = new MockActivityEnvironment();
    const prep: PrepareResult = await env.run(activities.prepareStream, task);
    let pages: PagesResult;
    do pages = await env.run(activities.syncPages, { ...task, partition: prep.partitions[0].key });
    while (!pages.done);
    const fin: FinishResult = await env.run(activities.finishStream, task);
    assert.ok(fin.tableRows > 0);

    assert.deepEqual([...new Set(accounts)], [`KLAVIYO@${sandbox.url}`]);
    assert.ok(acquired > 0 && dispatcher.requests >= acquired, `${acquired} acquired, ${dispatcher.requests} requests`);
    const db = new Database(file, { readonly: true });
    try {
      const synced = db.prepare('select distinct _synced_at as at from klaviyo__tags').all() as Array<{ at: string }>;
      assert.deepEqual(
        synced.map((r) => new Date(r.at).getTime()),
        [NOW.getTime()],
        'rows are stamped with the injected clock',
      );
    } finally {
      db.close();
    }
  } finally {
    await databases.close();
    await dispatcher.close();
    await sandbox.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

void test('checkSource heartbeats after each scope probe, so a worker that dies mid-check is noticed within the heartbeat timeout', async () => {
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 5, apiKeys: ['pk_deps_test'], rateLimits: 'off' });
  try {
    const activities = createActivities({
      env: { KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: sandbox.url, secrets: { api_key: 'pk_deps_test' } }) },
      limiterFor: () => createRateLimiter({ mode: 'documented' }),
    });
    const env = new MockActivityEnvironment();
    let heartbeats = 0;
    env.on('heartbeat', () => heartbeats++);
    const streams: StreamName[] = ['profiles', 'events', 'tags'];
    await env.run(activities.checkSource, { source: 'KLAVIYO', streams });
    assert.equal(heartbeats, 3, 'one heartbeat per scope probed (profiles:read, events:read, tags:read)');
  } finally {
    await sandbox.close();
  }
});
