/**
 * The whole system for end-to-end tests, every piece real: a Temporal dev server, the sandbox Klaviyo as a process
 * over HTTP, an embedded Postgres, SQLite files, and a klaviyo-sync worker in this process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { request } from 'undici';
import { createWorker } from '../../worker';
import { Destination } from '../../lib/db/destination';
import { closeAll } from '../../lib/db/connect';
import type { Target } from '../../lib/db/connect';
import type { ObjectName } from '../../lib/db/naming';
import { getStream } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import { idsChecksum } from '../../sandbox/account/checksum';
import type { ReplicationSummary } from '../../workflows/types';
import { API_KEY, listResources, startSandbox, TINY_SANDBOX, type SandboxProcess, type Truth } from './sandbox';
import { startTemporal, type TestTemporal } from './temporal';
import { startPostgres, type TestPostgres } from './postgres';

// Workers log every state change at INFO; tests want warnings and errors only.
Runtime.install({ logger: new DefaultLogger('WARN') });

export { API_KEY };

export interface Stack {
  temporal: TestTemporal;
  sandbox: SandboxProcess;
  postgres: TestPostgres;
  sqliteFile: string;
  /** the environment the worker resolves connections from: KLAVIYO, PG, LITE */
  env: NodeJS.ProcessEnv;
  tmp: string;
  stop(): Promise<void>;
}

export async function startStack(sandboxArgs: string[] = [], temporalArgs: string[] = []): Promise<Stack> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-e2e-'));
  const started = await Promise.allSettled([
    startTemporal({ extraArgs: temporalArgs }),
    startSandbox([...TINY_SANDBOX, ...sandboxArgs]),
    startPostgres(),
  ] as const);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // what did start is stopped: its processes would otherwise keep the test file from ever exiting
    const [t, sb, pg] = started;
    await Promise.allSettled([
      t.status === 'fulfilled' ? t.value.teardown() : undefined,
      sb.status === 'fulfilled' ? sb.value.stop() : undefined,
      pg.status === 'fulfilled' ? pg.value.stop() : undefined,
    ]);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw failed.reason;
  }
  const [temporal, sandbox, postgres] = started.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [
    TestTemporal,
    SandboxProcess,
    TestPostgres,
  ];
  const sqliteFile = path.join(tmp, 'klaviyo.db');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KLAVIYO: sandbox.connection(),
    PG: postgres.url,
    LITE: `sqlite://${sqliteFile}`,
  };
  return {
    temporal,
    sandbox,
    postgres,
    sqliteFile,
    env,
    tmp,
    async stop() {
      await closeAll();
      await Promise.allSettled([temporal.teardown(), sandbox.stop(), postgres.stop()]);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export async function stackWorker(stack: Stack, env: NodeJS.ProcessEnv = stack.env, maxPagesPerCall = 5): Promise<Worker> {
  return createWorker({
    connection: stack.temporal.env.nativeConnection,
    taskQueue: 'klaviyo-sync',
    deps: { env, rateLimitMode: 'documented', maxPagesPerCall },
  });
}

/** Runs `replicate` to its end with a worker of this process; returns the summary or throws the failure. */
export async function replicateWith(
  stack: Stack,
  yaml: string,
  workflowId: string,
  env?: NodeJS.ProcessEnv,
  maxPagesPerCall?: number,
): Promise<ReplicationSummary> {
  const worker = await stackWorker(stack, env, maxPagesPerCall);
  return worker.runUntil(
    stack.temporal.env.client.workflow.execute('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId,
      args: [{ name: workflowId, yaml }],
    }),
  ) as Promise<ReplicationSummary>;
}

export function targetOf(stack: Stack, name: 'PG' | 'LITE'): Target {
  return name === 'PG' ? { kind: 'postgres', url: stack.postgres.url } : { kind: 'sqlite', filename: stack.sqliteFile };
}

/** Ids as the sandbox's truth counts them: membership rows as `<group id>:<profile id>`. */
export async function tableIds(
  dest: Destination,
  stream: StreamName,
  object: ObjectName = { schema: 'klaviyo', table: stream },
): Promise<string[]> {
  const def = getStream(stream);
  const rows = await dest.snapshot(object, def.primaryKey);
  return rows.map((r) => def.primaryKey.map((k) => String(r[k])).join(':'));
}

/** A table's rows as truth ids, split into live ones and those marked deleted (`_deleted_at`), each sorted. */
export async function liveAndMarked(dest: Destination, stream: StreamName, schema: string): Promise<{ live: string[]; marked: string[] }> {
  const def = getStream(stream);
  const object = { schema, table: stream };
  const ids = await tableIds(dest, stream, object);
  const rows = await dest.snapshot(object, def.primaryKey);
  return {
    live: ids.filter((_, i) => (rows[i]._deleted_at ?? null) === null).sort(),
    marked: ids.filter((_, i) => (rows[i]._deleted_at ?? null) !== null).sort(),
  };
}

export async function truth(stack: Stack): Promise<Record<StreamName, { count: number; checksum: string }>> {
  return (await stack.sandbox.truth()) as Truth & Record<StreamName, { count: number; checksum: string }>;
}

export async function advance(stack: Stack): Promise<Record<string, unknown>> {
  return (await stack.sandbox.admin('advance')) as Record<string, unknown>;
}

export function checksumOf(ids: string[]): { count: number; checksum: string } {
  return { count: ids.length, checksum: idsChecksum(ids) };
}

/** Every resource of a plain listing, straight from the sandbox (for comparing values, not just ids). */
export function sandboxResources(stack: Stack, pathAndQuery: string, included?: Map<string, any>): Promise<Map<string, any>> {
  return listResources(stack.sandbox.baseUrl, pathAndQuery, undefined, included);
}

export const ALL_STREAMS_YAML = (target: string, extra = '') => `
source: KLAVIYO
target: ${target}
defaults:
  mode: full-refresh
  object: klaviyo.{stream_name}
streams:
  '*':
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  events:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  templates:
    mode: incremental
    source_options:
      start_date: 2015-01-01
${extra}`;

/** Four streams of every kind (incremental, full refresh, a fanned-out child) into SQLite: for the CLI and UI tests. */
export const FOUR_STREAMS_YAML = `source: KLAVIYO
target: LITE
defaults:
  mode: full-refresh
  object: klaviyo.{stream_name}
streams:
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  lists:
  list_profiles:
  events:
    mode: incremental
    source_options:
      start_date: 2015-01-01
`;

/** The membership streams and their parent, full refresh only (a cancelled run can be checked for half-loaded swaps). */
export const MEMBERSHIPS_YAML = `source: KLAVIYO
target: LITE
defaults:
  mode: full-refresh
  object: klaviyo.{stream_name}
streams:
  lists:
  list_profiles:
  segment_profiles:
`;

/** What the sandbox answered so far, per operation and status (GET /__sandbox/stats). */
export async function requestStats(stack: Stack): Promise<Record<string, Record<string, number>>> {
  const res = await request(`${stack.sandbox.baseUrl}/__sandbox/stats`);
  return ((await res.body.json()) as { operations: Record<string, Record<string, number>> }).operations;
}

/** The successful requests per operation that `run` caused. */
export async function requestsDuring(stack: Stack, run: () => Promise<unknown>): Promise<Record<string, number>> {
  const ok = async () => Object.fromEntries(Object.entries(await requestStats(stack)).map(([op, byStatus]) => [op, byStatus['200'] ?? 0]));
  const before = await ok();
  await run();
  const after = await ok();
  return Object.fromEntries(Object.entries(after).map(([op, n]) => [op, n - (before[op] ?? 0)]));
}
