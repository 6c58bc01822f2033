/** Klaviyo prints datetimes to the second with an explicit UTC offset: `2025-03-04T05:06:07+00:00`. */

export const HOUR = 3600;
export const DAY = 86400;

/** The synthetic history covers this many days before the anchor. */
export const HISTORY_DAYS = 730;

/** Epoch seconds to `YYYY-MM-DDTHH:MM:SS+00:00`. */
export function isoSeconds(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 19) + '+00:00';
}

/** Epoch seconds to `YYYY-MM-DD` (UTC). */
export function isoDate(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 10);
}

/** A moment in [lo, hi] (epoch seconds), `f` in [0, 1). */
export function between(lo: number, hi: number, f: number): number {
  return hi <= lo ? lo : lo + Math.floor(f * (hi - lo + 1));
}
