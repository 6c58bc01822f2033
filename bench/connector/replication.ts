/**
 * One replication as a user starts it: the YAML's parsed config to the `replicate` workflow on the shared task
 * queue (as `temporal workflow start --input-file` would), the worker processes execute it, and the bench waits
 * for its summary.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { getStream } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import { TASK_QUEUE } from '../../workflows/shared';
import type { ReplicationSummary } from '../../workflows/types';
import { parseReplicationYaml } from '../../config/replication';

/** Before the synthetic account's history (730 days before now): a first incremental run reads all of it. */
const START_DATE = '2015-01-01';

/** Streams with a cursor go incremental from START_DATE, the rest full refresh; tables in `schema`. */
export function replicationYaml(streams: StreamName[], target: 'PG' | 'LITE', schema: string): string {
  const entries = streams.map((name) =>
    getStream(name).cursor
      ? `  ${name}:\n    mode: incremental\n    source_options:\n      start_date: ${START_DATE}\n`
      : `  ${name}:\n    mode: full-refresh\n`,
  );
  return `source: KLAVIYO\ntarget: ${target}\ndefaults:\n  object: ${schema}.{stream_name}\nstreams:\n${entries.join('')}`;
}

export interface StartedReplication {
  workflowId: string;
  handle: WorkflowHandle;
  /** performance.now() when the start was accepted */
  startedAt: number;
}

export async function startReplication(client: Client, workflowId: string, yaml: string): Promise<StartedReplication> {
  const config = parseReplicationYaml(yaml, `${workflowId}.yaml`);
  const handle = await client.workflow.start('replicate', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ name: workflowId, config }],
  });
  return { workflowId, handle, startedAt: performance.now() };
}

/** The summary, and the replication's wall time (start accepted to result) in seconds. */
export async function awaitReplication(r: StartedReplication, maxMinutes: number): Promise<{ summary: ReplicationSummary; wallS: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`replication ${r.workflowId} did not end within ${maxMinutes} minutes (--max-minutes)`)),
      maxMinutes * 60_000,
    );
  });
  try {
    const summary = (await Promise.race([r.handle.result(), timeout])) as ReplicationSummary;
    return { summary, wallS: (performance.now() - r.startedAt) / 1000 };
  } finally {
    clearTimeout(timer);
  }
}
