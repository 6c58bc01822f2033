/**
 * Starts the sandbox Klaviyo as a real child process (`klaviyo-sync sandbox --port 0 ...`) and waits for the line
 * `Klaviyo sandbox listening on http://127.0.0.1:<port>` on its stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'klaviyo-sync.js');

export interface SandboxProcess {
  baseUrl: string;
  child: ChildProcess;
  /** everything the process printed so far */
  output(): string;
  stop(): Promise<void>;
}

export async function startSandbox(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<SandboxProcess> {
  const child = spawn(process.execPath, [CLI, 'sandbox', '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (out += d));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox did not start within 60 s:\n${out}`)), 60_000);
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sandbox exited with code ${code} before listening:\n${out}`));
    });
  });
  return {
    baseUrl,
    child,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
