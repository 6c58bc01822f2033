/**
 * Streams of millions of rows keep their histories small: with the server suggesting continue-as-new after a few
 * dozen events, stream and partition workflows continue-as-new, resume from the cursors saved in the database,
 * and still land every row exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Destination } from '../lib/db/destination';
import { checksumOf, replicateWith, startStack, tableIds, targetOf, truth, type Stack } from './helpers/stack';
import { runsOf } from './helpers/temporal';

let stack: Stack;

before(async () => {
  stack = await startStack(['--events', '6000'], ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=30']);
});
after(async () => {
  await stack?.stop();
});

void test('stream and partition workflows continue-as-new and land exact tables', async () => {
  const yaml = `
source: KLAVIYO
target: LITE
streams:
  events:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  list_profiles:
`;
  // one page per activity: 30 pages of events make ~90 history events, several continue-as-new
  const summary = await replicateWith(stack, yaml, 'can', undefined, 1);
  assert.ok(summary.streams.every((s) => s.status === 'completed'));
  const dest = new Destination(targetOf(stack, 'LITE'));
  const t = await truth(stack);
  for (const s of ['events', 'list_profiles'] as const) {
    const ids = await tableIds(dest, s);
    assert.deepEqual(checksumOf(ids), t[s], `${s}: exact`);
  }
  const eventRuns = (await runsOf(stack.temporal.env.client, 'can/events')).length;
  assert.ok(eventRuns > 1, `events continued as new (${eventRuns} runs)`);
});
