/**
 * N `klaviyo-sync worker` processes (bin/klaviyo-sync.js run as `node`, as a user runs them), on the shared task
 * queue, each resolving the connections KLAVIYO, PG and LITE from its environment as a deployed worker would. Their
 * CPU and memory are read from /proc while they run and once more before they stop.
 */
import { startWorkerProcess, type RunningProcess } from '../../test/helpers/process';
import { onCleanup } from './cleanup';
import { HEAP_ENV, WORKER_HEAP, allocatorDescription, withWorkerMalloc } from '../../worker/heap-thread';
import { usageOf, UsageSampler, type ProcessUsage, type UsageSample } from './proc-stats';

export interface WorkerEnv {
  temporalAddress: string;
  klaviyo: string;
  pg: string;
  lite: string;
  /** KLAVIYO_SYNC_RATE_LIMITS */
  rateLimits: string;
  /** KLAVIYO_SYNC_RATE_SHARE: the part of each documented tier the workers pace at (a sandbox at scale:N has only N) */
  rateShare?: number;
}

/** The workers' KLAVIYO_SYNC_RATE_SHARE for a sandbox at `rateLimits` (documented or scale:N): N when below 1. */
export function rateShareFor(rateLimits: string): number | undefined {
  const scale = /^scale:(.+)$/.exec(rateLimits);
  const n = scale ? Number(scale[1]) : 1;
  return n < 1 ? n : undefined;
}

export interface WorkerFigures {
  name: string;
  pid: number;
  /** CPU seconds over the process's life, bundling the workflows at start included */
  cpuS: number;
  /** CPU seconds from the measurement's start (the replication) to its end */
  runCpuS: number;
  /** VmHWM: the kernel's high-water mark of resident memory, start-up included */
  peakRssMb: number;
  /** the largest VmRSS sampled (every second) during the measurement */
  maxSampledRssMb: number;
  /** every second of the measurement: CPU seconds so far and VmRSS (in the JSON, not printed) */
  samples: UsageSample[];
  /** what the worker's fleet rate limiter did, from the line it prints when it stops (after `stop`) */
  rateBudget?: string;
}

export interface Workers {
  processes: RunningProcess[];
  /** starts the CPU baseline and the sampler: call when the measured work starts */
  measure(): void;
  /** the figures now (call before stop: /proc forgets an exited process) */
  figures(): WorkerFigures[];
  /** stops the workers, then adds to `figures` the rate-budget line each printed as it stopped */
  stop(figures?: WorkerFigures[]): Promise<void>;
}

/** The heap and allocator settings the workers start with, for the bench's header. */
export function describeWorkerLaunch(env: NodeJS.ProcessEnv): string {
  const heap = env[HEAP_ENV] ? `${HEAP_ENV}=${env[HEAP_ENV]}` : `a thread of ${WORKER_HEAP.oldMb} MB (the default)`;
  return `heap: ${heap}; allocator: ${allocatorDescription(withWorkerMalloc(env))}`;
}

export async function startWorkers(n: number, env: WorkerEnv): Promise<Workers> {
  // launched as README's deployment lines launch a worker: the allocator settings of WORKER_MALLOC_ENV, unless given
  const processEnv: NodeJS.ProcessEnv = {
    ...withWorkerMalloc(process.env),
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    KLAVIYO: env.klaviyo,
    PG: env.pg,
    LITE: env.lite,
    KLAVIYO_SYNC_RATE_LIMITS: env.rateLimits,
    KLAVIYO_SYNC_RATE_SHARE: env.rateShare === undefined ? '' : String(env.rateShare),
  };
  const processes: RunningProcess[] = [];
  const stops: Array<() => Promise<void>> = [];
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const worker = await startWorkerProcess([], { env: processEnv });
      processes[i] = worker;
      stops[i] = onCleanup(`worker ${i + 1}`, () => worker.stop(15_000));
    }),
  );
  const names = processes.map((_, i) => `worker ${i + 1}`);
  let baseline: Array<ProcessUsage | undefined> = [];
  let sampler: UsageSampler | undefined;
  return {
    processes,
    measure() {
      sampler?.stop();
      baseline = processes.map((p) => usageOf(p.child.pid));
      sampler = new UsageSampler(new Map(processes.map((p, i) => [names[i], p.child.pid!])));
    },
    figures() {
      sampler?.stop();
      return processes.map((p, i) => {
        const now = usageOf(p.child.pid);
        return {
          name: names[i],
          pid: p.child.pid!,
          cpuS: round(now?.cpuS ?? NaN),
          runCpuS: round((now?.cpuS ?? NaN) - (baseline[i]?.cpuS ?? 0)),
          peakRssMb: round(now?.peakRssMb ?? NaN),
          maxSampledRssMb: round(sampler?.maxRssMb(names[i]) ?? NaN),
          samples: sampler?.samples.get(names[i]) ?? [],
        };
      });
    },
    async stop(figures) {
      sampler?.stop();
      await Promise.all(stops.map((s) => s()));
      for (const f of figures ?? []) {
        const i = names.indexOf(f.name);
        f.rateBudget = /rate budget: (.*)/.exec(processes[i]?.stdout() ?? '')?.[1];
      }
    },
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
