/**
 * The `replicate` workflow: plan the replication (config + connections checked by an activity, so secrets stay
 * on the worker), then run one child workflow per stream, a parent stream before its child, and report a
 * per-stream summary. A failed stream fails the replication with its cause, after the others finished.
 */
import { ApplicationFailure, executeChild, workflowInfo, condition } from '@temporalio/workflow';
import type { ReplicationInput } from '../config/replication';
import type { StreamName } from '../streams/types';
import { planning } from './activities';
import { syncStream } from './sync-stream';
import type { ReplicationSummary, StreamSummary, StreamTask } from './types';

/** Streams that run at once; each one is further limited by the worker's rate limiter. */
const STREAM_CONCURRENCY = 4;

export async function replicate(input: ReplicationInput): Promise<ReplicationSummary> {
  const info = workflowInfo();
  const started = Date.now();
  const plan = await planning.planReplication(input);
  await planning.checkSource({ source: plan.source, streams: plan.streams.map((s) => s.stream) });

  const planned = new Set<StreamName>(plan.streams.map((s) => s.stream));
  const finished = new Map<StreamName, StreamSummary>();
  let running = 0;

  const runOne = async (s: (typeof plan.streams)[number]): Promise<void> => {
    if (s.parent && planned.has(s.parent)) await condition(() => finished.has(s.parent!));
    await condition(() => running < STREAM_CONCURRENCY);
    running++;
    const t0 = Date.now();
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
    };
    try {
      const summary = await executeChild(syncStream, { workflowId: `${info.workflowId}/${s.stream}`, args: [task] });
      finished.set(s.stream, summary);
    } catch (err) {
      finished.set(s.stream, {
        stream: s.stream,
        mode: s.mode,
        object: `${s.object.schema}.${s.object.table}`,
        status: 'failed',
        rows: 0,
        pages: 0,
        durationMs: Date.now() - t0,
        error: rootMessage(err),
      });
    } finally {
      running--;
    }
  };

  await Promise.all(plan.streams.map(runOne));

  const streams = plan.streams.map((s) => finished.get(s.stream)!);
  const summary: ReplicationSummary = {
    replicationId: info.workflowId,
    name: plan.name,
    streams,
    rows: streams.reduce((n, s) => n + s.rows, 0),
    durationMs: Date.now() - started,
  };
  const failed = streams.filter((s) => s.status === 'failed');
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
