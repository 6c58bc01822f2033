/**
 * The fleet's rate budget: the window arithmetic (workflows/budget-windows.ts) and the `rateBudget` workflow on a
 * real dev server, answering many concurrent lease Updates without ever granting more than fits, across
 * continue-as-new, and blocking a lane for everyone on `penalize`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { WithStartWorkflowOperation, WorkflowIdConflictPolicy } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import {
  BURST_PAD_MS,
  BURST_WINDOW_MS,
  burstSpan,
  emptyLane,
  lease,
  LEASE_VALIDITY_MS,
  MAX_RESERVATION_MS,
  mostInAnySpan,
  penalize,
  STEADY_PAD_MS,
  STEADY_WINDOW_MS,
  steadySpan,
} from '../workflows/budget-windows';
import { leaseUpdate, penalizeSignal, rateBudgetWorkflowId, type LeaseGrant, type LeaseRequest } from '../workflows/shared';
import { startTemporal, runsOf, type TestTemporal } from './helpers/temporal';

const V = LEASE_VALIDITY_MS;

/** A small deterministic PRNG, so a failing case can be run again. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

void describe('budget windows', () => {
  void it('burst: at most `burst` tokens per 1 s + pad + V; the next ones are reserved where they fit', () => {
    const log = emptyLane();
    const limits = { burst: 3, steady: 100 };
    assert.equal(burstSpan(V), BURST_WINDOW_MS + BURST_PAD_MS + V);
    assert.deepEqual(lease(log, limits, 5, 0), { granted: 3, delayMs: 0, retryInMs: 0 });
    assert.deepEqual(lease(log, limits, 1, 1000), { granted: 1, delayMs: burstSpan(V) - 1000, retryInMs: 0 }, 'reserved at 2.1 s');
    assert.deepEqual(lease(log, limits, 5, 1000), { granted: 2, delayMs: burstSpan(V) - 1000, retryInMs: 0 }, 'the rest of that span');
    const far = lease(log, limits, 1, 1000);
    assert.equal(far.granted, 0, `the next fit (4.2 s) is more than ${MAX_RESERVATION_MS} ms ahead`);
    assert.equal(far.retryInMs, 2 * burstSpan(V) - 1000 - MAX_RESERVATION_MS / 2);
    assert.deepEqual(lease(log, limits, 5, 2 * burstSpan(V)), { granted: 3, delayMs: 0, retryInMs: 0 });
  });

  void it('steady: at most `steady` tokens per 60 s + pad + V, however the bursts fall', () => {
    const log = emptyLane();
    const limits = { burst: 3, steady: 5 };
    assert.equal(steadySpan(V), STEADY_WINDOW_MS + STEADY_PAD_MS + V);
    assert.equal(lease(log, limits, 3, 0).granted, 3);
    assert.equal(lease(log, limits, 3, 5000).granted, 2);
    const denied = lease(log, limits, 1, 10_000);
    assert.deepEqual(denied, { granted: 0, delayMs: 0, retryInMs: steadySpan(V) - 10_000 - MAX_RESERVATION_MS / 2 });
    assert.equal(lease(log, limits, 3, steadySpan(V)).granted, 3, 'the first 3 left the span');
    assert.equal(lease(log, limits, 3, steadySpan(V) + 5000).granted, 2);
  });

  void it('penalize blocks the lane, never shortens a block; tokens are reserved only after it', () => {
    const log = emptyLane();
    penalize(log, 5, 1000);
    assert.deepEqual(lease(log, { burst: 10, steady: 100 }, 1, 2000), { granted: 0, delayMs: 0, retryInMs: 4000 - MAX_RESERVATION_MS / 2 });
    penalize(log, 1, 2000);
    assert.equal(log.blockedUntil, 6000);
    assert.deepEqual(lease(log, { burst: 10, steady: 100 }, 1, 4000), { granted: 1, delayMs: 2000, retryInMs: 0 });
    assert.deepEqual(lease(log, { burst: 10, steady: 100 }, 2, 6000), { granted: 2, delayMs: 0, retryInMs: 0 });
  });

  void it('simulated fleet: with each send anywhere within V of its grant and up to pad late, no fixed window of Klaviyo ever sees more than the limit', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = prng(seed);
      const log = emptyLane();
      const limits = { burst: 4, steady: 30 };
      const arrivals: number[] = [];
      const grants: Array<[number, number]> = [];
      let t = 0;
      while (t < 200_000) {
        t += Math.floor(rnd() * 400);
        const g = lease(log, limits, 1 + Math.floor(rnd() * 6), t);
        const at = t + g.delayMs;
        if (g.granted > 0) grants.push([at, g.granted]);
        // each token is sent anywhere in [grant, grant + V] and arrives up to the pad later (burst: the smaller pad)
        for (let i = 0; i < g.granted; i++) arrivals.push(at + rnd() * V + rnd() * BURST_PAD_MS);
      }
      arrivals.sort((a, b) => a - b);
      assert.ok(arrivals.length > 80, `seed ${seed}: ${arrivals.length} sends`);
      const mostIn = (w: number) => {
        let most = 0;
        // the worst fixed window starts at some arrival
        for (let i = 0, j = 0; i < arrivals.length; i++) {
          while (j < arrivals.length && arrivals[j] < arrivals[i] + w) j++;
          most = Math.max(most, j - i);
        }
        return most;
      };
      assert.ok(mostIn(BURST_WINDOW_MS) <= limits.burst, `seed ${seed}: ${mostIn(BURST_WINDOW_MS)} in one second`);
      assert.ok(mostIn(STEADY_WINDOW_MS) <= limits.steady, `seed ${seed}: ${mostIn(STEADY_WINDOW_MS)} in one minute`);
      // the grants keep the invariant exactly, and use it: both limits are reached in some span
      assert.equal(mostInAnySpan(grants, burstSpan(V)), limits.burst, `seed ${seed}: burst span`);
      assert.equal(mostInAnySpan(grants, steadySpan(V)), limits.steady, `seed ${seed}: steady span`);
    }
  });
});

void describe('the rateBudget workflow (dev server)', () => {
  let temporal: TestTemporal;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = 'rate-budget-test';

  before(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    // continue-as-new is suggested after 30 events, so the concurrent leases below span several runs
    temporal = await startTemporal({ extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=30'] });
    worker = await Worker.create({
      connection: temporal.env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../workflows'),
    });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await temporal?.teardown();
  });

  const leaseOf = (account: string, req: LeaseRequest): Promise<LeaseGrant> =>
    temporal.env.client.workflow.executeUpdateWithStart(leaseUpdate, {
      args: [req],
      startWorkflowOperation: new WithStartWorkflowOperation('rateBudget', {
        workflowId: rateBudgetWorkflowId(account),
        taskQueue,
        args: [{ account }],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      }),
    });

  void it('many concurrent leases never grant more than the windows hold, across continue-as-new', { timeout: 120_000 }, async () => {
    const account = 'concurrent';
    const limits = { burst: 4, steady: 12 };
    const received: Array<{ at: number; granted: number }> = [];
    const started = performance.now();
    let updates = 0;
    // 8 askers at once, each asking again when told, for 9 s (well inside one steady span)
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() - started < 9_000) {
          const g = await leaseOf(account, { lane: 'get_tags', ...limits, want: 2 });
          updates++;
          if (g.granted > 0) received.push({ at: performance.now() - started + g.delayMs, granted: g.granted });
          else await delay(Math.min(g.retryInMs, 300));
        }
      }),
    );
    const total = received.reduce((n, r) => n + r.granted, 0);
    const runs = await runsOf(temporal.env.client, rateBudgetWorkflowId(account));
    process.stdout.write(
      `# ${updates} lease updates over ${runs.length} runs; granted ${total} tokens at ` +
        `${received.map((r) => `${(r.at / 1000).toFixed(2)}s:${r.granted}`).join(' ')}\n`,
    );
    assert.equal(total, limits.steady, 'the steady limit is reached, and not one token more (state survives continue-as-new)');
    assert.ok(runs.length > 1, `continued as new (${runs.length} runs)`);
    // the burst window as the askers saw it (arrival + reservation delay: a little after each recorded time): with
    // 2.1 s spans, at most 4 tokens in any 1.5 s
    assert.ok(
      mostInAnySpan(
        received.map((r) => [r.at, r.granted] as [number, number]),
        1500,
      ) <= limits.burst,
    );
  });

  void it('penalize blocks the lane for every asker; other lanes go on', { timeout: 60_000 }, async () => {
    const account = 'penalized';
    const limits = { burst: 50, steady: 500 };
    assert.equal((await leaseOf(account, { lane: 'get_events', ...limits, want: 1 })).granted, 1);
    await temporal.env.client.workflow.signalWithStart('rateBudget', {
      workflowId: rateBudgetWorkflowId(account),
      taskQueue,
      args: [{ account }],
      signal: penalizeSignal,
      signalArgs: [{ lane: 'get_events', seconds: 10 }],
    });
    const blocked = await leaseOf(account, { lane: 'get_events', ...limits, want: 1 });
    assert.equal(blocked.granted, 0);
    const expected = 10_000 - MAX_RESERVATION_MS / 2;
    assert.ok(blocked.retryInMs > expected - 3000 && blocked.retryInMs <= expected, `retry in ${blocked.retryInMs} ms`);
    assert.deepEqual(await leaseOf(account, { lane: 'get_profiles', ...limits, want: 2 }), { granted: 2, delayMs: 0, retryInMs: 0 });
  });

  void it('measures a lease round trip (one asker, no contention)', { timeout: 60_000 }, async () => {
    const account = 'latency';
    const rtts: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      const g = await leaseOf(account, { lane: 'get_events', burst: 100_000, steady: 1_000_000, want: 1 });
      rtts.push(performance.now() - t0);
      assert.equal(g.granted, 1);
    }
    const warm = rtts.slice(1).sort((a, b) => a - b);
    const mean = warm.reduce((a, b) => a + b, 0) / warm.length;
    process.stdout.write(
      `# lease round trip: first ${rtts[0].toFixed(1)} ms (starts the budget), then mean ${mean.toFixed(1)} ms, ` +
        `p50 ${warm[Math.floor(warm.length / 2)].toFixed(1)} ms, p95 ${warm[Math.floor(warm.length * 0.95)].toFixed(1)} ms\n`,
    );
    assert.ok(mean < LEASE_VALIDITY_MS / 2, `a lease must come back well within its validity (${mean} ms)`);
  });
});
