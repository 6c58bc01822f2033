/**
 * Watermarks: the highest cursor value written, kept as a string. Datetime cursors are stored as UTC ISO-8601 with
 * a `Z` (`2025-01-01T00:00:00.000Z`), the form Klaviyo filters accept unquoted; integer cursors (an event's
 * `timestamp`) as decimal digits.
 */
import { idColumnOf, sortOf } from '../../streams/partitions';
import type { CursorDef, StreamDef } from '../../streams/types';
import { specAttributeType, type Row } from './columns';

const NUMBER = /^-?\d+(?:\.\d+)?$/;

function magnitude(watermark: string): number {
  return NUMBER.test(watermark) ? Number(watermark) : Date.parse(watermark);
}

/** The later of two watermarks; null counts as "nothing yet". */
export function laterWatermark(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return magnitude(b) > magnitude(a) ? b : a;
}

/** The earliest of several (the safe common starting point); null if any is null or there are none. */
export function earliestWatermark(watermarks: Array<string | null>): string | null {
  let earliest: string | null = null;
  for (const w of watermarks) {
    if (w === null) return null;
    if (earliest === null || magnitude(w) < magnitude(earliest)) earliest = w;
  }
  return earliest;
}

/**
 * Whether an incremental run of the stream commits its watermark with each page. Only a listing sorted ascending
 * by the cursor has read every row below its page's highest cursor value once the page commits; any other keeps
 * the run's highest value aside (run_watermark) until the run finishes.
 */
export function watermarkPerPage(stream: StreamDef): boolean {
  return stream.cursor !== undefined && sortOf(stream) === stream.cursor.field;
}

/**
 * Where an incremental run starts reading: the watermark (capped at `now`) less the cursor's overlap and the
 * replication's `lookback`, so rows changed later in the watermark's own instant are read again (and upserted).
 * Null without a watermark.
 */
export function resumeFrom(watermark: string | null, cursor: CursorDef, lookbackSeconds: number, now: Date): string | null {
  if (watermark === null) return null;
  const at = Date.parse(watermark);
  if (Number.isNaN(at)) return watermark;
  return new Date(Math.min(at, now.getTime()) - (cursor.overlapSeconds + lookbackSeconds) * 1000).toISOString();
}

/**
 * The highest cursor value among a page's rows, or null if the stream has no cursor or the page has no values.
 * Datetimes are cut to milliseconds, which can only move the watermark down (the boundary row is read again and
 * upserted), and capped at `now`: a watermark in the future would make Klaviyo reject the next filter with a 400, or
 * silently skip rows changed before that instant (PostHog PR 63769 clamps to now for the 400;
 * airbytehq/airbyte issue 70341 is a cursor saved 18 hours ahead that then synced nothing).
 */
export function pageWatermark(stream: StreamDef, rows: Row[], now: Date): string | null {
  const field = stream.cursor?.field;
  if (!field) return null;
  const numeric = ['integer', 'number'].includes(specAttributeType(stream, field) ?? '');
  let max = -Infinity;
  for (const row of rows) {
    const value = row[field];
    if (value === null || value === undefined) continue;
    const m = numeric ? Number(value) : typeof value === 'string' ? Date.parse(value) : NaN;
    if (!Number.isFinite(m)) {
      throw new Error(
        `stream ${stream.name}: cursor ${field} of ${JSON.stringify(row[idColumnOf(stream)])} is ${JSON.stringify(value)}, ` +
          `not ${numeric ? 'a number' : 'an ISO datetime'}; check the stream's cursor definition`,
      );
    }
    if (m > max) max = m;
  }
  if (max === -Infinity) return null;
  return numeric ? String(max) : new Date(Math.min(max, now.getTime())).toISOString();
}

/** One time window of a run as the state table holds it, for `windowsWatermark`. */
export interface WindowState {
  /** the window's inclusive start (ISO) */
  start: string;
  /** the highest cursor value committed in the window; null before its first row */
  watermark: string | null;
  done: boolean;
}

/**
 * The watermark of a stream read as time windows at once: the highest committed cursor over the gap-free prefix,
 * the windows up to and including the first unfinished one (ordered by start). Every row below the first unfinished
 * window's start was read, and within it every row up to its own watermark; a later window's progress says nothing
 * about the rows in between, so it does not count until the windows before it are done. `base` is the stream's
 * watermark before the run (never moved back). Once every window is done, the highest of them.
 */
export function windowsWatermark(base: string | null, windows: WindowState[]): string | null {
  const ordered = [...windows].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  let watermark = base;
  for (const w of ordered) {
    watermark = laterWatermark(watermark, w.watermark);
    if (!w.done) break;
  }
  return watermark;
}
