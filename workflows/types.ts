/**
 * What travels through workflow history: names, modes, cursors and counts. Never records, never secrets.
 */
import type { Mode, StreamName } from '../streams/types';

/** One stream of one replication, as its child workflow receives it. Connection NAMES only: the worker resolves them. */
export interface StreamTask {
  /** the replication's workflow id; prefixes child ids and names the run in the UI */
  replicationId: string;
  /** a human name for the replication (the YAML file name, or given) */
  replicationName: string;
  /** identifies this replication run in the target's state table; resumes survive worker crashes */
  runId: string;
  source: string;
  target: string;
  stream: StreamName;
  mode: Mode;
  object: { schema: string; table: string };
  /** ISO date where a first incremental run starts (source_options.start_date) */
  startDate?: string;
  /** incremental runs re-read this many seconds before the watermark, beyond the cursor's own overlap */
  lookbackSeconds?: number;
  /** whether the server has klaviyo-sync's search attributes (KlaviyoReplication, KlaviyoStream) registered */
  searchAttributes?: boolean;
}

/** One listing of a stream: '' for a plain stream, a filter label (campaigns, flows) or a parent id (memberships). */
export interface PartitionTask extends StreamTask {
  partition: string;
  parentId?: string;
}

export interface PartitionState {
  key: string;
  parentId?: string;
  done: boolean;
}

export interface PrepareResult {
  partitions: PartitionState[];
  watermark: string | null;
}

export interface PagesResult {
  done: boolean;
  rows: number;
  pages: number;
}

export interface FinishResult {
  rows: number;
  pages: number;
  /** rows in the table after the run */
  tableRows: number;
  watermark: string | null;
}

export interface StreamSummary {
  stream: StreamName;
  mode: Mode;
  object: string;
  status: 'completed' | 'failed';
  /** rows written by this run */
  rows: number;
  pages: number;
  tableRows?: number;
  watermark?: string | null;
  durationMs: number;
  error?: string;
}

export interface ReplicationSummary {
  replicationId: string;
  name: string;
  streams: StreamSummary[];
  rows: number;
  durationMs: number;
}
