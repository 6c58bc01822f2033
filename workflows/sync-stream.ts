/**
 * One stream of a replication. `prepare` (an activity) reads the stream's saved state from the target and lists
 * its partitions; each partition is paged until done; `finish` publishes the run (swap or watermark). All progress
 * lives in the target database, committed with each page, so this workflow can continue-as-new, or be retried
 * after a crash, and simply ask `prepare` where it stands again.
 *
 * A stream partitioned by a parent (memberships of each list) fans out one `syncPartition` child per parent id,
 * at most PARTITION_WINDOW at a time.
 */
import { condition, continueAsNew, executeChild, getExternalWorkflowHandle, workflowInfo } from '@temporalio/workflow';
import { paging, PAGING_OPTIONS } from './activities';
import { pagesWrittenSignal } from './progress';
import { KLAVIYO_REPLICATION, KLAVIYO_STREAM } from './search-attributes';
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
      void executeChild(syncPartition, {
        workflowId: `${workflowInfo().workflowId}/${p.key}`,
        args: [child],
        staticSummary: `${task.replicationName}: ${task.stream} of ${p.key}`,
        ...(task.searchAttributes
          ? { typedSearchAttributes: [{ key: KLAVIYO_REPLICATION, value: task.replicationName }, { key: KLAVIYO_STREAM, value: task.stream }] }
          : {}),
      })
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

/**
 * Page a partition to its end, telling the replication after each batch, and continuing-as-new (the calling
 * workflow) when its history grows large.
 */
async function pagePartition(task: PartitionTask): Promise<void> {
  const replication = getExternalWorkflowHandle(task.replicationId);
  const where = task.partition ? `${task.stream} [${task.partition}]` : task.stream;
  let pages = 0;
  for (;;) {
    const r = await paging.syncPages.executeWithOptions({ ...PAGING_OPTIONS, summary: `${where} from page ${pages + 1}` }, [task]);
    pages += r.pages;
    if (r.pages > 0) await replication.signal(pagesWrittenSignal, { stream: task.stream, rows: r.rows, pages: r.pages });
    if (r.done) return;
    if (workflowInfo().continueAsNewSuggested) {
      if (workflowInfo().workflowType === 'syncPartition') await continueAsNew<typeof syncPartition>(task);
      const { partition: _p, parentId: _id, ...streamTask } = task;
      await continueAsNew<typeof syncStream>(streamTask);
    }
  }
}
