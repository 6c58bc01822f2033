/**
 * Starts a local Temporal dev server (`temporal server start-dev`) from the project's CLI and waits until it
 * answers. Used by the tests and by the demo; the demo passes a db file so a restarted server resumes its runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { Connection } from '@temporalio/client';
import { requireTemporalCli } from './temporal-cli';
import { stopChild } from './child-process';

export interface DevServerOptions {
  port?: number;
  /** 0: no Web UI */
  uiPort?: number;
  /** keeps workflows across restarts; in-memory without it */
  dbFilename?: string;
  namespace?: string;
  /** e.g. ['KlaviyoReplication=Keyword'] */
  searchAttributes?: string[];
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** run on after this process exits (the demo's server), logging to this file */
  detachedLog?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a Temporal server answers at `address`. */
export async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: '1s' });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/**
 * A dev server on `opts.port`, else on a free port. A free port can be taken between the probe and the server's
 * bind (by another process, or by the internal services of a dev server starting beside it, which pick free ports of
 * their own): a server that exits for a port in use is started again on another one, up to 3 times.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(opts, opts.port ?? (await freePort()));
    } catch (err) {
      if (opts.port !== undefined || attempt >= 3 || !(err instanceof PortInUse)) throw err;
    }
  }
}

class PortInUse extends Error {}

async function startDevServerOnce(opts: DevServerOptions, port: number): Promise<DevServer> {
  const cli = requireTemporalCli();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error'];
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFilename) args.push('--db-filename', opts.dbFilename);
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const sa of opts.searchAttributes ?? []) args.push('--search-attribute', sa);
  args.push(...(opts.extraArgs ?? []));

  let output = '';
  let child: ChildProcess;
  if (opts.detachedLog) {
    const fd = fs.openSync(opts.detachedLog, 'a');
    child = spawn(cli, args, { stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    output = `(log: ${opts.detachedLog})`;
  } else {
    child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  }
  const address = `127.0.0.1:${port}`;
  const stop = () => stopChild(child);

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) {
      const message = `temporal server start-dev exited with code ${child.exitCode}:\n${output}`;
      throw /address already in use/.test(output) ? new PortInUse(message) : new Error(message);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: '1s' });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `temporal dev server at ${address} did not answer within ${opts.startTimeoutMs ?? 60_000} ms: ${(err as Error).message}\n${output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { address, uiUrl: opts.uiPort ? `http://127.0.0.1:${opts.uiPort}` : undefined, child, stop };
}
