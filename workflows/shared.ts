/**
 * The Temporal facts klaviyo-sync's workflows, worker and client share (as dust-tt/dust's connectors keep theirs in
 * one config module): the task queues, the search attributes, and the query and signal definitions. Deterministic:
 * no Node built-ins, no I/O, so workflow code loads it as the client and the worker do.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PagesWritten, PartitionRunProgress, ReplicationProgress, StreamRunProgress } from './progress';

/** the shared task queue: `klaviyo-sync worker`, `temporal workflow start` and schedules */
export const TASK_QUEUE = 'klaviyo-sync';

/**
 * The task queue of the worker that `run --with-worker` and the demo run in their own process: one per workflow id,
 * so no standalone worker (with its own environment, and so its own connections) takes their tasks, and running the
 * same command again polls the same queue and resumes the same workflow.
 */
export function inProcessTaskQueue(workflowId: string): string {
  return `${TASK_QUEUE}/with-worker/${workflowId}`;
}

/** Search attributes klaviyo-sync sets, so runs can be listed per replication and stream in the UI and CLI. */
export const KLAVIYO_REPLICATION = defineSearchAttributeKey('KlaviyoReplication', SearchAttributeType.KEYWORD);
export const KLAVIYO_STREAM = defineSearchAttributeKey('KlaviyoStream', SearchAttributeType.KEYWORD);

/** For `temporal server start-dev --search-attribute` and `temporal operator search-attribute create`. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword'> = { KlaviyoReplication: 'Keyword', KlaviyoStream: 'Keyword' };

/** The replication's, each stream's and each partition's answer (progress.ts has the shapes). */
export const progressQuery = defineQuery<ReplicationProgress>('progress');
export const streamProgressQuery = defineQuery<StreamRunProgress>('progress');
export const partitionProgressQuery = defineQuery<PartitionRunProgress>('progress');

/**
 * Deprecated: what stream and partition workflows started before bounded progress sent the replication after each
 * page batch. Only replays of such histories still send it (see NO_PAGE_SIGNALS in sync-stream.ts).
 */
export const pagesWrittenSignal = defineSignal<[PagesWritten]>('pagesWritten');

/**
 * The rate budget workflow of one Klaviyo account (rate-budget.ts) for the workers of one task queue: its id, and
 * the messages workers send it. Per queue because the budget runs on the queue of its workers, the one queue every
 * one of them is sure to poll: a budget started by `run --with-worker` on its own queue must not be the one the
 * shared queue's workers wait on once that process has gone.
 */
export const RATE_BUDGET_WORKFLOW_PREFIX = `${TASK_QUEUE}/rate-budget/`;
export function rateBudgetWorkflowId(accountKey: string, taskQueue: string = TASK_QUEUE): string {
  return taskQueue === TASK_QUEUE
    ? `${RATE_BUDGET_WORKFLOW_PREFIX}${accountKey}`
    : `${RATE_BUDGET_WORKFLOW_PREFIX}${accountKey}@${taskQueue}`;
}

/** A worker asks for `want` tokens of `lane`, whose limits it states (each operation's documented tier, or sling's). */
export interface LeaseRequest {
  lane: string;
  burst: number;
  steady: number;
  want: number;
}

/**
 * `granted` tokens, for sends from `delayMs` after the answer arrives until t0 + delayMs + validity (t0: the asker's
 * clock when it sent the lease); with none, when to ask again.
 */
export interface LeaseGrant {
  granted: number;
  delayMs: number;
  retryInMs: number;
}

/** A 429's Retry-After, or `RateLimit-Remaining: 0` until its reset: nobody gets tokens of `lane` for `seconds`. */
export interface LanePenalty {
  lane: string;
  seconds: number;
}

export const leaseUpdate = defineUpdate<LeaseGrant, [LeaseRequest]>('lease');
export const penalizeSignal = defineSignal<[LanePenalty]>('penalize');
export const budgetQuery = defineQuery<BudgetStatus>('budget');

/** The budget query's answer: per lane, the tokens granted in the steady span and any block in force. */
export interface BudgetStatus {
  account: string;
  runs: number;
  leasesThisRun: number;
  lanes: Record<string, { grantedInSteadySpan: number; blockedForMs: number }>;
}
