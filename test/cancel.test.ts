/**
 * Cancel is clean: a replication cancelled (`handle.cancel()`, as `temporal workflow cancel` does) while several
 * full-refresh streams load ends Canceled, every child and grandchild ends Canceled or Completed (none
 * Terminated), no `__staging` table is left in the target, the run's state rows no longer say running, the
 * tables a previous run completed are untouched, and the next run completes with exact tables. In Postgres and
 * in SQLite.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import knex, { type Knex } from 'knex';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { Destination } from '../lib/db/destination';
import { checksumOf, replicateWith, stackWorker, startStack, tableIds, targetOf, truth, type Stack } from './helpers/stack';

let stack: Stack;

before(async () => {
  // 1,500 profiles: a dozen pages of memberships per group kind, enough to cancel a slowed run in the middle
  stack = await startStack(['--profiles', '1500']);
});
after(async () => {
  await stack?.stop();
});

const STREAMS = ['lists', 'list_profiles', 'segments', 'segment_profiles', 'tags'] as const;
const yamlFor = (target: string) => `
source: KLAVIYO
target: ${target}
defaults:
  mode: full-refresh
  object: klaviyo.{stream_name}
streams:
${STREAMS.map((s) => `  ${s}:`).join('\n')}
`;

const faults = (body: unknown) => stack.sandbox.admin('faults', body);

function open(target: 'PG' | 'LITE'): Knex {
  return target === 'PG'
    ? knex({ client: 'pg', connection: stack.postgres.url, pool: { min: 0, max: 1 } })
    : knex({ client: 'better-sqlite3', connection: { filename: stack.sqliteFile }, useNullAsDefault: true });
}

/** Table names of the target (SQLite's `klaviyo__x`, Postgres' `x` in schema klaviyo). */
async function tables(db: Knex, target: 'PG' | 'LITE'): Promise<string[]> {
  const rows =
    target === 'PG'
      ? (
          (await db.raw(`select table_name as name from information_schema.tables where table_schema = 'klaviyo'`)) as {
            rows: Array<{ name: string }>;
          }
        ).rows
      : ((await db.raw(`select name from sqlite_master where type = 'table'`)) as Array<{ name: string }>);
  return rows.map((r) => r.name).sort();
}

async function count(db: Knex, target: 'PG' | 'LITE', table: string): Promise<number> {
  const name = target === 'PG' ? `klaviyo.${table}` : `klaviyo__${table}`;
  const [row] = (await db(name).count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(row.n);
}

async function stateStatuses(db: Knex, target: 'PG' | 'LITE'): Promise<Array<{ stream: string; status: string }>> {
  const name = target === 'PG' ? 'klaviyo._klaviyo_sync_state' : 'klaviyo___klaviyo_sync_state';
  return (await db(name).select('stream', 'status')) as Array<{ stream: string; status: string }>;
}

async function statusOf(workflowId: string): Promise<string> {
  return (await stack.temporal.env.client.workflow.getHandle(workflowId).describe()).status.name;
}

for (const target of ['PG', 'LITE'] as const) {
  void test(
    `${target}: cancel ends every child Canceled, drops staging, and the next run completes exactly`,
    { timeout: 240_000 },
    async () => {
      const id = `cancel-${target.toLowerCase()}`;
      const db = open(target);
      try {
        // a completed run first: its tables must survive the cancelled one
        await replicateWith(stack, yamlFor(target), `${id}-first`);
        const before = Object.fromEntries(await Promise.all(STREAMS.map(async (s) => [s, await count(db, target, s)] as const)));

        await faults({ slow: { p: 1, ms: 400 } });
        const worker = await stackWorker(stack, stack.env, 2);
        const client = stack.temporal.env.client;
        const outcome = await worker.runUntil(async () => {
          const handle = await client.workflow.start('replicate', {
            taskQueue: 'klaviyo-sync',
            workflowId: id,
            args: [{ name: id, yaml: yamlFor(target) }],
          });
          // cancel once both membership streams load their staging tables and have pages left
          const deadline = Date.now() + 120_000;
          for (;;) {
            const names = await tables(db, target);
            const staging = names.filter((n) => n.endsWith('profiles__staging'));
            const loaded = await Promise.all(staging.map((n) => count(db, target, n.replace(/^klaviyo__/, ''))));
            if (staging.length === 2 && loaded.every((n) => n > 0)) break;
            assert.ok(Date.now() < deadline, `the membership streams did not both load within 120 s: ${names.join(', ')}`);
            await new Promise((r) => setTimeout(r, 200));
          }
          const running = (await handle.describe()).raw.pendingChildren?.length ?? 0;
          await handle.cancel();
          const err = await handle.result().then(
            () => undefined,
            (e: unknown) => e,
          );
          return { err, running };
        });
        await faults({});

        assert.ok(
          outcome.err instanceof WorkflowFailedError && outcome.err.cause instanceof CancelledFailure,
          `the replication ended cancelled: ${String(outcome.err)}`,
        );
        assert.equal(await statusOf(id), 'CANCELLED');
        assert.ok(outcome.running >= 2, `several streams were running when cancelled (${outcome.running})`);
        const children = Object.fromEntries(
          await Promise.all(STREAMS.map(async (s) => [s, await statusOf(`${id}/${s}`).catch(() => 'NOT STARTED')] as const)),
        );
        assert.equal(children.list_profiles, 'CANCELLED', JSON.stringify(children));
        assert.equal(children.segment_profiles, 'CANCELLED', JSON.stringify(children));
        for (const [s, status] of Object.entries(children))
          assert.ok(['CANCELLED', 'COMPLETED', 'NOT STARTED'].includes(status), `${s}: ${status}`);
        // the partitions (one child per list or segment): none terminated either
        const descendants: Array<[string, string]> = [];
        for await (const wf of client.workflow.list({ query: `WorkflowType = 'syncPartition'` })) {
          if (wf.workflowId.startsWith(`${id}/`)) descendants.push([wf.workflowId, wf.status.name]);
        }
        assert.ok(descendants.length > 0);
        assert.deepEqual(
          descendants.filter(([, s]) => s !== 'CANCELLED' && s !== 'COMPLETED'),
          [],
          'partitions end Canceled or Completed',
        );

        const names = await tables(db, target);
        assert.deepEqual(
          names.filter((n) => n.includes('__staging')),
          [],
          `no staging table is left: ${names.join(', ')}`,
        );
        for (const s of STREAMS) assert.equal(await count(db, target, s), before[s], `${s} keeps the completed run's rows`);
        const states = await stateStatuses(db, target);
        assert.deepEqual(
          states.filter((s) => s.status === 'running'),
          [],
          'no state row of the cancelled run says running',
        );

        const summary = await replicateWith(stack, yamlFor(target), `${id}-next`);
        assert.ok(summary.streams.every((s) => s.status === 'completed'));
        const dest = new Destination(targetOf(stack, target));
        const t = await truth(stack);
        for (const s of STREAMS) assert.deepEqual(checksumOf(await tableIds(dest, s)), t[s], `${s}: exact after the next run`);
      } finally {
        await db.destroy();
      }
    },
  );
}
