/**
 * `klaviyo-sync schedule create|list|delete`: recurring replications as Temporal Schedules.
 *
 * A schedule starts the same `replicate` workflow `run` starts, with the same input `[{ name, config }]`: the parsed
 * config as it was when the schedule was created (edit the file, then delete and create the schedule again); the
 * parsed form, not the file's text, so comments and layout do not count against Temporal's 2 MB payload limit. Runs
 * never overlap (policy SKIP): a run still going when the next is due makes the schedule skip that one.
 */
import path from 'node:path';
import type { Command } from 'commander';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleSpec,
  type ScheduleSummary,
} from '@temporalio/client';
import { parseReplicationYaml, buildReplicationPlan, type ReplicationInput } from '../../config/replication';
import { resolveConnection } from '../../config/connections';
import { connectClient, type TemporalTarget } from '../temporal';
import { TASK_QUEUE } from '../../workflows/shared';
import { readConfigFile } from './files';
import { formatTable } from './table';

export const WORKFLOW_TYPE = 'replicate';

export interface ScheduleCreateOptions {
  every?: string;
  cron?: string;
  id?: string;
  name?: string;
  taskQueue: string;
}

export function registerScheduleCommand(program: Command): void {
  const schedule = program.command('schedule').description('Run a replication on a schedule (Temporal Schedules): create, list, delete');
  schedule
    .command('create')
    .description(
      'Create a Temporal Schedule that starts the replicate workflow with this YAML (as it is now) at every interval ' +
        'or cron time; a run still going when the next is due makes the schedule skip that one',
    )
    .argument('<replication.yaml>', 'replication config (checked, with its connections, before anything is created)')
    .option('--every <duration>', 'interval between runs, e.g. 30m, 1h, 6h, 1d, 1h30m')
    .option('--cron <expr>', "cron expression (UTC) instead of --every, e.g. '0 3 * * *' for 03:00 every day")
    .option('--id <id>', 'schedule id (default: klaviyo-sync-<name>)')
    .option('--name <name>', 'replication name (default: the file name); workflow ids are klaviyo-sync-<name>-<time>')
    .option('--task-queue <name>', 'task queue of the workers', TASK_QUEUE)
    .action(async (file: string, opts: ScheduleCreateOptions) => {
      const created = await createSchedule(file, opts);
      process.stdout.write(
        `created schedule ${created.scheduleId} on ${created.target.address} (namespace ${created.target.namespace}): ` +
          `replication ${created.name}, ${created.spec}, next run ${created.nextRun ?? '-'}\n`,
      );
    });
  schedule
    .command('list')
    .description('List the schedules that start replications: id, spec, next run, last result')
    .action(async () => {
      process.stdout.write(await withClient(async (client) => formatSchedules(await listSchedules(client))));
    });
  schedule
    .command('delete')
    .description('Delete a schedule (runs it already started go on)')
    .argument('<id>', 'schedule id, as `schedule list` shows it')
    .action(async (id: string) => {
      await withClient(async (client, target) => {
        try {
          await client.schedule.getHandle(id).delete();
        } catch (err) {
          if (err instanceof ScheduleNotFoundError) {
            throw new Error(
              `there is no schedule ${id} on ${target.address} (namespace ${target.namespace}): see the ids with klaviyo-sync schedule list`,
            );
          }
          throw err;
        }
        process.stdout.write(`deleted schedule ${id}\n`);
      });
    });
}

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 };

/** `30m`, `1h`, `1d`, `1h30m` → milliseconds. */
export function parseEvery(text: string): number {
  const compact = text.trim().toLowerCase();
  if (!/^(\d+[dhms])+$/.test(compact)) {
    throw new Error(`--every ${JSON.stringify(text)} is not a duration: use a number and a unit (d, h, m, s), e.g. 30m, 6h, 1d or 1h30m`);
  }
  const ms = [...compact.matchAll(/(\d+)([dhms])/g)].reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_MS[unit], 0);
  if (ms === 0) throw new Error(`--every ${text} is zero: give an interval such as 1h`);
  return ms;
}

/** Milliseconds → `1h30m`, the form `--every` takes and `temporal schedule create --interval` accepts. */
export function formatEvery(ms: number): string {
  let rest = ms;
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out || '0s';
}

/** The schedule's spec from --every / --cron, and how to say it. */
export function scheduleSpec(opts: Pick<ScheduleCreateOptions, 'every' | 'cron'>): { spec: ScheduleSpec; description: string } {
  if (opts.every !== undefined && opts.cron !== undefined) {
    throw new Error(`give either --every (e.g. 1h) or --cron (e.g. '0 3 * * *'), not both`);
  }
  if (opts.every !== undefined) {
    const every = parseEvery(opts.every);
    return { spec: { intervals: [{ every }] }, description: `every ${formatEvery(every)}` };
  }
  if (opts.cron !== undefined) {
    if (opts.cron.trim() === '') throw new Error(`--cron is empty: give a cron expression such as '0 3 * * *'`);
    return { spec: { cronExpressions: [opts.cron.trim()] }, description: `cron '${opts.cron.trim()}'` };
  }
  throw new Error(`say when to run: --every 1h (an interval) or --cron '0 3 * * *' (UTC)`);
}

export interface CreatedSchedule {
  scheduleId: string;
  name: string;
  spec: string;
  nextRun?: string;
  target: TemporalTarget;
}

export async function createSchedule(file: string, opts: ScheduleCreateOptions): Promise<CreatedSchedule> {
  const yaml = readConfigFile(file);
  const name = opts.name ?? path.basename(file).replace(/\.ya?ml$/i, '');
  const config = parseReplicationYaml(yaml, file);
  const plan = buildReplicationPlan(config, { source: file, name });
  // The worker resolves connections again at every run; checking here makes a typo fail before anything exists.
  resolveConnection(plan.source, { expect: 'klaviyo' });
  resolveConnection(plan.target, { expect: 'database' });
  const { spec, description } = scheduleSpec(opts);
  const scheduleId = opts.id ?? `klaviyo-sync-${name}`;
  const input: ReplicationInput = { name, config };

  return withClient(async (client, target) => {
    try {
      const handle = await client.schedule.create({
        scheduleId,
        spec,
        action: {
          type: 'startWorkflow',
          workflowType: WORKFLOW_TYPE,
          taskQueue: opts.taskQueue,
          // Temporal appends the scheduled time, so each run's id is klaviyo-sync-<name>-<time>
          workflowId: `klaviyo-sync-${name}`,
          args: [input],
          staticSummary: `klaviyo-sync replication ${name}: ${plan.source} to ${plan.target}`.slice(0, 200),
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        memo: { replication: name, file: path.resolve(file), schedule: description },
      });
      const described = await handle.describe();
      return { scheduleId, name, spec: description, nextRun: described.info.nextActionTimes[0]?.toISOString(), target };
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new Error(
          `schedule ${scheduleId} already exists on ${target.address} (namespace ${target.namespace}): delete it first ` +
            `(klaviyo-sync schedule delete ${scheduleId}) or give another --id`,
        );
      }
      // the client turns the server's verdict on an invalid spec into a TypeError; other refusals are ServiceErrors
      if (err instanceof TypeError) {
        throw new Error(
          `Temporal refused the schedule's ${description}: ${err.message}; fix ${opts.cron !== undefined ? '--cron' : '--every'}`,
        );
      }
      const detail = (err as { cause?: { details?: unknown } }).cause?.details;
      if (typeof detail === 'string' && detail) throw new Error(`Temporal refused schedule ${scheduleId}: ${detail}`);
      throw err;
    }
  });
}

async function withClient<T>(use: (client: Client, target: TemporalTarget) => Promise<T>): Promise<T> {
  const { client, target } = await connectClient();
  try {
    return await use(client, target);
  } finally {
    await client.connection.close();
  }
}

export interface ListedSchedule {
  scheduleId: string;
  spec: string;
  paused: boolean;
  nextRun?: Date;
  /** the most recent run: its workflow id, when it was taken, and its status now */
  lastRun?: { workflowId: string; takenAt: Date; status: string };
}

/** Schedules whose action starts `replicate`, whoever created them (this CLI or `temporal schedule create`). */
export async function listSchedules(client: Client): Promise<ListedSchedule[]> {
  const listed: ListedSchedule[] = [];
  for await (const s of client.schedule.list()) {
    if (s.action?.workflowType !== WORKFLOW_TYPE) continue;
    const last = s.info.recentActions.at(-1);
    let lastRun: ListedSchedule['lastRun'];
    if (last) {
      const { workflowId, firstExecutionRunId } = last.action.workflow;
      const status = await client.workflow
        .getHandle(workflowId, undefined, { firstExecutionRunId })
        .describe()
        .then(
          (d) => d.status.name.toLowerCase(),
          () => 'unknown',
        );
      lastRun = { workflowId, takenAt: last.takenAt, status };
    }
    listed.push({ scheduleId: s.scheduleId, spec: describeSpec(s), paused: s.state.paused, nextRun: s.info.nextActionTimes[0], lastRun });
  }
  return listed.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

function describeSpec(s: ScheduleSummary): string {
  // the server turns cron strings into calendars, so the words given at creation are kept in the memo
  if (typeof s.memo?.schedule === 'string') return s.memo.schedule;
  const parts = (s.spec?.intervals ?? []).map((i) => `every ${formatEvery(i.every)}${i.offset ? ` offset ${formatEvery(i.offset)}` : ''}`);
  if (s.spec?.calendars?.length) parts.push(`${s.spec.calendars.length} calendar spec${s.spec.calendars.length > 1 ? 's' : ''}`);
  return parts.join(', ') || '-';
}

export function formatSchedules(schedules: ListedSchedule[]): string {
  if (schedules.length === 0)
    return 'no schedules start replications: create one with klaviyo-sync schedule create <replication.yaml> --every 1h\n';
  const rows = schedules.map((s) => [
    s.scheduleId,
    s.spec,
    s.paused ? 'paused' : (s.nextRun?.toISOString() ?? '-'),
    s.lastRun ? `${s.lastRun.status} (${s.lastRun.workflowId}, started ${s.lastRun.takenAt.toISOString()})` : 'never run',
  ]);
  return formatTable(['ID', 'SPEC', 'NEXT RUN', 'LAST RESULT'], rows);
}
