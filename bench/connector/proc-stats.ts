/**
 * CPU and memory of a process from /proc (Linux): CPU seconds (utime + stime of /proc/<pid>/stat), resident memory
 * now (VmRSS) and at its peak (VmHWM, the kernel's high-water mark) from /proc/<pid>/status. Read them before the
 * process exits: afterwards they are gone. A sampler reads them every second during a run as well.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcessUsage {
  cpuS: number;
  rssMb: number;
  peakRssMb: number;
}

const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The usage of `pid` now, or undefined when it has exited (or there is no /proc). */
export function usageOf(pid: number | undefined): ProcessUsage | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name, in parentheses, may hold spaces: fields are counted after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return {
      cpuS: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S,
      rssMb: kb('VmRSS') / 1024,
      peakRssMb: kb('VmHWM') / 1024,
    };
  } catch {
    return undefined;
  }
}

export interface UsageSample {
  /** seconds since the sampler started */
  t: number;
  cpuS: number;
  rssMb: number;
}

/** Samples the usage of named processes every `everyMs` until stopped. */
export class UsageSampler {
  readonly samples = new Map<string, UsageSample[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly pids: Map<string, number>,
    everyMs = 1000,
  ) {
    for (const name of pids.keys()) this.samples.set(name, []);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  /** The largest resident memory sampled of `name`, in MB. */
  maxRssMb(name: string): number {
    return Math.max(0, ...(this.samples.get(name) ?? []).map((s) => s.rssMb));
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    const t = Math.round(performance.now() - this.started) / 1000;
    for (const [name, pid] of this.pids) {
      const u = usageOf(pid);
      if (u) this.samples.get(name)!.push({ t, cpuS: u.cpuS, rssMb: Math.round(u.rssMb * 10) / 10 });
    }
  }
}
