/**
 * The Temporal mapping of klaviyo-sync's failure classes (lib/errors.ts), applied at the activity boundary by the
 * worker's interceptor (worker/index.ts): user-fixable and protocol failures are non-retryable, a rate-limited one
 * sets the next retry delay to its `Retry-After`, a transient one is left to the retry policy's backoff.
 */
import { ApplicationFailure, ApplicationFailureCategory, TemporalFailure } from '@temporalio/common';
import { classify, RateLimitedError, type FailureContext } from '../lib/errors';
import { RETRY_POLICY } from '../lib/retry-policy';

/** The Temporal failure for an error: the one place a class becomes retry behaviour. */
export function toApplicationFailure(err: unknown, ctx: FailureContext = {}): unknown {
  // a Temporal failure (already mapped, or a cancellation) is not classified
  if (err instanceof TemporalFailure) return err;
  const e = classify(err, ctx);
  if (!e) return err;
  // No cause: the replication's summary and the CLI show a failure's innermost message, and that must be this one,
  // which names the fix; what a cause would add (the driver's code and words) is in the message and the details.
  if (e instanceof RateLimitedError && e.retryAfterSeconds !== undefined) {
    return ApplicationFailure.create({
      type: e.type,
      message: e.message,
      nextRetryDelay: `${Math.min(RETRY_POLICY.maximumRetryAfterSeconds, e.retryAfterSeconds)}s`,
      category: ApplicationFailureCategory.BENIGN,
      details: e.details ? [e.details] : undefined,
    });
  }
  // (a 429 that stated no wait is left to the retry policy's backoff, as a transient failure is)
  return ApplicationFailure.create({
    type: e.type,
    message: e.message,
    nonRetryable: e.nonRetryable,
    details: e.details ? [e.details] : undefined,
  });
}
