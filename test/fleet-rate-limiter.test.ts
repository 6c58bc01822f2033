/**
 * The worker side of the fleet budget (worker/fleet-rate-limiter.ts), against a scripted budget: one lease in flight
 * per lane, asking for what waits, tokens used only inside the lease's window (after its reservation delay, before
 * t0 + delay + validity), a penalty blocking locally and forwarded once, an abort giving the slot back; and the
 * client's reading of `RateLimit-Remaining: 0`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { emptyFleetStats, FleetRateLimiter, SEND_MARGIN_MS } from '../worker/fleet-rate-limiter';
import { spentWindowSeconds } from '../lib/klaviyo/client';
import { LEASE_VALIDITY_MS } from '../workflows/budget-windows';
import type { LeaseGrant, LeaseRequest } from '../workflows/shared';

interface Call {
  request: LeaseRequest;
  answer(grant: Partial<LeaseGrant>, afterMs?: number): void;
}

/** A Temporal client whose lease Updates the test answers by hand, and whose signals it records. */
function scriptedClient() {
  const calls: Call[] = [];
  const signals: unknown[] = [];
  const client = {
    withDeadline: <R>(_deadline: number, fn: () => Promise<R>) => fn(),
    workflow: {
      executeUpdateWithStart: (_def: unknown, opts: { args: [LeaseRequest] }) =>
        new Promise<LeaseGrant>((resolve) =>
          calls.push({
            request: opts.args[0],
            answer: (g, afterMs = 0) => setTimeout(() => resolve({ granted: 0, delayMs: 0, retryInMs: 0, ...g }), afterMs),
          }),
        ),
      signalWithStart: async (_type: string, opts: { signalArgs: unknown[] }) => {
        signals.push(opts.signalArgs[0]);
      },
    },
  } as unknown as Client;
  return { client, calls, signals };
}

const limiterWith = (client: Client, concurrency = 10) =>
  new FleetRateLimiter({
    client,
    taskQueue: 'q',
    accountKey: 'k',
    mode: 'documented',
    concurrency,
    stats: emptyFleetStats(),
    warn: () => undefined,
  });

const settled = async (p: Promise<unknown>, ms = 20) => (await Promise.race([p.then(() => true), delay(ms).then(() => false)])) as boolean;

void describe('FleetRateLimiter', () => {
  void it('one lease in flight per lane, asking for the waiters; its tokens serve them', async () => {
    const { client, calls } = scriptedClient();
    const limiter = limiterWith(client);
    const waiting = [limiter.acquire('get_tags'), limiter.acquire('get_tags'), limiter.acquire('get_tags')];
    await delay(5);
    assert.equal(calls.length, 1, 'one lease for the lane, however many wait');
    assert.deepEqual(calls[0].request, { lane: 'get_tags', burst: 3, steady: 60, want: 1 }, 'asked when the first one came');
    calls[0].answer({ granted: 1 });
    assert.ok(await settled(waiting[0]));
    await delay(5);
    assert.equal(calls.length, 2);
    assert.equal(calls[1].request.want, 3, 'the two still waiting, plus headroom: the lane used up its lease');
    calls[1].answer({ granted: 2 });
    assert.ok(await settled(Promise.all(waiting)));
    const other = limiter.acquire('get_events');
    await delay(5);
    assert.equal(calls[2].request.lane, 'get_events', 'each operation its own lane');
    calls[2].answer({ granted: 1 });
    assert.ok(await settled(other));
  });

  void it('a reserved lease is used only from its delay on, and never after t0 + delay + validity', async () => {
    const { client, calls } = scriptedClient();
    const limiter = limiterWith(client);
    const first = limiter.acquire('get_tags');
    await delay(5);
    calls[0].answer({ granted: 2, delayMs: 150 });
    assert.equal(await settled(first, 100), false, 'not before the reservation');
    assert.ok(await settled(first, 200));
    // the second token is left unused past the lease's deadline: a later acquire asks again instead
    // the deadline was t0 + 150 + V − margin; the first token went at about t0 + 150
    await delay(LEASE_VALIDITY_MS - SEND_MARGIN_MS + 50);
    const late = limiter.acquire('get_tags');
    await delay(5);
    assert.equal(calls.length, 2, 'an expired token is not used');
    calls[1].answer({ granted: 1 });
    assert.ok(await settled(late));
  });

  void it('a lease that arrives after its deadline is not used; a refusal is asked again after retryInMs', async () => {
    const { client, calls } = scriptedClient();
    const limiter = limiterWith(client);
    const p = limiter.acquire('get_tags');
    await delay(5);
    calls[0].answer({ granted: 3 }, LEASE_VALIDITY_MS);
    await delay(LEASE_VALIDITY_MS + 20);
    assert.equal(calls.length, 2, 'asked again: the late tokens were dropped');
    calls[1].answer({ granted: 0, retryInMs: 200 });
    await delay(100);
    assert.equal(calls.length, 2, 'not before retryInMs');
    await delay(200);
    assert.equal(calls.length, 3);
    calls[2].answer({ granted: 1 });
    assert.ok(await settled(p));
  });

  void it('penalize blocks the lane here at once, drops its tokens, and tells the budget once', async () => {
    const { client, calls, signals } = scriptedClient();
    const limiter = limiterWith(client);
    const first = limiter.acquire('get_tags');
    await delay(5);
    calls[0].answer({ granted: 3 });
    await first;
    await limiter.penalize('get_tags', 0.3);
    await limiter.penalize('get_tags', 0.3);
    assert.deepEqual(signals, [{ lane: 'get_tags', seconds: 0.3 }], 'one signal for one block');
    const blocked = limiter.acquire('get_tags');
    await delay(5);
    assert.equal(calls.length, 1, 'no lease asked during the block');
    assert.equal(await settled(blocked, 200), false, 'the leased tokens were dropped');
    await delay(150);
    assert.equal(calls.length, 2, 'asked once the block ended');
    calls[1].answer({ granted: 1 });
    assert.ok(await settled(blocked));
  });

  void it('an abort rejects a waiting acquire with its reason and gives the concurrency slot back', async () => {
    const { client, calls } = scriptedClient();
    const limiter = limiterWith(client, 1);
    const controller = new AbortController();
    const waiting = limiter.acquire('get_tags', controller.signal);
    const queued = limiter.acquire('get_tags');
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    await assert.rejects(waiting, (err) => err === reason);
    await delay(5);
    calls[0].answer({ granted: 1 });
    const release = await queued;
    release();
  });

  void it('RateLimit-Remaining: 0 blocks until the reset (one second more, as Reset is rounded down); 0 s resets do not', () => {
    assert.equal(spentWindowSeconds({ limit: 3, remaining: 0, reset: 41 }), 42);
    assert.equal(spentWindowSeconds({ limit: 3, remaining: 0, reset: 0 }), null, 'the burst window: our padded window outwaits it');
    assert.equal(spentWindowSeconds({ limit: 3, remaining: 1, reset: 41 }), null);
    assert.equal(spentWindowSeconds({ limit: null, remaining: null, reset: null }), null);
  });
});
