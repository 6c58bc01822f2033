/**
 * What a replication cost in Temporal: every workflow execution of the run (the replicate workflow `<id>`, its
 * streams `<id>/<stream>`, their partitions `<id>/<stream>/<partition>`, every continue-as-new run of each, and any
 * fleet rate-budget workflow `klaviyo-sync/rate-budget/...`), its history fetched and its events counted.
 *
 * Actions, as Temporal Cloud bills them and as far as histories show them: one per workflow run started (top
 * level, child or continue-as-new), activity scheduled, activity retry, signal received, timer started, update
 * accepted and search-attribute upsert. Activity heartbeats are billed too but leave no history event: not counted.
 * Workflow tasks, child starts and markers are shown but are not actions of their own (a child's start is its run).
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const E = temporal.api.enums.v1.EventType;
export const RATE_BUDGET_PREFIX = 'klaviyo-sync/rate-budget/';

export interface ActionCounts {
  runs: number;
  workflowTasks: number;
  activities: number;
  activityRetries: number;
  signals: number;
  timers: number;
  children: number;
  updates: number;
  upserts: number;
  markers: number;
  historyEvents: number;
  /** the longest history of one run in the group */
  maxHistory: number;
  actions: number;
}

export interface ActionGroup extends ActionCounts {
  /** `replicate`, a stream name, or `rate-budget` */
  group: string;
  workflowIds: number;
  /** each workflow id of the group: its runs and its longest history */
  workflows: Array<{ workflowId: string; runs: number; maxHistory: number }>;
  /**
   * activities in flight (scheduled, not closed) on average in each IN_FLIGHT_BUCKET_MS from the group's first
   * activity: how close its streams kept to their concurrency
   */
  activitiesInFlight: number[];
}

export const IN_FLIGHT_BUCKET_MS = 10_000;

/** [scheduled, closed] times (ms since the epoch) of every activity in a history that closed */
function activitySpans(events: temporal.api.history.v1.IHistoryEvent[]): Array<[number, number]> {
  const scheduled = new Map<string, number>();
  const spans: Array<[number, number]> = [];
  const ms = (e: temporal.api.history.v1.IHistoryEvent) => {
    const t = e.eventTime;
    return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;
  };
  for (const e of events) {
    if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) scheduled.set(String(e.eventId), ms(e));
    const closed =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    const id = closed?.scheduledEventId;
    if (id != null && scheduled.has(String(id))) spans.push([scheduled.get(String(id))!, ms(e)]);
  }
  return spans;
}

/** The mean number of spans open in each bucket from the first span's start. */
export function meanInFlight(spans: Array<[number, number]>, bucketMs = IN_FLIGHT_BUCKET_MS): number[] {
  if (spans.length === 0) return [];
  // a reduce, not Math.min(...): a large account's histories hold more spans than a call takes arguments
  const first = spans.reduce((m, [a]) => Math.min(m, a), Infinity);
  const last = spans.reduce((m, [, b]) => Math.max(m, b), -Infinity);
  const busy = new Array<number>(Math.max(1, Math.ceil((last - first) / bucketMs))).fill(0);
  for (const [a, b] of spans) {
    for (let i = Math.floor((a - first) / bucketMs); i < busy.length && first + i * bucketMs < b; i++) {
      const lo = Math.max(a, first + i * bucketMs);
      const hi = Math.min(b, first + (i + 1) * bucketMs);
      if (hi > lo) busy[i] += hi - lo;
    }
  }
  return busy.map((t, i) => Math.round((10 * t) / Math.min(bucketMs, last - (first + i * bucketMs))) / 10);
}

function empty(): ActionCounts {
  return {
    runs: 0,
    workflowTasks: 0,
    activities: 0,
    activityRetries: 0,
    signals: 0,
    timers: 0,
    children: 0,
    updates: 0,
    upserts: 0,
    markers: 0,
    historyEvents: 0,
    maxHistory: 0,
    actions: 0,
  };
}

function countHistory(events: temporal.api.history.v1.IHistoryEvent[]): ActionCounts {
  const c = empty();
  c.runs = 1;
  c.historyEvents = c.maxHistory = events.length;
  for (const e of events) {
    switch (e.eventType) {
      case E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        c.workflowTasks++;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        c.activities++;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        // written when the activity closes, with the attempt that closed it
        c.activityRetries += Math.max(0, (e.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
        break;
      case E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        c.signals++;
        break;
      case E.EVENT_TYPE_TIMER_STARTED:
        c.timers++;
        break;
      case E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        c.children++;
        break;
      case E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        c.updates++;
        break;
      case E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        c.upserts++;
        break;
      case E.EVENT_TYPE_MARKER_RECORDED:
        c.markers++;
        break;
    }
  }
  c.actions = c.runs + c.activities + c.activityRetries + c.signals + c.timers + c.updates + c.upserts;
  return c;
}

function add(into: ActionCounts, c: ActionCounts): void {
  for (const k of Object.keys(c) as Array<keyof ActionCounts>) {
    into[k] = k === 'maxHistory' ? Math.max(into[k], c[k]) : into[k] + c[k];
  }
}

/** The group a workflow id belongs to in replication `id`, or undefined when it is not of this run. */
function groupOf(replicationId: string, workflowId: string): string | undefined {
  if (workflowId === replicationId) return 'replicate';
  if (workflowId.startsWith(`${replicationId}/`)) return workflowId.slice(replicationId.length + 1).split('/')[0];
  if (workflowId.startsWith(RATE_BUDGET_PREFIX)) return 'rate-budget';
  return undefined;
}

/**
 * Every execution of the replication, grouped; the visibility store may lag a moment, so it lists until stable.
 * Rate-budget workflows are per account, not per replication: those started since the replication started count.
 */
export async function temporalActions(client: Client, replicationId: string): Promise<ActionGroup[]> {
  const list = async () => {
    const found: Array<{ workflowId: string; runId: string; group: string; startTime: Date }> = [];
    for await (const wf of client.workflow.list()) {
      const group = groupOf(replicationId, wf.workflowId);
      if (group) found.push({ workflowId: wf.workflowId, runId: wf.runId, group, startTime: wf.startTime });
    }
    const since = Math.min(...found.filter((r) => r.group === 'replicate').map((r) => r.startTime.getTime()));
    return found.filter((r) => r.group !== 'rate-budget' || r.startTime.getTime() >= since);
  };
  let runs = await list();
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const again = await list();
    if (again.length === runs.length) break;
    runs = again;
  }
  const groups = new Map<string, ActionGroup>();
  const spans = new Map<string, Array<[number, number]>>();
  for (const run of runs) {
    const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    let g = groups.get(run.group);
    if (!g) groups.set(run.group, (g = { group: run.group, workflowIds: 0, workflows: [], activitiesInFlight: [], ...empty() }));
    const counts = countHistory(history.events ?? []);
    const groupSpans = spans.get(run.group) ?? [];
    spans.set(run.group, groupSpans);
    for (const span of activitySpans(history.events ?? [])) groupSpans.push(span);
    add(g, counts);
    let wf = g.workflows.find((w) => w.workflowId === run.workflowId);
    if (!wf) g.workflows.push((wf = { workflowId: run.workflowId, runs: 0, maxHistory: 0 }));
    wf.runs++;
    wf.maxHistory = Math.max(wf.maxHistory, counts.maxHistory);
  }
  for (const g of groups.values()) {
    g.workflowIds = g.workflows.length;
    g.activitiesInFlight = meanInFlight(spans.get(g.group) ?? []);
  }
  const order = (g: string) => (g === 'replicate' ? 0 : g === 'rate-budget' ? 2 : 1);
  return [...groups.values()].sort((a, b) => order(a.group) - order(b.group) || a.group.localeCompare(b.group));
}
