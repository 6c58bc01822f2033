/**
 * The target Postgres goes away mid-run: restarted (a fast shutdown, which closes every connection, then started
 * again on the same data and port), and refusing connections for 30 s while the server stays up (the database's
 * ALLOW_CONNECTIONS off and its sessions terminated, then allowed again). A `klaviyo-sync worker` process replicates
 * all 22 streams from a sandbox with latency, so the outage lands while pages are being written: the replication
 * must complete with exact tables (count and ids checksum per stream), and the page activities' failed attempts,
 * counted from the workflow histories, are reported. A third case checks the pool itself: connections a knex pool
 * held when the server restarted must not fail the queries after it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import knex from 'knex';
import { Destination } from '../../lib/db/destination';
import { DatabasePools } from '../../lib/db/connect';
import { STREAM_NAMES } from '../../streams/streams';
import type { ReplicationSummary } from '../../workflows/types';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { startWorkerProcess, type RunningProcess } from '../helpers/process';
import { startSandbox, TINY_SANDBOX, type SandboxProcess } from '../helpers/sandbox';
import { ALL_STREAMS_YAML } from '../helpers/stack';
import { startTemporal, type TestTemporal } from '../helpers/temporal';
import { recordFigures, SHORT } from './figures';
import { causes, checkTables, failedActivityAttempts } from './measure';

const SUITE = 'postgres-outage';
const REFUSE_MS = 30_000;
/** a run must end within this after the database is back; one that does not is a hang */
const RUN_BOUND_MS = 240_000;

let temporal: TestTemporal;
let sandbox: SandboxProcess;
let pg: TestPostgres;
let worker: RunningProcess;

before(async () => {
  // events enough for pages to be written for several seconds, each answer slowed like a remote API's
  [temporal, sandbox, pg] = await Promise.all([
    startTemporal(),
    startSandbox([...TINY_SANDBOX, '--events', SHORT ? '4000' : '20000', '--latency', 'base=100,row=0.5']),
    startPostgres({ embedded: true }),
  ]);
  worker = await startWorkerProcess(['--rate-limits', 'documented'], {
    env: { ...process.env, KLAVIYO: sandbox.connection(), PG: pg.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default' },
  });
});
after(async () => {
  await worker?.stop(10_000);
  await Promise.allSettled([temporal?.teardown(), sandbox?.stop(), pg?.stop()]);
});

const dest = () => new Destination({ kind: 'postgres', url: pg.url }, { databases: pools });
const pools = new DatabasePools();
after(() => pools.close());

/** Rows in `schema`'s events table, or 0 before it exists (or while the database is away). */
async function eventRows(schema: string): Promise<number> {
  return dest()
    .tableRowCount({ schema, table: 'events' })
    .catch(() => 0);
}

/**
 * Replicates every stream into `schema`; once its events table holds rows, runs `outage`. Then the summary, the
 * tables against the truth and the failed activity attempts.
 */
async function replicateThrough(schema: string, outage: () => Promise<Record<string, number>>) {
  const workflowId = `pg-outage-${schema}`;
  const yaml = ALL_STREAMS_YAML('PG').replace('object: klaviyo.{stream_name}', `object: ${schema}.{stream_name}`);
  const started = Date.now();
  const handle = await temporal.env.client.workflow.start('replicate', {
    taskQueue: 'klaviyo-sync',
    workflowId,
    args: [{ name: workflowId, yaml }],
  });
  const result = handle.result() as Promise<ReplicationSummary>;
  result.catch(() => undefined);
  let ended = false;
  void result.finally(() => (ended = true)).catch(() => undefined);
  while (!ended && (await eventRows(schema)) === 0) await sleep(50);
  const atOutage = await eventRows(schema);
  const outageFacts = ended ? {} : await outage();
  const back = Date.now();

  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), RUN_BOUND_MS)));
  let summary: ReplicationSummary | undefined;
  let error: unknown;
  let hung = false;
  try {
    const r = await Promise.race([result, bound]);
    if (r === 'hung') {
      hung = true;
      await handle.terminate('reliability: past its bound').catch(() => undefined);
    } else summary = r;
  } catch (err) {
    error = err;
  } finally {
    clearTimeout(timer);
  }
  const truth = (await (await fetch(`${sandbox.baseUrl}/__sandbox/truth`)).json()) as Record<string, { count: number; checksum: string }>;
  const tables = await checkTables(dest(), [...STREAM_NAMES], schema, truth);
  const attempts = await failedActivityAttempts(temporal.env.client, workflowId);
  return {
    summary,
    error,
    hung,
    tables,
    attempts,
    details: <Record<string, number | string> & { eventsAtOutage: number; eventsTotal: number }>{
      eventsAtOutage: atOutage,
      eventsTotal: truth.events.count,
      ...outageFacts,
      failedAttempts: attempts.failedAttempts,
      activityTasks: attempts.activities,
      secondsAfterBack: Math.round((Date.now() - back) / 100) / 10,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ...(attempts.failures.length > 0 ? { lastFailure: attempts.failures[0] } : {}),
      ...(error ? { error: causes(error) } : {}),
    },
  };
}

function assertExact(r: Awaited<ReturnType<typeof replicateThrough>>, what: string) {
  assert.equal(r.hung, false, `${what}: the replication ended within ${RUN_BOUND_MS / 1000} s`);
  assert.ifError(r.error);
  assert.ok(
    r.summary!.streams.every((s) => s.status === 'completed'),
    what,
  );
  assert.deepEqual(
    r.tables.tables.filter((t) => t.rowsLost + t.rowsDuplicated > 0),
    [],
    `${what}: exact tables`,
  );
}

void test('Postgres restarted mid-run: activities retry, the tables are exact', async () => {
  const restarts = SHORT ? 1 : 3;
  const r = await replicateThrough('restarted', async () => {
    let downMs = 0;
    for (let i = 0; i < restarts; i++) {
      if (i > 0) await sleep(3_000);
      const t = Date.now();
      await pg.stopServer!();
      await pg.startServer!();
      downMs += Date.now() - t;
    }
    return { restarts, downMs };
  });
  recordFigures({
    suite: SUITE,
    case: 'restarted mid-run',
    kills: restarts,
    rowsLost: r.tables.rowsLost,
    rowsDuplicated: r.tables.rowsDuplicated,
    hangs: r.hung ? 1 : 0,
    details: r.details,
  });
  assert.ok(r.details.eventsAtOutage < r.details.eventsTotal, 'the restart landed mid-run');
  assertExact(r, 'restarted');
  assert.ok(r.attempts.failedAttempts >= 1, 'the restart failed some activity attempt, which was retried');
});

void test('Postgres refusing connections for 30 s: activities retry, the tables are exact', async () => {
  const admin = knex({ client: 'pg', connection: pg.adminUrl!, pool: { min: 0, max: 1 } });
  try {
    const r = await replicateThrough('refused', async () => {
      await admin.raw(`ALTER DATABASE ${pg.database} ALLOW_CONNECTIONS false`);
      const killed = await admin.raw<{ rows: unknown[] }>(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()',
        [pg.database],
      );
      // while refused, a connection attempt must fail (the outage is real)
      const probe = knex({ client: 'pg', connection: pg.url, pool: { min: 0, max: 1 } });
      const refusedProbe = await probe.raw('select 1').then(
        () => 0,
        () => 1,
      );
      await probe.destroy();
      await sleep(REFUSE_MS);
      await admin.raw(`ALTER DATABASE ${pg.database} ALLOW_CONNECTIONS true`);
      return { refusedSeconds: REFUSE_MS / 1000, sessionsTerminated: killed.rows.length, refusedProbe };
    });
    recordFigures({
      suite: SUITE,
      case: 'refusing connections for 30 s',
      faults: 1,
      rowsLost: r.tables.rowsLost,
      rowsDuplicated: r.tables.rowsDuplicated,
      hangs: r.hung ? 1 : 0,
      details: r.details,
    });
    assert.equal(r.details.refusedProbe, 1, 'a new connection was refused during the outage');
    assert.ok(r.details.eventsAtOutage < r.details.eventsTotal, 'the outage landed mid-run');
    assertExact(r, 'refused');
    assert.ok(r.attempts.failedAttempts >= 1, 'the outage failed some activity attempt, which was retried');
  } finally {
    await admin.raw(`ALTER DATABASE ${pg.database} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin.destroy();
  }
});

void test('a pool that held connections across a restart: no query after it fails', async () => {
  const local = new DatabasePools();
  const db = local.get({ kind: 'postgres', url: pg.url });
  try {
    // fill the pool with idle connections
    await Promise.all(Array.from({ length: 10 }, () => db.raw('select pg_sleep(0.05)')));
    const before = await db.raw<{ rows: { n: string }[] }>('select count(*) as n from pg_stat_activity where datname = current_database()');
    await pg.stopServer!();
    await pg.startServer!();
    let failed = 0;
    const queries = 20;
    const messages = new Set<string>();
    for (let i = 0; i < queries; i++) {
      await db.raw('select 1').catch((err: Error) => {
        failed++;
        messages.add(err.message.slice(0, 120));
      });
    }
    recordFigures({
      suite: SUITE,
      case: 'pooled connections across a restart',
      kills: 1,
      details: { pooledBefore: Number(before.rows[0].n), queries, failed, ...(messages.size ? { errors: [...messages].join(' | ') } : {}) },
    });
    assert.equal(failed, 0, `queries failed on connections the restart closed: ${[...messages].join(' | ')}`);
  } finally {
    await local.close();
  }
});
