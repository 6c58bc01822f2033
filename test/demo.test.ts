/**
 * The README's main job, as a user runs it: `klaviyo-sync demo` (what `npm run demo` runs) starts its own Temporal
 * with a Web UI, the sandbox and a worker, and replicates all 22 streams into SQLite. Ctrl-C in the middle leaves
 * nothing half-written and the next run resumes the same workflow; a later run is incremental.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../client/dev-server';
import { inProcessTaskQueue } from '../workflows/shared';
import { startCli, startWorkerProcess, type ProcessResult } from './helpers/process';

const data = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-demo-'));

after(() => {
  try {
    process.kill(Number(fs.readFileSync(path.join(data, 'temporal.pid'), 'utf8')), 'SIGTERM');
  } catch {
    // not started
  }
  fs.rmSync(data, { recursive: true, force: true });
});

/** `klaviyo-sync demo <args>` to its exit; Ctrl-C (SIGINT) once its output matches `interruptWhen`. */
function demo(args: string[], interruptWhen?: RegExp): Promise<ProcessResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, KLAVIYO_SYNC_DATA: data };
  delete env.TEMPORAL_ADDRESS;
  const run = startCli(['demo', '--size', 'small', '--sandbox-port', '0', ...args], { env });
  if (interruptWhen) {
    run.waitForOutput(interruptWhen, 600_000).then(
      () => run.child.kill('SIGINT'),
      () => undefined,
    );
  }
  return run.exited;
}

function count(table: string): number {
  const db = new Database(path.join(data, 'klaviyo.db'), { readonly: true });
  try {
    return (db.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function rowsRead(stdout: string, stream: string): number {
  const line = stdout.split('\n').find((l) => l.startsWith(`${stream} `));
  assert.ok(line, `summary line for ${stream}:\n${stdout}`);
  return Number(line!.trim().split(/\s+/)[3]);
}

void test('demo: Ctrl-C mid-run resumes on the next run; the run after that is incremental', async () => {
  const [port, uiPort] = [await freePort(), await freePort()];
  const ports = ['--port', String(port), '--ui-port', String(uiPort)];

  // 1. interrupted once rows are flowing
  const first = await demo(ports, /: running, [1-9]\d* rows/);
  assert.equal(first.code, 130, first.stderr);
  assert.match(first.stderr, /run `npm run demo` again to resume/);
  assert.doesNotMatch(first.stdout, /rows in/, 'no summary: the replication was still running');

  // the demo's worker has a task queue of its own: a standalone worker left running (with an environment that has
  // none of the demo's connections, so any task it took would fail) gets none of its tasks
  const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
  const description = await new Client({ connection }).workflow.getHandle('klaviyo-sync-demo').describe();
  await connection.close();
  assert.equal(description.taskQueue, inProcessTaskQueue('klaviyo-sync-demo'));
  const standalone = await startWorkerProcess([], {
    cwd: data,
    env: { PATH: process.env.PATH, HOME: data, TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
  });

  // 2. resumes the same workflow to the end, against the same account (no clock move)
  const second = await demo([...ports, '--no-advance']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /Temporal reused/);
  assert.match(second.stderr, /joining the running replication klaviyo-sync-demo/);
  assert.match(second.stdout, new RegExp(`Web UI: http://localhost:${uiPort}/namespaces/default/workflows/klaviyo-sync-demo`));
  assert.equal(count('klaviyo__events'), 20000);
  assert.equal(count('klaviyo__profiles'), 2000);
  assert.equal(count('klaviyo__lists'), 12);
  assert.ok(rowsRead(second.stdout, 'events') > 0);

  // 3. a later run: the sandbox's clock moves, incremental streams read only what changed
  const third = await demo(ports);
  assert.equal(third.code, 0, third.stderr);
  const moved = /(\d+) profiles and (\d+) templates updated, (\d+) events appended, (\d+) catalog items deleted/.exec(third.stderr);
  assert.ok(moved, third.stderr);
  const [updatedProfiles, , appended, deleted] = moved!.slice(1).map(Number);
  assert.ok(rowsRead(third.stdout, 'profiles') >= updatedProfiles && rowsRead(third.stdout, 'profiles') < 2000);
  assert.ok(rowsRead(third.stdout, 'events') >= appended && rowsRead(third.stdout, 'events') <= appended + 5);
  assert.equal(count('klaviyo__events'), 20000 + appended);
  assert.equal(count('klaviyo__catalog_items'), 300 - deleted);

  await standalone.stop(10_000);
  assert.match(standalone.output(), /polling task queue klaviyo-sync /, standalone.output());
  assert.doesNotMatch(standalone.output(), /not found|activity failed/i, 'the standalone worker took a task of the demo');
});
