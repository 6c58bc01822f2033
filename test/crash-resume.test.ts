/**
 * The worker is a separate `klaviyo-sync worker` process, killed with SIGKILL in the middle of a stream and started
 * again: the replication completes and the tables are exact, no row missing and none duplicated.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Destination } from '../lib/db/destination';
import { startWorkerProcess } from './helpers/process';
import { ALL_STREAMS_YAML, checksumOf, startStack, tableIds, targetOf, truth, type Stack } from './helpers/stack';
import type { ReplicationSummary } from '../workflows/types';

let stack: Stack;

before(async () => {
  // enough events to take a while; each API response is slowed a little so the kill lands mid-stream
  stack = await startStack(['--events', '12000', '--faults', 'slow=1:40']);
});
after(async () => {
  await stack?.stop();
});

const startWorker = () =>
  startWorkerProcess(['--rate-limits', 'documented'], {
    env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: 'default' },
  });

void test('SIGKILL of the worker mid-stream: the replication completes with exact tables', async () => {
  const dest = new Destination(targetOf(stack, 'LITE'));
  const handle = await stack.temporal.env.client.workflow.start('replicate', {
    taskQueue: 'klaviyo-sync',
    workflowId: 'e2e-crash-resume',
    args: [{ name: 'crash', yaml: ALL_STREAMS_YAML('LITE') }],
  });

  let worker = await startWorker();
  // wait until events are being written, then kill the worker without warning
  const deadline = Date.now() + 120_000;
  for (;;) {
    assert.ok(Date.now() < deadline, 'events never started');
    const n = await dest.tableRowCount({ schema: 'klaviyo', table: 'events' }).catch(() => 0);
    if (n >= 1000) break;
    await sleep(200);
  }
  worker.child.kill('SIGKILL');
  await worker.exited;
  const atKill = await dest.tableRowCount({ schema: 'klaviyo', table: 'events' });
  const total = (await truth(stack)).events.count;
  assert.ok(atKill < total, `the kill landed mid-stream (${atKill} of ${total} events written)`);

  worker = await startWorker();
  try {
    const summary = (await handle.result()) as ReplicationSummary;
    assert.ok(summary.streams.every((s) => s.status === 'completed'));
  } finally {
    await worker.stop(10_000);
  }
  const t = await truth(stack);
  for (const s of ['events', 'profiles', 'list_profiles', 'campaigns'] as const) {
    const ids = await tableIds(dest, s);
    assert.equal(new Set(ids).size, ids.length, `${s}: duplicates`);
    assert.deepEqual(checksumOf(ids), t[s], `${s}: exact after the crash`);
  }
});
