/**
 * Activity proxies, one set per concern, with timeouts and retry policies in one place.
 * Activities are imported as types only: workflow code never loads activity code.
 */
import { proxyActivities, ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';

/** Errors that retrying cannot fix: a person must change config, the key, or the query. */
export const NON_RETRYABLE = [
  'ConfigError',
  'ConnectionError',
  'KlaviyoAuthError',
  'KlaviyoPermissionError',
  'KlaviyoBadRequest',
  'IdentifierError',
  'RunStateError',
];

/** Planning and checks: quick, and a failure is almost always the user's to fix. */
export const planning = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

/**
 * Page work: each call fetches and writes pages for up to a time budget, heartbeating per page. A killed worker is
 * noticed through the heartbeat timeout; the retry resumes from the cursor saved with the last written page.
 * 429s set their own next retry delay (Retry-After); 5xx and network errors back off exponentially.
 */
export const PAGING_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 30,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const paging = proxyActivities<Activities>(PAGING_OPTIONS);

/**
 * Cleanup after a cancel (drop a full-refresh stream's staging table, mark its run cancelled). Called in a
 * non-cancellable scope, so it runs to its end although the workflow was cancelled.
 */
export const cleanup = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
