/**
 * Determinism gate: recorded histories of real runs (test/histories/, made by `npm run record-histories`) replay
 * through the current workflow code. A change that would break running workflows fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

const DIR = path.join(__dirname, 'histories');

void test('recorded histories replay through the current workflow code', async () => {
  const index = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8')) as Record<string, { workflowId: string; workflowType: string }>;
  const files = Object.keys(index);
  const types = new Set(Object.values(index).map((h) => h.workflowType));
  assert.ok(files.length >= 3, `expected recorded histories in ${DIR}, found ${files.length}`);
  for (const t of ['replicate', 'syncStream', 'syncPartition']) assert.ok(types.has(t), `a ${t} history is recorded`);

  const histories = files.map((f) => ({
    workflowId: index[f].workflowId,
    history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'))),
  }));
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowsPath: require.resolve('../workflows') }, histories)) {
    assert.equal(r.error, undefined, `${r.workflowId}: ${r.error?.message}`);
    replayed++;
  }
  assert.equal(replayed, files.length);
});
