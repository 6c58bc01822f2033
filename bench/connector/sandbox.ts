/**
 * The sandbox Klaviyo of one mode, as its own process over HTTP: a preset account with the mode's rate limits and
 * latency (`--latency` only where this branch's sandbox has it), and its request counts per operation and status
 * (GET /__sandbox/stats), which is what the bench reads requests, 429s and sling's rows from.
 */
import { request } from 'undici';
import { startSandbox, type SandboxProcess } from '../../test/helpers/sandbox';
import { onCleanup } from './cleanup';

export const BENCH_KEY = 'pk_bench_0123456789';

export interface SandboxStats {
  requests: number;
  /** operation id (e.g. get_events) → HTTP status → requests */
  operations: Record<string, Record<string, number>>;
  /** operation id → requests arrived per `timelineBucketMs` since its first */
  timeline?: Record<string, number[]>;
  timelineBucketMs?: number;
}

export interface BenchSandbox {
  process: SandboxProcess;
  pid: number;
  /** the flags it was started with */
  args: string[];
  stats(): Promise<SandboxStats>;
  stop(): Promise<void>;
}

export interface SandboxSetup {
  preset: string;
  seed: string;
  /** documented, off or scale:N */
  rateLimits: string;
  /** off, klaviyo or base=..,row=..,jitter=..; passed only when supported */
  latency?: string;
}

export async function startBenchSandbox(setup: SandboxSetup): Promise<BenchSandbox> {
  const args = ['--size', setup.preset, '--seed', setup.seed, '--api-key', BENCH_KEY, '--rate-limits', setup.rateLimits, '--quiet'];
  if (setup.latency !== undefined) args.push('--latency', setup.latency);
  const sb = await startSandbox(args);
  const stop = onCleanup('sandbox', () => sb.stop());
  return {
    process: sb,
    pid: sb.child.pid!,
    args,
    async stats() {
      const res = await request(`${sb.baseUrl}/__sandbox/stats`);
      return (await res.body.json()) as SandboxStats;
    },
    stop,
  };
}

/** Requests of `operation` between two snapshots, in total and per status. */
export function requestsBetween(
  before: SandboxStats,
  after: SandboxStats,
  operation: string,
): { total: number; byStatus: Record<string, number> } {
  const byStatus: Record<string, number> = {};
  let total = 0;
  const a = after.operations[operation] ?? {};
  const b = before.operations[operation] ?? {};
  for (const status of Object.keys(a)) {
    const n = a[status] - (b[status] ?? 0);
    if (n > 0) {
      byStatus[status] = n;
      total += n;
    }
  }
  return { total, byStatus };
}
