/**
 * Starts the sandbox Klaviyo as a real child process (`klaviyo-sync sandbox --port 0 ...`) and waits for the line
 * `Klaviyo sandbox listening on http://127.0.0.1:<port>` on its stdout. Its admin endpoints (`/__sandbox/...`)
 * and the connection a user would export for it come with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';
import { stopChild } from '../../client/child-process';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'klaviyo-sync.js');

/** The API key the end-to-end tests give the sandbox (and the KLAVIYO connection). */
export const API_KEY = 'pk_e2e_test_key_0123456789';

/** A small account (seed 11), answering at once: what most tests that replicate want, before their own arguments. */
export const TINY_SANDBOX = ['--size', 'tiny', '--seed', '11', '--api-key', API_KEY, '--rate-limits', 'off'];

/** A tiny sandbox with a full key and a key limited to profiles:read: for the client's and the sandbox's error tests. */
export const TEST_KEY = 'pk_test';
export const LIMITED_KEY = 'pk_limited';
export const LIMITED_KEY_SANDBOX = [
  '--size',
  'tiny',
  '--seed',
  '7',
  '--api-key',
  TEST_KEY,
  '--api-key',
  `${LIMITED_KEY}=profiles:read`,
  '--rate-limits',
  'off',
];

export type Truth = Record<string, { count: number; checksum: string }>;

export interface SandboxProcess {
  baseUrl: string;
  child: ChildProcess;
  /** everything the process printed so far */
  output(): string;
  /** the Klaviyo connection (e.g. the KLAVIYO variable) that reaches this sandbox with `apiKey` */
  connection(apiKey?: string): string;
  /** GET /__sandbox/truth: count and ids checksum per stream */
  truth(): Promise<Truth>;
  /** POST /__sandbox/<what> (faults, advance); throws unless it answers 200 */
  admin(what: 'faults' | 'advance', body?: unknown): Promise<unknown>;
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
    connection: (apiKey = API_KEY) => JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: baseUrl, secrets: { api_key: apiKey } }),
    async truth() {
      return (await (await request(`${baseUrl}/__sandbox/truth`)).body.json()) as Truth;
    },
    async admin(what, body = {}) {
      const res = await request(`${baseUrl}/__sandbox/${what}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`POST /__sandbox/${what}: ${res.statusCode} ${text}`);
      return JSON.parse(text) as unknown;
    },
    stop: () => stopChild(child),
  };
}

/** Runs `klaviyo-sync sandbox <args>` to completion (for flags that must fail): its exit code and output. */
export function runSandboxCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'sandbox', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every resource of a plain listing, straight from a sandbox over HTTP (for comparing values, not just ids). */
/** Every resource of a listing by id, following `links.next`; `included` (if given) collects `included` by `type:id`. */
export async function listResources(
  baseUrl: string,
  pathAndQuery: string,
  apiKey = API_KEY,
  included?: Map<string, any>,
): Promise<Map<string, any>> {
  const out = new Map<string, any>();
  let url: string | undefined = `${baseUrl}${pathAndQuery}`;
  while (url) {
    const res = await request(url, { headers: { authorization: `Klaviyo-API-Key ${apiKey}`, revision: '2025-07-15' } });
    const body = (await res.body.json()) as any;
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${JSON.stringify(body)}`);
    for (const r of body.data) out.set(r.id, r);
    for (const r of body.included ?? []) included?.set(`${r.type}:${r.id}`, r);
    url = body.links?.next ?? undefined;
  }
  return out;
}
