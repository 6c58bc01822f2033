/**
 * Which replication holds a target table: `_klaviyo_sync_claims` in the table's schema, one row per table naming
 * the workflow id and run id of the replication that last claimed it. A replication claims all its tables at once,
 * before any stream starts (the planReplication activity), in one transaction holding each schema's lock: a table
 * held by another replication that Temporal still reports running refuses the whole claim, naming that replication,
 * so two replications can never write one table at once (before, both ran, superseded each other's state and
 * failed). A claim is never released: a holder that ended (completed, failed, cancelled, terminated, timed out, or
 * unknown to Temporal) is simply replaced, so a crash or a terminate leaves nothing to clean up.
 */
import type { Knex } from 'knex';
import { UserFixableError } from '../errors';
import { createTable, tableOf, upsertRows, type Dialect } from './dialect';
import { claimsTable, primaryKeyName, type ObjectName } from './naming';

/** A run of the `replicate` workflow. */
export interface ReplicationRun {
  workflowId: string;
  runId: string;
}

/** Whether a replication run is still running (the activity asks Temporal). */
export type RunningCheck = (run: ReplicationRun) => Promise<boolean>;

const COLUMNS = [
  { name: 'table_name', type: 'text', notNull: true },
  { name: 'workflow_id', type: 'text', notNull: true },
  { name: 'run_id', type: 'text', notNull: true },
  { name: 'claimed_at', type: 'timestamp', notNull: true },
] as const;

async function ensureClaimsTable(trx: Knex.Transaction, d: Dialect, schema: string): Promise<void> {
  const ref = claimsTable(d.kind, schema);
  if ((await d.columns(trx, ref)) === null) await createTable(trx, d, ref, COLUMNS, ['table_name'], primaryKeyName(ref));
}

/**
 * Claims `objects` for `run`, in the caller's transaction; throws a user-fixable `TableClaimed` error naming the
 * replication (and the tables) if another run that `running` says is alive holds any of them. Claiming again for
 * the same run (a retried activity) changes nothing.
 */
export async function claimTables(
  trx: Knex.Transaction,
  d: Dialect,
  objects: readonly ObjectName[],
  run: ReplicationRun,
  running: RunningCheck,
  now: Date,
): Promise<void> {
  const schemas = [...new Set(objects.map((o) => o.schema))].sort();
  // locks in one order, so two replications sharing two schemas cannot deadlock
  for (const schema of schemas) {
    await d.lockSchema(trx, schema);
    await ensureClaimsTable(trx, d, schema);
  }
  const holders = new Map<string, { run: ReplicationRun; tables: string[] }>();
  for (const o of objects) {
    const rows: Array<{ workflow_id: string; run_id: string }> = await tableOf(trx, claimsTable(d.kind, o.schema))
      .select('workflow_id', 'run_id')
      .where('table_name', o.table);
    const held = rows[0];
    if (!held || held.run_id === run.runId) continue;
    const h = holders.get(held.run_id) ?? { run: { workflowId: held.workflow_id, runId: held.run_id }, tables: [] };
    h.tables.push(`${o.schema}.${o.table}`);
    holders.set(held.run_id, h);
  }
  for (const h of holders.values()) {
    if (await running(h.run)) throw tableClaimed(h.run, h.tables);
  }
  const claimedAt = d.encode(now.toISOString(), 'timestamp');
  for (const o of objects) {
    const row = { table_name: o.table, workflow_id: run.workflowId, run_id: run.runId, claimed_at: claimedAt };
    await upsertRows(trx, d, claimsTable(d.kind, o.schema), [row], Object.keys(row), ['table_name']);
  }
}

function tableClaimed(holder: ReplicationRun, tables: string[]): UserFixableError {
  const id = holder.workflowId;
  const which = tables.length === 1 ? `table ${tables[0]} is` : `tables ${tables.join(', ')} are`;
  return new UserFixableError(
    `${which} being written by replication ${id} (run ${holder.runId}), which is still running, and two replications ` +
      `cannot write one table at once: follow it (klaviyo-sync run <file> --workflow-id ${id}, or klaviyo-sync status ${id}), ` +
      `wait for it to end, or cancel it (temporal workflow cancel --workflow-id ${id}) and start again`,
    { type: 'TableClaimed', details: { workflowId: id, runId: holder.runId, tables } },
  );
}
