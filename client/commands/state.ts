/**
 * `klaviyo-sync state show|reset <replication.yaml>`: what each stream of a replication has read into its table (the
 * target's `_klaviyo_sync_state`, lib/db/state.ts), and forgetting it so the next run reads again from `start_date`.
 * The target is resolved from this process's environment, as `run` and `conns test` resolve it.
 */
import type { Command } from 'commander';
import { buildReplicationPlan, parseReplicationYaml, type PlannedStream, type ReplicationPlan } from '../../config/replication';
import { resolveConnection, targetOfConnection, type DatabaseConnection } from '../../config/connections';
import { Destination } from '../../lib/db/destination';
import { closeAll } from '../../lib/db/connect';
import type { StateRow } from '../../lib/db/state';
import { isWindowKey } from '../../streams/windows';
import { readConfigFile } from './files';
import { formatTable } from './table';

/** One stream's state, as `state show` prints it (and `--json` gives it). */
export interface StreamState {
  stream: string;
  object: string;
  /** the last run's mode and status; null when the stream has no state in the table (never run, or reset) */
  mode: string | null;
  status: string | null;
  runId: string | null;
  /** where its next incremental run reads from (Destination.readWatermark) */
  watermark: string | null;
  /** partitions of the last run (time windows, filters, parent ids), and how many of them it read to the end */
  partitions: number;
  partitionsDone: number;
  /** rows and pages written by the last run */
  rows: number;
  pages: number;
  updatedAt: string | null;
}

interface StateOptions {
  stream?: string[];
  all?: boolean;
  json?: boolean;
  force?: boolean;
  env?: NodeJS.ProcessEnv;
}

function planOf(file: string, env: NodeJS.ProcessEnv): { plan: ReplicationPlan; dest: Destination } {
  const config = parseReplicationYaml(readConfigFile(file), file);
  const target = resolveConnection(config.target, { env, expect: 'database' }) as DatabaseConnection;
  const targetSchema = target.kind === 'postgres' || target.kind === 'mysql' ? target.schema : undefined;
  const plan = buildReplicationPlan(config, { source: file, targetSchema: () => targetSchema });
  return { plan, dest: new Destination(targetOfConnection(target)) };
}

/** The planned streams `--stream` names (all of them without it); a name the replication lacks is an error. */
function selected(plan: ReplicationPlan, names: string[] | undefined): PlannedStream[] {
  if (!names?.length) return plan.streams;
  const unknown = names.filter((n) => !plan.streams.some((s) => s.stream === n));
  if (unknown.length > 0) {
    throw new Error(`${unknown.join(', ')}: not a stream of this replication (it has ${plan.streams.map((s) => s.stream).join(', ')})`);
  }
  return plan.streams.filter((s) => names.includes(s.stream));
}

export function summarizeState(s: PlannedStream, rows: StateRow[], watermark: string | null): StreamState {
  const own = rows.filter((r) => r.stream === s.stream);
  // the '' row of a stream read in windows holds its finished runs; a run in progress has window rows beside it
  const windows = own.filter((r) => isWindowKey(r.partition));
  const last = windows.length > 0 ? windows : own;
  const latest = last.reduce<StateRow | undefined>((l, r) => (!l || r.updatedAt > l.updatedAt ? r : l), undefined);
  const run = last.filter((r) => r.runId === latest?.runId);
  return {
    stream: s.stream,
    object: s.objectName,
    mode: latest?.mode ?? null,
    status: latest ? (run.some((r) => r.status === 'running') ? 'running' : latest.status) : null,
    runId: latest?.runId ?? null,
    watermark,
    partitions: run.length,
    partitionsDone: run.filter((r) => r.done).length,
    rows: run.reduce((n, r) => n + r.rows, 0),
    pages: run.reduce((n, r) => n + r.pages, 0),
    updatedAt: latest?.updatedAt ?? null,
  };
}

export async function showState(file: string, opts: StateOptions = {}): Promise<StreamState[]> {
  const { plan, dest } = planOf(file, opts.env ?? process.env);
  const out: StreamState[] = [];
  for (const s of selected(plan, opts.stream)) {
    out.push(summarizeState(s, await dest.stateOf(s.object), await dest.readWatermark(s.object)));
  }
  return out;
}

export function formatState(states: StreamState[]): string {
  return formatTable(
    ['stream', 'table', 'last run', 'status', 'watermark', 'partitions done', 'rows', 'pages', 'updated'],
    states.map((s) => [
      s.stream,
      s.object,
      s.mode ?? '-',
      s.status ?? 'no state',
      s.watermark ?? '-',
      s.mode ? `${s.partitionsDone}/${s.partitions}` : '-',
      String(s.rows),
      String(s.pages),
      s.updatedAt ?? '-',
    ]),
  );
}

/** Deletes the selected streams' state; one line per stream says what was forgotten (the old watermark, to set back by hand). */
export async function resetState(file: string, opts: StateOptions = {}): Promise<string[]> {
  if (!opts.stream?.length && !opts.all) {
    throw new Error('say which streams to reset: --stream <name> (repeatable), or --all for every stream of the replication');
  }
  const { plan, dest } = planOf(file, opts.env ?? process.env);
  const lines: string[] = [];
  for (const s of selected(plan, opts.all ? undefined : opts.stream)) {
    const watermark = await dest.readWatermark(s.object).catch(() => null);
    const deleted = await dest.resetState(s.object, s.stream, { force: opts.force });
    lines.push(
      deleted.length === 0
        ? `${s.stream} (${s.objectName}): no state; its next run reads from the start`
        : `${s.stream} (${s.objectName}): state of ${deleted.length} partition(s) deleted` +
            (watermark ? ` (the watermark was ${watermark})` : '') +
            `; its next run reads from ${s.startDate ? `start_date ${s.startDate}` : 'the start'}, upserting the rows the table has`,
    );
  }
  return lines;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerStateCommand(program: Command): void {
  const state = program
    .command('state')
    .description('Show or reset what each stream of a replication has read into its target table (_klaviyo_sync_state)');
  state
    .command('show')
    .description('Per stream: the last run (mode, status, partitions done), its rows and pages, and the watermark the next run reads from')
    .argument('<replication.yaml>', 'the replication file (its target connection is resolved from this environment)')
    .option('--stream <name>', 'only this stream (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (file: string, opts: StateOptions) => {
      try {
        const states = await showState(file, opts);
        process.stdout.write(opts.json ? `${JSON.stringify(states, null, 2)}\n` : formatState(states));
      } finally {
        await closeAll();
      }
    });
  state
    .command('reset')
    .description(
      'Forget what streams have read: their next run reads from start_date again (rows already in the table stay, and are upserted). ' +
        'To read a range of events or profiles again while keeping the watermark, use mode: backfill instead',
    )
    .argument('<replication.yaml>', 'the replication file (its target connection is resolved from this environment)')
    .option('--stream <name>', 'the stream to reset (repeatable)', collect)
    .option('--all', 'every stream of the replication')
    .option('--force', 'also when a run of the stream seems in progress (one that was terminated leaves that state)')
    .action(async (file: string, opts: StateOptions) => {
      try {
        for (const line of await resetState(file, opts)) process.stdout.write(`${line}\n`);
      } finally {
        await closeAll();
      }
    });
}
