import type { Rng } from './prng';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Digits, then upper, then lower case: ascending in UTF-16 code units, so fixed-width encodings sort numerically. */
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const CROCKFORD_CODES = Array.from(CROCKFORD, (c) => c.charCodeAt(0));
const BASE62_CODES = Array.from(BASE62, (c) => c.charCodeAt(0));

/*
 * Ids are built as char codes and turned into a string in one call: concatenating a character at a time leaves a
 * deep rope that every later charCodeAt (checksums, comparisons) pays to walk.
 */

/** A ULID as Klaviyo uses for profiles and campaigns: 10 chars of millisecond time, then 16 random chars. */
export function ulid(ms: number, rng: Rng): string {
  const codes = new Array<number>(26);
  let t = Math.floor(ms);
  for (let k = 9; k >= 0; k--) {
    codes[k] = CROCKFORD_CODES[t % 32];
    t = Math.floor(t / 32);
  }
  for (let k = 10; k < 26; k++) codes[k] = CROCKFORD_CODES[rng.int(32)];
  return String.fromCharCode(...codes);
}

/** A short mixed-case id like Klaviyo's list, segment, flow, template and metric ids (`Y6nRLr`). */
function shortId(rng: Rng, length = 6): string {
  const codes = new Array<number>(length);
  for (let k = 0; k < length; k++) codes[k] = BASE62_CODES[rng.int(62)];
  return String.fromCharCode(...codes);
}

/** Non-negative integers, each in fixed-width base 62 (`widths[k]` digits), concatenated; order-preserving under `<`. */
export function base62(values: readonly number[], widths: readonly number[]): string {
  const codes: number[] = [];
  values.forEach((n, part) => {
    const start = codes.length;
    let v = Math.floor(n);
    for (let k = 0; k < widths[part]; k++) codes.push(0);
    for (let k = codes.length - 1; k >= start; k--) {
      codes[k] = BASE62_CODES[v % 62];
      v = Math.floor(v / 62);
    }
    if (v > 0) throw new RangeError(`base62: ${n} does not fit in ${widths[part]} digits`);
  });
  return String.fromCharCode(...codes);
}

/** The inverse of `base62` for one value, or -1 when `s` holds a character outside the alphabet. */
export function fromBase62(s: string): number {
  let v = 0;
  for (let k = 0; k < s.length; k++) {
    const d = BASE62.indexOf(s[k]);
    if (d < 0) return -1;
    v = v * 62 + d;
  }
  return v;
}

/** A random (version 4) UUID, lower case. */
export function uuid4(rng: Rng): string {
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
  const a = rng.next();
  const b = rng.next();
  const c = rng.next();
  const d = rng.next();
  return (
    `${hex(a, 8)}-${hex(b >>> 16, 4)}-${hex(((b & 0x0fff) | 0x4000) >>> 0, 4)}-` +
    `${hex(((c >>> 16) & 0x3fff) | 0x8000, 4)}-${hex(c & 0xffff, 4)}${hex(d, 8)}`
  );
}

/** Draws short ids that are unique within one account (lists, segments, flows, templates and metrics share it). */
export class ShortIdPool {
  private readonly used = new Set<string>();

  draw(rng: Rng): string {
    for (;;) {
      const id = shortId(rng);
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
  }
}

/** 100-ns intervals between the Gregorian reform (the UUID v1 epoch) and the Unix epoch. */
const UUID_EPOCH_OFFSET = 0x01b21dd213814000n;

/** A time-based (version 1) UUID for an instant in epoch seconds, like the `uuid` Klaviyo gives events. */
export function uuid1(sec: number, rng: Rng): string {
  const t = BigInt(sec) * 10_000_000n + BigInt(rng.int(10_000_000)) + UUID_EPOCH_OFFSET;
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
  const timeLow = Number(t & 0xffffffffn);
  const timeMid = Number((t >> 32n) & 0xffffn);
  const timeHigh = Number((t >> 48n) & 0x0fffn) | 0x1000;
  const clockSeq = rng.int(0x4000) | 0x8000;
  const node = (rng.next() & 0xffff) | 0x0100;
  return `${hex(timeLow, 8)}-${hex(timeMid, 4)}-${hex(timeHigh, 4)}-${hex(clockSeq, 4)}-${hex(node, 4)}${hex(rng.next(), 8)}`;
}
