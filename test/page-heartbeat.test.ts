/**
 * A page activity heartbeats while a request is in flight, not only after each page: a request that hangs is then
 * ended by the client's own timeouts (which name the problem) rather than by Temporal's heartbeat timeout (which
 * names none and starts a retry beside the request still running), and a cancel reaches the activity while it waits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { DatabasePools } from '../lib/db/connect';
import { startSandbox } from '../sandbox';
import type { PagesResult, PrepareResult, StreamTask } from '../workflows/types';

void test('a page activity heartbeats while an answer is slow to come, then after the page', async () => {
  // every answer after 1.2 s; the activity should beat every 200 ms meanwhile
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 5, apiKeys: ['pk_beat'], rateLimits: 'off', faults: 'slow=1:1200' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-beat-'));
  const databases = new DatabasePools();
  try {
    const activities = createActivities({
      env: {
        KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: sandbox.url, secrets: { api_key: 'pk_beat' } }),
        LITE: `sqlite://${path.join(tmp, 'k.db')}`,
      },
      databases,
      rateLimitMode: 'off',
      maxPagesPerCall: 1,
      heartbeatWhileWaitingMs: 200,
    });
    const task: StreamTask = {
      replicationId: 'beat',
      replicationName: 'beat',
      runId: 'beat-run-1',
      source: 'KLAVIYO',
      target: 'LITE',
      stream: 'tags',
      mode: 'full-refresh',
      object: { schema: 'klaviyo', table: 'tags' },
    };
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const prep: PrepareResult = await env.run(activities.prepareStream, task);
    const pages: PagesResult = await env.run(activities.syncPages, { ...task, partition: prep.partitions[0].key });
    assert.equal(pages.pages, 1);
    // about six beats while waiting (1.2 s / 200 ms), then the page's own; the ones while waiting say no page yet
    assert.ok(beats.length >= 4, `heartbeats: ${JSON.stringify(beats)}`);
    assert.deepEqual(beats[0], { partition: prep.partitions[0].key, pages: 0, rows: 0, attempt: 1 });
    assert.deepEqual(beats.at(-1), { partition: prep.partitions[0].key, pages: 1, rows: pages.rows, attempt: 1 });
  } finally {
    await databases.close();
    await sandbox.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
