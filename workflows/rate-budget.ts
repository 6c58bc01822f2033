/**
 * `rateBudget`: the one arbiter of a Klaviyo account's request rate for every worker of the fleet, on any Temporal
 * server and with no other database. Workers ask it for tokens with the `lease` Update; it answers from a log of
 * grants per lane (budget-windows.ts), one Update at a time, so no two workers can ever both take the last token.
 *
 * Why a lease holds without synchronized clocks: the worker reads its own monotonic clock, t0, BEFORE it sends the
 * Update, and uses the granted tokens for sends only until t0 + V (V = LEASE_VALIDITY_MS) on that same clock. The
 * grant happened after the Update was sent, so after t0 in real time; every send of the lease therefore happens
 * within V after its grant, whatever the offset between the worker's, the server's and Klaviyo's clocks (only
 * their rates must agree, as every quartz clock's do to within parts per million). budget-windows.ts turns "within V
 * of its grant" into "every fixed Klaviyo window holds at most the limit". A lease that arrives after its deadline
 * (a slow server) is simply not used: tokens are lost, never over-drawn.
 *
 * A lease may reserve the next tokens that fit, d ms ahead (at most MAX_RESERVATION_MS), recorded in the log at
 * g + d: the worker then sends from d after the answer ARRIVES (after g in real time, so not before g + d) until
 * t0 + d + V (t0 before g, so not after g + d + V): within V of the recorded time again. Askers thus queue in the
 * log, one Update per lease, instead of asking again and again when a lane is full.
 *
 * Time here is workflow time (the server's, as of each workflow task), never behind its last reading.
 *
 * The workflow holds no secret: its id and input name the account by a hash prefix of base URL and API key
 * (worker/fleet-rate-limiter.ts). Its history stays bounded: it continues as new, carrying the logs, after
 * MAX_LEASES_PER_RUN leases or when Temporal suggests it, once every handler finished; it ends itself after IDLE_MS
 * without a lease (an Update that races that end is retried by the worker, which starts a new run).
 */
import { allHandlersFinished, condition, continueAsNew, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { emptyLane, lease, LEASE_VALIDITY_MS, penalize, prune, steadySpan, type LaneLog } from './budget-windows';
import { budgetQuery, leaseUpdate, penalizeSignal, type BudgetStatus } from './shared';

/** Leases per run before continuing as new: about 5 history events each at worst, well under the 4,096 suggestion. */
export const MAX_LEASES_PER_RUN = 500;
/** Without a lease this long, the budget ends (its windows are long empty) rather than linger. */
export const IDLE_MS = 10 * 60_000;

export interface RateBudgetInput {
  /** the account key (a hash prefix, never the API key) */
  account: string;
  /** carried across continue-as-new */
  lanes?: Record<string, LaneLog>;
  runs?: number;
  /** workflow time of the last lease, carried so the idle end counts from it */
  lastLeaseAt?: number;
}

export async function rateBudget(input: RateBudgetInput): Promise<{ runs: number }> {
  const lanes = new Map<string, LaneLog>(Object.entries(input.lanes ?? {}));
  const runs = (input.runs ?? 0) + 1;
  let leases = 0;
  let clock = 0;
  // workflow time never goes back here: a grant is never recorded before one already in the log
  const now = () => (clock = Math.max(clock, Date.now()));
  let lastLeaseAt = input.lastLeaseAt ?? now();
  const laneOf = (name: string) => {
    let log = lanes.get(name);
    if (!log) lanes.set(name, (log = emptyLane()));
    return log;
  };

  setHandler(
    leaseUpdate,
    (req) => {
      leases++;
      const t = now();
      lastLeaseAt = t;
      return lease(laneOf(req.lane), { burst: req.burst, steady: req.steady }, Math.min(req.want, req.burst), t);
    },
    {
      validator: (req) => {
        if (typeof req?.lane !== 'string' || !(req.want >= 1) || !(req.burst >= 1) || !(req.steady >= 1)) {
          throw new Error(`a lease names a lane and asks for at least one token under limits of at least 1: ${JSON.stringify(req)}`);
        }
      },
      description: 'Grants up to `want` tokens of `lane` that fit its burst and steady windows; with none, when to ask again',
    },
  );
  setHandler(penalizeSignal, ({ lane, seconds }) => penalize(laneOf(lane), seconds, now()), {
    description: 'Blocks a lane for everyone for `seconds` (a 429, or RateLimit-Remaining: 0)',
  });
  setHandler(budgetQuery, (): BudgetStatus => {
    // a query is not replayed: it reads the clock without moving it
    const t = Math.max(clock, Date.now());
    const out: BudgetStatus['lanes'] = {};
    for (const [name, log] of lanes) {
      const since = t - steadySpan(LEASE_VALIDITY_MS);
      out[name] = {
        grantedInSteadySpan: log.grants.filter(([g]) => g > since).reduce((n, [, k]) => n + k, 0),
        blockedForMs: Math.max(0, log.blockedUntil - t),
      };
    }
    return { account: input.account, runs, leasesThisRun: leases, lanes: out };
  });
  setCurrentDetails(`Rate budget of Klaviyo account ${input.account}: run ${runs}; leases of ${LEASE_VALIDITY_MS} ms`);

  const mustContinue = () => leases >= MAX_LEASES_PER_RUN || workflowInfo().continueAsNewSuggested;
  for (;;) {
    // one timer per idle period, not per lease: a lease adds only its own Update events to the history
    const continuing = await condition(mustContinue, IDLE_MS);
    if (continuing) break;
    if (now() - lastLeaseAt >= IDLE_MS) return { runs };
  }
  await condition(allHandlersFinished);
  const t = now();
  const carried: Record<string, LaneLog> = {};
  for (const [name, log] of lanes) {
    prune(log, t);
    if (log.grants.length > 0 || log.blockedUntil > t) carried[name] = log;
  }
  return continueAsNew<typeof rateBudget>({ account: input.account, lanes: carried, runs, lastLeaseAt });
}
