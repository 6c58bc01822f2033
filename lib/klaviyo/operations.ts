/**
 * What the client and the rate limiter need to know per Klaviyo operation, derived from the stream table so the
 * facts live in one place (StreamDef.scopes and StreamDef.rateLimit, copied there from endpoints.json).
 */
import { STREAMS } from '../../streams/streams';
import { rateOperations } from '../../streams/options';
import type { StreamDef } from '../../streams/types';

/** A documented rate tier: requests per second (burst window) and per minute (steady window). */
export interface OperationRate {
  burst: number;
  steady: number;
}

export interface OperationFacts {
  /** API key scopes the operation needs, named in the 403 message */
  scopes: readonly string[];
  rateLimit: OperationRate;
}

export type OperationTable = Readonly<Record<string, OperationFacts>>;

/**
 * Several streams may read one operation (e.g. partitions, or a stream table that lists an operation twice): their
 * scopes are united and the strictest rate tier wins.
 */
export function operationsOf(streams: readonly StreamDef[]): OperationTable {
  const table: Record<string, OperationFacts> = {};
  for (const s of streams) {
    // the operation's own budget, and one per option of a lower tier (`get_profiles+predictive_analytics`)
    for (const { operation, rateLimit } of rateOperations(s)) {
      const seen = table[operation];
      table[operation] = seen
        ? {
            scopes: [...new Set([...seen.scopes, ...s.scopes])],
            rateLimit: {
              burst: Math.min(seen.rateLimit.burst, rateLimit.burst),
              steady: Math.min(seen.rateLimit.steady, rateLimit.steady),
            },
          }
        : { scopes: [...s.scopes], rateLimit: { ...rateLimit } };
    }
  }
  return table;
}

/** Every operation our streams read. */
export const STREAM_OPERATIONS: OperationTable = operationsOf(STREAMS);
