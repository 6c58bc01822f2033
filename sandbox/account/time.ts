/** Klaviyo prints datetimes to the second with an explicit UTC offset: `2025-03-04T05:06:07+00:00`. */

export const HOUR = 3600;
export const DAY = 86400;

/** The synthetic history covers this many days before the anchor. */
export const HISTORY_DAYS = 730;

/*
 * A profile prints about fifteen datetimes, and `Date#toISOString` made up a fifth of generating one. The calendar
 * date comes from Date once per UTC day and is memoised (a data set spans a few thousand days); the time of day is
 * plain arithmetic. Outside the years 1970-9999, or for fractional seconds, Date does it all, so every output is
 * exactly what `toISOString` would print.
 */
const FAST_UNTIL = 253402300800; // 10000-01-01T00:00:00Z
const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));
const MAX_MEMO_DAYS = 100_000;
const datesByDay = new Map<number, string>();

function dateOfDay(day: number): string {
  let date = datesByDay.get(day);
  if (date === undefined) {
    if (datesByDay.size >= MAX_MEMO_DAYS) datesByDay.clear();
    date = new Date(day * DAY * 1000).toISOString().slice(0, 10);
    datesByDay.set(day, date);
  }
  return date;
}

function fast(sec: number): boolean {
  return Number.isInteger(sec) && sec >= 0 && sec < FAST_UNTIL;
}

/** Epoch seconds to `YYYY-MM-DDTHH:MM:SS+00:00`. */
export function isoSeconds(sec: number): string {
  if (!fast(sec)) return new Date(sec * 1000).toISOString().slice(0, 19) + '+00:00';
  const day = Math.floor(sec / DAY);
  const t = sec - day * DAY;
  return `${dateOfDay(day)}T${TWO_DIGITS[Math.floor(t / HOUR)]}:${TWO_DIGITS[Math.floor(t / 60) % 60]}:${TWO_DIGITS[t % 60]}+00:00`;
}

/** Epoch seconds to `YYYY-MM-DD` (UTC). */
export function isoDate(sec: number): string {
  return fast(sec) ? dateOfDay(Math.floor(sec / DAY)) : new Date(sec * 1000).toISOString().slice(0, 10);
}

/** A moment in [lo, hi] (epoch seconds), `f` in [0, 1). */
export function between(lo: number, hi: number, f: number): number {
  return hi <= lo ? lo : lo + Math.floor(f * (hi - lo + 1));
}
