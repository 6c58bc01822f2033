import type { Source } from './collection';
import { STREAM, rngFor } from './prng';
import type { Row, SortKey } from './types';

/**
 * The account's coupons, as `GET /api/coupons` lists them: a handful whatever the size (an account has a few, each
 * holding many codes). A coupon's id is its external id (the spec: "The internal id of a Coupon is equivalent to its
 * external id stored within an integration"), a shop's code name with its amount, which the seed draws, as it draws
 * which coupons watch their codes running low.
 */
const KINDS: ReadonlyArray<{ prefix: string; description: (amount: number) => string | null }> = [
  { prefix: 'WELCOME', description: (n) => `${n}% off a first order` },
  { prefix: 'FREESHIP', description: (n) => `Free shipping over $${n * 10}` },
  { prefix: 'VIP', description: (n) => `${n}% off for VIP customers` },
  { prefix: 'WINBACK', description: (n) => `${n}% off to win back lapsed customers` },
  { prefix: 'BDAY', description: (n) => `Birthday: $${n} off` },
  { prefix: 'BFCM', description: () => null },
  { prefix: 'REFER', description: (n) => `Referral reward: $${n} off` },
];

interface Coupon {
  id: string;
  description: string | null;
  lowBalance: number | null;
}

export class CouponSource implements Source {
  readonly keyFields = [] as const;
  private readonly coupons: Coupon[];

  constructor(seed: number) {
    this.coupons = KINDS.map((kind, i) => {
      const r = rngFor(seed, STREAM.coupon, i);
      const amount = 5 + 5 * r.int(6);
      return {
        id: `${kind.prefix}${amount}`,
        description: kind.description(amount),
        lowBalance: r.chance(0.5) ? r.pick([100, 250, 500, 1000]) : null,
      };
    });
  }

  slots(): number {
    return this.coupons.length;
  }

  id(i: number): string {
    return this.coupons[i].id;
  }

  key(_i: number, field: string): SortKey {
    throw new Error(`coupons: no sort key '${field}'`);
  }

  row(i: number): Row {
    const { id, description, lowBalance } = this.coupons[i];
    return {
      type: 'coupon',
      id,
      attributes: {
        external_id: id,
        description,
        monitor_configuration: lowBalance === null ? null : { low_balance_threshold: lowBalance },
      },
    };
  }
}
