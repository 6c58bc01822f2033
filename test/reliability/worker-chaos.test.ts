/**
 * Issue #10, item 2: three `klaviyo-sync worker` processes share a replication into Postgres; every few seconds one
 * of them, chosen at random (seeded: RELIABILITY_SEED, default 10), is killed with SIGKILL and a replacement
 * started, while the others keep working. The run completes and every table equals the sandbox's truth.
 *
 * The run is made long enough for the kills by the sandbox's latency, not by a big account. A kill stops that
 * worker's activities until their heartbeat timeout (30 s) hands them to another worker; the run must end within
 * BOUND_MS of the last kill.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Destination } from '../../lib/db/destination';
import { closeAll } from '../../lib/db/connect';
import type { StreamName } from '../../streams/types';
import { cachedWorkflowBundle } from '../../worker/workflow-bundle';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { startTemporal, type TestTemporal } from '../helpers/temporal';
import type { RunningProcess } from '../helpers/process';
import {
  caseSandbox,
  caseYaml,
  compareToTruth,
  pagesOf,
  probesFor,
  resultWithin,
  retriedActivities,
  sandboxRequests,
  startQueueWorker,
  startReplication,
  workerEnv,
} from '../helpers/exact';
import { recordFigures, SHORT } from './figures';
import { Rng } from '../../sandbox/account/prng';

const SUITE = 'worker-chaos';
const WORKERS = 3;
/** kills per run: at least 5 in CI */
const KILLS = SHORT ? 5 : 12;
const RUNS = SHORT ? 1 : 2;
/** a kill every 2 to 4 s */
const KILL_EVERY_MS: [number, number] = [2000, 4000];
/** after the last kill, the dead workers' activities time out (30 s) and are retried elsewhere */
const BOUND_MS = SHORT ? 120_000 : 900_000;
const SIZE = SHORT ? 'small' : 'medium';
/** about Klaviyo's own latency, so the run lasts through the kills */
const LATENCY = ['--latency', 'base=300,row=0.5,jitter=0.25'];
const SEED = Number(process.env.RELIABILITY_SEED ?? 10);

const STREAMS: Partial<Record<StreamName, 'incremental' | 'full-refresh'>> = {
  profiles: 'incremental',
  events: 'incremental',
  lists: 'full-refresh',
  list_profiles: 'full-refresh',
  segments: 'full-refresh',
  segment_profiles: 'full-refresh',
  campaigns: 'full-refresh',
  catalog_items: 'full-refresh',
};

let temporal: TestTemporal;
let postgres: TestPostgres;

before(async () => {
  [temporal, postgres] = await Promise.all([startTemporal(), startPostgres(), cachedWorkflowBundle()]);
});
after(async () => {
  await closeAll();
  await Promise.allSettled([temporal?.teardown(), postgres?.stop()]);
});

for (let run = 0; run < RUNS; run++) {
  const seed = SEED + run;
  void test(`${WORKERS} workers, one SIGKILLed every few seconds (seed ${seed}) and replaced: every table exact`, async () => {
    // the sandbox's seeded generator, so a failing run can be repeated with its seed
    const rng = new Rng(seed);
    const rnd = () => rng.float();
    const id = `worker-chaos-${run}`;
    const queue = `reliability-${id}`;
    const schema = `chaos_${run}`;
    const streams = Object.keys(STREAMS) as StreamName[];
    const sandbox = await caseSandbox(SIZE, LATENCY);
    const env = workerEnv(sandbox, postgres.url, temporal.address);
    const dest = new Destination({ kind: 'postgres', url: postgres.url });
    const all: RunningProcess[] = [];
    const started = Date.now();
    try {
      const workers = await Promise.all(Array.from({ length: WORKERS }, () => startQueueWorker(queue, env)));
      all.push(...workers);
      const requestsBefore = await sandboxRequests(sandbox);
      const handle = await startReplication(temporal.env.client, queue, id, yaml(schema));
      let ended = false;
      void handle.result().then(
        () => (ended = true),
        () => (ended = true),
      );

      let kills = 0;
      const killedAt: number[] = [];
      // a replacement is started at once and joins when it polls; only a polling worker is killed, and only while
      // another polls too, so the others keep working
      const ready = new Set<RunningProcess>(workers);
      const replace = (i: number) => {
        const next = startQueueWorker(queue, env);
        void next.then((w) => {
          all.push(w);
          workers[i] = w;
          ready.add(w);
        });
        return next;
      };
      const starting: Promise<RunningProcess>[] = [];
      while (kills < KILLS && !ended) {
        await sleep(KILL_EVERY_MS[0] + rnd() * (KILL_EVERY_MS[1] - KILL_EVERY_MS[0]));
        if (ended) break;
        if (ready.size < 2) continue;
        const i = Math.floor(rnd() * WORKERS);
        const victim = workers[i];
        if (!ready.has(victim)) continue;
        ready.delete(victim);
        victim.child.kill('SIGKILL');
        await victim.exited;
        kills++;
        killedAt.push(Math.round((Date.now() - started) / 100) / 10);
        starting.push(replace(i));
      }
      await Promise.all(starting);
      const lastKill = Date.now();
      const summary = await resultWithin(handle, BOUND_MS);
      const hangs = summary === 'hang' ? 1 : 0;
      const exact = await compareToTruth(dest, schema, streams, sandbox);
      const retried = await retriedActivities(temporal.env.client, id);
      const pagesFetchedTwice =
        summary === 'hang' ? -1 : (await sandboxRequests(sandbox)) - requestsBefore - pagesOf(summary) - probesFor(streams);
      recordFigures({
        suite: SUITE,
        case: `${WORKERS} workers, a kill every 2-4 s (seed ${seed})`,
        kills,
        rowsLost: exact.rowsLost,
        rowsDuplicated: exact.rowsDuplicated,
        hangs,
        details: {
          seed,
          pagesFetchedTwice,
          activitiesRetried: retried,
          pages: summary === 'hang' ? -1 : pagesOf(summary),
          killsAtSeconds: killedAt.join(' '),
          secondsAfterLastKill: Math.round((Date.now() - lastKill) / 1000),
          seconds: Math.round((Date.now() - started) / 1000),
          ...(exact.problems.length ? { problems: exact.problems.join('; ') } : {}),
        },
      });
      assert.ok(kills >= KILLS, `the run lasted through ${KILLS} kills (it ended after ${kills})`);
      assert.equal(hangs, 0, `the run completed within ${BOUND_MS / 1000} s of the last kill`);
      assert.ok(summary !== 'hang' && summary.streams.every((s) => s.status === 'completed'));
      assert.deepEqual(exact.problems, [], 'every table equals the truth');
      assert.ok(pagesFetchedTwice >= 0);
    } finally {
      await Promise.allSettled(all.map((w) => w.stop(10_000)));
      await sandbox.stop();
    }
  });
}

function yaml(schema: string): string {
  return caseYaml(schema, STREAMS);
}
