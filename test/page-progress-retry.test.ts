/**
 * A page activity that committed pages before a transient failure returns what it committed instead of failing.
 * Temporal counts an activity's attempts for its whole life and backs off longer after each: a partition of many
 * pages read at a steady fault rate would otherwise pile up failures across attempts that each made progress,
 * wait 60 s between them once past the sixth, and fail the stream after 30, although no attempt failed for want of
 * progress. Returning ends the call; the stream calls again at once (a new activity, attempt 1) from the committed
 * cursor. A failure before any page of the call committed is thrown, for Temporal's backoff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { DatabasePools } from '../lib/db/connect';
import { startSandbox } from '../sandbox';
import type { PagesResult, PrepareResult, StreamTask } from '../workflows/types';

/** Sends the requests numbered in `failing` to a closed port (a refused connection: a transient failure). */
class FailingAgent extends Agent {
  requests = 0;
  constructor(private readonly failing: Set<number>) {
    super();
  }
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.requests++;
    return super.dispatch(this.failing.has(this.requests) ? { ...options, origin: 'http://127.0.0.1:9' } : options, handler);
  }
}

void test('a transient failure after committed pages ends the call with them; before any, it is thrown', async () => {
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 5, apiKeys: ['pk_progress'], rateLimits: 'off' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-progress-'));
  // requests: 1 and 2 pages, 3 fails (after progress), 4 fails (first of its call), then the rest
  const dispatcher = new FailingAgent(new Set([3, 4]));
  const databases = new DatabasePools();
  try {
    const activities = createActivities({
      env: {
        KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: sandbox.url, secrets: { api_key: 'pk_progress' } }),
        LITE: `sqlite://${path.join(tmp, 'k.db')}`,
      },
      dispatcher,
      databases,
      rateLimitMode: 'documented',
      maxPagesPerCall: 20,
    });
    const task: StreamTask = {
      replicationId: 'progress',
      replicationName: 'progress',
      runId: 'progress-run-1',
      source: 'KLAVIYO',
      target: 'LITE',
      stream: 'events',
      mode: 'full-refresh',
      object: { schema: 'klaviyo', table: 'events' },
    };
    const env = new MockActivityEnvironment();
    const prep: PrepareResult = await env.run(activities.prepareStream, task);
    const partition = { ...task, partition: prep.partitions[0].key };

    const first: PagesResult = await env.run(activities.syncPages, partition);
    assert.deepEqual([first.done, first.pages], [false, 2], 'the call returned its two committed pages');
    await assert.rejects(env.run(activities.syncPages, partition), /ECONNREFUSED|connect/i, 'no page yet: thrown, for the backoff');
    let pages: PagesResult;
    let rows = first.rows;
    do {
      pages = await env.run(activities.syncPages, partition);
      rows += pages.rows;
    } while (!pages.done);
    assert.equal(rows, sandbox.account.events.count(), 'every event read, none twice');
  } finally {
    await databases.close();
    await dispatcher.close();
    await sandbox.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
