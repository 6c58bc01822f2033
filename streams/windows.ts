/**
 * Time windows: a stream whose cursor filter takes an upper bound (events on `datetime`, profiles on `updated`) is
 * read as several listings at once, each `and(<cursor op>(field,start),less-than(field,end))`, sorted by the
 * cursor. Pure and deterministic (no clock: `now` is passed in), so the planner, the writer and tests share it.
 *
 * A window's partition key states its own bounds, `2024-01-01T00:00:00Z..2024-02-01T00:00:00Z`, and the last
 * window of a run is open-ended, `2025-06-01T00:00:00Z..`: rows created or updated while the run reads (a profile
 * updated moves to the end of the `updated` order) land in the open window, which reads them before it ends.
 * Full refresh reads one unbounded listing, the key '' (no filter at all).
 *
 * Windows are planned of equal length in time. Real accounts (and the sandbox: denser towards the present, 13% of its
 * events in the last 30 of 730 days) hold more rows in recent windows, so those take longest: a window still being
 * read while slots are idle is split (`splitWindow`) at the middle of what it has left, its first half keeping its
 * cursor and its second half a window of its own, until the range is read by as many listings as the run may keep in
 * flight.
 */

export interface Window {
  /** inclusive lower bound (the cursor's operator, less its overlap, applies to it), ISO seconds with `Z` */
  start: string;
  /** exclusive upper bound, or null for the open last window */
  end: string | null;
}

export interface WindowLimits {
  /** at most this many windows per run */
  maxWindows: number;
  /** no window shorter than this, so a short range (an hourly incremental run) is one window */
  minWindowSeconds: number;
}

const SEPARATOR = '..';

/** An instant as a window bound: UTC, whole seconds (truncated: a bound moved down re-reads, never skips). */
export function windowBound(at: Date | string | number): string {
  const ms = new Date(at).getTime();
  if (Number.isNaN(ms)) throw new Error(`window bound ${JSON.stringify(at)} is not an instant`);
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function windowKey(w: Window): string {
  return `${w.start}${SEPARATOR}${w.end ?? ''}`;
}

/** The window a partition key states; null for '' (the one unbounded listing of a full refresh). */
export function parseWindowKey(key: string): Window | null {
  if (key === '') return null;
  const at = key.indexOf(SEPARATOR);
  const start = at < 0 ? '' : key.slice(0, at);
  const end = at < 0 ? '' : key.slice(at + SEPARATOR.length);
  const valid = (s: string) => !Number.isNaN(Date.parse(s)) && windowBound(s) === s;
  const ok = valid(start) && (end === '' || (valid(end) && Date.parse(end) > Date.parse(start)));
  if (!ok) throw new Error(`${JSON.stringify(key)} is not a time window (<start>..<end> or <start>.., ISO seconds with Z)`);
  return { start, end: end === '' ? null : end };
}

/** Whether a partition key is a time window (a key of a windows-partitioned stream other than ''). */
export function isWindowKey(key: string): boolean {
  try {
    return parseWindowKey(key) !== null;
  } catch {
    return false;
  }
}

/**
 * [from, now) cut into equal windows, the last one open-ended: as many as `limits.maxWindows` allows with none
 * shorter than `limits.minWindowSeconds` (one window at least). `from` at or after `now` gives one open window.
 */
export function splitWindows(from: Date | string, now: Date, limits: WindowLimits): Window[] {
  const start = Date.parse(windowBound(from));
  const span = now.getTime() - start;
  const count = Math.max(1, Math.min(limits.maxWindows, Math.floor(span / (limits.minWindowSeconds * 1000))));
  const bounds = Array.from({ length: count }, (_, i) => windowBound(start + Math.floor((span * i) / count)));
  return bounds.map((b, i) => ({ start: b, end: i + 1 < count ? bounds[i + 1] : null }));
}

/**
 * [from, to) cut into equal windows as `splitWindows` cuts [from, now), the last one closed at `to`: a backfill's
 * range, of which nothing after `to` is read.
 */
export function splitRange(from: Date | string, to: Date | string, limits: WindowLimits): Window[] {
  const end = windowBound(to);
  const windows = splitWindows(from, new Date(end), limits);
  windows[windows.length - 1] = { ...windows[windows.length - 1], end };
  return windows.filter((w) => Date.parse(w.end!) > Date.parse(w.start));
}

/** What an earlier, unfinished run of windows had committed in one of them. */
export interface WindowProgress {
  window: Window;
  /** the highest cursor value committed in the window (all its rows up to it were read); null before its first row */
  watermark: string | null;
  done: boolean;
}

/**
 * The windows a new run takes over from an unfinished one (failed, terminated, cancelled): done windows dropped,
 * each other one narrowed to start at its own committed watermark (the request applies the cursor's overlap, so
 * the watermark's own instant is read again), and the range after a done open window (rows that arrived since)
 * split anew up to now. Nothing is read twice but those boundary rows, and nothing is skipped.
 */
export function takeOverWindows(previous: WindowProgress[], now: Date, limits: WindowLimits): Window[] {
  const sorted = [...previous].sort((a, b) => Date.parse(a.window.start) - Date.parse(b.window.start));
  const out: Window[] = [];
  for (const p of sorted) {
    const from = p.watermark ? laterBound(p.window.start, p.watermark) : p.window.start;
    if (p.window.end === null && p.done) {
      out.push(...splitWindows(from, now, limits));
    } else if (!p.done) {
      // a watermark at the window's end cannot be (less-than), but a clock-capped one could reach it: keep it valid
      const end = p.window.end;
      out.push({ start: end !== null && Date.parse(from) >= Date.parse(end) ? p.window.start : from, end });
    }
  }
  if (out.length === 0 || out[out.length - 1].end !== null) {
    // the open window was missing (never happens for a run this code planned): read what came after the last one
    const last = sorted[sorted.length - 1];
    out.push(...splitWindows(last?.window.end ?? windowBound(now), now, limits));
  }
  return out;
}

function laterBound(start: string, watermark: string): string {
  const w = windowBound(watermark);
  return Date.parse(w) > Date.parse(start) ? w : start;
}

/**
 * A window, still being read and committed up to `watermark`, cut into `parts` equal pieces of what it has left
 * (fewer where a piece would be shorter than a minimal window): [start, b1) keeps its cursor (its rows from b1 on
 * are the later pieces'), [b1, b2) ... [bn, end) start afresh. Null when what is left is shorter than two minimal
 * windows. The open window's end is `now`, as far as rows go.
 */
export function splitWindow(w: Window, watermark: string | null, now: Date, minWindowSeconds: number, parts = 2): Window[] | null {
  const start = Date.parse(w.start);
  const read = watermark === null ? NaN : Date.parse(windowBound(watermark));
  const from = Number.isNaN(read) ? start : Math.max(start, read);
  const to = w.end === null ? now.getTime() : Date.parse(w.end);
  const wanted = Number.isFinite(parts) ? Math.max(2, Math.floor(parts)) : 2;
  const n = Math.min(wanted, Math.floor((to - from) / (minWindowSeconds * 1000)));
  if (n < 2) return null;
  const bounds = [w.start, ...Array.from({ length: n - 1 }, (_, i) => windowBound(from + ((to - from) * (i + 1)) / n))];
  return bounds.map((b, i) => ({ start: b, end: i + 1 < n ? bounds[i + 1] : w.end }));
}

/** Whether a cursor value lies at or past a window's end (a row of the window after it); never for the open one. */
export function pastWindow(w: Window, cursorValue: unknown): boolean {
  if (w.end === null || typeof cursorValue !== 'string') return false;
  const at = Date.parse(cursorValue);
  return !Number.isNaN(at) && at >= Date.parse(w.end);
}

/**
 * How much of a window's time range is read, in milliseconds, and how long the range is: a window is listed sorted
 * by its cursor, so every instant before its committed watermark is read. The open window's range ends `now`.
 * What progress reports as a stream's percent done (workflows/progress.ts).
 */
export function windowCoverage(w: Window, watermark: string | null, done: boolean, now: Date): { coveredMs: number; totalMs: number } {
  const start = Date.parse(w.start);
  const totalMs = Math.max(0, (w.end === null ? now.getTime() : Date.parse(w.end)) - start);
  if (done) return { coveredMs: totalMs, totalMs };
  const at = watermark === null ? NaN : Date.parse(watermark);
  return { coveredMs: Number.isNaN(at) ? 0 : Math.min(totalMs, Math.max(0, at - start)), totalMs };
}
