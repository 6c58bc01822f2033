/**
 * A fan-out that continues as new must not drop a child's failure. With the server suggesting continue-as-new
 * after 20 events, a membership stream of 20 lists fans out; the first list's child fails (non-retryably) while
 * the stream drains its in-flight children before continuing as new. The failure must fail the stream and the
 * replication, and the failing partition must not be started again by the next run.
 *
 * Activities are stand-ins (the workflows are the real ones, on a real dev server): the failure's timing is
 * under the test's control, which a real Klaviyo would not give.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import type { PartitionTask, StreamTask } from '../workflows/types';
import { startTemporal, type TestTemporal } from './helpers/temporal';

Runtime.install({ logger: new DefaultLogger('WARN') });

let temporal: TestTemporal;

before(async () => {
  temporal = await startTemporal({ extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=20'] });
});
after(async () => {
  await temporal?.teardown();
});

const KEYS = Array.from({ length: 20 }, (_, i) => `list${String(i).padStart(2, '0')}`);
const BAD = KEYS[0];

void test('a partition failing while the fan-out drains for continue-as-new fails the stream, once', { timeout: 120_000 }, async () => {
  const done = new Set<string>();
  const started: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const activities: Partial<Activities> = {
    async planReplication() {
      return {
        name: 'drain',
        source: 'KLAVIYO',
        target: 'LITE',
        streams: [{ stream: 'list_profiles', mode: 'full-refresh', object: { schema: 'klaviyo', table: 'list_profiles' }, objectName: 'klaviyo.list_profiles' }],
        searchAttributes: false,
      };
    },
    async checkSource() {},
    async prepareStream(_task: StreamTask) {
      return { watermark: null, partitions: KEYS.map((key) => ({ key, parentId: key, done: done.has(key) })) };
    },
    async syncPages(task: PartitionTask) {
      started.push(task.partition);
      if (task.partition === BAD) {
        // long enough for the others to fill the history: the suggestion comes while this one is in flight
        await sleep(4000);
        throw ApplicationFailure.nonRetryable(`list ${BAD} cannot be read`, 'KlaviyoBadRequest');
      }
      await sleep(50);
      done.add(task.partition);
      return { done: true, rows: 3, pages: 1 };
    },
    async finishStream() {
      return { rows: 3 * done.size, pages: done.size, tableRows: 3 * done.size, watermark: null };
    },
    async cancelStream() {
      return { stagingDropped: false };
    },
  };
  const worker = await Worker.create({
    connection: temporal.env.nativeConnection,
    taskQueue: 'fan-out-failure',
    workflowsPath: require.resolve('../workflows'),
    activities,
  });
  const err = await worker.runUntil(
    temporal.env.client.workflow
      .execute('replicate', { taskQueue: 'fan-out-failure', workflowId: 'drain', args: [{ name: 'drain', yaml: '' }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      ),
  );
  let streamRuns = 0;
  for await (const _ of temporal.env.client.workflow.list({ query: `WorkflowId = 'drain/list_profiles'` })) streamRuns++;
  process.stdout.write(`# ${started.length} partition starts, ${BAD} started ${started.filter((k) => k === BAD).length} times; stream runs: ${streamRuns}\n`);

  assert.ok(err instanceof WorkflowFailedError, `the replication failed: ${String(err)}`);
  assert.match(String((err.cause as ApplicationFailure | undefined)?.message), new RegExp(`list_profiles: list ${BAD} cannot be read`));
  assert.equal(started.filter((k) => k === BAD).length, 1, `${BAD} was started once (its failure was not dropped and retried by a later run)`);
  assert.ok(done.size < KEYS.length - 1, `the stream stopped starting children after the failure (${done.size} done)`);
});
