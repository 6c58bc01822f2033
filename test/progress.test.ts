/**
 * Progress that means something: a stream read in time windows says how much of its range its committed
 * watermarks cover (percent done) and when it should end (ETA at its pace so far); a stream of several partitions
 * says how many are done. The pure parts first, then a real run (Temporal dev server, the sandbox over HTTP with
 * Klaviyo's latency, SQLite) paced at Sling's 3 requests/s so that it lasts long enough to be watched through the
 * stream's `progress` query, its Web UI current details and the CLI's live view.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from '@temporalio/worker';
import { createWorker } from '../worker';
import { coverageOf } from '../activities';
import { liveProgress, linesView } from '../client/progress-view';
import { windowCoverage } from '../streams/windows';
import { estimated, etaSeconds, formatSeconds, marked, percentDone, percentText, type StreamRunProgress } from '../workflows/progress';
import { streamProgressQuery } from '../workflows/shared';
import type { ReplicationSummary } from '../workflows/types';
import { startStack, type Stack } from './helpers/stack';

const H = 3_600_000;
const at = (hours: number) => new Date(Date.UTC(2025, 0, 1) + hours * H).toISOString().replace('.000Z', 'Z');

void describe('percent done and ETA', () => {
  void test('a window is covered up to its committed watermark; the open one up to now', () => {
    const w = { start: at(0), end: at(10) };
    assert.deepEqual(windowCoverage(w, null, false, new Date(at(50))), { coveredMs: 0, totalMs: 10 * H });
    assert.deepEqual(windowCoverage(w, at(4), false, new Date(at(50))), { coveredMs: 4 * H, totalMs: 10 * H });
    assert.deepEqual(windowCoverage(w, at(4), true, new Date(at(50))), { coveredMs: 10 * H, totalMs: 10 * H }, 'done: all of it');
    // a watermark past the end (capped at now elsewhere) or before the start counts within the window only
    assert.equal(windowCoverage(w, at(12), false, new Date(at(50))).coveredMs, 10 * H);
    assert.equal(windowCoverage(w, at(-3), false, new Date(at(50))).coveredMs, 0);
    assert.deepEqual(windowCoverage({ start: at(10), end: null }, at(15), false, new Date(at(20))), { coveredMs: 5 * H, totalMs: 10 * H });
  });

  void test("a run's coverage sums its windows; a stream without windows has none", () => {
    const now = new Date(at(30));
    const partitions = {
      [`${at(0)}..${at(10)}`]: { done: true, watermark: at(9) },
      [`${at(10)}..${at(20)}`]: { done: false, watermark: at(15) },
      [`${at(20)}..`]: { done: false, watermark: null },
    };
    assert.deepEqual(coverageOf(partitions, now), { coveredMs: 15 * H, totalMs: 30 * H });
    assert.equal(coverageOf({ '': { done: false, watermark: at(3) } }, now), undefined);
    assert.equal(coverageOf({ list01: { done: true, watermark: null } }, now), undefined);
  });

  void test('percent: of the range read, else of the partitions done; 100 only once completed', () => {
    const base = { status: 'running' as const, partitions: 1, partitionsDone: 0 };
    assert.equal(percentDone({ ...base, coverage: { coveredMs: 1, totalMs: 3 } }), 33.3);
    assert.equal(percentDone({ ...base, coverage: { coveredMs: 5, totalMs: 3 } }), 99.9, 'the open window grew: not 100 before the end');
    assert.equal(percentDone({ ...base, partitions: 8, partitionsDone: 2 }), 25);
    assert.equal(percentDone(base), undefined, 'one listing Klaviyo does not count');
    assert.equal(percentDone({ ...base, status: 'completed' }), 100);
  });

  void test('ETA: the time left at the recent pace, once that pace says something', () => {
    assert.equal(etaSeconds(25, { at: 0, percent: 0 }, 60_000), 180, '25% in a minute: three more');
    assert.equal(etaSeconds(60, { at: 0, percent: 50 }, 10_000), 40, 'from the mark: 10 points in 10 s');
    assert.equal(etaSeconds(0.05, { at: 0, percent: 0 }, 60_000), undefined, 'too little progress to tell');
    assert.equal(etaSeconds(50, { at: 0, percent: 0 }, 1_000), undefined, 'too early to tell');
    assert.equal(etaSeconds(100, { at: 0, percent: 0 }, 60_000), undefined);

    // marks a quarter of the stream's age apart (2 s to 60 s), the last three: the pace of its recent life
    let marks = marked([], 0, 0, 0);
    assert.deepEqual(marks, [{ at: 0, percent: 0 }]);
    assert.equal(marked(marks, 0, 1_000, 5).length, 1, 'not a step later yet');
    for (const [at, percent] of [
      [2_000, 50],
      [4_000, 90],
      [8_000, 92],
      [12_000, 93],
    ])
      marks = marked(marks, 0, at, percent);
    assert.deepEqual(
      marks.map((m) => m.at),
      [4_000, 8_000, 12_000],
    );
    // the sparse first seconds read 90%; the pace since the oldest mark kept is 3 points in 8 s
    assert.equal(etaSeconds(93, marks[0], 12_000), 19);
    assert.equal(marked([{ at: 0, percent: 0 }], 0, 3_600_000, 1).length, 2, 'an hour old: a minute apart at most');

    const p: StreamRunProgress = {
      stream: 'events',
      status: 'running',
      rows: 10,
      pages: 1,
      partitions: 3,
      partitionsDone: 1,
      running: [],
      runs: 1,
      startedAt: 0,
      pace: [{ at: 0, percent: 0 }],
      coverage: { coveredMs: 1, totalMs: 4 },
    };
    assert.deepEqual({ ...estimated(p, 30_000) }, { ...p, percent: 25, etaSeconds: 90 });
    assert.equal(p.percent, undefined, 'estimated() leaves the workflow state alone');
    assert.equal(percentText(estimated(p, 30_000)), '25% done, ETA 1m 30s');
    assert.equal(percentText({}), '');
    assert.equal(formatSeconds(90061), '1d 1h 1m 1s');
  });
});

void describe('a run watched while it reads', () => {
  let stack: Stack;
  let worker: Worker;
  before(async () => {
    stack = await startStack(['--events', '6000', '--profiles', '300', '--latency', 'klaviyo']);
    worker = await createWorker({
      connection: stack.temporal.env.nativeConnection,
      taskQueue: 'klaviyo-sync',
      // Sling's 3 requests/s for the account: the run takes long enough to be watched
      deps: { env: stack.env, rateLimitMode: 'sling', maxPagesPerCall: 2 },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  void test('events in windows: percent rises to 100, an ETA while it runs, in the query, the details and the CLI', async (t) => {
    const id = 'progress-events';
    const yaml = `source: KLAVIYO\ntarget: LITE\nstreams:\n  events:\n    mode: incremental\n    source_options:\n      start_date: ${new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10)}\n`;
    const client = stack.temporal.env.client;
    const seen: Array<{ ms: number; percent?: number; eta?: number; details: string; cli?: number }> = [];
    const lines: string[] = [];
    const view = linesView((l) => lines.push(l));
    let final: StreamRunProgress | undefined;
    const summary = (await worker.runUntil(async () => {
      const handle = await client.workflow.start('replicate', { taskQueue: 'klaviyo-sync', workflowId: id, args: [{ name: id, yaml }] });
      const stream = client.workflow.getHandle(`${id}/events`);
      const started = Date.now();
      let done = false;
      const result = handle.result().finally(() => (done = true));
      while (!done) {
        await new Promise((r) => setTimeout(r, 300));
        const p = await stream.query(streamProgressQuery).catch(() => undefined);
        if (!p || p.status !== 'running') continue;
        const meta = (await stream.query('__temporal_workflow_metadata').catch(() => undefined)) as { currentDetails?: string } | undefined;
        const live = await liveProgress(client.workflow, handle).catch(() => undefined);
        if (live) view.update(live);
        const cli = live?.streams.find((s) => s.stream === 'events')?.percent;
        seen.push({ ms: Date.now() - started, percent: p.percent, eta: p.etaSeconds, details: meta?.currentDetails ?? '', cli });
      }
      const summary = await result;
      // a closed workflow's query is answered by a worker replaying it: this one, while it still runs
      final = await stream.query(streamProgressQuery);
      return summary;
    })) as ReplicationSummary;
    assert.equal(summary.streams[0].status, 'completed', summary.streams[0].error);

    const percents = seen.map((s) => s.percent).filter((x): x is number => x !== undefined);
    t.diagnostic(`${seen.length} answers over ${seen.at(-1)?.ms} ms: ${[...new Set(percents)].join(', ')}%`);
    assert.ok(new Set(percents.filter((x) => x > 0 && x < 100)).size >= 3, `percent moved through the run: ${percents.join(', ')}`);
    for (let i = 1; i < percents.length; i++) {
      // the open window's range grows with the clock: a new run's prepare may count a little more of it
      assert.ok(percents[i] >= percents[i - 1] - 1, `percent did not go back: ${percents[i - 1]} then ${percents[i]}`);
    }
    const etas = seen.map((s) => s.eta).filter((x): x is number => x !== undefined);
    assert.ok(etas.length > 0 && etas.every((x) => x >= 0), `an ETA while it ran: ${etas.join(', ')}`);
    t.diagnostic(`ETAs (s): ${etas.join(', ')}`);
    assert.ok(
      seen.some((s) => /\*\*events\*\*: running, \d+ rows, \d+ pages, \d+(\.\d)?% done/.test(s.details)),
      `the Web UI's current details say the percent: ${seen.at(-1)?.details}`,
    );
    assert.ok(
      seen.some((s) => s.cli !== undefined && s.cli > 0),
      'the CLI combines the stream answer into its view',
    );
    assert.ok(
      lines.some((l) => /^events: running, \d+ rows, \d+ pages, \d+(\.\d)?% done/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /% done, ETA (\d+[dhms] ?)+$/.test(l)),
      `the CLI line has the ETA:\n${lines.join('\n')}`,
    );

    assert.equal(final!.status, 'completed');
    assert.equal(final!.percent, 100);
    assert.equal(final!.etaSeconds, undefined);
  });
});
