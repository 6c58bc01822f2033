/**
 * One stream of a replication. `prepare` (an activity) reads the stream's saved state from the target and lists
 * its partitions; each partition is paged until done; `finish` publishes the run (swap or watermark). All progress
 * lives in the target database, committed with each page, so this workflow can continue-as-new, or be retried
 * after a crash, and simply ask `prepare` where it stands again.
 *
 * A stream partitioned by a parent (memberships of each list) fans out one `syncPartition` child per parent id,
 * at most PARTITION_WINDOW at a time. `prepare` hands out the pending partitions a bounded batch at a time (the
 * activity's PARTITIONS_PER_PREPARE, 500), and the stream asks for the next batch once it has started one.
 *
 * Bounded histories: nothing is signalled per page. Each stream and partition workflow keeps its own live rows and
 * pages (carried across continue-as-new in its input) and answers the `progress` query with them; it continues
 * as new when Temporal suggests it, after its in-flight children ended (a failure among them still fails it).
 *
 * Cancel: in-flight children and activities are cancelled and waited for; then, in a non-cancellable scope, the
 * stream's staging table is dropped and its run marked cancelled (`cancelStream`), and the workflow ends Canceled.
 * Failure of a full refresh: its staging table is dropped and its run marked failed (`failStream`) before the
 * workflow fails; the target keeps what the last completed run swapped in.
 */
import {
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { cleanup, pageActivities, PAGE_ACTIVITY_OPTIONS } from './activities';
import {
  estimated,
  fractionDone,
  marked,
  streamMarkdown,
  type PaceMark,
  type PartitionRunProgress,
  type StreamRunProgress,
} from './progress';
import { KLAVIYO_REPLICATION, KLAVIYO_STREAM, pagesWrittenSignal, partitionProgressQuery, streamProgressQuery } from './shared';
import { getStream } from '../streams/streams';
import { partitionsOf } from '../streams/partitions';
import { isWindowKey } from '../streams/windows';
import { addTiming } from './page-timing';
import type { Coverage, PageTiming, PagesResult, PartitionState, PartitionTask, StreamSummary, StreamTask } from './types';

const PARTITION_WINDOW = 4;

/**
 * Partitions paged by the stream workflow itself (time windows, campaigns' and flows' filters) run at once, at most
 * this many: a page's activity spends ~300 ms on the answer, and as long again waiting for its token and writing, so
 * 48 in flight is ~80 requests/s, above what events allow in steady state (3,500/min, 58/s) and more than profiles'
 * 700/min; the rate limiter paces the requests, this only bounds what waits on it.
 */
const PARTITION_CONCURRENCY = 48;

/**
 * An activity in flight when continue-as-new is suggested still adds its started and completed events, and a
 * workflow task (3 events) at worst each, before the run can continue as new. So a run puts in flight no more
 * activities than its history already holds in such fives (at least 2): what draining adds past the suggestion is
 * then at most the history the run had, and no run grows past about twice Temporal's suggestion (4,096 events by
 * default, against a limit of 51,200; test/history-bound.test.ts: 30 against 100). A new run ramps up to
 * PARTITION_CONCURRENCY within its first ~50 activities.
 */
const HISTORY_EVENTS_PER_ACTIVITY = 5;
const MIN_IN_FLIGHT = 2;

function inFlightLimit(): number {
  const byHistory = Math.floor(workflowInfo().historyLength / HISTORY_EVENTS_PER_ACTIVITY);
  return Math.min(PARTITION_CONCURRENCY, Math.max(MIN_IN_FLIGHT, byHistory));
}

/**
 * Workflows started before this change paged their partitions one after another; replaying their histories still
 * does, new runs page them at once (PARTITION_CONCURRENCY).
 */
const PARALLEL_PARTITIONS = 'parallel-partitions';

/**
 * Workflows started before this change signalled the replication after every page batch; replaying their
 * histories still does, new runs do not (the replication's history no longer grows with the pages).
 */
const NO_PAGE_SIGNALS = 'no-page-signals';

/**
 * Workflows started before this change left a failed full refresh's staging table for the next run to drop;
 * replaying their histories still does, new runs drop it when the stream fails (`failStream`).
 */
const CLEAN_UP_FAILED_FULL_REFRESH = 'clean-up-failed-full-refresh';

/**
 * Workflows started before this change read each planned time window to its end in one loop; replaying their
 * histories still does, new runs split a window still being read when slots are idle (splitWindow activity).
 */
const SPLIT_WINDOWS = 'split-windows';

/**
 * Workflows started before this change asked every page activity for the worker's full page budget; replaying their
 * histories still does. New runs ask for shorter calls where a long one would leave slots idle:
 * - one page per activity while the in-flight limit ramps up (inFlightLimit grows with the history, and the history
 *   with completed activities) and partitions wait or the window can split: a run reaches PARTITION_CONCURRENCY in
 *   a few seconds instead of the ~20 s that calls of 20 pages took, for ~50 more activities per run (a lone
 *   partition that cannot split, a full refresh's, keeps full calls);
 * - IDLE_PAGES_PER_CALL pages while slots are idle and nothing is queued, for a window that may still split: it asks
 *   to split after a few pages instead of after a full call (~10 s at the end of a backfill with slots idle).
 */
const SHORT_CALLS = 'short-calls';
const IDLE_PAGES_PER_CALL = 3;

/**
 * Workflows started before this change gave a splittable window the worker's full budget per call (20 pages, 15 s)
 * whenever every slot was busy or windows were queued; replaying their histories still does. New runs cap every
 * call of a splittable window at BUSY_PAGES_PER_CALL pages: a window's loop asks to split at most that many pages
 * after a slot went idle, instead of a full call later. A queue that holds windows now may be empty in a second, and
 * a backfill's last windows, once the budget's first minute is spent, were otherwise read with a third of the slots
 * idle while long calls ran out (README's Performance).
 */
const SHORT_CALLS_WHEN_BUSY = 'short-calls-when-busy';
const BUSY_PAGES_PER_CALL = 6;

/**
 * A loop whose last call waited this long per page for the rate limiter is paced by the account's budget: its calls
 * are capped (BUSY_PAGES_PER_CALL), since its slots idle at the end while the budget frees. An unpaced one (limits
 * off, or a budget to spare) keeps full calls, whose fewer activities cost less CPU per page (fast mode measured
 * ~25% fewer rows/s with every call capped).
 */
const PACED_WAIT_MS_PER_PAGE = 20;

/** Whether a call's pages waited for the rate limiter PACED_WAIT_MS_PER_PAGE or more each. */
export function pacedBy(r: Pick<PagesResult, 'pages' | 'timing'>): boolean {
  return r.pages > 0 && r.timing !== undefined && r.timing.waitMs / r.pages >= PACED_WAIT_MS_PER_PAGE;
}

/**
 * The page cap of a partition loop's next call (SHORT_CALLS), undefined for the worker's full budget: 1 while the
 * in-flight limit ramps up, IDLE_PAGES_PER_CALL while slots are idle, BUSY_PAGES_PER_CALL while the stream is paced
 * (SHORT_CALLS_WHEN_BUSY), for a window that may still split.
 */
export function callPages(s: { splittable: boolean; queued: number; inFlight: number; limit: number; paced: boolean }): number | undefined {
  if ((s.queued > 0 || s.splittable) && s.limit < PARTITION_CONCURRENCY) return 1;
  if (s.splittable && s.queued === 0 && s.inFlight < s.limit) return IDLE_PAGES_PER_CALL;
  if (s.splittable && s.paced) return BUSY_PAGES_PER_CALL;
  return undefined;
}

/** A window split while slots are idle is cut into one piece per idle slot plus its own, at most this many. */
const MAX_SPLIT_PARTS = 8;

/** What a stream workflow carries into its next run when it continues as new. */
export interface StreamCarry {
  rows: number;
  pages: number;
  runs: number;
  startedAt: number;
  /** the page activities' time so far (absent when none reported it) */
  timing?: PageTiming;
  /** the stream's recent progress, which its ETA counts the pace of (progress.ts `marked`) */
  pace?: PaceMark[];
}

/** What a partition workflow carries into its next run. */
export interface PartitionCarry {
  rows: number;
  pages: number;
  runs: number;
}

export interface PartitionResult {
  rows: number;
  pages: number;
}

export async function syncStream(task: StreamTask, carried?: StreamCarry): Promise<StreamSummary> {
  const started = carried?.startedAt ?? Date.now();
  const progress: StreamRunProgress = {
    stream: task.stream,
    status: 'running',
    rows: carried?.rows ?? 0,
    pages: carried?.pages ?? 0,
    partitions: 0,
    partitionsDone: 0,
    running: [],
    runs: (carried?.runs ?? 0) + 1,
    startedAt: started,
    ...(carried?.timing ? { timing: carried.timing } : {}),
    ...(carried?.pace ? { pace: carried.pace } : {}),
  };
  const show = () => {
    const done = fractionDone(progress);
    // a mark of the pace now and then (progress.ts `marked`): workflow state, so taken here, not in the query
    if (done !== undefined && progress.status === 'running') progress.pace = marked(progress.pace ?? [], started, Date.now(), 100 * done);
    setCurrentDetails(streamMarkdown(estimated(progress, Date.now())));
  };
  setHandler(streamProgressQuery, () => estimated(progress, Date.now()), {
    description: 'Live rows and pages of this stream, partitions done and running, percent done and ETA, as JSON',
  });
  const carry = (): StreamCarry => ({
    rows: progress.rows,
    pages: progress.pages,
    runs: progress.runs,
    startedAt: started,
    ...(progress.timing ? { timing: progress.timing } : {}),
    ...(progress.pace ? { pace: progress.pace } : {}),
  });

  try {
    const { fansOut } = partitionsOf(getStream(task.stream));
    const continueNow = () => continueAsNew<typeof syncStream>(task, carry());
    let prep = await pageActivities.prepareStream(task);
    const notes = prep.notes;
    // results recorded before `total` held every partition, each with `done`
    progress.partitions = prep.total ?? prep.partitions.length;
    progress.partitionsDone = prep.done ?? prep.partitions.filter((p) => p.done).length;
    if (prep.coverage) progress.coverage = { ...prep.coverage };
    show();
    for (;;) {
      const pending = prep.partitions.filter((p) => !p.done);
      if (fansOut) {
        await fanOut(task, pending, progress, show, continueNow);
      } else if (patched(PARALLEL_PARTITIONS)) {
        await pageConcurrently(task, pending, progress, show, continueNow);
      } else {
        for (const p of pending) {
          await pagePartition({ ...task, partition: p.key }, progress, show, continueNow);
          progress.partitionsDone++;
          show();
        }
      }
      if (!prep.more || pending.length === 0) break;
      // the next pending partitions, a bounded batch at a time (these are started, and in key order)
      prep = await pageActivities.prepareStream(task, { after: pending[pending.length - 1].key });
    }

    const fin = await pageActivities.finishStream(task);
    Object.assign(progress, { status: 'completed', rows: fin.rows, pages: fin.pages });
    show();
    return {
      stream: task.stream,
      mode: task.mode,
      object: `${task.object.schema}.${task.object.table}`,
      status: 'completed',
      rows: fin.rows,
      pages: fin.pages,
      tableRows: fin.tableRows,
      ...(fin.markedDeleted !== undefined ? { markedDeleted: fin.markedDeleted } : {}),
      ...(fin.idPassPages !== undefined ? { idPassPages: fin.idPassPages } : {}),
      watermark: fin.watermark,
      ...(notes?.length ? { notes } : {}),
      durationMs: Date.now() - started,
      ...(progress.timing ? { timing: progress.timing } : {}),
    };
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      progress.status = 'cancelled';
      show();
      // the workflow is cancelled, this is not: staging dropped, the run marked cancelled, then the stream ends Canceled
      await CancellationScope.nonCancellable(() => cleanup.cancelStream(task));
    } else {
      progress.status = 'failed';
      show();
      // a failed full refresh drops its staging table: the previous table was never touched, and nothing half-loaded
      // stays behind. If the cleanup fails too (the database is what failed), the stream's own failure is the one
      // reported, and the next run drops the staging table when it prepares.
      if (task.mode === 'full-refresh' && patched(CLEAN_UP_FAILED_FULL_REFRESH)) {
        try {
          await CancellationScope.nonCancellable(() => cleanup.failStream(task));
        } catch {
          // the stream's failure below says what went wrong
        }
      }
    }
    throw err;
  }
}

/**
 * One child per parent id, at most PARTITION_WINDOW at a time. Continues as new when suggested, once the children
 * in flight ended; a failure among them fails the stream (after the rest drained) instead of being dropped.
 * Cancelled, it waits until every child in flight ended (each cancelled in turn) before giving the cancel back.
 */
async function fanOut(
  task: StreamTask,
  pending: PartitionState[],
  progress: StreamRunProgress,
  show: () => void,
  continueNow: () => Promise<never>,
): Promise<void> {
  let inFlight = 0;
  let failure: unknown;
  try {
    for (const p of pending) {
      await condition(() => inFlight < PARTITION_WINDOW || failure !== undefined);
      if (failure !== undefined) break;
      if (workflowInfo().continueAsNewSuggested) {
        await condition(() => inFlight === 0);
        if (failure !== undefined) break;
        await continueNow();
      }
      inFlight++;
      const workflowId = `${workflowInfo().workflowId}/${p.key}`;
      progress.running.push(workflowId);
      show();
      const child: PartitionTask = { ...task, partition: p.key };
      void executeChild(syncPartition, {
        workflowId,
        args: [child],
        staticSummary: `${task.replicationName}: ${task.stream} of ${p.key}`,
        ...(task.searchAttributes
          ? {
              typedSearchAttributes: [
                { key: KLAVIYO_REPLICATION, value: task.replicationName },
                { key: KLAVIYO_STREAM, value: task.stream },
              ],
            }
          : {}),
      })
        .then((r: PartitionResult | void) => {
          if (r) {
            progress.rows += r.rows;
            progress.pages += r.pages;
          }
          progress.partitionsDone++;
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          inFlight--;
          progress.running.splice(progress.running.indexOf(workflowId), 1);
          show();
        });
    }
    await condition(() => inFlight === 0);
  } catch (err) {
    // cancelled (or continuing as new with nothing in flight): every child in flight ends before this does
    await CancellationScope.nonCancellable(() => condition(() => inFlight === 0));
    throw err;
  }
  if (failure !== undefined) throw failure;
}

/**
 * The partitions this workflow pages itself, at most PARTITION_CONCURRENCY at once (fewer early in a run:
 * inFlightLimit), each one activity after another from its own committed cursor. Time windows are planned of equal
 * length, and the recent ones hold most rows: once nothing is queued and a slot is idle, a window's loop splits what
 * its window has left into one piece per idle slot plus its own (splitWindow), reads on in the first and queues the others, so
 * the slots stay busy until the range is read; a window found too short to split is not asked again. When
 * continue-as-new is suggested, or a partition failed, no loop starts another activity: the ones in flight end, then the workflow continues as new (the next run's prepare says which
 * partitions remain) or fails with the first failure. Cancelled, it waits for every activity in flight (each
 * cancelled, WAIT_CANCELLATION_COMPLETED) before giving the cancel back.
 */
async function pageConcurrently(
  task: StreamTask,
  pending: PartitionState[],
  progress: StreamRunProgress,
  show: () => void,
  continueNow: () => Promise<never>,
): Promise<void> {
  let inFlight = 0;
  let failure: unknown;
  let suspended = false;
  const stop = () => failure !== undefined || suspended;
  const queue = pending.map((p) => p.key);
  // a time window still being read when slots are idle and nothing else waits is split, its second half queued
  const splitting = patched(SPLIT_WINDOWS) && partitionsOf(getStream(task.stream)).windows !== undefined;
  // what is left of a window only shrinks: one too short to split once stays so (no activity per page asking again)
  const tooShort = new Set<string>();
  const shortCalls = patched(SHORT_CALLS);
  const shortWhenBusy = patched(SHORT_CALLS_WHEN_BUSY);
  const split = !splitting
    ? undefined
    : async (partition: string): Promise<string | null> => {
        if (queue.length > 0 || inFlight >= inFlightLimit() || !isWindowKey(partition) || tooShort.has(partition)) return partition;
        // as many pieces as fill the idle slots (this window's own slot included), a few at a time; before
        // SHORT_CALLS, halves
        const parts = shortCalls ? Math.min(MAX_SPLIT_PARTS, inFlightLimit() - inFlight + 1) : undefined;
        const { partitions } = await pageActivities.splitWindow({ ...task, partition, parts });
        if (partitions.length === 1 && partitions[0] === partition) tooShort.add(partition);
        queue.push(...partitions.slice(1));
        progress.partitions += Math.max(0, partitions.length - 1);
        return partitions[0] ?? null;
      };
  // whether the stream's last call waited for the rate limiter (pacedBy): its budget paces it
  let paced = false;
  const observe = (r: PagesResult) => {
    if (r.pages > 0) paced = pacedBy(r);
  };
  // the next call's page cap for a partition's loop (SHORT_CALLS); undefined: the worker's full budget
  const pagesPerCall = (partition: string): number | undefined =>
    shortCalls
      ? callPages({
          // a window this loop could still split (a full refresh's one partition, or a plain listing, cannot)
          splittable: splitting && isWindowKey(partition) && !tooShort.has(partition),
          queued: queue.length,
          inFlight,
          limit: inFlightLimit(),
          paced: shortWhenBusy && paced,
        })
      : undefined;
  try {
    for (;;) {
      // a slot for the next partition; with none queued, the last loop's end (or a split that queues one)
      await condition(() => inFlight === 0 || (queue.length > 0 && (inFlight < inFlightLimit() || stop())));
      if (queue.length === 0) break;
      if (stop() || workflowInfo().continueAsNewSuggested) {
        suspended ||= failure === undefined;
        break;
      }
      inFlight++;
      void pageUntil({ ...task, partition: queue.shift()! }, progress, show, stop, split, pagesPerCall, observe)
        .then((end) => {
          if (end === 'done') progress.partitionsDone++;
          else suspended = true;
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          inFlight--;
          show();
        });
    }
    await condition(() => inFlight === 0);
  } catch (err) {
    // cancelled: every activity in flight ends before this does
    await CancellationScope.nonCancellable(() => condition(() => inFlight === 0));
    throw err;
  }
  if (failure !== undefined) throw failure;
  if (suspended) await continueNow();
}

/** One partition (e.g. one list's memberships) as a child workflow of its stream; returns its rows and pages. */
export async function syncPartition(task: PartitionTask, carried?: PartitionCarry): Promise<PartitionResult> {
  const progress: PartitionRunProgress = {
    stream: task.stream,
    partition: task.partition,
    rows: carried?.rows ?? 0,
    pages: carried?.pages ?? 0,
    runs: (carried?.runs ?? 0) + 1,
  };
  setHandler(partitionProgressQuery, () => progress, { description: 'Live rows and pages of this partition, as JSON' });
  const show = () =>
    setCurrentDetails(`**${task.stream}** of ${task.partition}: ${progress.rows} rows, ${progress.pages} pages (run ${progress.runs})`);
  await pagePartition(task, progress, show, () =>
    continueAsNew<typeof syncPartition>(task, { rows: progress.rows, pages: progress.pages, runs: progress.runs }),
  );
  return { rows: progress.rows, pages: progress.pages };
}

/**
 * Page a partition to its end, adding each batch's rows, pages and timing to `counts`, and continuing as new
 * (through `continueNow`, the calling workflow's) when its history grows large.
 */
async function pagePartition(
  task: PartitionTask,
  counts: { rows: number; pages: number; timing?: PageTiming; coverage?: Coverage },
  show: () => void,
  continueNow: () => Promise<never>,
): Promise<void> {
  while ((await pageUntil(task, counts, show, () => false)) !== 'done') await continueNow();
}

/**
 * Page a partition until it ends (`done`), or until continue-as-new is suggested or `stop` says so after an
 * activity (`suspended`: its cursor is committed, a next run continues from it).
 */
async function pageUntil(
  task: PartitionTask,
  counts: { rows: number; pages: number; timing?: PageTiming; coverage?: Coverage },
  show: () => void,
  stop: () => boolean,
  split?: (partition: string) => Promise<string | null>,
  pagesPerCall: (partition: string) => number | undefined = () => undefined,
  observe: (r: PagesResult) => void = () => undefined,
): Promise<'done' | 'suspended'> {
  const signalReplication = !patched(NO_PAGE_SIGNALS);
  const where = task.partition ? `${task.stream} [${task.partition}]` : task.stream;
  let pages = 0;
  for (;;) {
    const maxPages = pagesPerCall(task.partition);
    const r = await pageActivities.syncPages.executeWithOptions({ ...PAGE_ACTIVITY_OPTIONS, summary: `${where} from page ${pages + 1}` }, [
      maxPages === undefined ? task : { ...task, maxPages },
    ]);
    observe(r);
    pages += r.pages;
    counts.rows += r.rows;
    counts.pages += r.pages;
    if (r.timing) counts.timing = addTiming(counts.timing, r.timing);
    if (r.coveredMs && counts.coverage) counts.coverage.coveredMs += r.coveredMs;
    show();
    if (signalReplication && r.pages > 0) {
      await getExternalWorkflowHandle(task.replicationId).signal(pagesWrittenSignal, { stream: task.stream, rows: r.rows, pages: r.pages });
    }
    if (r.done) return 'done';
    if (workflowInfo().continueAsNewSuggested || stop()) return 'suspended';
    if (split) {
      // the window this loop reads on: itself, the first half of it, or none (it was done)
      const partition = await split(task.partition);
      if (partition === null) return 'done';
      task = { ...task, partition };
    }
  }
}
