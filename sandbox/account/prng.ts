/**
 * Counter-based randomness: every value is a pure function of (seed, stream, index), so row i of any table can be
 * generated without generating rows 0..i-1, and two accounts with the same seed produce the same bytes.
 */

/** murmur3's 32-bit finaliser: a cheap bijective mix with full avalanche. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A 32-bit hash of up to three integer coordinates under a seed. */
export function hash32(seed: number, stream: number, a: number, b = 0): number {
  let h = mix32((seed ^ 0x9e3779b9) >>> 0);
  h = mix32((h ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0);
  h = mix32((h ^ a ^ Math.imul((a / 0x100000000) | 0, 0x27d4eb2f)) >>> 0);
  return b === 0 ? h : mix32((h ^ Math.imul(b, 0x165667b1)) >>> 0);
}

/** hash32 as a float in [0, 1). */
export function unit(seed: number, stream: number, a: number, b = 0): number {
  return hash32(seed, stream, a, b) / 0x100000000;
}

/** mulberry32: a small sequential generator for the many draws that make up one row. */
export class Rng {
  private s: number;

  constructor(seed32: number) {
    this.s = seed32 >>> 0;
  }

  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  float(): number {
    return this.next() / 0x100000000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Up to n distinct items, in their original order. */
  sample<T>(items: readonly T[], n: number): T[] {
    const take = Math.min(n, items.length);
    const chosen = new Set<number>();
    while (chosen.size < take) chosen.add(this.int(items.length));
    return [...chosen].sort((a, b) => a - b).map((i) => items[i]);
  }

  /** A price-like number with two decimals in [lo, hi). */
  money(lo: number, hi: number): number {
    return Math.round((lo + this.float() * (hi - lo)) * 100) / 100;
  }
}

export function rngFor(seed: number, stream: number, a: number, b = 0): Rng {
  return new Rng(hash32(seed, stream, a, b));
}

/**
 * Stream numbers: one per independent family of draws. Fields that must be cheap on their own (sort keys) get a
 * stream of their own so they can be computed without drawing the rest of the row.
 */
export const STREAM = {
  profileCreated: 1,
  profileId: 2,
  profileIdentity: 3,
  profileUpdated: 4,
  profileDetails: 5,
  profileSubscriptions: 6,
  profileSuppression: 7,
  profilePredictive: 8,
  listMeta: 10,
  segmentMeta: 11,
  listMembership: 12,
  segmentMembership: 13,
  listJoined: 14,
  segmentJoined: 15,
  groupIds: 16,
  campaign: 20,
  campaignId: 21,
  flow: 22,
  template: 23,
  metric: 24,
  tag: 25,
  catalog: 26,
  form: 27,
  coupon: 28,
  couponCode: 29,
  eventTime: 30,
  eventBody: 31,
  eventUuid: 32,
  eventAttribution: 33,
  advance: 40,
  advanceDeletes: 41,
  /** the HTTP layer's answer delays (http/latency.ts), not the account's data */
  latency: 50,
} as const;
