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
import type { PageTiming } from './types';

export type StreamStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface StreamProgress {
  stream: StreamName;
  mode: Mode;
  object: string;
  status: StreamStatus;
  /** why an incremental stream runs as a full refresh this time (its `full_refresh_every` is due) */
  fullRefreshDue?: string;
  /** final once the stream ended; while it runs, 0 in the replication's own answer (the stream's query has them) */
  rows: number;
  pages: number;
  tableRows?: number;
  error?: string;
  startedAt?: number;
  durationMs?: number;
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
        `| ${s.stream} | ${s.mode}${s.fullRefreshDue ? ` (${s.fullRefreshDue})` : ''} | ${s.status}${s.error ? `: ${s.error.slice(0, 120)}` : ''} | ${count(s, s.rows)} | ${count(s, s.pages)} |`,
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
  return `**${p.stream}**: ${p.status}, ${p.rows} rows, ${p.pages} pages${parts}${running} (run ${p.runs})`;
}
