/**
 * Klaviyo's rate limits as the sandbox enforces them: per (API key, operation, tier), a burst limit over a fixed
 * 1-second window and a steady limit over a fixed 60-second window, both aligned to the wall clock, and for the
 * tiers that have one (the reporting API's `225/d`) a daily limit over the UTC day (the sandbox's company timezone). A tier is the
 * operation's documented limit or one of its stricter conditional limits (e.g. predictive_analytics on profiles).
 */
import { throttled, type ApiError } from './errors';

export type RateLimitMode = { kind: 'documented' } | { kind: 'off' } | { kind: 'scale'; factor: number };

export interface RateTier {
  /** `default` or the condition, e.g. `additional-fields[profile]=predictive_analytics` */
  name: string;
  burst: number;
  steady: number;
  /** requests per UTC day, for the tiers that document one */
  daily?: number;
}

const DAY_MS = 86_400_000;

export function parseRateLimitMode(text: string): RateLimitMode {
  if (text === 'documented' || text === 'off') return { kind: text };
  const m = /^scale:(\d+(?:\.\d+)?|\.\d+)$/.exec(text);
  const factor = m ? Number(m[1]) : NaN;
  if (!(factor > 0)) {
    throw new Error(`rate-limit mode '${text}' is not one of documented, off or scale:N with N > 0 (e.g. scale:0.1 or scale:10)`);
  }
  return { kind: 'scale', factor };
}

export function formatRateLimitMode(mode: RateLimitMode): string {
  return mode.kind === 'scale' ? `scale:${mode.factor}` : mode.kind;
}

interface Bucket {
  second: number;
  inSecond: number;
  minute: number;
  inMinute: number;
  day: number;
  inDay: number;
}

export type RateDecision = { ok: true; headers: Record<string, string> } | { ok: false; error: ApiError };

export class RateLimiter {
  private buckets = new Map<string, Bucket>();

  constructor(private currentMode: RateLimitMode = { kind: 'documented' }) {}

  get mode(): RateLimitMode {
    return this.currentMode;
  }

  setMode(mode: RateLimitMode): void {
    this.currentMode = mode;
    this.buckets.clear();
  }

  /** The limits in force for a tier under the current mode (scaled, never below 1). */
  limits(tier: RateTier): { burst: number; steady: number; daily: number | null } {
    const f = this.currentMode.kind === 'scale' ? this.currentMode.factor : 1;
    return {
      burst: Math.max(1, Math.round(tier.burst * f)),
      steady: Math.max(1, Math.round(tier.steady * f)),
      daily: tier.daily === undefined ? null : Math.max(1, Math.round(tier.daily * f)),
    };
  }

  /** Counts one request, or refuses it with a 429 when either window is full. `now` is in ms. */
  take(apiKey: string, operationId: string, tier: RateTier, now = Date.now()): RateDecision {
    if (this.currentMode.kind === 'off') return { ok: true, headers: {} };
    const { burst, steady, daily } = this.limits(tier);
    const id = `${apiKey}\u0000${operationId}\u0000${tier.name}`;
    const second = Math.floor(now / 1000);
    const minute = Math.floor(now / 60_000);
    const day = Math.floor(now / DAY_MS);
    let b = this.buckets.get(id);
    if (!b) {
      b = { second, inSecond: 0, minute, inMinute: 0, day, inDay: 0 };
      this.buckets.set(id, b);
    }
    if (b.second !== second) {
      b.second = second;
      b.inSecond = 0;
    }
    if (b.minute !== minute) {
      b.minute = minute;
      b.inMinute = 0;
    }
    if (b.day !== day) {
      b.day = day;
      b.inDay = 0;
    }
    const secondResetMs = (second + 1) * 1000 - now;
    const minuteResetMs = (minute + 1) * 60_000 - now;
    const dayResetMs = (day + 1) * DAY_MS - now;
    // The longest full window decides when a retry can succeed: a spent day makes a free minute useless.
    if (daily !== null && b.inDay >= daily) return { ok: false, error: throttled(Math.max(1, Math.ceil(dayResetMs / 1000))) };
    if (b.inMinute >= steady) return { ok: false, error: throttled(Math.max(1, Math.ceil(minuteResetMs / 1000))) };
    if (b.inSecond >= burst) return { ok: false, error: throttled(Math.max(1, Math.ceil(secondResetMs / 1000))) };
    b.inSecond++;
    b.inMinute++;
    b.inDay++;
    const burstLeft = burst - b.inSecond;
    const steadyLeft = steady - b.inMinute;
    // Like Klaviyo's sample (`Remaining: 9, Reset: 0` under `10, 10;w=1, 150;w=60`): report the window nearer exhaustion.
    const burstNearer = burstLeft / burst <= steadyLeft / steady;
    return {
      ok: true,
      headers: {
        'ratelimit-limit': `${burst}, ${burst};w=1, ${steady};w=60${daily === null ? '' : `, ${daily};w=86400`}`,
        'ratelimit-remaining': String(burstNearer ? burstLeft : steadyLeft),
        'ratelimit-reset': String(Math.floor((burstNearer ? secondResetMs : minuteResetMs) / 1000)),
      },
    };
  }
}
