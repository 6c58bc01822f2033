/**
 * `klaviyo-sync run replication.yaml`: checks the config and connections here first (so bad input fails before
 * anything starts), starts the `replicate` workflow (or joins the one already running under the same id), waits,
 * prints rows per stream and exits non-zero on failure.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { WorkflowFailedError, WorkflowIdConflictPolicy } from '@temporalio/client';
import { ApplicationFailure, NamespaceNotFoundError } from '@temporalio/common';
import { parseReplicationYaml, buildReplicationPlan, type ReplicationInput } from '../../config/replication';
import { resolveConnection, type KlaviyoConnection } from '../../config/connections';
import type { StreamName } from '../../streams/types';
import { withRetries } from '../../lib/errors';
import { KlaviyoClient } from '../../lib/klaviyo/client';
import { createRateLimiter, type RateLimitMode } from '../../lib/klaviyo/ratelimit';
import { checkStreamScopes } from '../../lib/klaviyo/scopes';
import { RETRY_POLICY } from '../../lib/retry-policy';
import { testConnection } from './conns';
import type { replicate } from '../../workflows';
import type { ReplicationSummary } from '../../workflows/types';
import { clientTracing, connectClient, connectWorker, type TemporalTarget } from '../temporal';
import { inProcessTaskQueue, TASK_QUEUE } from '../../workflows/shared';
import { createWorker } from '../../worker';
import { quietWorkerLogs } from '../../worker/connection';
import { closeAll } from '../../lib/db/connect';
import { readConfigFile } from './files';
import { formatSummary } from './summary';
import { defaultView, followProgress, resultAcrossRestarts } from '../progress-view';

export interface RunOptions {
  name?: string;
  workflowId?: string;
  /** default: TASK_QUEUE; with a worker in this process, inProcessTaskQueue(workflowId) */
  taskQueue?: string;
  detach?: boolean;
  withWorker?: boolean;
  /** resolves when the user interrupts (Ctrl-C): the worker stops and the workflow waits for the next worker */
  interrupt?: Promise<void>;
  /**
   * where connections and Temporal's address are read from, here and by the worker of this process (default:
   * process.env); the demo passes its own
   */
  env?: NodeJS.ProcessEnv;
  /** the rate limits of the worker of this process (default: KLAVIYO_SYNC_RATE_LIMITS of `env`, else documented) */
  rateLimitMode?: RateLimitMode;
}

export class Interrupted extends Error {
  override name = 'Interrupted';
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run a replication: start the replicate workflow, wait for it, print rows per stream')
    .argument('<replication.yaml>', 'replication config (Sling-style: source, target, defaults, streams)')
    .option('--name <name>', 'replication name (default: the file name)')
    .option('--workflow-id <id>', 'workflow id (default: klaviyo-sync-<name>; a running one with that id is joined)')
    .option(
      '--task-queue <name>',
      `task queue (default: ${TASK_QUEUE}; with --with-worker, the worker's own: ${inProcessTaskQueue('<workflow id>')})`,
    )
    .option('--detach', 'start the workflow, print its id and return')
    .option('--with-worker', 'also run a worker in this process until the replication ends, on a task queue of its own')
    .action(async (file: string, opts: RunOptions) => {
      const summary = await runReplication(file, opts);
      if (summary) process.stdout.write(formatSummary(summary));
    });
}

export async function runReplication(file: string, opts: RunOptions): Promise<ReplicationSummary | undefined> {
  const yaml = readConfigFile(file);
  const name = opts.name ?? path.basename(file).replace(/\.ya?ml$/i, '');
  const config = parseReplicationYaml(yaml, file);
  // The worker resolves connections again when it runs; checking here makes a typo, a bad key or an unreachable
  // database fail with its fix before any workflow starts or anything is written.
  const env = opts.env ?? process.env;
  const source = resolveConnection(config.source, { env, expect: 'klaviyo' }) as KlaviyoConnection;
  const target = resolveConnection(config.target, { env, expect: 'database' });
  // planned as the worker plans it: objects that name no schema go to the target connection's schema
  const targetSchema = target.kind === 'postgres' || target.kind === 'mysql' ? target.schema : undefined;
  const plan = buildReplicationPlan(config, { source: file, name, targetSchema: () => targetSchema });
  for (const schema of new Set(plan.streams.map((s) => s.object.schema))) {
    await withRetries(() => testConnection(target, { schema, print: () => undefined }), {
      onRetry: (err, seconds, attempt) =>
        process.stderr.write(
          `checking ${plan.target} (attempt ${attempt} of ${RETRY_POLICY.checkAttempts}): ${err.message}; next attempt in ${seconds} s\n`,
        ),
    });
  }
  await checkKey(
    source,
    plan.streams.map((s) => s.stream),
  );

  const { client, target: temporal } = await connectClient(env);
  const workflowId = opts.workflowId ?? `klaviyo-sync-${name}`;
  const running = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => (d.status.name === 'RUNNING' ? d : undefined))
    .catch(() => undefined);
  let taskQueue = opts.taskQueue ?? (opts.withWorker ? inProcessTaskQueue(workflowId) : TASK_QUEUE);
  if (running) {
    process.stderr.write(
      `joining the running replication ${workflowId} (started ${running.startTime.toISOString()}): it resumes where its pages stopped\n`,
    );
    if (running.taskQueue !== taskQueue) {
      if (opts.withWorker && opts.taskQueue === undefined) {
        // the worker goes where the workflow is; a workflow cannot move to another queue
        taskQueue = running.taskQueue;
        process.stderr.write(`${workflowId} is on task queue ${taskQueue}: the worker of this process polls it\n`);
      } else {
        process.stderr.write(
          `${workflowId} is running on task queue ${running.taskQueue}, not ${taskQueue}: ${onlyWorkersOf(running.taskQueue, workflowId)}\n`,
        );
      }
    }
  }
  // The parsed config, not the file's text: comments and layout do not count against Temporal's 2 MB payload limit.
  const input: ReplicationInput = { name, config };
  let handle;
  try {
    handle = await client.workflow.start<typeof replicate>('replicate', {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      staticSummary: `Klaviyo replication ${name}: ${plan.streams.length} streams, ${plan.source} → ${plan.target}`,
      staticDetails: plan.streams.map((s) => `- ${s.stream} (${s.mode}) → \`${s.objectName}\``).join('\n'),
    });
  } catch (err) {
    await client.connection.close();
    throw new Error(startRefused(err, workflowId, temporal));
  }
  process.stderr.write(`replication ${name}: workflow ${workflowId} on ${temporal.address} (${plan.streams.length} streams)\n`);
  if (opts.detach) {
    process.stdout.write(`${workflowId}\n`);
    return undefined;
  }

  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let workerDone: Promise<void> | undefined;
  if (opts.withWorker) {
    // the bars and the summary are the output here: the worker says only what went wrong
    quietWorkerLogs();
    const { connection } = await connectWorker(env);
    worker = await createWorker({
      connection,
      namespace: temporal.namespace,
      taskQueue,
      deps: { env, ...(opts.rateLimitMode ? { rateLimitMode: opts.rateLimitMode } : {}) },
      tracing: clientTracing(env),
    });
    workerDone = worker.run();
  }
  try {
    // a restarting Temporal server is waited for: the replication survives it, and the follow does too
    const result = resultAcrossRestarts<ReplicationSummary>(handle, {
      onWait: () =>
        process.stderr.write(`the Temporal server at ${temporal.address} is not answering; waiting for it (the replication goes on)\n`),
      until: opts.interrupt,
    });
    const interrupted = opts.interrupt?.then(() => {
      throw new Interrupted(`interrupted: workflow ${workflowId} is still open and resumes with the next worker`);
    });
    interrupted?.catch(() => undefined);
    const finished = interrupted ? Promise.race([result, interrupted]) : result;
    await followProgress(client.workflow, handle, defaultView(), finished);
    return await finished;
  } catch (err) {
    if (err instanceof Interrupted) throw err;
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) {
      process.stdout.write(formatSummary(err.cause.details[0] as ReplicationSummary));
    }
    throw new Error(`replication ${name} failed: ${rootMessage(err)}`);
  } finally {
    if (worker) {
      // the SDK's worker also stops by itself on SIGINT/SIGTERM
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerDone;
      await closeAll();
    }
    await client.connection.close();
  }
}

/**
 * The workflow's own pre-check (`checkSource`): one request per scope the selected streams need, so a wrong key, a
 * missing scope or a wrong base URL fails here with its fix; a 429 waits Retry-After and a 5xx or network error backs
 * off, with the same numbers Temporal retries the activity with.
 */
async function checkKey(conn: KlaviyoConnection, streams: StreamName[]): Promise<void> {
  const client = new KlaviyoClient({ baseUrl: conn.baseUrl, apiKey: conn.apiKey, limiter: createRateLimiter(), connection: conn.name });
  const retry = <T>(fn: () => Promise<T>) =>
    withRetries(fn, {
      onRetry: (err, seconds, attempt) =>
        process.stderr.write(
          `checking the Klaviyo key (attempt ${attempt} of ${RETRY_POLICY.checkAttempts}): ${err.message} Next attempt in ${seconds} s.\n`,
        ),
    });
  await checkStreamScopes(client, streams, { connection: conn.name, baseUrl: conn.baseUrl, retry });
}

function rootMessage(err: unknown): string {
  let e: any = err;
  const parts: string[] = [];
  while (e) {
    if (e.message) parts.push(e.message);
    e = e.cause;
  }
  return parts[parts.length - 1] ?? String(err);
}

/** Who can run a workflow on this queue, and how to get one. */
function onlyWorkersOf(queue: string, workflowId: string): string {
  const how =
    queue === inProcessTaskQueue(workflowId)
      ? 'it was started by `run --with-worker` (or the demo): run that again to resume it, or start'
      : 'start';
  return `only a worker polling ${queue} executes it: ${how} \`klaviyo-sync worker --task-queue ${queue}\``;
}

/** Why Temporal refused the start, from the whole chain of causes (the SDK's own message says only that it failed). */
function startRefused(err: unknown, workflowId: string, temporal: TemporalTarget): string {
  const messages: string[] = [];
  let code: number | undefined;
  for (let e: any = err; e; e = e.cause) {
    if (typeof e.code === 'number') code ??= e.code;
    const message = String(e.details || e.message || '').trim();
    if (message && message !== 'Failed to start Workflow' && !messages.some((m) => m.includes(message))) messages.push(message);
  }
  const why = messages.join(': ') || String(err);
  // gRPC status codes
  const fix =
    err instanceof NamespaceNotFoundError || (code === 5 && /namespace/i.test(why))
      ? `; create the namespace (temporal operator namespace create --namespace ${temporal.namespace}) or set TEMPORAL_NAMESPACE to one that exists`
      : code === 7 || code === 16
        ? '; check the credentials Temporal is reached with (TEMPORAL_API_KEY, TLS settings or the temporal.toml profile)'
        : '';
  return `Temporal at ${temporal.address} (namespace ${temporal.namespace}) refused to start workflow ${workflowId}: ${why}${fix}`;
}
