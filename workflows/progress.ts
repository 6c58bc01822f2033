/**
 * What a replication shows while it runs, without any workflow receiving a signal per page:
 * - each stream workflow (`<replication id>/<stream>`) keeps its own live rows and pages (carried across its
 *   continue-as-new) and answers the `progress` query with a `StreamRunProgress`; a partition child
 *   (`<replication id>/<stream>/<partition>`) answers it with a `PartitionRunProgress`;
 * - the replication answers it with stream statuses, and each stream's final counts once that stream ended;
 * - `liveProgress` in client/progress-view.ts combines the three (what `klaviyo-sync status` and `run` print).
 * Pure data and formatting: no I/O. The query definitions are in shared.ts.
 */
import type { Mode, StreamName } from '../streams/types';
import type { Coverage, PageTiming } from './types';

export type StreamStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface StreamProgress {
  stream: StreamName;
  mode: Mode;
  object: string;
  status: StreamStatus;
  /** why an incremental stream runs as a full refresh this time (its `full_refresh_every` is due) */
  fullRefreshDue?: string;
  /** why an incremental run adds an id pass this time (its `reconcile_every` is due) */
  reconcileDue?: string;
  /** final once the stream ended; while it runs, 0 in the replication's own answer (the stream's query has them) */
  rows: number;
  pages: number;
  tableRows?: number;
  error?: string;
  startedAt?: number;
  durationMs?: number;
  /** added by the client from the stream's own answer while it runs: percent done and the estimated time left */
  percent?: number;
  etaSeconds?: number;
  /** added by the client while a page activity retries: its attempt and last failure (from describe) */
  retrying?: { attempt: number; failure: string; workflowId: string };
}

export interface ReplicationProgress {
  replicationId: string;
  name: string;
  source: string;
  target: string;
  status: 'planning' | 'running' | 'completed' | 'failed' | 'cancelled';
  streams: StreamProgress[];
  /** why a replication failed before any stream ran (planning, the key check, the claim on its tables) */
  error?: string;
}

/** A stream workflow's own answer: live counts over all its runs (continue-as-new carries them). */
export interface StreamRunProgress {
  stream: StreamName;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  /** rows and pages this stream's page activities reported so far (partition children: once each ended) */
  rows: number;
  pages: number;
  /** partitions of the stream, and how many are done */
  partitions: number;
  partitionsDone: number;
  /** partition children running now: their ids are `<this workflow id>/<key>` */
  running: string[];
  /** this workflow's runs so far (1 + continue-as-new count) */
  runs: number;
  /** where its own page activities spent their time, summed (for the benchmark; absent until one reported it) */
  timing?: PageTiming;
  /** a stream read in time windows: how much of their range is read (prepare's figure plus its pages' since) */
  coverage?: Coverage;
  /** the stream's recent progress, which its ETA counts the pace of (see `marked`) */
  pace?: PaceMark[];
  /** when the stream's first run started (epoch ms) */
  startedAt?: number;
  /** in answers only (estimated): percent done, and the time left at the pace since the stream started */
  percent?: number;
  etaSeconds?: number;
}

/** A partition child's answer: the partition's live counts (continue-as-new carries them). */
export interface PartitionRunProgress {
  stream: StreamName;
  partition: string;
  rows: number;
  pages: number;
  runs: number;
}

/**
 * Deprecated: what stream and partition workflows started before bounded progress sent the replication after each
 * page batch (`pagesWrittenSignal`, shared.ts). Only replays of such histories still send it.
 */
export interface PagesWritten {
  stream: StreamName;
  rows: number;
  pages: number;
}
const count = (s: StreamProgress, n: number) => (s.status === 'pending' || (s.status === 'running' && n === 0) ? '' : String(n));

export function progressMarkdown(p: ReplicationProgress): string {
  const lines = [
    `**${p.name}**: ${p.status} (${p.source} → ${p.target})`,
    '',
    '| stream | mode | status | rows | pages |',
    '|---|---|---|---:|---:|',
    ...p.streams.map(
      (s) =>
        `| ${s.stream} | ${s.mode}${s.fullRefreshDue ? ` (${s.fullRefreshDue})` : ''}${s.reconcileDue ? ` + id pass (${s.reconcileDue})` : ''} | ${s.status}${s.error ? `: ${s.error.slice(0, 120)}` : ''} | ${count(s, s.rows)} | ${count(s, s.pages)} |`,
    ),
  ];
  if (p.streams.some((s) => s.status === 'running')) {
    lines.push('', `Live rows of a running stream: its own workflow \`${p.replicationId}/<stream>\` (query \`progress\`).`);
  }
  return lines.join('\n');
}

export function streamMarkdown(p: StreamRunProgress): string {
  const parts = p.partitions > 1 ? `, partitions ${p.partitionsDone}/${p.partitions}` : '';
  const running = p.running.length ? `, running: ${p.running.map((id) => id.slice(id.lastIndexOf('/') + 1)).join(', ')}` : '';
  const done = percentText(p);
  return `**${p.stream}**: ${p.status}, ${p.rows} rows, ${p.pages} pages${done ? `, ${done}` : ''}${parts}${running} (run ${p.runs})`;
}

/**
 * How much of a stream is read, 0 to 1: of its time range (its windows' committed watermarks: a listing sorted by
 * its cursor has read everything before it), else of its partitions done when it has several; undefined when
 * neither says (one listing that Klaviyo does not count).
 */
export function fractionDone(p: Pick<StreamRunProgress, 'status' | 'coverage' | 'partitions' | 'partitionsDone'>): number | undefined {
  if (p.status === 'completed') return 1;
  if (p.coverage && p.coverage.totalMs > 0) return Math.min(1, Math.max(0, p.coverage.coveredMs / p.coverage.totalMs));
  if (p.partitions > 1) return Math.min(1, p.partitionsDone / p.partitions);
  return undefined;
}

/** fractionDone as a percent with one decimal, below 100 until the stream completed (the open window grows). */
export function percentDone(p: Pick<StreamRunProgress, 'status' | 'coverage' | 'partitions' | 'partitionsDone'>): number | undefined {
  const f = fractionDone(p);
  if (f === undefined) return undefined;
  return p.status === 'completed' ? 100 : Math.min(99.9, Math.floor(f * 1000) / 10);
}

/** no estimate before this much progress (percentage points) and time over the pace's span: too little to tell */
export const ETA_MIN_GAIN = 0.1;
export const ETA_MIN_ELAPSED_MS = 5_000;

/** A point of a stream's progress: when, and its percent done then (unrounded: 100 × fractionDone). */
export interface PaceMark {
  at: number;
  percent: number;
}

/**
 * The pace an ETA counts is the recent one, not the average since the start: rows are rarely spread evenly in time
 * (accounts grow, so recent windows hold more), and a stream that read its sparse years in a minute reads its dense
 * last months slower. Marks are kept a quarter of the stream's age apart (PACE_MIN_STEP_MS to PACE_MAX_STEP_MS), the
 * last PACE_MARKS of them; the pace is from the oldest to now: over the last half to three quarters of a young
 * stream's life, over the last two to three minutes of a long one.
 */
export const PACE_MARKS = 3;
export const PACE_MIN_STEP_MS = 2_000;
export const PACE_MAX_STEP_MS = 60_000;

/** The marks with `now` added where the last is a step old (the first one: the stream's start). Pure. */
export function marked(marks: readonly PaceMark[], startedAt: number, now: number, percent: number): PaceMark[] {
  const last = marks.at(-1);
  const step = Math.min(PACE_MAX_STEP_MS, Math.max(PACE_MIN_STEP_MS, (now - startedAt) / 4));
  if (last && now - last.at < step) return [...marks];
  return [...marks, { at: now, percent }].slice(-PACE_MARKS);
}

/** Seconds left at the pace from `from` to (`now`, `percent`); undefined while that pace says too little. */
export function etaSeconds(percent: number, from: PaceMark, now: number): number | undefined {
  const gained = percent - from.percent;
  const elapsedMs = now - from.at;
  if (percent >= 100 || gained < ETA_MIN_GAIN || elapsedMs < ETA_MIN_ELAPSED_MS) return undefined;
  return Math.round(((elapsedMs / 1000) * (100 - percent)) / gained);
}

/**
 * The stream's answer at `now`: its figures with its percent done and ETA (the pace since its oldest pace mark; the
 * stream may resume what a crashed run had read, which the first mark, taken at the first prepare, leaves out).
 * Pure: query handlers call it too.
 */
export function estimated(p: StreamRunProgress, now: number): StreamRunProgress {
  const percent = percentDone(p);
  if (percent === undefined) return p;
  const from = p.pace?.[0];
  const eta = p.status === 'running' && from ? etaSeconds(100 * fractionDone(p)!, from, now) : undefined;
  return { ...p, percent, ...(eta !== undefined ? { etaSeconds: eta } : {}) };
}

/** 90061 → `1d 1h 1m 1s`; 0 → `0s` */
export function formatSeconds(total: number): string {
  const parts: string[] = [];
  let rest = Math.round(total);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join(' ');
}

/** `42.5% done, ETA 3m 10s`, or what of it is known; '' when neither */
export function percentText(p: { percent?: number; etaSeconds?: number }): string {
  if (p.percent === undefined) return '';
  return `${p.percent}% done${p.etaSeconds !== undefined ? `, ETA ${formatSeconds(p.etaSeconds)}` : ''}`;
}
