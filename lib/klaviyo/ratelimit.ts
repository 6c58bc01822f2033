/**
 * Client-side pacing of Klaviyo requests, so that a sync stays under the account's quota instead of learning it
 * from 429s. Klaviyo counts per account in fixed windows (burst: 1 s, steady: 60 s); we pace with sliding windows,
 * which never admit more than a fixed window would, padded in time so that network jitter between our send and
 * Klaviyo's arrival cannot push a fourth request into a window that already holds three.
 *
 * `RateLimiter` is the seam: this in-process limiter is per process (the CLI's checks, tests); the worker's fleet
 * limiter (worker/fleet-rate-limiter.ts) implements the same two methods with leases from one Temporal workflow per
 * account, so any number of workers on any number of machines share one budget.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { STREAM_OPERATIONS, type OperationRate, type OperationTable } from './operations';

/** Gives back the concurrency slot taken by `acquire`; calling it more than once is harmless. */
import { Semaphore, type Release } from '../semaphore';

export { Semaphore, type Release };

export interface RateLimiter {
  /**
   * Resolves when a request for `operation` may be sent, with the release for its concurrency slot (call it once
   * the response body has been read). Rejects with `signal.reason` if the signal aborts first.
   */
  acquire(operation: string, signal?: AbortSignal): Promise<Release>;
  /** After a 429: every caller of `operation` (in `sling` mode: of the whole account) waits `seconds` first. */
  penalize(operation: string, seconds: number): Promise<void>;
}

/**
 * - `sling`: one budget for the whole account, whatever the operation: 3 requests/s, 3 in flight (Sling's default,
 *   the burst of the smallest tier our streams use; a listing of flows or tags longer than 60 pages can still meet
 *   their 60/min steady limit, and then a 429 and `penalize` pace it).
 * - `documented`: each operation's own documented burst/s and steady/min, plus a cap on its requests in flight.
 * - `off`: no pacing, only the concurrency cap of `documented`; a 429 still blocks its operation for `Retry-After`.
 *   For the sandbox, benchmarks and a proxy that paces for us: against Klaviyo itself it meets 429s.
 */
export type RateLimitMode = 'sling' | 'documented' | 'off';

export const RATE_LIMIT_MODES: readonly RateLimitMode[] = ['documented', 'sling', 'off'];

export interface Clock {
  now(): number;
  /** Waits `ms`; rejects with `signal.reason` when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    delay(ms, undefined, { signal }).then(
      () => undefined,
      (err: unknown) => {
        throw signal?.aborted ? signal.reason : err;
      },
    ),
};

export interface RateLimiterOptions {
  /** default `documented` */
  mode?: RateLimitMode;
  /** documented mode: each operation's rate tier; default: those of the stream table */
  operations?: OperationTable;
  /**
   * requests in flight at once per lane (an operation in `documented` and `off` mode, the whole account in `sling`),
   * waiting for a token included; default 3 in `sling` mode, 64 in `documented` mode (the time windows of a backfill)
   */
  concurrency?: number;
  clock?: Clock;
}

// Sling paces per second only: its steady window holds what the burst window lets through, so it never binds.
export const SLING_RATE: OperationRate = { burst: 3, steady: 180 };
const BURST_WINDOW_MS = 1_000 + 100;
const STEADY_WINDOW_MS = 60_000 + 1_000;
export const SLING_CONCURRENCY = 3;
/**
 * requests in flight at once per operation in `documented` mode: a request holds its slot while it waits for a
 * token and while it is answered (~300 ms at Klaviyo, plus a lease's round trip), so events' 58 requests/s need ~35
 * at once. Per operation, not per account: profiles' requests waiting out their 700/min must not hold the slots
 * events' requests could go in (with one account-wide cap of 64, 48 of them did, and events ran at half pace).
 */
export const DOCUMENTED_CONCURRENCY = 64;
const ACCOUNT_LANE = '*';

/** The budget a request of `operation` draws from: its own (documented) or the whole account's (sling). */
export function laneOf(mode: RateLimitMode, operation: string): string {
  return mode === 'sling' ? ACCOUNT_LANE : operation;
}

/** No pacing (mode `off`): windows of an infinite limit, which never bind. */
export const UNPACED: OperationRate = { burst: Infinity, steady: Infinity };

/** The limits of a lane: sling's 3/s, the operation's documented tier (an unknown operation names the fix), or none. */
export function rateOf(mode: RateLimitMode, operations: OperationTable, operation: string): OperationRate {
  if (mode === 'sling') return SLING_RATE;
  if (mode === 'off') return UNPACED;
  const facts = operations[operation];
  if (!facts) {
    throw new Error(
      `No documented rate limit for Klaviyo operation ${operation}: add its stream to streams/streams.ts (or its ` +
        `tier to the limiter's operations), or use the sling mode.`,
    );
  }
  return facts.rateLimit;
}

/**
 * The documented tiers times `share` (0 < share ≤ 1): the part of each tier this fleet may use, leaving the rest to
 * other integrations on the account (Klaviyo counts every private key of an account against one quota). Rounded
 * down, never below 1 request.
 */
export function sharedOperations(operations: OperationTable, share: number): OperationTable {
  if (share === 1) return operations;
  return Object.fromEntries(
    Object.entries(operations).map(([op, facts]) => [
      op,
      {
        ...facts,
        rateLimit: {
          burst: Math.max(1, Math.floor(facts.rateLimit.burst * share)),
          steady: Math.max(1, Math.floor(facts.rateLimit.steady * share)),
        },
      },
    ]),
  );
}

/** A sliding log of send times: at most `limit` sends in any `spanMs`. */
class SlidingWindow {
  private stamps: number[] = [];
  private head = 0;

  constructor(
    private readonly limit: number,
    private readonly spanMs: number,
  ) {}

  get bounded(): boolean {
    return Number.isFinite(this.limit);
  }

  /** How long from `now` until one more send fits (0: it fits now). */
  wait(now: number): number {
    while (this.head < this.stamps.length && this.stamps[this.head] <= now - this.spanMs) this.head++;
    if (this.head > 1024) {
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
    if (this.stamps.length - this.head < this.limit) return 0;
    return this.stamps[this.stamps.length - this.limit] + this.spanMs - now;
  }

  record(now: number): void {
    this.stamps.push(now);
  }
}

/** The windows one operation (or, in sling mode, the whole account) must fit in, and any 429 penalty. */
class Lane {
  private readonly windows: SlidingWindow[];
  blockedUntil = 0;
  /** this lane's requests in flight, waiting for a token included */
  readonly slots: Semaphore;

  constructor(rate: OperationRate, concurrency: number) {
    this.slots = new Semaphore(concurrency);
    // an unpaced lane keeps no send log (it would only grow)
    this.windows = [new SlidingWindow(rate.burst, BURST_WINDOW_MS), new SlidingWindow(rate.steady, STEADY_WINDOW_MS)].filter(
      (w) => w.bounded,
    );
  }

  /**
   * Sleeps until the request fits, then records it. The final check and the record happen in one synchronous step,
   * so concurrent callers can never over-admit, only wake and sleep again.
   */
  async take(clock: Clock, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = clock.now();
      const wait = Math.max(this.blockedUntil - now, ...this.windows.map((w) => w.wait(now)));
      if (wait <= 0) {
        for (const w of this.windows) w.record(now);
        return;
      }
      await clock.sleep(wait, signal);
    }
  }
}

class InProcessRateLimiter implements RateLimiter {
  private readonly lanes = new Map<string, Lane>();
  private readonly clock: Clock;

  constructor(
    private readonly mode: RateLimitMode,
    private readonly operations: OperationTable,
    private readonly concurrency: number,
    clock: Clock,
  ) {
    this.clock = clock;
  }

  async acquire(operation: string, signal?: AbortSignal): Promise<Release> {
    const lane = this.lane(operation);
    // The slot comes first so that the recorded send time is the real one: a request stamped and then left waiting
    // for a slot would leave the window looking emptier than the wire is.
    const release = await lane.slots.acquire(signal);
    try {
      await lane.take(this.clock, signal);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  async penalize(operation: string, seconds: number): Promise<void> {
    const lane = this.lane(operation);
    lane.blockedUntil = Math.max(lane.blockedUntil, this.clock.now() + seconds * 1000);
  }

  private lane(operation: string): Lane {
    const key = laneOf(this.mode, operation);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = new Lane(rateOf(this.mode, this.operations, operation), this.concurrency);
      this.lanes.set(key, lane);
    }
    return lane;
  }
}

export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const mode = options.mode ?? 'documented';
  const concurrency = options.concurrency ?? (mode === 'sling' ? SLING_CONCURRENCY : DOCUMENTED_CONCURRENCY);
  const operations = options.operations ?? STREAM_OPERATIONS;
  return new InProcessRateLimiter(mode, operations, concurrency, options.clock ?? systemClock);
}

const processLimiters = new Map<string, RateLimiter>();

/**
 * The limiter this process uses for one Klaviyo account (in one mode). Activities are short-lived and build a client
 * per call, so the budget has to live here for consecutive and concurrent activities to share it. The options of the
 * first call for an account win.
 */
export function processRateLimiter(account: string, options: RateLimiterOptions = {}): RateLimiter {
  const key = `${account}\u0000${options.mode ?? 'documented'}`;
  let limiter = processLimiters.get(key);
  if (!limiter) {
    limiter = createRateLimiter(options);
    processLimiters.set(key, limiter);
  }
  return limiter;
}
