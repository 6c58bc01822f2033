/**
 * Issue #10, item 3: the Temporal dev server, keeping its state in a file (`--db-filename`), is killed with SIGKILL
 * mid-run and started again on the same port and file, while the worker processes keep running. The run completes,
 * every table equals the sandbox's truth, and the workers ride through the outage: the same processes (no restart
 * by the test) poll again once the server is back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { Destination } from '../../lib/db/destination';
import { closeAll } from '../../lib/db/connect';
import type { StreamName } from '../../streams/types';
import { freePort, startDevServer, type DevServer } from '../../client/dev-server';
import { cachedWorkflowBundle } from '../../worker/workflow-bundle';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import type { RunningProcess } from '../helpers/process';
import {
  caseSandbox,
  caseYaml,
  compareToTruth,
  pagesOf,
  probesFor,
  resultWithin,
  sandboxRequests,
  startQueueWorker,
  startReplication,
  workerEnv,
} from '../helpers/exact';
import { recordFigures, SHORT } from './figures';

const SUITE = 'temporal-kill';
/** server kills per run */
const KILLS = SHORT ? 2 : 4;
/** how long the server stays down each time */
const DOWN_MS = SHORT ? 3000 : 10_000;
const WORKERS = 2;
/** from the last restart of the server to the end of the run */
const BOUND_MS = SHORT ? 120_000 : 900_000;
const SIZE = SHORT ? 'small' : 'medium';
const LATENCY = ['--latency', 'base=200,row=0.3,jitter=0.25'];

const STREAMS: Partial<Record<StreamName, 'incremental' | 'full-refresh'>> = {
  profiles: 'incremental',
  events: 'incremental',
  lists: 'full-refresh',
  list_profiles: 'full-refresh',
  tags: 'full-refresh',
};

let postgres: TestPostgres;
let tmp: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-temporal-kill-'));
  [postgres] = await Promise.all([startPostgres(), cachedWorkflowBundle()]);
});
after(async () => {
  await closeAll();
  await postgres?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

void test(`the Temporal server SIGKILLed ${KILLS} times mid-run and restarted on its port and file: every table exact`, async () => {
  const port = await freePort();
  const dbFilename = path.join(tmp, 'temporal.db');
  const serve = () => startDevServer({ port, dbFilename });
  let server: DevServer = await serve();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const sandbox = await caseSandbox(SIZE, LATENCY);
  const env = workerEnv(sandbox, postgres.url, server.address);
  const dest = new Destination({ kind: 'postgres', url: postgres.url });
  const id = 'temporal-kill';
  const queue = `reliability-${id}`;
  const schema = 'tk';
  const streams = Object.keys(STREAMS) as StreamName[];
  const workers: RunningProcess[] = [];
  const started = Date.now();
  try {
    workers.push(...(await Promise.all(Array.from({ length: WORKERS }, () => startQueueWorker(queue, env)))));
    const requestsBefore = await sandboxRequests(sandbox);
    const handle = await startReplication(client, queue, id, caseYaml(schema, STREAMS));

    let kills = 0;
    const killedAtRows: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // mid-run: some more events written since the last restart
      const floor = (await rowsOf(dest, schema, 'events')) + 200;
      const deadline = Date.now() + 60_000;
      while ((await rowsOf(dest, schema, 'events')) < floor) {
        assert.ok(Date.now() < deadline, `the run wrote no more events after ${kills} kill(s)`);
        await sleep(100);
      }
      const described = await handle.describe();
      assert.equal(described.status.name, 'RUNNING', 'the run is still running when the server is killed');
      killedAtRows.push(await rowsOf(dest, schema, 'events'));
      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
      kills++;
      await sleep(DOWN_MS);
      server = await serve();
    }
    const restartedAt = Date.now();
    const summary = await resultWithin(client.workflow.getHandle(id), BOUND_MS);
    const hangs = summary === 'hang' ? 1 : 0;
    const exact = await compareToTruth(dest, schema, streams, sandbox);
    const workersAlive = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null).length;
    const pagesFetchedTwice =
      summary === 'hang' ? -1 : (await sandboxRequests(sandbox)) - requestsBefore - pagesOf(summary) - probesFor(streams);
    recordFigures({
      suite: SUITE,
      case: `dev server SIGKILLed ${kills}x, down ${DOWN_MS / 1000} s each`,
      kills,
      rowsLost: exact.rowsLost,
      rowsDuplicated: exact.rowsDuplicated,
      hangs,
      details: {
        pagesFetchedTwice,
        pages: summary === 'hang' ? -1 : pagesOf(summary),
        eventsRowsAtKills: killedAtRows.join(' '),
        workersAliveAfter: workersAlive,
        workerRestarts: 0,
        secondsAfterLastRestart: Math.round((Date.now() - restartedAt) / 1000),
        seconds: Math.round((Date.now() - started) / 1000),
        ...(exact.problems.length ? { problems: exact.problems.join('; ') } : {}),
      },
    });
    assert.equal(hangs, 0, `the run completed within ${BOUND_MS / 1000} s of the last restart`);
    assert.ok(summary !== 'hang' && summary.streams.every((s) => s.status === 'completed'));
    assert.deepEqual(exact.problems, [], 'every table equals the truth');
    assert.equal(
      workersAlive,
      WORKERS,
      `the workers rode through the outages:\n${workers.map((w) => w.output().slice(-2000)).join('\n---\n')}`,
    );
    assert.ok(pagesFetchedTwice >= 0);
  } finally {
    await Promise.allSettled(workers.map((w) => w.stop(10_000)));
    await sandbox.stop();
    await connection.close().catch(() => undefined);
    await server.stop();
  }
});

async function rowsOf(dest: Destination, schema: string, table: string): Promise<number> {
  return dest.tableRowCount({ schema, table }).catch(() => 0);
}
