/** What the figures were measured on: they mean little without the machine, its load and the code's commit. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT } from '../../test/helpers/sandbox';

export interface MachineFacts {
  cores: number;
  cpuModel: string;
  ramGb: number;
  node: string;
  platform: string;
  /** 1-minute load average when the bench started (other work on the machine depresses the figures) */
  loadAverage: number;
  commit: string;
  branch: string;
  /** uncommitted changes to tracked files (results written so far do not count) */
  dirty: boolean;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineFacts(): MachineFacts {
  return {
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    ramGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
    commit: git(['rev-parse', 'HEAD']),
    branch: git(['branch', '--show-current']),
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
  };
}
