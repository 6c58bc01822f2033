/** Request counts per operation and status, for GET /__sandbox/stats (tests and benchmarks read them). */
export class RequestStats {
  private since = new Date().toISOString();
  private total = 0;
  private byOperation = new Map<string, Map<number, number>>();
  private faults = new Map<string, number>();

  record(operationId: string, status: number): void {
    this.total++;
    let statuses = this.byOperation.get(operationId);
    if (!statuses) this.byOperation.set(operationId, (statuses = new Map()));
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }

  recordFault(kind: string): void {
    this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
  }

  toJSON(): Record<string, unknown> {
    const operations: Record<string, Record<string, number>> = {};
    for (const [op, statuses] of this.byOperation) operations[op] = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
    return { since: this.since, requests: this.total, operations, faultsInjected: Object.fromEntries(this.faults) };
  }
}
