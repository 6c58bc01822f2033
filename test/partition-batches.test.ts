/**
 * A stream workflow takes its pending partitions from `prepareStream` a bounded batch at a time: once it has started
 * a batch it asks for the pending ones after its last key, until none remain, and every partition runs exactly once.
 * Activities are stand-ins (the workflows are the real ones, on a real dev server) handing out batches of 3.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import type { PartitionPage, PartitionTask, StreamTask } from '../workflows/types';
import { startTemporal, type TestTemporal } from './helpers/temporal';

Runtime.install({ logger: new DefaultLogger('WARN') });

let temporal: TestTemporal;

before(async () => {
  temporal = await startTemporal();
});
after(async () => {
  await temporal?.teardown();
});

const KEYS = Array.from({ length: 10 }, (_, i) => `list${String(i).padStart(2, '0')}`);
const BATCH = 3;

void test('a fan-out asks for the next batch of pending partitions until none remain; each runs once', { timeout: 120_000 }, async () => {
  const done = new Set<string>();
  const started: string[] = [];
  const asked: Array<string | undefined> = [];
  const activities: Partial<Activities> = {
    async planReplication() {
      return {
        name: 'batches',
        source: 'KLAVIYO',
        target: 'LITE',
        streams: [
          {
            stream: 'list_profiles',
            mode: 'full-refresh',
            object: { schema: 'klaviyo', table: 'list_profiles' },
            objectName: 'klaviyo.list_profiles',
          },
        ],
        searchAttributes: false,
      };
    },
    async checkSource() {},
    async prepareStream(_task: StreamTask, page: PartitionPage = {}) {
      asked.push(page.after);
      const pending = KEYS.filter((k) => !done.has(k));
      const rest = page.after === undefined ? pending : pending.filter((k) => k > page.after!);
      return {
        watermark: null,
        partitions: rest.slice(0, BATCH).map((key) => ({ key, done: false })),
        total: KEYS.length,
        done: done.size,
        more: rest.length > BATCH,
      };
    },
    async syncPages(task: PartitionTask) {
      started.push(task.partition);
      done.add(task.partition);
      return { done: true, rows: 2, pages: 1 };
    },
    async finishStream() {
      return { rows: 2 * done.size, pages: done.size, tableRows: 2 * done.size, watermark: null };
    },
    async cancelStream() {
      return { stagingDropped: false };
    },
    async failStream() {
      return { stagingDropped: false };
    },
  };
  const worker = await Worker.create({
    connection: temporal.env.nativeConnection,
    taskQueue: 'partition-batches',
    workflowsPath: require.resolve('../workflows'),
    activities,
  });
  const summary = await worker.runUntil(
    temporal.env.client.workflow.execute('replicate', {
      taskQueue: 'partition-batches',
      workflowId: 'batches',
      args: [{ name: 'batches', yaml: '' }],
    }),
  );
  assert.equal(summary.streams[0].status, 'completed');
  assert.deepEqual([...started].sort(), KEYS, 'every partition ran exactly once');
  assert.deepEqual(asked, [undefined, 'list02', 'list05', 'list08'], 'one batch of 3 at a time, each after the last key started');
});
