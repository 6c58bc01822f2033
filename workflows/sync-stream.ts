/**
 * One stream of a replication. `prepare` (an activity) reads the stream's saved state from the target and lists
 * its partitions; each partition is paged until done; `finish` publishes the run (swap or watermark). All progress
 * lives in the target database, committed with each page, so this workflow can continue-as-new, or be retried
 * after a crash, and simply ask `prepare` where it stands again.
 *
 * A stream partitioned by a parent (memberships of each list) fans out one `syncPartition` child per parent id,
 * at most PARTITION_WINDOW at a time.
 */
import { condition, continueAsNew, executeChild, workflowInfo } from '@temporalio/workflow';
import { paging } from './activities';
import type { PartitionTask, StreamSummary, StreamTask } from './types';

const PARTITION_WINDOW = 4;

export async function syncStream(task: StreamTask): Promise<StreamSummary> {
  const started = Date.now();
  const prep = await paging.prepareStream(task);
  const pending = prep.partitions.filter((p) => !p.done);

  if (pending.some((p) => p.parentId !== undefined)) {
    let inFlight = 0;
    let failure: unknown;
    for (const p of pending) {
      await condition(() => inFlight < PARTITION_WINDOW || failure !== undefined);
      if (failure !== undefined) break;
      if (workflowInfo().continueAsNewSuggested) {
        await condition(() => inFlight === 0);
        await continueAsNew<typeof syncStream>(task);
      }
      inFlight++;
      const child: PartitionTask = { ...task, partition: p.key, parentId: p.parentId };
      void executeChild(syncPartition, { workflowId: `${workflowInfo().workflowId}/${p.key}`, args: [child] })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight--);
    }
    await condition(() => inFlight === 0);
    if (failure !== undefined) throw failure;
  } else {
    for (const p of pending) {
      await pagePartition({ ...task, partition: p.key, parentId: p.parentId });
    }
  }

  const fin = await paging.finishStream(task);
  return {
    stream: task.stream,
    mode: task.mode,
    object: `${task.object.schema}.${task.object.table}`,
    status: 'completed',
    rows: fin.rows,
    pages: fin.pages,
    tableRows: fin.tableRows,
    watermark: fin.watermark,
    durationMs: Date.now() - started,
  };
}

/** One partition (e.g. one list's memberships) as a child workflow of its stream. */
export async function syncPartition(task: PartitionTask): Promise<void> {
  await pagePartition(task);
}

/** Page a partition to its end, continuing-as-new (the caller's workflow) when history grows large. */
async function pagePartition(task: PartitionTask): Promise<void> {
  for (;;) {
    const r = await paging.syncPages(task);
    if (r.done) return;
    if (workflowInfo().continueAsNewSuggested) {
      if (workflowInfo().workflowType === 'syncPartition') await continueAsNew<typeof syncPartition>(task);
      const { partition: _p, parentId: _id, ...streamTask } = task;
      await continueAsNew<typeof syncStream>(streamTask);
    }
  }
}
