/**
 * `prepareStream` lists a run's partitions once and hands them out in bounded batches: the parent ids come from the
 * parent's table when the replication completed the parent, later prepares of the run read the state table, and a
 * stream whose parent has no rows still finishes. The activities run in this process against SQLite; no Klaviyo
 * connection is configured, so any request to the parent endpoint would fail the call.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createActivities } from '../activities';
import { closeAll } from '../lib/db/connect';
import { Destination } from '../lib/db/destination';
import type { KlaviyoResource } from '../lib/db/columns';
import { getStream } from '../streams/streams';
import type { StreamTask } from '../workflows/types';

let tmp: string;
let dest: Destination;
let activities: ReturnType<typeof createActivities>;

const lists = getStream('lists');
const listsObject = { schema: 'klaviyo', table: 'lists' };

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-partitions-'));
  const filename = path.join(tmp, 'klaviyo.db');
  dest = new Destination({ kind: 'sqlite', filename });
  // LITE only: a prepare that tried to read the parent endpoint would fail on the missing KLAVIYO connection
  activities = createActivities({ env: { LITE: `sqlite://${filename}` }, cwd: tmp });
});
after(async () => {
  await closeAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A completed full refresh of the lists table holding exactly `ids`. */
async function loadLists(runId: string, ids: string[]): Promise<void> {
  const run = { stream: lists, mode: 'full-refresh' as const, object: listsObject, runId };
  await dest.prepare(run);
  const resources: KlaviyoResource[] = ids.map((id) => ({ type: 'list', id, attributes: { name: `List ${id}` } }));
  await dest.writePage({ ...run, partition: '', resources, nextUrl: null, done: true });
  await dest.finish(run);
}

function membersTask(runId: string, table: string, parentObject: StreamTask['parentObject'] | null = listsObject): StreamTask {
  return {
    replicationId: 'partitions-test',
    replicationName: 'partitions-test',
    runId,
    source: 'KLAVIYO',
    target: 'LITE',
    stream: 'list_profiles',
    mode: 'full-refresh',
    object: { schema: 'klaviyo', table },
    ...(parentObject ? { parentObject } : {}),
  };
}

void test('the parent ids come from the parent table, in bounded batches, and later prepares of the run read the state table', async () => {
  await loadLists('lists-1', ['L3', 'L1', 'L5', 'L2', 'L4']);
  const task = membersTask('run-1', 'members');

  const first = await activities.prepareStream(task, { limit: 2 });
  assert.deepEqual(first.partitions, [
    { key: 'L1', done: false },
    { key: 'L2', done: false },
  ]);
  assert.equal(first.total, 5);
  assert.equal(first.done, 0);
  assert.equal(first.more, true);
  const second = await activities.prepareStream(task, { after: 'L2', limit: 2 });
  assert.deepEqual(
    second.partitions.map((p) => p.key),
    ['L3', 'L4'],
  );
  assert.equal(second.more, true);
  const last = await activities.prepareStream(task, { after: 'L4', limit: 2 });
  assert.deepEqual(
    last.partitions.map((p) => p.key),
    ['L5'],
  );
  assert.equal(last.more, false);

  // the lists change (another run swaps in other ids): this run keeps the partitions it was prepared with
  await loadLists('lists-2', ['L9']);
  const run = { stream: getStream('list_profiles'), mode: 'full-refresh' as const, object: task.object, runId: task.runId };
  await dest.writePage({ ...run, partition: 'L1', parentId: 'L1', resources: [], nextUrl: null, done: true });
  const again = await activities.prepareStream(task);
  assert.deepEqual(
    again.partitions.map((p) => p.key),
    ['L2', 'L3', 'L4', 'L5'],
    'the pending partitions of the run, from its state rows',
  );
  assert.equal(again.total, 5);
  assert.equal(again.done, 1);
  assert.equal(again.more, false);
  // a retried prepare leaves the same state
  assert.deepEqual(await activities.prepareStream(task), again);

  // a new run takes the lists as they are now
  const next = await activities.prepareStream(membersTask('run-2', 'members'));
  assert.deepEqual(
    next.partitions.map((p) => p.key),
    ['L9'],
  );
});

void test('without the parent in the run, prepare reads the parent endpoint (here: no connection, so it fails)', async () => {
  await assert.rejects(activities.prepareStream(membersTask('run-3', 'members_alone', null)), /KLAVIYO/);
});

void test('a parent without rows gives one empty partition, and the stream finishes with no rows', async () => {
  await loadLists('lists-3', []);
  const task = membersTask('run-4', 'members_none');
  const prep = await activities.prepareStream(task);
  assert.deepEqual(prep.partitions, [{ key: '', done: false }]);
  assert.deepEqual(await activities.syncPages({ ...task, partition: '' }), { done: true, rows: 0, pages: 1 });
  const fin = await activities.finishStream(task);
  assert.equal(fin.rows, 0);
  assert.equal(fin.tableRows, 0);
});
