/**
 * One rate budget per Klaviyo account for the whole fleet: every worker, on any machine, leases its tokens from the
 * account's rate budget workflow (workflows/rate-budget.ts, which explains why a lease can never over-draw), so N
 * workers on one account send what one would, not N times as much.
 *
 * Per lane (an operation in `documented` mode, the account in `sling`), this process keeps a small pool of leased
 * tokens: `acquire` takes one, or waits with the others while at most one lease Update per lane is in flight, asking
 * for as many tokens as there are waiters plus LEASE_HEADROOM (at most the lane's burst). The clock starts BEFORE the
 * Update is sent, and tokens are used only until that start + delay + LEASE_VALIDITY_MS − SEND_MARGIN_MS, and not
 * before the answer's arrival + delay (a reservation ahead); the rest are dropped. The account-wide cap on requests in flight stays per process (DOCUMENTED_CONCURRENCY, SLING_CONCURRENCY).
 *
 * The Update is an update-with-start (conflict policy USE_EXISTING): the first worker to ask starts the budget, on the
 * task queue the workers of this budget poll (one budget per account and task queue, workflows/shared.ts). A lease that fails (the run just ended or continued as new, the server is away) is asked again
 * after LEASE_RETRY_MS; one that is not answered within LEASE_TIMEOUT_MS is given up and asked again.
 */
import { performance } from 'node:perf_hooks';
import { WithStartWorkflowOperation, WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import {
  DOCUMENTED_CONCURRENCY,
  laneOf,
  rateOf,
  Semaphore,
  SLING_CONCURRENCY,
  type RateLimiter,
  type RateLimitMode,
  type Release,
} from '../lib/klaviyo/ratelimit';
import type { OperationRate, OperationTable } from '../lib/klaviyo/operations';
import { STREAM_OPERATIONS } from '../lib/klaviyo/operations';
import { LEASE_VALIDITY_MS } from '../workflows/budget-windows';
import { leaseUpdate, penalizeSignal, rateBudgetWorkflowId, type LeaseGrant, type LeaseRequest } from '../workflows/shared';
import type { rateBudget } from '../workflows/rate-budget';

/**
 * tokens asked beyond the waiters while the lane is busy (its last lease was used up): the next request then finds
 * one without a round trip. A token left unused still counts in the account's windows, so a quiet lane asks for
 * exactly what waits.
 */
export const LEASE_HEADROOM = 1;
/** tokens are not handed out in the last moments of a lease: the send must leave before the deadline, not start */
export const SEND_MARGIN_MS = 100;
export const LEASE_RETRY_MS = 250;
export const LEASE_TIMEOUT_MS = 10_000;

/** What a process's fleet limiters did, for the measurements (the worker prints them when it stops). */
export interface FleetStats {
  acquires: number;
  /** acquires served from tokens already leased, without waiting for a lease */
  fromPool: number;
  leaseUpdates: number;
  leaseFailures: number;
  tokensGranted: number;
  /** granted, but not used before the lease's deadline */
  tokensLost: number;
  /** sum and max of lease Update round trips */
  leaseRttMs: number;
  leaseRttMaxMs: number;
  penaltiesForwarded: number;
}

export function emptyFleetStats(): FleetStats {
  return {
    acquires: 0,
    fromPool: 0,
    leaseUpdates: 0,
    leaseFailures: 0,
    tokensGranted: 0,
    tokensLost: 0,
    leaseRttMs: 0,
    leaseRttMaxMs: 0,
    penaltiesForwarded: 0,
  };
}

export interface FleetRateLimiterOptions {
  client: Client;
  /** the asking worker's own task queue: its budget runs there, where every worker sharing it polls */
  taskQueue: string;
  /** lib/klaviyo/account-key.ts: never the API key */
  accountKey: string;
  mode: RateLimitMode;
  /** documented mode: each operation's tier; default: those of the stream table */
  operations?: OperationTable;
  /** requests in flight at once per lane in this process, waiting for a token included (ratelimit.ts's defaults) */
  concurrency?: number;
  stats?: FleetStats;
  /** a lease that keeps failing is reported here (default: stderr), at most once per lane until one succeeds */
  warn?: (message: string) => void;
}

interface Waiter {
  grant(): void;
}

class FleetLane {
  tokens = 0;
  /** monotonic ms: tokens are usable from `notBefore` until before `deadline` */
  notBefore = 0;
  deadline = 0;
  blockedUntil = 0;
  retryAt = 0;
  leasing = false;
  warned = false;
  /** the last lease's tokens were all used: the lane is busy enough for headroom */
  busy = false;
  timer: NodeJS.Timeout | undefined;
  readonly waiters: Waiter[] = [];
  /** this lane's requests in flight in this process, waiting for a token included */
  readonly slots: Semaphore;

  constructor(
    readonly name: string,
    readonly rate: OperationRate,
    concurrency: number,
  ) {
    this.slots = new Semaphore(concurrency);
  }
}

const monotonic = () => performance.now();

export class FleetRateLimiter implements RateLimiter {
  private readonly lanes = new Map<string, FleetLane>();
  private readonly concurrency: number;
  private readonly operations: OperationTable;
  private readonly workflowId: string;
  private readonly stats: FleetStats;
  private readonly warn: (message: string) => void;

  constructor(private readonly opts: FleetRateLimiterOptions) {
    this.operations = opts.operations ?? STREAM_OPERATIONS;
    this.concurrency = opts.concurrency ?? (opts.mode === 'sling' ? SLING_CONCURRENCY : DOCUMENTED_CONCURRENCY);
    this.workflowId = rateBudgetWorkflowId(opts.accountKey, opts.taskQueue);
    this.stats = opts.stats ?? emptyFleetStats();
    this.warn = opts.warn ?? ((m) => process.stderr.write(`${m}\n`));
  }

  async acquire(operation: string, signal?: AbortSignal): Promise<Release> {
    const lane = this.lane(operation);
    // the slot first, as in the in-process limiter: a token is taken only when its request can go at once
    const release = await lane.slots.acquire(signal);
    try {
      await this.take(lane, signal);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  async penalize(operation: string, seconds: number): Promise<void> {
    const lane = this.lane(operation);
    const until = monotonic() + seconds * 1000;
    // leased tokens are not used into a block; a block already in force (another request's 429) is not sent again
    this.stats.tokensLost += lane.tokens;
    lane.tokens = 0;
    if (until <= lane.blockedUntil + 500) return;
    lane.blockedUntil = Math.max(lane.blockedUntil, until);
    this.pump(lane);
    this.stats.penaltiesForwarded++;
    try {
      await this.opts.client.withDeadline(Date.now() + LEASE_TIMEOUT_MS, () =>
        this.opts.client.workflow.signalWithStart<typeof rateBudget, [{ lane: string; seconds: number }]>('rateBudget', {
          ...this.startOptions(),
          signal: penalizeSignal,
          signalArgs: [{ lane: lane.name, seconds }],
        }),
      );
    } catch (err) {
      // this process holds back anyway; the others learn it from their own 429
      this.warn(
        `klaviyo-sync: could not tell the rate budget ${this.workflowId} of a ${seconds} s block of ${lane.name}: ${messageOf(err)}`,
      );
    }
  }

  private startOptions() {
    return {
      workflowId: this.workflowId,
      taskQueue: this.opts.taskQueue,
      args: [{ account: this.opts.accountKey }] as [{ account: string }],
      staticSummary: `Klaviyo rate budget for account ${this.opts.accountKey}`,
      staticDetails:
        `Leases Klaviyo request tokens to every klaviyo-sync worker of account ${this.opts.accountKey} (a hash of base URL ` +
        `and API key), so the fleet together stays within the account's rate limits. Not a replication.`,
    };
  }

  private lane(operation: string): FleetLane {
    const name = laneOf(this.opts.mode, operation);
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new FleetLane(name, rateOf(this.opts.mode, this.operations, operation), this.concurrency);
      this.lanes.set(name, lane);
    }
    return lane;
  }

  private take(lane: FleetLane, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.stats.acquires++;
    const now = monotonic();
    if (lane.waiters.length === 0 && lane.tokens > 0 && now >= lane.notBefore && now < lane.deadline && now >= lane.blockedUntil) {
      lane.tokens--;
      if (lane.tokens === 0) lane.busy = true;
      this.stats.fromPool++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = lane.waiters.indexOf(waiter);
        if (i >= 0) lane.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      lane.waiters.push(waiter);
      this.pump(lane);
    });
  }

  /** Serves waiters from the pool, then asks for a lease when some remain (once the lane may be asked again). */
  private pump(lane: FleetLane): void {
    const now = monotonic();
    if (now >= lane.deadline && lane.tokens > 0) {
      this.stats.tokensLost += lane.tokens;
      lane.tokens = 0;
      lane.busy = false;
    }
    const open = now >= lane.blockedUntil && now >= lane.notBefore;
    while (open && lane.waiters.length > 0 && lane.tokens > 0) {
      lane.tokens--;
      lane.waiters.shift()!.grant();
      if (lane.tokens === 0) lane.busy = true;
    }
    if (lane.waiters.length === 0 || lane.leasing) return;
    // tokens reserved ahead (or blocked): wait for them; none: ask again once the lane may be asked
    const wait = Math.max(lane.blockedUntil, lane.retryAt, lane.tokens > 0 ? lane.notBefore : 0) - now;
    if (wait > 0) {
      lane.timer ??= setTimeout(() => {
        lane.timer = undefined;
        this.pump(lane);
      }, Math.ceil(wait));
      return;
    }
    void this.renew(lane);
  }

  private async renew(lane: FleetLane): Promise<void> {
    lane.leasing = true;
    // before the Update is sent: the grant happens after this instant, so sends until t0 + V are within V of it
    const t0 = monotonic();
    const request: LeaseRequest = {
      lane: lane.name,
      burst: lane.rate.burst,
      steady: lane.rate.steady,
      want: Math.max(1, Math.min(lane.rate.burst, lane.waiters.length + (lane.busy ? LEASE_HEADROOM : 0))),
    };
    try {
      const grant = await this.lease(request);
      const arrived = monotonic();
      this.stats.leaseUpdates++;
      this.stats.leaseRttMs += arrived - t0;
      this.stats.leaseRttMaxMs = Math.max(this.stats.leaseRttMaxMs, arrived - t0);
      this.stats.tokensGranted += grant.granted;
      lane.warned = false;
      const delay = grant.delayMs ?? 0;
      const deadline = t0 + delay + LEASE_VALIDITY_MS - SEND_MARGIN_MS;
      if (grant.granted > 0 && arrived + delay < deadline) {
        this.stats.tokensLost += lane.tokens;
        lane.tokens = grant.granted;
        lane.notBefore = arrived + delay;
        lane.deadline = deadline;
        lane.retryAt = 0;
      } else if (grant.granted > 0) {
        this.stats.tokensLost += grant.granted;
      } else {
        lane.retryAt = arrived + grant.retryInMs;
      }
    } catch (err) {
      this.stats.leaseFailures++;
      lane.retryAt = monotonic() + LEASE_RETRY_MS;
      if (!lane.warned) {
        lane.warned = true;
        this.warn(
          `klaviyo-sync: no lease from the rate budget ${this.workflowId} for ${lane.name} (${messageOf(err)}); asking again ` +
            `(it runs on task queue ${this.opts.taskQueue}, which this worker polls: is the worker running?)`,
        );
      }
    } finally {
      lane.leasing = false;
      this.pump(lane);
    }
  }

  private lease(request: LeaseRequest): Promise<LeaseGrant> {
    const { client } = this.opts;
    return client.withDeadline(Date.now() + LEASE_TIMEOUT_MS, () =>
      client.workflow.executeUpdateWithStart(leaseUpdate, {
        args: [request],
        startWorkflowOperation: new WithStartWorkflowOperation<typeof rateBudget>('rateBudget', {
          ...this.startOptions(),
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        }),
      }),
    );
  }
}

function messageOf(err: unknown): string {
  let e: any = err;
  while (e?.cause && !e.details) e = e.cause;
  return String(e?.details || e?.message || err);
}

/**
 * The fleet limiters of one worker: one per account (and mode), created on first use. `stats` adds up what all of
 * them did.
 */
export function fleetLimiters(base: Omit<FleetRateLimiterOptions, 'accountKey'>): {
  limiterFor: (account: string, key: { accountKey: string }) => RateLimiter;
  stats: FleetStats;
} {
  const stats = base.stats ?? emptyFleetStats();
  const limiters = new Map<string, FleetRateLimiter>();
  return {
    stats,
    limiterFor: (_account, { accountKey }) => {
      let limiter = limiters.get(accountKey);
      if (!limiter) limiters.set(accountKey, (limiter = new FleetRateLimiter({ ...base, accountKey, stats })));
      return limiter;
    },
  };
}
