/**
 * The arithmetic of the rate budget workflow (rate-budget.ts), pure and deterministic so that workflow code and the
 * unit tests share it: a log of grants per lane, and how many tokens fit now.
 *
 * Why windows of W + pad + V hold Klaviyo's fixed windows of W: a token granted for server time g (now, or a
 * reservation a little ahead) is only sent within [g, g + V] (see rate-budget.ts for the lease's proof), and arrives at Klaviyo within `pad` of being sent
 * (network jitter). So the requests arriving in any fixed window [a, a + W) were granted in [a − V − pad, a + W), a
 * span of W + V + pad. Granting at most `limit` tokens in every sliding span of that length therefore puts at most
 * `limit` requests in every fixed window, wherever Klaviyo's windows start and whatever the clocks of the workers.
 */

/** Burst and steady windows as Klaviyo counts them, and the jitter padding of lib/klaviyo/ratelimit.ts. */
export const BURST_WINDOW_MS = 1_000;
export const STEADY_WINDOW_MS = 60_000;
export const BURST_PAD_MS = 100;
export const STEADY_PAD_MS = 1_000;

/** How long a granted lease may be used for sends, measured on the asking worker's own monotonic clock. */
export const LEASE_VALIDITY_MS = 1_000;

export interface LaneLimits {
  burst: number;
  steady: number;
}

/** One lane's grants, oldest first, as `[time, tokens]` pairs (a lease of 5 tokens is one entry), and its block. */
export interface LaneLog {
  grants: Array<[number, number]>;
  /** no grant before this time (a 429's Retry-After, or `RateLimit-Remaining: 0` until its reset) */
  blockedUntil: number;
}

export interface Grant {
  granted: number;
  /**
   * the tokens are for sends from `delayMs` after the lease arrives until t0 + delayMs + V (t0: the asker's clock when
   * it sent the lease): a reservation of the next tokens that fit, so askers queue in the log instead of asking again
   */
  delayMs: number;
  /** when nothing was granted (the next fit is more than MAX_RESERVATION_MS away, or a block): when to ask again */
  retryInMs: number;
}

/** How far ahead a lease may reserve tokens; a later fit is answered with `retryInMs` instead. */
export const MAX_RESERVATION_MS = 3_000;

export const burstSpan = (validityMs: number) => BURST_WINDOW_MS + BURST_PAD_MS + validityMs;
export const steadySpan = (validityMs: number) => STEADY_WINDOW_MS + STEADY_PAD_MS + validityMs;

export function emptyLane(): LaneLog {
  return { grants: [], blockedUntil: 0 };
}

/** Drops grants that no window can see any more (older than the steady span). */
export function prune(log: LaneLog, now: number, validityMs = LEASE_VALIDITY_MS): void {
  const horizon = now - steadySpan(validityMs);
  let drop = 0;
  while (drop < log.grants.length && log.grants[drop][0] <= horizon) drop++;
  if (drop > 0) log.grants.splice(0, drop);
}

/** Tokens granted in the span ending at `at` (a grant at exactly `at − span` has left it). */
function inSpan(log: LaneLog, at: number, span: number): number {
  let n = 0;
  for (let i = log.grants.length - 1; i >= 0; i--) {
    const [t, k] = log.grants[i];
    if (t <= at - span) break;
    if (t <= at) n += k;
  }
  return n;
}

/** How long from `at` until the span ending then holds fewer than `limit` tokens (0: it does at `at`). */
function waitInSpan(log: LaneLog, at: number, span: number, limit: number): number {
  let excess = inSpan(log, at, span) - limit + 1;
  if (excess <= 0) return 0;
  for (const [t, n] of log.grants) {
    if (t <= at - span) continue;
    excess -= n;
    if (excess <= 0) return t + span - at;
  }
  return span;
}

/**
 * Reserves up to `want` tokens at the earliest time x ≥ now that fits both windows (and any block), records them at
 * x, and answers how far ahead x is. Grants are recorded in time order (x is never before the last grant), so the
 * span ending at x is the only one a new grant can overfill. Limits below 1 are read as 1.
 */
export function lease(log: LaneLog, limits: LaneLimits, want: number, now: number, validityMs = LEASE_VALIDITY_MS): Grant {
  prune(log, now, validityMs);
  const burst = Math.max(1, Math.floor(limits.burst));
  const steady = Math.max(1, Math.floor(limits.steady));
  const last = log.grants[log.grants.length - 1];
  let at = Math.max(now, log.blockedUntil, last ? last[0] : now);
  for (;;) {
    const wait = Math.max(waitInSpan(log, at, burstSpan(validityMs), burst), waitInSpan(log, at, steadySpan(validityMs), steady));
    if (wait <= 0) break;
    at += wait;
  }
  if (at - now > MAX_RESERVATION_MS) return { granted: 0, delayMs: 0, retryInMs: at - now - MAX_RESERVATION_MS / 2 };
  const room = Math.min(burst - inSpan(log, at, burstSpan(validityMs)), steady - inSpan(log, at, steadySpan(validityMs)));
  const granted = Math.max(1, Math.min(Math.floor(want), room));
  if (last && last[0] === at) last[1] += granted;
  else log.grants.push([at, granted]);
  return { granted, delayMs: at - now, retryInMs: 0 };
}

/** Blocks the lane until `now + seconds` (never shortens a block already in force). */
export function penalize(log: LaneLog, seconds: number, now: number): void {
  if (!(seconds > 0)) return;
  log.blockedUntil = Math.max(log.blockedUntil, now + seconds * 1000);
}

/**
 * Most tokens in any half-open interval [x, x + spanMs) of grant times: the invariant `lease` keeps for both spans,
 * and so (module comment) the most requests any fixed Klaviyo window can see. The tests check grants against it.
 */
export function mostInAnySpan(grants: ReadonlyArray<[number, number]>, spanMs: number): number {
  let most = 0;
  for (const [start] of grants) {
    let n = 0;
    for (const [t, k] of grants) if (t >= start && t < start + spanMs) n += k;
    most = Math.max(most, n);
  }
  return most;
}
