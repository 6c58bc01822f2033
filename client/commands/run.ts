/**
 * `klaviyo-sync run replication.yaml`: checks the config and connections here first (so bad input fails before
 * anything starts), starts the `replicate` workflow (or joins the one already running under the same id), waits,
 * prints rows per stream and exits non-zero on failure.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { WorkflowFailedError, WorkflowIdConflictPolicy } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parseReplicationYaml, planReplication } from '../../config/replication';
import { resolveConnection } from '../../config/connections';
import type { replicate } from '../../workflows';
import type { ReplicationSummary } from '../../workflows/types';
import { connectClient, connectWorker, TASK_QUEUE } from '../temporal';
import { createWorker } from '../../worker';
import { readConfigFile } from './files';
import { formatSummary } from './summary';

export interface RunOptions {
  name?: string;
  workflowId?: string;
  taskQueue: string;
  detach?: boolean;
  withWorker?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run a replication: start the replicate workflow, wait for it, print rows per stream')
    .argument('<replication.yaml>', 'replication config (Sling-style: source, target, defaults, streams)')
    .option('--name <name>', 'replication name (default: the file name)')
    .option('--workflow-id <id>', 'workflow id (default: klaviyo-sync-<name>; a running one with that id is joined)')
    .option('--task-queue <name>', 'task queue', TASK_QUEUE)
    .option('--detach', 'start the workflow, print its id and return')
    .option('--with-worker', 'also run a worker in this process until the replication ends')
    .action(async (file: string, opts: RunOptions) => {
      const summary = await runReplication(file, opts);
      if (summary) process.stdout.write(formatSummary(summary));
    });
}

export async function runReplication(file: string, opts: RunOptions): Promise<ReplicationSummary | undefined> {
  const yaml = readConfigFile(file);
  const name = opts.name ?? path.basename(file).replace(/\.ya?ml$/i, '');
  const plan = planReplication(parseReplicationYaml(yaml, file), { source: file, name });
  // The worker resolves connections again when it runs; checking here makes a typo fail before anything starts.
  resolveConnection(plan.source, { expect: 'klaviyo' });
  resolveConnection(plan.target, { expect: 'database' });

  const { client, target } = await connectClient();
  const workflowId = opts.workflowId ?? `klaviyo-sync-${name}`;
  const handle = await client.workflow.start<typeof replicate>('replicate', {
    taskQueue: opts.taskQueue,
    workflowId,
    args: [{ name, yaml }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
  process.stderr.write(`replication ${name}: workflow ${workflowId} on ${target.address} (${plan.streams.length} streams)\n`);
  if (opts.detach) {
    process.stdout.write(`${workflowId}\n`);
    return undefined;
  }

  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let workerDone: Promise<void> | undefined;
  if (opts.withWorker) {
    const { connection } = await connectWorker();
    worker = await createWorker({ connection, namespace: target.namespace, taskQueue: opts.taskQueue });
    workerDone = worker.run();
  }
  try {
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) {
      process.stdout.write(formatSummary(err.cause.details[0] as ReplicationSummary));
    }
    throw new Error(`replication ${name} failed: ${rootMessage(err)}`);
  } finally {
    if (worker) {
      worker.shutdown();
      await workerDone;
    }
  }
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
