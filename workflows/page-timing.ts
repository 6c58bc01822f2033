/**
 * Sums the time page activities report (PagesResult.timing) into a stream's summary, for the benchmark's split of
 * time. Pure arithmetic on results already in history: no commands, so adding it changes no replay.
 */
import type { PageTiming } from './types';

/** The running sum after one more result; results without timing (recorded before it existed) add nothing. */
export function addTiming(sum: PageTiming | undefined, add: PageTiming | undefined): PageTiming | undefined {
  if (!add) return sum;
  if (!sum) return { ...add };
  return {
    waitMs: sum.waitMs + add.waitMs,
    httpMs: sum.httpMs + add.httpMs,
    jsonMs: sum.jsonMs + add.jsonMs,
    dbMs: sum.dbMs + add.dbMs,
    activityMs: sum.activityMs + add.activityMs,
  };
}
