/**
 * The workflows on their own: `replicate` → `syncStream` → `syncPartition`, the real workflow code on a local
 * Temporal (`TestWorkflowEnvironment.createLocal` running the project's `temporal` CLI; the time-skipping server is
 * a download this project does not make), with fake activities whose timing each test controls. No Klaviyo, no
 * database: each test takes a second or two. The branches covered are the ones a real account rarely shows on cue:
 * a child failing while the fan-out drains before continue-as-new, continue-as-new inside the fan-out and inside a
 * partition, a cancel with children in flight, and one stream failing while the others finish.
 *
 * The server suggests continue-as-new after CAN_AFTER events, for every workflow of this file: a fan-out of a few
 * partitions, or a partition of a few pages, continues as new.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../activities';
import { requireTemporalCli } from '../client/temporal-cli';
import type { PlannedStream } from '../config/replication';
import type { StreamName } from '../streams/types';
import type { StreamCarry } from '../workflows/sync-stream';
import type { PartitionTask, ReplicationSummary, StreamTask } from '../workflows/types';
import { runsOf as listRuns } from './helpers/temporal';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const CAN_AFTER = 20;

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

before(async () => {
  [env, workflowBundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: requireTemporalCli() },
        log: { format: 'pretty', level: 'error' },
        extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${CAN_AFTER}`],
      },
    }),
    bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') }),
  ]);
});
after(async () => {
  await env?.teardown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keys = (n: number) => Array.from({ length: n }, (_, i) => `list${String(i).padStart(2, '0')}`);

function planned(stream: StreamName, mode: PlannedStream['mode'] = 'full-refresh'): PlannedStream {
  return { stream, mode, object: { schema: 'klaviyo', table: stream }, objectName: `klaviyo.${stream}` };
}

/**
 * Fake activities: a plan of `streams`; `list_profiles` fans out over `partitions` (a partition is done once its
 * syncPages said so, as the target's state would say); every other stream is one plain partition. `pages` decides
 * each syncPages call. Records what was called.
 */
function fakes(opts: {
  streams: PlannedStream[];
  partitions?: string[];
  /** the partitions of `events` (time windows; paged by the stream workflow itself, at once) */
  windows?: string[];
  pages: (task: PartitionTask, call: number) => Promise<{ done: boolean; rows: number; pages: number }>;
}) {
  const done = new Set<string>();
  const calls = new Map<string, number>();
  const log = {
    syncPages: [] as string[],
    finished: [] as StreamName[],
    cancelled: [] as StreamName[],
    failed: [] as StreamName[],
    prepared: 0,
  };
  const at = (t: PartitionTask) => `${t.stream}/${t.partition}`;
  const activities: Partial<Activities> = {
    async planReplication(input) {
      return { name: input.name ?? 'wf', source: 'KLAVIYO', target: 'LITE', streams: opts.streams, searchAttributes: false };
    },
    async checkSource() {},
    async prepareStream(task: StreamTask) {
      log.prepared++;
      if (task.stream === 'events' && opts.windows)
        return {
          watermark: null,
          partitions: opts.windows.filter((key) => !done.has(`events/${key}`)).map((key) => ({ key, done: false })),
        };
      if (task.stream !== 'list_profiles') return { watermark: null, partitions: [{ key: '', done: done.has(`${task.stream}/`) }] };
      return {
        watermark: null,
        partitions: (opts.partitions ?? []).map((key) => ({ key, parentId: key, done: done.has(`list_profiles/${key}`) })),
      };
    },
    async syncPages(task: PartitionTask) {
      const call = (calls.get(at(task)) ?? 0) + 1;
      calls.set(at(task), call);
      log.syncPages.push(at(task));
      const r = await opts.pages(task, call);
      if (r.done) done.add(at(task));
      return r;
    },
    async finishStream(task: StreamTask) {
      log.finished.push(task.stream);
      return { rows: 7, pages: 1, tableRows: 7, watermark: null };
    },
    async cancelStream(task: StreamTask) {
      log.cancelled.push(task.stream);
      return { stagingDropped: true };
    },
    async failStream(task: StreamTask) {
      log.failed.push(task.stream);
      return { stagingDropped: true };
    },
  };
  return { activities, log, done };
}

/** Runs `replicate` with these activities on a worker of its own; resolves with the result or the error. */
async function replicate(
  id: string,
  activities: Partial<Activities>,
  whileRunning?: () => Promise<void>,
): Promise<ReplicationSummary | unknown> {
  const taskQueue = `wf-${id}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities,
    // a fake activity's heartbeat reaches the server at once, so a cancel reaches it at once
    maxHeartbeatThrottleInterval: '100ms',
    defaultHeartbeatThrottleInterval: '100ms',
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start('replicate', { taskQueue, workflowId: id, args: [{ name: id, yaml: '' }] });
    await whileRunning?.();
    return handle.result().then(
      (r: ReplicationSummary) => r,
      (e: unknown) => e,
    );
  });
}

const runsOf = (workflowId: string) => listRuns(env.client, workflowId);

/** The status of a workflow's latest run, from the server (not from visibility, which may lag). */
async function statusOf(workflowId: string): Promise<string> {
  return (await env.client.workflow.getHandle(workflowId).describe()).status.name;
}

/** Whether the server suggested continue-as-new to the workflow's current run. */
async function suggested(workflowId: string): Promise<boolean> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).some((e) => e.workflowTaskStartedEventAttributes?.suggestContinueAsNew);
}

/** The carry the latest run of a stream workflow started with (its second argument), if it continued as new. */
async function carriedInto(workflowId: string): Promise<StreamCarry | undefined> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const payloads = history.events?.[0].workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  return payloads[1] ? defaultPayloadConverter.fromPayload<StreamCarry>(payloads[1]) : undefined;
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

void test('a partition failing while the fan-out drains for continue-as-new fails the stream, once', { timeout: 60_000 }, async () => {
  const KEYS = keys(12);
  const BAD = KEYS[0];
  let lastActivity = Date.now();
  let drained = false;
  const f = fakes({
    streams: [planned('list_profiles')],
    partitions: KEYS,
    async pages(task) {
      lastActivity = Date.now();
      if (task.partition !== BAD) {
        await sleep(20);
        lastActivity = Date.now();
        return { done: true, rows: 3, pages: 1 };
      }
      // in flight until the server suggested continue-as-new to the stream and it stopped starting children (it
      // drains), then fails
      while (!(await suggested('drain/list_profiles')) || Date.now() - lastActivity < 500) await sleep(100);
      drained = true;
      throw ApplicationFailure.nonRetryable(`list ${BAD} cannot be read`, 'KlaviyoBadRequest');
    },
  });
  const err = await replicate('drain', f.activities);

  assert.ok(drained, `${BAD} failed while the stream drained for continue-as-new`);
  assert.ok(err instanceof WorkflowFailedError, `the replication failed: ${String(err)}`);
  assert.match(
    String((err.cause as ApplicationFailure).message),
    new RegExp(`1 of 1 streams failed: list_profiles: list ${BAD} cannot be read`),
  );
  assert.equal(
    f.log.syncPages.filter((k) => k === `list_profiles/${BAD}`).length,
    1,
    `${BAD} was started once (its failure was not dropped)`,
  );
  assert.ok(f.done.size > 0 && f.done.size < KEYS.length - 1, `the fan-out stopped before the end of its partitions (${f.done.size} done)`);
  assert.equal(await statusOf('drain/list_profiles'), 'FAILED', 'the stream failed, it did not continue as new');
  assert.equal((await runsOf('drain/list_profiles')).length, 1);
  assert.deepEqual(f.log.finished, [], 'a failed stream is not finished');
});

const windows = (n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      `2025-01-${String(i + 1).padStart(2, '0')}T00:00:00Z..${i + 1 < n ? `2025-01-${String(i + 2).padStart(2, '0')}T00:00:00Z` : ''}`,
  );

void test('time windows are paged at once and drained for continue-as-new: each read to its end once', { timeout: 60_000 }, async () => {
  const KEYS = windows(10);
  let inFlight = 0;
  let most = 0;
  const f = fakes({
    streams: [planned('events', 'incremental')],
    windows: KEYS,
    async pages(task, call) {
      most = Math.max(most, ++inFlight);
      await sleep(30);
      inFlight--;
      return { done: call === 3, rows: 5, pages: 1 };
    },
  });
  const summary = (await replicate('windows-can', f.activities)) as ReplicationSummary;

  assert.equal(summary.streams[0].status, 'completed', JSON.stringify(summary));
  assert.ok(most > 1, `${most} windows in flight at once`);
  for (const k of KEYS) assert.equal(f.log.syncPages.filter((x) => x === `events/${k}`).length, 3, `${k}: its 3 pages, once each`);
  assert.ok((await runsOf('windows-can/events')).length > 1, 'the stream continued as new while windows were in flight');
  assert.deepEqual(f.log.finished, ['events'], 'finished once');
});

void test('a window failing while others page fails the stream once they ended; none starts after', { timeout: 60_000 }, async () => {
  const KEYS = windows(6);
  const BAD = KEYS[1];
  let failedAt = 0;
  const started: number[] = [];
  const ended: number[] = [];
  const f = fakes({
    streams: [planned('events', 'incremental')],
    windows: KEYS,
    async pages(task) {
      started.push(Date.now());
      try {
        if (task.partition === BAD) {
          await sleep(100);
          failedAt = Date.now();
          throw ApplicationFailure.nonRetryable(`window ${BAD} cannot be read`, 'KlaviyoBadRequest');
        }
        await sleep(task.partition === KEYS[0] ? 600 : 40);
        return { done: false, rows: 1, pages: 1 };
      } finally {
        ended.push(Date.now());
      }
    },
  });
  const err = await replicate('windows-fail', f.activities);

  assert.ok(err instanceof WorkflowFailedError, `the replication failed: ${String(err)}`);
  assert.match(String((err.cause as ApplicationFailure).message), new RegExp(`events: window ${BAD.replace(/\./g, '\\.')} cannot be read`));
  const closed = (await env.client.workflow.getHandle('windows-fail/events').describe()).closeTime!.getTime();
  assert.ok(closed >= Math.max(...ended), 'the stream failed after every activity in flight had ended');
  assert.ok(Math.max(...ended) > failedAt + 300, `the slow window was still in flight when ${BAD} failed, and was waited for`);
  assert.ok(started.filter((t) => t > failedAt + 100).length === 0, 'no activity started after the failure');
  assert.deepEqual(f.log.finished, [], 'a failed stream is not finished');
});

void test(
  'a fan-out continues as new: every partition synced once, counts carried, the stream finished once',
  { timeout: 60_000 },
  async () => {
    const KEYS = keys(12);
    const LONG = KEYS[0];
    const f = fakes({
      streams: [planned('list_profiles')],
      partitions: KEYS,
      async pages(task, call) {
        await sleep(10);
        // one partition of 6 pages: its own child continues as new too
        if (task.partition === LONG) return { done: call === 6, rows: 2, pages: 1 };
        return { done: true, rows: 3, pages: 1 };
      },
    });
    const summary = (await replicate('fan-out-can', f.activities)) as ReplicationSummary;

    assert.equal(summary.streams[0].status, 'completed', JSON.stringify(summary));
    for (const k of KEYS) {
      assert.equal(f.log.syncPages.filter((c) => c === `list_profiles/${k}`).length, k === LONG ? 6 : 1, `${k}'s pages were read once`);
    }
    assert.deepEqual(f.log.finished, ['list_profiles'], 'finished once, by the last run');
    const streamRuns = await runsOf('fan-out-can/list_profiles');
    assert.ok(streamRuns.length > 1, `the stream continued as new (${streamRuns.length} runs)`);
    assert.equal(streamRuns.filter((r) => r.status.name === 'CONTINUED_AS_NEW').length, streamRuns.length - 1);
    assert.equal(f.log.prepared, streamRuns.length, 'each run asked prepareStream where it stands');
    const carry = await carriedInto('fan-out-can/list_profiles');
    assert.ok(
      carry && carry.runs === streamRuns.length - 1 && carry.rows > 0,
      `the last run started with the earlier runs' counts: ${JSON.stringify(carry)}`,
    );
    const longRuns = await runsOf(`fan-out-can/list_profiles/${LONG}`);
    assert.ok(longRuns.length > 1, `the long partition continued as new (${longRuns.length} runs)`);
    assert.deepEqual(
      await env.client.workflow.getHandle(`fan-out-can/list_profiles/${LONG}`).result(),
      { rows: 12, pages: 6 },
      'its counts carried across its runs',
    );
  },
);

void test('a cancel ends every child Canceled, each stream after its cancelStream', { timeout: 60_000 }, async () => {
  const KEYS = keys(3);
  const inFlight = new Set<string>();
  const f = fakes({
    streams: [planned('profiles', 'incremental'), planned('list_profiles')],
    partitions: KEYS,
    async pages(task) {
      inFlight.add(`${task.stream}/${task.partition}`);
      // pages until cancelled: a heartbeat per page brings the cancel
      for (;;) {
        Context.current().heartbeat();
        await Context.current().sleep(50);
      }
    },
  });
  const err = await replicate('cancel', f.activities, async () => {
    await until('every partition in flight', () => inFlight.size === 1 + KEYS.length);
    await env.client.workflow.getHandle('cancel').cancel();
  });

  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, `the replication ended Canceled: ${String(err)}`);
  for (const id of ['cancel', 'cancel/profiles', 'cancel/list_profiles', ...KEYS.map((k) => `cancel/list_profiles/${k}`)]) {
    assert.equal(await statusOf(id), 'CANCELLED', `${id} ended Canceled`);
  }
  assert.deepEqual([...f.log.cancelled].sort(), ['list_profiles', 'profiles'], 'cancelStream ran for each stream');
  assert.deepEqual(f.log.finished, [], 'no stream was finished');
});

void test(
  'a stream failing while the others run fails the replication once they all finished, naming it',
  { timeout: 60_000 },
  async () => {
    let failedAt = 0;
    const finishedAt: number[] = [];
    const f = fakes({
      streams: [planned('profiles', 'incremental'), planned('lists'), { ...planned('list_profiles'), parent: 'lists' }],
      partitions: keys(2),
      async pages(task, call) {
        if (task.stream === 'lists') {
          failedAt = Date.now();
          throw ApplicationFailure.nonRetryable('the key lacks lists:read', 'KlaviyoPermissionError');
        }
        await sleep(150);
        const done = call === 3;
        if (done) finishedAt.push(Date.now());
        return { done, rows: 5, pages: 1 };
      },
    });
    const err = await replicate('one-fails', f.activities);

    assert.ok(err instanceof WorkflowFailedError, `the replication failed: ${String(err)}`);
    const cause = err.cause as ApplicationFailure;
    assert.equal(cause.type, 'ReplicationFailed');
    assert.equal(cause.message, '1 of 3 streams failed: lists: the key lacks lists:read');
    const summary = cause.details?.[0] as ReplicationSummary;
    assert.deepEqual(
      summary.streams.map((s) => [s.stream, s.status]),
      [
        ['profiles', 'completed'],
        ['lists', 'failed'],
        ['list_profiles', 'completed'],
      ],
    );
    assert.deepEqual([...f.log.finished].sort(), ['list_profiles', 'profiles'], 'the other streams finished');
    assert.ok(finishedAt.length === 3 && finishedAt.every((t) => t > failedAt), 'their last pages came after the failure');
    assert.equal(f.log.syncPages.filter((c) => c === 'lists/').length, 1, 'a non-retryable failure is not retried');
    assert.deepEqual(f.log.cancelled, [], 'nothing was cancelled');
    assert.deepEqual(f.log.failed, ['lists'], 'the failed full refresh was cleaned up (its staging dropped), the others not');
  },
);
