import type { Source } from './collection';
import { STREAM, rngFor } from './prng';
import { DAY, isoSeconds } from './time';
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
  /** how many codes it holds (`GET /api/coupons/{id}/coupon-codes`) */
  codes: number;
}

/**
 * The most codes a coupon holds: one for every 10 profiles (20 on the tiny preset, 200 on the small, 20,000 on the
 * large), each coupon drawing its own count up to that, so that some take several pages and one may hold none.
 */
export function maxCodesPerCoupon(profiles: number): number {
  return Math.max(10, Math.round(profiles / 10));
}

export class CouponSource implements Source {
  readonly keyFields = [] as const;
  private readonly coupons: Coupon[];

  constructor(
    private readonly seed: number,
    maxCodes: number,
    private readonly anchorSec: number,
  ) {
    this.coupons = KINDS.map((kind, i) => {
      const r = rngFor(seed, STREAM.coupon, i);
      const amount = 5 + 5 * r.int(6);
      return {
        id: `${kind.prefix}${amount}`,
        description: kind.description(amount),
        lowBalance: r.chance(0.5) ? r.pick([100, 250, 500, 1000]) : null,
        codes: rngFor(seed, STREAM.coupon, i, 1).int(maxCodes + 1),
      };
    });
  }

  /** The codes of the coupon `id`, or undefined when there is no such coupon (the listing answers 404). */
  codesOf(id: string): CouponCodes | undefined {
    const index = this.coupons.findIndex((c) => c.id === id);
    return index < 0 ? undefined : new CouponCodes(this.coupons[index], index, this.seed, this.anchorSec);
  }

  /** Every coupon's id with its codes, for the truth. */
  allCodes(): CouponCodes[] {
    return this.coupons.map((c, i) => new CouponCodes(c, i, this.seed, this.anchorSec));
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

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** Code statuses, weighted as a live coupon's are: most waiting or handed out, some used, a few in passing states. */
const CODE_STATUSES = [
  ...Array<string>(5).fill('UNASSIGNED'),
  ...Array<string>(3).fill('ASSIGNED_TO_PROFILE'),
  ...Array<string>(2).fill('USED'),
  'PROCESSING',
  'VERSION_NOT_ACTIVE',
] as const;

/**
 * One coupon's codes, as `GET /api/coupons/{id}/coupon-codes` lists them. A code's id is the coupon's id and its
 * unique code joined by a hyphen (the spec: "a combination of its unique code and the id of the coupon"); its
 * status and expiry are drawn from the seed (null expiry: a year after upload, which the API leaves unset).
 * `coupon.id` is a filter field; the relationships carry links only, as the response schema gives them.
 */
export class CouponCodes implements Source {
  // the operation takes no sort
  readonly keyFields = [] as const;

  constructor(
    private readonly coupon: Coupon,
    private readonly index: number,
    private readonly seed: number,
    private readonly anchorSec: number,
  ) {}

  get couponId(): string {
    return this.coupon.id;
  }

  slots(): number {
    return this.coupon.codes;
  }

  private draw(k: number): { code: string; status: string; expiresAt: number | null } {
    const r = rngFor(this.seed, STREAM.couponCode, this.index, k);
    let code = '';
    for (let c = 0; c < 12; c++) code += CODE_ALPHABET[r.int(CODE_ALPHABET.length)];
    const status = r.pick(CODE_STATUSES);
    const expiresAt = r.chance(0.3) ? null : this.anchorSec + (r.int(730) - 180) * DAY;
    // the index makes codes unique within the coupon whatever the draws
    return { code: `${code}${k.toString(36).toUpperCase()}`, status, expiresAt };
  }

  id(k: number): string {
    return this.idOf(this.draw(k).code);
  }

  private idOf(code: string): string {
    return `${this.coupon.id}-${code}`;
  }

  key(): SortKey {
    return null;
  }

  row(k: number): Row {
    const { code, status, expiresAt } = this.draw(k);
    return {
      type: 'coupon-code',
      id: this.idOf(code),
      attributes: { unique_code: code, expires_at: expiresAt === null ? null : isoSeconds(expiresAt), status },
      hidden: { 'coupon.id': this.coupon.id },
    };
  }
}
