/**
 * The `replicate` workflow: plan the replication (config + connections checked by an activity, so secrets stay
 * on the worker), then run one child workflow per stream, a parent stream before its child, and report a
 * per-stream summary. A failed stream fails the replication with its cause, after the others finished.
 * While it runs, the `progress` query and the Web UI's current details show each stream's status, and its rows
 * and pages once it ended; a running stream's live counts are its own workflow's (`<id>/<stream>`, query
 * `progress`): no signal per page reaches this workflow, so its history is bounded by the number of streams
 * (about ten events per stream) whatever the account's size.
 *
 * Cancelled, it waits until every stream child ended Canceled (each drops its staging table first), then ends
 * Canceled itself. A terminated replication terminates its children
 * (Temporal's default parent close policy), so a new run of the same id can start its streams at once.
 */
import {
  ApplicationFailure,
  condition,
  executeChild,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReplicationInput } from '../config/replication';
import type { StreamName } from '../streams/types';
import { planActivities } from './activities';
import { progressMarkdown, type ReplicationProgress, type StreamProgress } from './progress';
import { KLAVIYO_REPLICATION, KLAVIYO_STREAM, progressQuery } from './shared';
import { syncStream } from './sync-stream';
import type { ReplicationSummary, StreamSummary, StreamTask } from './types';

/** Streams that run at once; each one is further limited by the worker's rate limiter. */
const STREAM_CONCURRENCY = 4;

export async function replicate(input: ReplicationInput): Promise<ReplicationSummary> {
  const info = workflowInfo();
  const started = Date.now();
  const progress: ReplicationProgress = {
    replicationId: info.workflowId,
    name: input?.name ?? 'replication',
    source: '',
    target: '',
    status: 'planning',
    streams: [],
  };
  const byStream = new Map<StreamName, StreamProgress>();
  const show = () => setCurrentDetails(progressMarkdown(progress));
  setHandler(progressQuery, () => progress, {
    description: 'Status per stream, rows and pages once a stream ended, as JSON (live counts: query <id>/<stream>)',
  });

  const plan = await planActivities.planReplication(input);
  Object.assign(progress, { name: plan.name, source: plan.source, target: plan.target, status: 'running' });
  for (const s of plan.streams) {
    const p: StreamProgress = {
      stream: s.stream,
      mode: s.mode,
      ...(s.fullRefreshDue ? { fullRefreshDue: s.fullRefreshDue } : {}),
      ...(s.reconcileDue ? { reconcileDue: s.reconcileDue } : {}),
      object: s.objectName,
      status: 'pending',
      rows: 0,
      pages: 0,
    };
    progress.streams.push(p);
    byStream.set(s.stream, p);
  }
  show();
  if (plan.searchAttributes) upsertSearchAttributes([{ key: KLAVIYO_REPLICATION, value: plan.name }]);
  // the key's scopes, then the claim on the target tables: another replication still running into one of them
  // fails this one here, naming it, before any stream starts (lib/db/claims.ts)
  await planActivities.checkSource({
    source: plan.source,
    streams: plan.streams.map((s) => s.stream),
    target: plan.target,
    objects: plan.streams.map((s) => s.object),
  });

  const planned = new Set<StreamName>(plan.streams.map((s) => s.stream));
  const finished = new Map<StreamName, StreamSummary>();
  let running = 0;

  const runOne = async (s: (typeof plan.streams)[number]): Promise<void> => {
    const p = byStream.get(s.stream)!;
    try {
      if (s.parent && planned.has(s.parent)) await condition(() => finished.has(s.parent!));
      await condition(() => running < STREAM_CONCURRENCY);
    } catch (err) {
      // cancelled before it started: nothing of it to clean up
      if (isCancellation(err)) p.status = 'cancelled';
      throw err;
    }
    // a parent completed in this run wrote its ids to its table: the child iterates them instead of listing them again
    const parent = s.parent ? plan.streams.find((x) => x.stream === s.parent) : undefined;
    const parentCompleted = parent !== undefined && finished.get(parent.stream)?.status === 'completed';
    running++;
    p.status = 'running';
    p.startedAt = Date.now();
    show();
    const task: StreamTask = {
      replicationId: info.workflowId,
      replicationName: plan.name,
      runId: info.runId,
      source: plan.source,
      target: plan.target,
      stream: s.stream,
      mode: s.mode,
      object: s.object,
      startDate: s.startDate,
      ...(s.range ? { range: s.range } : {}),
      ...(s.lookbackSeconds !== undefined ? { lookbackSeconds: s.lookbackSeconds } : {}),
      ...(s.options ? { options: s.options } : {}),
      ...(s.markDeleted ? { markDeleted: true } : {}),
      ...(s.reconcileDue ? { reconcile: true } : {}),
      searchAttributes: plan.searchAttributes,
      ...(parentCompleted ? { parentObject: parent.object } : {}),
    };
    try {
      const summary = await executeChild(syncStream, {
        workflowId: `${info.workflowId}/${s.stream}`,
        args: [task],
        staticSummary: `${plan.name}: ${s.stream} (${s.mode}) → ${s.objectName}`,
        staticDetails: `Replication **${plan.name}** (${plan.source} → ${plan.target}), stream **${s.stream}**, mode ${s.mode}, table \`${s.objectName}\`.`,
        ...(plan.searchAttributes
          ? {
              typedSearchAttributes: [
                { key: KLAVIYO_REPLICATION, value: plan.name },
                { key: KLAVIYO_STREAM, value: s.stream },
              ],
            }
          : {}),
      });
      finished.set(s.stream, summary);
      Object.assign(p, { status: 'completed', rows: summary.rows, pages: summary.pages, tableRows: summary.tableRows });
    } catch (err) {
      if (isCancellation(err)) {
        // a cancelled replication ends Canceled: its streams did not fail (the child cleaned up before it ended)
        p.status = 'cancelled';
        throw err;
      }
      const error = rootMessage(err);
      finished.set(s.stream, {
        stream: s.stream,
        mode: s.mode,
        object: s.objectName,
        status: 'failed',
        rows: p.rows,
        pages: p.pages,
        durationMs: Date.now() - p.startedAt!,
        error,
      });
      Object.assign(p, { status: 'failed', error });
    } finally {
      running--;
      p.durationMs = Date.now() - p.startedAt!;
      show();
    }
  };

  // every stream settles before this workflow ends: on cancel, each child's cancellation completes first (no
  // child is left running to be terminated by the parent's close)
  const settled = await Promise.allSettled(plan.streams.map(runOne));
  const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (rejected.length > 0) {
    const cancelled = rejected.find((e) => isCancellation(e));
    if (cancelled !== undefined) {
      progress.status = 'cancelled';
      show();
      throw cancelled;
    }
    throw rejected[0];
  }

  const streams = plan.streams.map((s) => finished.get(s.stream)!);
  const summary: ReplicationSummary = {
    replicationId: info.workflowId,
    name: plan.name,
    streams,
    rows: streams.reduce((n, s) => n + s.rows, 0),
    durationMs: Date.now() - started,
  };
  const failed = streams.filter((s) => s.status === 'failed');
  progress.status = failed.length > 0 ? 'failed' : 'completed';
  show();
  if (failed.length > 0) {
    throw ApplicationFailure.create({
      type: 'ReplicationFailed',
      message: `${failed.length} of ${streams.length} streams failed: ${failed.map((f) => `${f.stream}: ${f.error}`).join('; ')}`,
      details: [summary],
      nonRetryable: true,
    });
  }
  return summary;
}

/** The innermost cause's message: a child failure wraps an activity failure wraps the error that says what to fix. */
function rootMessage(err: unknown): string {
  let e: any = err;
  while (e?.cause) e = e.cause;
  return String(e?.message ?? err);
}
