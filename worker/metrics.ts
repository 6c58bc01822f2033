/**
 * The worker's Prometheus endpoint: the Temporal SDK runtime's exporter, which serves the SDK's own metrics (task
 * slots, polls, latencies) and klaviyo-sync's (activities/metrics.ts, recorded through the same runtime's meter) on
 * one port. Opt-in: `klaviyo-sync worker --metrics 0.0.0.0:9464` (or $KLAVIYO_SYNC_METRICS).
 */
import { Runtime } from '@temporalio/worker';

const ADDRESS = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Installs the process's Temporal runtime with a Prometheus exporter on `bindAddress` (host:port). */
export function installMetricsRuntime(bindAddress: string): void {
  const m = ADDRESS.exec(bindAddress);
  if (!m || Number(m[2]) > 65535) {
    throw new Error(`--metrics must be host:port, e.g. 0.0.0.0:9464 or 127.0.0.1:9464, not ${JSON.stringify(bindAddress.slice(0, 60))}`);
  }
  Runtime.install({
    telemetryOptions: { metrics: { prometheus: { bindAddress, countersTotalSuffix: true } } },
  });
}
