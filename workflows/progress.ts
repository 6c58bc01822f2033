/**
 * What a replication shows while it runs: the `progress` query (JSON), the Web UI's current details (a markdown
 * table), and the signal children send after each batch of pages. Pure data and formatting: no I/O.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Mode, StreamName } from '../streams/types';

export type StreamStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface StreamProgress {
  stream: StreamName;
  mode: Mode;
  object: string;
  status: StreamStatus;
  rows: number;
  pages: number;
  tableRows?: number;
  error?: string;
  startedAt?: number;
  durationMs?: number;
}

export interface ReplicationProgress {
  replicationId: string;
  name: string;
  source: string;
  target: string;
  status: 'planning' | 'running' | 'completed' | 'failed' | 'cancelled';
  streams: StreamProgress[];
}

/** Sent by stream and partition workflows after each page activity: rows and pages written since the last one. */
export interface PagesWritten {
  stream: StreamName;
  rows: number;
  pages: number;
}

export const progressQuery = defineQuery<ReplicationProgress>('progress');
export const pagesWrittenSignal = defineSignal<[PagesWritten]>('pagesWritten');

export function progressMarkdown(p: ReplicationProgress): string {
  const lines = [
    `**${p.name}**: ${p.status} (${p.source} → ${p.target})`,
    '',
    '| stream | mode | status | rows | pages |',
    '|---|---|---|---:|---:|',
    ...p.streams.map((s) => `| ${s.stream} | ${s.mode} | ${s.status}${s.error ? `: ${s.error.slice(0, 120)}` : ''} | ${s.rows} | ${s.pages} |`),
  ];
  return lines.join('\n');
}
