/**
 * The claim on a replication's target tables (lib/db/claims.ts), on SQLite: a table held by a replication still
 * running refuses another replication's whole claim, naming the holder; an ended holder is replaced; the same run
 * claims again freely; replications with other tables (other streams, other accounts' prefixes) never conflict.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { closeAll } from '../lib/db/connect';
import { Destination } from '../lib/db/destination';
import { classify, UserFixableError } from '../lib/errors';
import type { ReplicationRun } from '../lib/db/claims';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-claims-'));
after(async () => {
  await closeAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const dest = () => new Destination({ kind: 'sqlite', filename: path.join(tmp, 'claims.db') });
const objects = (...tables: string[]) => tables.map((table) => ({ schema: 'klaviyo', table }));
const A: ReplicationRun = { workflowId: 'klaviyo-sync-nightly', runId: 'run-a' };
const B: ReplicationRun = { workflowId: 'klaviyo-sync-adhoc', runId: 'run-b' };

void test('a table held by a running replication refuses another, naming the holder and the tables; nothing is claimed', async () => {
  const running = new Set(['run-a']);
  const isRunning = async (r: ReplicationRun) => running.has(r.runId);
  await dest().claimTables(objects('profiles', 'lists'), A, isRunning);
  // the same run again (a retried activity): no conflict with itself
  await dest().claimTables(objects('profiles', 'lists'), A, isRunning);

  const err = await dest()
    .claimTables(objects('events', 'lists', 'profiles'), B, isRunning)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof UserFixableError, String(err));
  assert.equal(err.type, 'TableClaimed');
  assert.equal(err.nonRetryable, true);
  assert.match(err.message, /tables klaviyo\.lists, klaviyo\.profiles are being written by replication klaviyo-sync-nightly \(run run-a\)/);
  assert.match(err.message, /--workflow-id klaviyo-sync-nightly/);
  assert.equal(classify(err), err, 'classified once, as it is');
  // all or nothing: events was not claimed by the refused run, so a third replication of events sees no holder
  let asked = 0;
  await dest().claimTables(objects('events'), { workflowId: 'third', runId: 'run-c' }, async () => (asked++, true));
  assert.equal(asked, 0, 'events had no holder');
});

void test('a holder that ended is replaced; other tables never conflict', async () => {
  const isRunning = async (r: ReplicationRun) => r.runId !== 'run-a';
  // run-a (holding profiles and lists above) ended: B takes them
  await dest().claimTables(objects('profiles', 'lists'), B, isRunning);
  // now B holds them and is running: A's next run is refused, naming B
  await assert.rejects(
    dest().claimTables(objects('profiles'), { workflowId: A.workflowId, runId: 'run-a2' }, isRunning),
    /table klaviyo\.profiles is being written by replication klaviyo-sync-adhoc/,
  );
  // another account's tables in the same schema, another schema: no holder to ask about
  await dest().claimTables([...objects('b_profiles', 'b_lists'), { schema: 'other', table: 'profiles' }], A, async () => {
    throw new Error('no holder should be asked about');
  });
});
