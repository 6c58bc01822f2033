/**
 * Klaviyo faults from the sandbox at 5%, 10% and 20% of requests: 500 and 503, connection resets, answers slower
 * than the client's request timeout, 429s with Retry-After (a burst of them at the start of each run, then a share).
 * Each rate replicates all 22 streams into a schema of its own in Postgres, with a `klaviyo-sync worker` process:
 * the tables must be exact (count and ids checksum per stream against /__sandbox/truth), and the retries, the
 * requests beyond those a run without faults sends, are counted and bounded by twice the faults injected (the
 * sandbox's stats count them by kind). The 429s: a share of them, and a burst of five in a row once pages are
 * being read (the pre-check's attempts are five in all, so a burst there tests the policy's numbers, not retries).
 *
 * The client's request timeout is 60 s (lib/klaviyo/client.ts); the worker runs with KLAVIYO_SYNC_HTTP_TIMEOUT_MS
 * at 2 s and the slow answers take 3 s, so a slow answer is one the client gives up on, without a minute per fault.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Destination } from '../../lib/db/destination';
import { backoffSeconds } from '../../lib/retry-policy';
import { STREAM_NAMES } from '../../streams/streams';
import type { ReplicationSummary } from '../../workflows/types';
import { startWorkerProcess, type RunningProcess } from '../helpers/process';
import { ALL_STREAMS_YAML, startStack, targetOf, truth, type Stack } from '../helpers/stack';
import { recordFigures, SHORT } from './figures';
import { causes, checkTables, failedActivityAttempts, sandboxStats, statsDelta } from './measure';

const SUITE = 'klaviyo-faults';
const TIMEOUT_MS = 2_000;
const SLOW_MS = 3_000;
/** each fault costs at most this many requests beyond the run without faults (see the bound below) */
const RETRIES_PER_FAULT = 2;
/**
 * The highest attempt an activity may reach: attempts count failures in a row without a committed page (a call
 * that committed pages returns them rather than failing), so the burst of five 429s, plus a few faults in a row.
 */
const MAX_ATTEMPT = 10;
/**
 * Every run must end within this; one that does not is a hang. Temporal's backoff follows the attempt number, and
 * the burst of 429s raises it, so a 500 right after the burst waits 32 s, the next 60 s: an activity at the highest
 * attempt allowed has waited the policy's backoffs 1 to MAX_ATTEMPT - 1 (243 s), and the bound is that on top of
 * the time a run without faults takes (a minute in the short form, ten in the long).
 */
const BACKOFF_ALLOWED_MS = Array.from({ length: MAX_ATTEMPT - 1 }, (_, i) => backoffSeconds(i + 1)).reduce((a, b) => a + b, 0) * 1000;
const RUN_BOUND_MS = (SHORT ? 60_000 : 600_000) + BACKOFF_ALLOWED_MS;

let stack: Stack;
let worker: RunningProcess;

before(async () => {
  stack = await startStack(SHORT ? [] : ['--size', 'medium']);
  worker = await startWorkerProcess(['--rate-limits', 'documented'], {
    env: {
      ...stack.env,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      KLAVIYO_SYNC_HTTP_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
});
after(async () => {
  await worker?.stop(10_000);
  await stack?.stop();
});

/** Replicates every stream into `schema`, running `during` beside it. */
async function replicate(
  schema: string,
  during: (done: () => boolean) => Promise<void> = async () => {},
): Promise<{ summary?: ReplicationSummary; error?: unknown; ms: number; hung: boolean }> {
  const yaml = ALL_STREAMS_YAML('PG').replace('object: klaviyo.{stream_name}', `object: ${schema}.{stream_name}`);
  const started = Date.now();
  const handle = await stack.temporal.env.client.workflow.start('replicate', {
    taskQueue: 'klaviyo-sync',
    workflowId: `faults-${schema}`,
    args: [{ name: `faults-${schema}`, yaml }],
  });
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), RUN_BOUND_MS)));
  let ended = false;
  const beside = during(() => ended);
  try {
    const r = await Promise.race([handle.result() as Promise<ReplicationSummary>, bound]);
    if (r === 'hung') {
      await handle.terminate('reliability: past its bound').catch(() => undefined);
      return { ms: Date.now() - started, hung: true };
    }
    return { summary: r, ms: Date.now() - started, hung: false };
  } catch (error) {
    return { error, ms: Date.now() - started, hung: false };
  } finally {
    ended = true;
    clearTimeout(timer);
    await beside;
  }
}

let baseline: { requests: number; ok: number } | undefined;

void test('no faults: the requests a replication of all 22 streams sends', async () => {
  await stack.sandbox.admin('faults', {});
  const before = await sandboxStats(stack.sandbox.baseUrl);
  const run = await replicate('base');
  const delta = statsDelta(before, await sandboxStats(stack.sandbox.baseUrl));
  const dest = new Destination(targetOf(stack, 'PG'));
  const tables = await checkTables(dest, [...STREAM_NAMES], 'base', await truth(stack));
  baseline = { requests: delta.requests, ok: delta.ok };
  recordFigures({
    suite: SUITE,
    case: 'no faults (baseline)',
    rowsLost: tables.rowsLost,
    rowsDuplicated: tables.rowsDuplicated,
    hangs: run.hung ? 1 : 0,
    details: { requests: delta.requests, rows: tables.rows, seconds: Math.round(run.ms / 100) / 10 },
  });
  assert.equal(run.hung, false);
  assert.ifError(run.error);
  assert.equal(delta.faultsTotal, 0);
  assert.deepEqual(
    tables.tables.filter((t) => t.rowsLost + t.rowsDuplicated > 0),
    [],
  );
});

for (const rate of [0.05, 0.1, 0.2]) {
  const pct = Math.round(rate * 100);
  void test(`faults at ${pct}%: exact tables, retries bounded by the faults injected`, async () => {
    assert.ok(baseline, 'the baseline ran');
    // of the share: 500 and 503 (30% and 20%), resets (20%), 429 with Retry-After (30%); and apart from those, a
    // quarter of the share answers after the client's timeout. Once pages are being read (the pre-check's
    // probes and some pages answered), a burst of five 429s in a row.
    const config = {
      '500': rate * 0.3,
      '503': rate * 0.2,
      reset: rate * 0.2,
      '429': rate * 0.3,
      slow: { p: rate * 0.25, ms: SLOW_MS },
    };
    await stack.sandbox.admin('faults', config);
    const before = await sandboxStats(stack.sandbox.baseUrl);
    let burst = false;
    const run = await replicate(`f${pct}`, async (done) => {
      while (!done()) {
        if (statsDelta(before, await sandboxStats(stack.sandbox.baseUrl)).ok >= 25) {
          await stack.sandbox.admin('faults', { ...config, failNext: { count: 5, status: 429 } });
          burst = true;
          return;
        }
        await sleep(50);
      }
    });
    const after = await sandboxStats(stack.sandbox.baseUrl);
    await stack.sandbox.admin('faults', {});
    const delta = statsDelta(before, after);
    const dest = new Destination(targetOf(stack, 'PG'));
    const tables = await checkTables(dest, [...STREAM_NAMES], `f${pct}`, await truth(stack));

    // A faulted request is sent again when its activity retries (from the cursor committed with the last page), so
    // each fault should cost one request; twice that allows for a page answered but not yet committed when its
    // attempt failed (a retry reads it again), and for a slow answer that was also a faulted one (counted twice).
    const retries = delta.requests - baseline.requests;
    const bound = RETRIES_PER_FAULT * delta.faultsTotal;
    const attempts = await failedActivityAttempts(stack.temporal.env.client, `faults-f${pct}`);
    recordFigures({
      suite: SUITE,
      case: `${pct}% faults`,
      faults: delta.faultsTotal,
      rowsLost: tables.rowsLost,
      rowsDuplicated: tables.rowsDuplicated,
      hangs: run.hung ? 1 : 0,
      details: {
        requests: delta.requests,
        baselineRequests: baseline.requests,
        retries,
        retryBound: bound,
        ...Object.fromEntries(Object.entries(delta.faults).map(([k, n]) => [`fault ${k}`, n])),
        burstOf429: burst ? 5 : 0,
        failedAttempts: attempts.failedAttempts,
        maxAttempt: attempts.maxAttempt,
        rows: tables.rows,
        seconds: Math.round(run.ms / 100) / 10,
        ...(run.error ? { error: causes(run.error) } : {}),
      },
    });
    assert.equal(run.hung, false, `the replication at ${pct}% did not end within ${RUN_BOUND_MS / 1000} s`);
    assert.ifError(run.error);
    assert.ok(run.summary!.streams.every((s) => s.status === 'completed'));
    assert.ok(delta.faultsTotal > 0, 'faults were injected');
    assert.ok(burst, 'the burst of 429s came mid-run');
    assert.deepEqual(
      tables.tables.filter((t) => t.rowsLost + t.rowsDuplicated > 0),
      [],
      `exact tables at ${pct}%`,
    );
    assert.ok(retries >= 0, `no fewer requests than without faults (${delta.requests} < ${baseline.requests})`);
    assert.ok(retries <= bound, `retries ${retries} within ${RETRIES_PER_FAULT} per fault injected (${delta.faultsTotal})`);
    assert.ok(attempts.maxAttempt <= MAX_ATTEMPT, `no activity past attempt ${MAX_ATTEMPT} (${attempts.maxAttempt})`);
  });
}

// The long form also slows answers past the client's own timeout (60 s), on a worker with the default: a stuck
// request outlives the page activity's heartbeat timeout (30 s), so Temporal retries the attempt while it waits.
if (!SHORT) {
  void test('answers slower than the default 60 s request timeout: exact tables, retries bounded', async () => {
    assert.ok(baseline, 'the baseline ran');
    await worker.stop(10_000);
    worker = await startWorkerProcess(['--rate-limits', 'documented'], {
      env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: 'default' },
    });
    await stack.sandbox.admin('faults', { slow: { p: 0.01, ms: 65_000 } });
    const before = await sandboxStats(stack.sandbox.baseUrl);
    const run = await replicate('slow60');
    const after = await sandboxStats(stack.sandbox.baseUrl);
    await stack.sandbox.admin('faults', {});
    const delta = statsDelta(before, after);
    const tables = await checkTables(new Destination(targetOf(stack, 'PG')), [...STREAM_NAMES], 'slow60', await truth(stack));
    const retries = delta.requests - baseline.requests;
    const bound = RETRIES_PER_FAULT * delta.faultsTotal;
    recordFigures({
      suite: SUITE,
      case: '1% answers after 65 s (default timeout)',
      faults: delta.faultsTotal,
      rowsLost: tables.rowsLost,
      rowsDuplicated: tables.rowsDuplicated,
      hangs: run.hung ? 1 : 0,
      details: {
        requests: delta.requests,
        retries,
        retryBound: bound,
        rows: tables.rows,
        seconds: Math.round(run.ms / 100) / 10,
        ...(run.error ? { error: causes(run.error) } : {}),
      },
    });
    assert.equal(run.hung, false);
    assert.ifError(run.error);
    assert.ok(delta.faultsTotal > 0, 'slow answers were injected');
    assert.deepEqual(
      tables.tables.filter((t) => t.rowsLost + t.rowsDuplicated > 0),
      [],
    );
    assert.ok(retries >= 0 && retries <= bound, `retries ${retries} within ${bound}`);
  });
}
