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
  /** a backfill's cursor range [start, end) (source_options.range) */
  range?: { start: string; end: string };
  /** incremental runs re-read this many seconds before the watermark, beyond the cursor's own overlap */
  lookbackSeconds?: number;
  /** the stream's options turned on (streams/options.ts), e.g. `metric_name` */
  options?: string[];
  /** a full refresh keeps the rows gone from Klaviyo, marked with `_deleted_at` (`source_options.deletes: mark`) */
  markDeleted?: boolean;
  /** this incremental run adds an id pass that marks the rows gone from Klaviyo (`source_options.reconcile_every`) */
  reconcile?: boolean;
  /** whether the server has klaviyo-sync's search attributes (KlaviyoReplication, KlaviyoStream) registered */
  searchAttributes?: boolean;
  /**
   * for a stream partitioned by its parent: the parent stream's table, when this replication completed the parent
   * before starting this stream. Its ids are the partitions; without it the stream reads the parent endpoint itself.
   */
  parentObject?: { schema: string; table: string };
}

/**
 * One listing of a stream: '' for a plain stream, a filter label (campaigns, flows) or a parent id (memberships);
 * what the listing's requests need follows from the key (streams/partitions.ts).
 */
export interface PartitionTask extends StreamTask {
  partition: string;
  /** at most this many pages in this call (below the worker's own budget); a run ramping up asks for one */
  maxPages?: number;
}

export interface PartitionState {
  key: string;
  done: boolean;
}

/** Which partitions `prepareStream` returns: the pending ones after `after` (in key order), at most `limit`. */
export interface PartitionPage {
  after?: string;
  limit?: number;
}

export interface PrepareResult {
  /**
   * pending partitions in key order, at most PartitionPage.limit of them (default 500), so a stream of tens of
   * thousands of lists never puts them all in one payload. Results recorded before held every partition, with `done`.
   */
  partitions: PartitionState[];
  watermark: string | null;
  /** partitions of the run, and how many of them are done (absent from results recorded before) */
  total?: number;
  done?: number;
  /** pending partitions remain after the last of `partitions`: ask again with `after` */
  more?: boolean;
  /** what the run should tell its user about the options it was given (a start_date it does not use) */
  notes?: string[];
  /** a stream read in time windows: how much of their range (ms) its committed watermarks cover, of how much */
  coverage?: Coverage;
}

/** How much of a stream's time range is read, in milliseconds (progress' percent done and ETA). */
export interface Coverage {
  coveredMs: number;
  totalMs: number;
}

/**
 * Where page activities spent their time, summed, in milliseconds (what the benchmark splits; absent from results
 * recorded before): the rate limiter's wait, HTTP until the body was read, JSON parsing and checks, the database
 * write of each page, and each activity's whole run (the rest of it: reading the cursor, heartbeats).
 */
export interface PageTiming {
  waitMs: number;
  httpMs: number;
  jsonMs: number;
  dbMs: number;
  activityMs: number;
}

export interface PagesResult {
  done: boolean;
  rows: number;
  pages: number;
  /** a time window's partition: how much more of its range (ms) this call read (absent from results recorded before) */
  coveredMs?: number;
  timing?: PageTiming;
}

export interface FinishResult {
  rows: number;
  pages: number;
  /** rows in the table after the run */
  tableRows: number;
  watermark: string | null;
  /** `source_options.deletes: mark`: rows this full refresh did not find again and kept, marked `_deleted_at` */
  markedDeleted?: number;
  /** pages of ids the run's id pass read (`reconcile_every`), beside `pages` */
  idPassPages?: number;
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
  /** rows this run marked deleted (`source_options.deletes: mark`) */
  markedDeleted?: number;
  /** pages of ids its id pass read (`reconcile_every`), beside `pages` */
  idPassPages?: number;
  watermark?: string | null;
  durationMs: number;
  error?: string;
  /** what the stream's first prepare said of the options (PrepareResult.notes) */
  notes?: string[];
  /** the page activities' time, summed over the stream's own chain (not its partition children) */
  timing?: PageTiming;
}

export interface ReplicationSummary {
  replicationId: string;
  name: string;
  streams: StreamSummary[];
  rows: number;
  durationMs: number;
}
