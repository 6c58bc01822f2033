/**
 * What the sandbox served, for GET /__sandbox/stats (tests and benchmarks read it):
 *   operations       per operation, the count per status (`{"get_profiles": {"200": 12, "429": 1}}`)
 *   traffic          per operation: requests, response body bytes, resources served (rows), the latency added (ms),
 *                    and when the first and the last request arrived, so requests/min = (requests - 1) / (last - first)
 *   throttled        how many requests answered 429 (rate limited or injected)
 *   timeline         per operation, requests arrived per TIMELINE_BUCKET_MS since the operation's first (a ramp, a
 *                    plateau at the limit, a tail: what one rate over the whole run hides)
 *   requests, since, faultsInjected
 */

/** One answer, as the server saw it. */
export interface Served {
  operationId: string;
  /** 0 for a reset connection */
  status: number;
  /** response body bytes */
  bytes: number;
  /** resources in `data` */
  rows: number;
  /** the latency model's delay (ms), injected slowness excluded */
  delayMs: number;
  /** when the request arrived, ms since the epoch */
  arrivedAt: number;
}

export const TIMELINE_BUCKET_MS = 10_000;

interface Traffic {
  requests: number;
  bytes: number;
  rows: number;
  delayMs: number;
  firstAt: number;
  lastAt: number;
  /** requests per bucket of TIMELINE_BUCKET_MS from the first arrival */
  timeline: number[];
}

export class RequestStats {
  private since = new Date().toISOString();
  private total = 0;
  private throttled = 0;
  private byOperation = new Map<string, Map<number, number>>();
  private traffic = new Map<string, Traffic>();
  private faults = new Map<string, number>();

  record(served: Served): void {
    const { operationId, status } = served;
    this.total++;
    if (status === 429) this.throttled++;
    let statuses = this.byOperation.get(operationId);
    if (!statuses) this.byOperation.set(operationId, (statuses = new Map()));
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    let t = this.traffic.get(operationId);
    if (!t)
      this.traffic.set(
        operationId,
        (t = { requests: 0, bytes: 0, rows: 0, delayMs: 0, firstAt: served.arrivedAt, lastAt: 0, timeline: [] }),
      );
    t.requests++;
    t.bytes += served.bytes;
    t.rows += served.rows;
    t.delayMs += served.delayMs;
    // Answers finish out of order when delays differ: keep the earliest and the latest arrival.
    t.firstAt = Math.min(t.firstAt, served.arrivedAt);
    t.lastAt = Math.max(t.lastAt, served.arrivedAt);
    const bucket = Math.max(0, Math.floor((served.arrivedAt - t.firstAt) / TIMELINE_BUCKET_MS));
    while (t.timeline.length <= bucket) t.timeline.push(0);
    t.timeline[bucket]++;
  }

  recordFault(kind: string): void {
    this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
  }

  toJSON(): Record<string, unknown> {
    const operations: Record<string, Record<string, number>> = {};
    for (const [op, statuses] of this.byOperation) operations[op] = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
    const traffic: Record<string, unknown> = {};
    const timeline: Record<string, number[]> = {};
    for (const [op, t] of this.traffic) {
      traffic[op] = {
        requests: t.requests,
        bytes: t.bytes,
        rows: t.rows,
        delayMs: Math.round(t.delayMs * 10) / 10,
        firstAt: new Date(t.firstAt).toISOString(),
        lastAt: new Date(t.lastAt).toISOString(),
      };
      timeline[op] = t.timeline;
    }
    return {
      since: this.since,
      requests: this.total,
      throttled: this.throttled,
      operations,
      traffic,
      timelineBucketMs: TIMELINE_BUCKET_MS,
      timeline,
      faultsInjected: Object.fromEntries(this.faults),
    };
  }
}
