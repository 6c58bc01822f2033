/**
 * Activity proxies, one set per concern, with timeouts in one place and the retry policy of
 * lib/retry-policy.ts (the same numbers the CLI's pre-checks retry with).
 * Activities are imported as types only: workflow code never loads activity code.
 */
import { proxyActivities, ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RETRY_POLICY, temporalRetryPolicy } from '../lib/retry-policy';

/**
 * Planning and checks: quick; a transient failure gets RETRY_POLICY.checkAttempts attempts, as a CLI pre-check does.
 * They heartbeat (checkSource after each scope probe), so a worker killed while planning is noticed within the
 * heartbeat timeout, as for page work, not only at the start-to-close timeout
 * (test/reliability/worker-kill.test.ts: 30 s instead of 2 minutes).
 */
export const PLAN_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: temporalRetryPolicy(RETRY_POLICY.checkAttempts),
  cancellationType: ActivityCancellationType.TRY_CANCEL,
};
export const planActivities = proxyActivities<Activities>(PLAN_ACTIVITY_OPTIONS);

/**
 * Page work: each call fetches and writes pages for up to a time budget, heartbeating per page. A killed worker is
 * noticed through the heartbeat timeout; the retry resumes from the cursor saved with the last written page.
 * 429s set their own next retry delay (Retry-After); 5xx, network and database-connection errors back off
 * exponentially for RETRY_POLICY.pageAttempts attempts; user-fixable and protocol failures are not retried.
 */
export const PAGE_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: temporalRetryPolicy(RETRY_POLICY.pageAttempts),
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const pageActivities = proxyActivities<Activities>(PAGE_ACTIVITY_OPTIONS);

/**
 * Cleanup after a cancel or a failure (drop a full-refresh stream's staging table, mark its run cancelled or
 * failed). Called in a non-cancellable scope, so it runs to its end although the workflow was cancelled.
 */
export const cleanup = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: temporalRetryPolicy(RETRY_POLICY.checkAttempts),
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
