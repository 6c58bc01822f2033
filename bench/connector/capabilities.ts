/**
 * What the code on this branch can do, read from its own `--help`: the bench measures whatever is there, so a
 * flag another change adds (the sandbox's `--latency`, a worker rate mode `off`) is used once it exists and
 * skipped (and said so) until then.
 */
import { cli } from '../../test/helpers/process';

export interface Capabilities {
  /** `klaviyo-sync sandbox --latency off|klaviyo|...` */
  sandboxLatency: boolean;
  /** the worker's rate modes, as its `--rate-limits` help names them */
  workerRateModes: string[];
}

async function helpOf(command: string): Promise<string> {
  const r = await cli([command, '--help'], { killAfterMs: 60_000 });
  if (r.code !== 0) throw new Error(`klaviyo-sync ${command} --help exited with ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export async function capabilities(): Promise<Capabilities> {
  const [sandbox, worker] = await Promise.all([helpOf('sandbox'), helpOf('worker')]);
  // the option's description, up to the next option (help text wraps)
  const rateHelp = /--rate-limits <mode>([\s\S]*?)(?:\n\s+-|$)/.exec(worker)?.[1] ?? '';
  const modes = ['sling', 'documented', 'off'].filter((m) => new RegExp(`\\b${m}\\b`).test(rateHelp));
  return { sandboxLatency: /--latency\b/.test(sandbox), workerRateModes: modes };
}
