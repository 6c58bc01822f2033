/** `klaviyo-sync status <workflow id>`: the per-stream table of a running or finished replication. */
import type { Command } from 'commander';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import type { ReplicationProgress } from '../../workflows/progress';
import type { ReplicationSummary } from '../../workflows/types';
import { connectClient } from '../temporal';
import { liveProgress, retryText } from '../progress-view';

export function formatProgress(p: ReplicationProgress): string {
  const header = ['stream', 'mode', 'status', 'rows', 'pages', 'table'];
  const rows = p.streams.map((s) => [s.stream, s.mode, s.status, String(s.rows), String(s.pages), s.object]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === 3 || i === 4 ? x.padStart(widths[i]) : x.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const errors = [
    ...(p.error ? [`failed: ${p.error}`] : []),
    ...p.streams.filter((s) => s.error).map((s) => `${s.stream} failed: ${s.error}`),
  ];
  const due = [
    ...p.streams.filter((s) => s.fullRefreshDue).map((s) => `${s.stream} runs as a full refresh: ${s.fullRefreshDue}`),
    ...p.streams.filter((s) => s.reconcileDue).map((s) => `${s.stream} adds an id pass: ${s.reconcileDue}`),
  ];
  const retries = p.streams.filter((s) => s.retrying).map((s) => `${s.stream} ${retryText(s.retrying!)} (${s.retrying!.workflowId})`);
  const route = p.source || p.target ? `, ${p.source} → ${p.target}` : '';
  return (
    [`${p.name} (${p.replicationId}): ${p.status}${route}`, line(header), ...rows.map(line), ...due, ...errors, ...retries].join('\n') +
    '\n'
  );
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      'Print rows and pages per stream of a replication (running or finished): its progress query, with live counts ' +
        'of running streams from their own workflows and the last failure of a retrying page activity',
    )
    .argument('<workflow-id>', "the replication's workflow id, e.g. klaviyo-sync-demo")
    .option('--json', "print the progress query's JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const { client } = await connectClient();
      const handle = client.workflow.getHandle(id);
      const desc = await handle.describe().catch(() => undefined);
      if (!desc)
        throw new Error(
          `no replication with workflow id ${id}: list them with \`temporal workflow list --query "WorkflowType='replicate'"\``,
        );
      // a closed replication's summary is its result (or its failure's details): no worker needed to read it
      let p = desc.status.name === 'RUNNING' ? undefined : await summaryProgress(handle);
      try {
        p ??= await liveProgress(client.workflow, handle);
      } catch (err) {
        throw new Error(
          `replication ${id} is ${desc.status.name} but did not answer the progress query: a worker polling its task queue answers it ` +
            `(\`klaviyo-sync worker --task-queue ${desc.taskQueue}\`): ${(err as Error).message}`,
        );
      }
      process.stdout.write(opts.json ? `${JSON.stringify(p, null, 2)}\n` : formatProgress(p));
    });
}

/**
 * The per-stream table of a completed or failed replication, from its summary (the result, or the failure's
 * details): what `status` shows when no worker polls the workflow's task queue to answer the query (e.g. after
 * `run --with-worker` ended). Undefined for a run that left no summary (cancelled, terminated, still running).
 */
async function summaryProgress(handle: WorkflowHandle): Promise<ReplicationProgress | undefined> {
  // result() of a closed run answers at once: completed gives the summary, failed throws with it in details
  let summary: ReplicationSummary | undefined;
  let status: 'completed' | 'failed' = 'completed';
  let innermost: unknown;
  try {
    summary = (await handle.result()) as ReplicationSummary;
  } catch (err) {
    status = 'failed';
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
      innermost = e;
      if (e instanceof ApplicationFailure && e.details?.[0]) summary = e.details[0] as ReplicationSummary;
    }
  }
  if (status === 'failed' && !summary?.streams && innermost instanceof ApplicationFailure) {
    // failed before any stream ran (planning, the key check, the claim on its tables): its reason is the whole status
    return {
      replicationId: handle.workflowId,
      name: handle.workflowId,
      source: '',
      target: '',
      status,
      streams: [],
      error: innermost.message,
    };
  }
  if (!summary?.streams) return undefined;
  return {
    replicationId: summary.replicationId,
    name: summary.name,
    source: '',
    target: '',
    status,
    streams: summary.streams.map((s) => ({ ...s })),
  };
}
