/** Klaviyo prints datetimes to the second with an explicit UTC offset: `2025-03-04T05:06:07+00:00`. */

export const HOUR = 3600;
export const DAY = 86400;

/** The synthetic history covers this many days before the anchor. */
export const HISTORY_DAYS = 730;

/*
 * A profile prints about fifteen datetimes, and `Date#toISOString` made up a fifth of generating one. Both halves
 * of `YYYY-MM-DDT` + `HH:MM:SS+00:00` are memoised: the date per UTC day of the years 1900-2099, where synthetic
 * datetimes fall (from Date, once), the time per second of the day (by arithmetic). Joining two flat strings also
 * leaves the garbage collector one piece instead of a chain. Other years and fractional seconds go to Date, so every
 * output is exactly what `toISOString` would print.
 */
const FIRST_DAY = -25567; // 1900-01-01
const DAYS = 73049 - FIRST_DAY; // until 2100-01-01
const datesByDay = new Array<string | undefined>(DAYS);
const timesBySecond = new Array<string | undefined>(DAY);
const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));

/** The index of the UTC day of `sec` in `datesByDay`, or -1 when Date must do the formatting. */
function dayIndex(sec: number): number {
  if (!Number.isInteger(sec)) return -1;
  const k = Math.floor(sec / DAY) - FIRST_DAY;
  return k >= 0 && k < DAYS ? k : -1;
}

/** `YYYY-MM-DDT` of day index k. */
function dateAt(k: number): string {
  return (datesByDay[k] ??= new Date((k + FIRST_DAY) * DAY * 1000).toISOString().slice(0, 11));
}

/** `HH:MM:SS+00:00` of second t of a day. */
function timeAt(t: number): string {
  return (timesBySecond[t] ??= `${TWO_DIGITS[Math.floor(t / HOUR)]}:${TWO_DIGITS[Math.floor(t / 60) % 60]}:${TWO_DIGITS[t % 60]}+00:00`);
}

/** Epoch seconds to `YYYY-MM-DDTHH:MM:SS+00:00`. */
export function isoSeconds(sec: number): string {
  const k = dayIndex(sec);
  if (k < 0) return new Date(sec * 1000).toISOString().slice(0, 19) + '+00:00';
  return dateAt(k) + timeAt(sec - (k + FIRST_DAY) * DAY);
}

/** Epoch seconds to `YYYY-MM-DD` (UTC). */
export function isoDate(sec: number): string {
  const k = dayIndex(sec);
  return k < 0 ? new Date(sec * 1000).toISOString().slice(0, 10) : dateAt(k).slice(0, 10);
}

/** A moment in [lo, hi] (epoch seconds), `f` in [0, 1). */
export function between(lo: number, hi: number, f: number): number {
  return hi <= lo ? lo : lo + Math.floor(f * (hi - lo + 1));
}
