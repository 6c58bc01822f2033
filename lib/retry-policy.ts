/**
 * The one retry policy of klaviyo-sync, as plain numbers: Temporal's activity retry policies (workflows/activities.ts)
 * and the CLI's in-process retries (pre-checks, `conns test`) are both built from these. No imports, no Node
 * built-ins: workflow code and the CLI both load this file.
 *
 * Whether a failure is retried at all is decided by its class (lib/errors.ts): user-fixable and protocol
 * failures fail at once with the fix; rate-limited ones wait Klaviyo's `Retry-After`; transient ones back off.
 */

/** Kinds of failure, as lib/errors.ts classifies them. */
export type FailureKind = 'user-fixable' | 'protocol' | 'rate-limited' | 'transient';

export const RETRY_POLICY = {
  /** the first backoff, doubled after each failed attempt up to `maximumIntervalSeconds` */
  initialIntervalSeconds: 1,
  backoffCoefficient: 2,
  maximumIntervalSeconds: 60,
  /**
   * Attempts (the first included) for checks and planning: the CLI's pre-checks, `conns test` and the workflow's
   * planning activities. Five, as Sling promises: 1 + 2 + 4 + 8 = 15 s of backoff, or each 429's `Retry-After`.
   */
  checkAttempts: 5,
  /**
   * Attempts for page work: 1 + 2 + 4 + 8 + 16 + 32 + 23 × 60 = 1,443 s (24 minutes) of backoff, enough to
   * ride through a Klaviyo or database outage; each attempt resumes from the cursor saved with the last page.
   */
  pageAttempts: 30,
  /**
   * the longest `Retry-After` waited (Klaviyo's steady window); a longer one fails the stream with a message
   * (lib/klaviyo/errors.ts), so a wild value cannot park a sync for hours
   */
  maximumRetryAfterSeconds: 60,
} as const;

/**
 * Failure types that retrying cannot fix, for Temporal's `nonRetryableErrorTypes`. Failures mapped by the worker's
 * interceptor carry `nonRetryable` themselves; this list catches the same types when thrown some other way.
 */
export const NON_RETRYABLE_TYPES: readonly string[] = [
  'ConfigError',
  'ConnectionError',
  'IdentifierError',
  'RunStateError',
  'KlaviyoAuthError',
  'KlaviyoPermissionError',
  'KlaviyoBadRequest',
  'KlaviyoClientError',
  'KlaviyoCrossOriginRefused',
  'KlaviyoThrottledTooLong',
  'KlaviyoUnexpectedResponse',
  'KlaviyoPagingLoop',
  'DatabaseUserError',
];

/** The backoff before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. */
export function backoffSeconds(attempt: number): number {
  const p = RETRY_POLICY;
  return Math.min(p.maximumIntervalSeconds, p.initialIntervalSeconds * p.backoffCoefficient ** Math.max(0, attempt - 1));
}

/**
 * Seconds to wait before the next attempt after attempt `attempt` failed with a failure of `kind`, or null when
 * there is no next attempt (the failure is not retryable, or `maxAttempts` are spent).
 */
export function nextRetrySeconds(
  kind: FailureKind | undefined,
  attempt: number,
  maxAttempts: number,
  retryAfterSeconds?: number,
): number | null {
  if (kind === 'user-fixable' || kind === 'protocol') return null;
  if (attempt >= maxAttempts) return null;
  if (kind === 'rate-limited' && retryAfterSeconds !== undefined) {
    return Math.min(RETRY_POLICY.maximumRetryAfterSeconds, Math.max(1, retryAfterSeconds));
  }
  return backoffSeconds(attempt);
}

/** Temporal's retry policy for `maxAttempts`, as `proxyActivities` takes it. */
export function temporalRetryPolicy(maxAttempts: number): {
  initialInterval: `${number}s`;
  backoffCoefficient: number;
  maximumInterval: `${number}s`;
  maximumAttempts: number;
  nonRetryableErrorTypes: string[];
} {
  const p = RETRY_POLICY;
  return {
    initialInterval: `${p.initialIntervalSeconds}s`,
    backoffCoefficient: p.backoffCoefficient,
    maximumInterval: `${p.maximumIntervalSeconds}s`,
    maximumAttempts: maxAttempts,
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
  };
}
