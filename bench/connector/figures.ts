/**
 * Per-stream figures from a replication's summary and the sandbox's request counts: requests, the rate achieved
 * against the endpoint's steady limit, rows, rows/s, 429s and wall time.
 */
import { getStream } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import type { PageTiming, ReplicationSummary } from '../../workflows/types';
import { requestsBetween, type SandboxStats } from './sandbox';

export interface StreamFigures {
  stream: StreamName;
  operation: string;
  /** requests the sandbox answered for the stream's operation during the run, any status */
  requests: number;
  requestsByStatus: Record<string, number>;
  rateLimited: number;
  rateLimitedPct: number;
  requestsPerMin: number;
  /** the endpoint's documented steady limit × the sandbox's scale (null: limits off) */
  steadyPerMin: number | null;
  steadyPct: number | null;
  rows: number;
  /** pages written (the summary's) */
  pages: number;
  rowsPerS: number;
  /** the stream workflow's wall time, first prepare to finish */
  wallS: number;
  /** rows in the table after the run, and what the sandbox says the stream holds */
  tableRows: number | null;
  truthRows: number | null;
  timing: PageTiming | null;
  /** requests the sandbox saw arrive per `timelineBucketMs` from the operation's first (whole run: a fresh sandbox) */
  timeline: number[];
  timelineBucketMs: number;
}

/** The factor the sandbox's `--rate-limits` multiplies documented limits by; null when limits are off. */
export function rateScale(rateLimits: string): number | null {
  if (rateLimits === 'documented') return 1;
  const m = /^scale:(.+)$/.exec(rateLimits);
  return m ? Number(m[1]) : null;
}

export function streamFigures(
  summary: ReplicationSummary,
  before: SandboxStats,
  after: SandboxStats,
  rateLimits: string,
  truth: Record<string, { count: number }>,
): StreamFigures[] {
  const scale = rateScale(rateLimits);
  return summary.streams.map((s) => {
    const def = getStream(s.stream);
    const req = requestsBetween(before, after, def.operation);
    const wallS = s.durationMs / 1000;
    const requestsPerMin = req.total / (wallS / 60);
    const steadyPerMin = scale === null ? null : Math.max(1, Math.round(def.rateLimit.steady * scale));
    const rateLimited = req.byStatus['429'] ?? 0;
    return {
      stream: s.stream,
      operation: def.operation,
      requests: req.total,
      requestsByStatus: req.byStatus,
      rateLimited,
      rateLimitedPct: req.total ? (100 * rateLimited) / req.total : 0,
      requestsPerMin,
      steadyPerMin,
      steadyPct: steadyPerMin === null ? null : (100 * requestsPerMin) / steadyPerMin,
      rows: s.rows,
      pages: s.pages,
      rowsPerS: s.rows / wallS,
      wallS,
      tableRows: s.tableRows ?? null,
      truthRows: truth[s.stream]?.count ?? null,
      timing: s.timing ?? null,
      timeline: after.timeline?.[def.operation] ?? [],
      timelineBucketMs: after.timelineBucketMs ?? 0,
    };
  });
}
