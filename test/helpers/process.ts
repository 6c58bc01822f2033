/**
 * Real processes for the tests: `klaviyo-sync <args>` (bin/klaviyo-sync.js) or any command, run to its exit or
 * started and watched; `klaviyo-sync worker` started until it polls. Stopping is client/child-process.ts's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stopChild } from '../../client/child-process';
import { CLI, ROOT } from './sandbox';

export interface ProcessResult {
  /** null when a signal ended it */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ProcessOptions {
  /** default: the repository's root */
  cwd?: string;
  /** the whole environment of the process (default: this process's) */
  env?: NodeJS.ProcessEnv;
}

export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr as they came */
  output(): string;
  /** settles once the process exited and its output was read; rejects only if it could not be started */
  exited: Promise<ProcessResult>;
  /** resolves once the output matches `pattern`; rejects if the process exits first or `ms` pass */
  waitForOutput(pattern: RegExp, ms?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited */
  stop(graceMs?: number): Promise<void>;
}

export function startProcess(command: string, args: string[], opts: ProcessOptions = {}): RunningProcess {
  const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let output = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    stdout += d;
    output += d;
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (d: string) => {
    stderr += d;
    output += d;
    for (const l of listeners) l();
  });
  const exited = new Promise<ProcessResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  exited.catch(() => undefined);
  const described = `${command === process.execPath ? 'klaviyo-sync' : command} ${args.filter((a) => a !== CLI).join(' ')}`;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited,
    waitForOutput(pattern, ms = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          listeners.delete(check);
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (pattern.test(output)) done();
        };
        const timer = setTimeout(() => done(new Error(`${described}: no ${pattern} within ${ms} ms:\n${output}`)), ms);
        listeners.add(check);
        void exited.then(
          (r) => done(new Error(`${described} exited with ${r.code ?? child.signalCode} before ${pattern}:\n${output}`)),
          (err: Error) => done(err),
        );
        check();
      });
    },
    stop: (graceMs?: number) => stopChild(child, graceMs),
  };
}

/** Runs a command to its exit; `killAfterMs` ends one that would wait forever with SIGKILL. */
export async function runProcess(
  command: string,
  args: string[],
  opts: ProcessOptions & { killAfterMs?: number } = {},
): Promise<ProcessResult> {
  const p = startProcess(command, args, opts);
  const timer = opts.killAfterMs === undefined ? undefined : setTimeout(() => p.child.kill('SIGKILL'), opts.killAfterMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** `klaviyo-sync <args>`, run to its exit. */
export function cli(args: string[], opts: ProcessOptions & { killAfterMs?: number } = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [CLI, ...args], opts);
}

/** `klaviyo-sync <args>`, started. */
export function startCli(args: string[], opts: ProcessOptions = {}): RunningProcess {
  return startProcess(process.execPath, [CLI, ...args], opts);
}

/** `klaviyo-sync worker <args>` as its own process, as the README's steps leave one running; resolves once it polls. */
export async function startWorkerProcess(args: string[], opts: ProcessOptions = {}): Promise<RunningProcess> {
  const worker = startCli(['worker', ...args], opts);
  await worker.waitForOutput(/polling task queue/);
  return worker;
}
