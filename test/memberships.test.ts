/**
 * Incremental memberships on a real Temporal dev server, the sandbox over HTTP, SQLite and Postgres: a first run
 * of `list_profiles` / `segment_profiles` in incremental mode is a full refresh (there was none), the next reads per
 * list only the members who joined since its watermark (`joined_group_at`) and keeps who left, and once the last
 * full refresh is `full_refresh_every` old a run is a full refresh again, which removes them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Destination } from '../lib/db/destination';
import type { StreamSummary } from '../workflows/types';
import { advance, checksumOf, replicateWith, sandboxResources, startStack, tableIds, targetOf, truth, type Stack } from './helpers/stack';

let stack: Stack;

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

const yaml = (target: string, every?: string) => `
source: KLAVIYO
target: ${target}
defaults:
  object: inc.{stream_name}
streams:
  lists:
  segments:
  list_profiles:
    mode: incremental
${every ? `    source_options: { full_refresh_every: ${every} }` : ''}
  segment_profiles:
    mode: incremental
`;

function summaryOf(streams: StreamSummary[], name: string): StreamSummary {
  const s = streams.find((x) => x.stream === name);
  assert.ok(s, `${name} in the summary`);
  assert.equal(s.status, 'completed', `${name} completed`);
  return s;
}

/** Every current membership as `<list id>:<profile id>`, straight from the sandbox. */
async function currentMembers(dest: Destination): Promise<Set<string>> {
  const members = new Set<string>();
  for (const list of await dest.snapshot({ schema: 'inc', table: 'lists' }, ['id'])) {
    for (const profile of (await sandboxResources(stack, `/api/lists/${list.id}/profiles?page[size]=100`)).keys()) {
      members.add(`${list.id}:${profile}`);
    }
  }
  return members;
}

for (const target of ['LITE', 'PG'] as const) {
  void test(`${target}: incremental memberships read only who joined since, and a due full refresh removes who left`, async (t) => {
    const dest = new Destination(targetOf(stack, target));

    // 1. no full refresh yet: the incremental stream runs as one, and lands exactly
    const first = await replicateWith(stack, yaml(target), `memberships-1-${target}`);
    const first1 = summaryOf(first.streams, 'list_profiles');
    assert.equal(first1.mode, 'full-refresh', 'the first incremental run of a membership stream is a full refresh');
    assert.equal(summaryOf(first.streams, 'segment_profiles').mode, 'full-refresh');
    const t1 = await truth(stack);
    const before = await tableIds(dest, 'list_profiles', { schema: 'inc', table: 'list_profiles' });
    assert.deepEqual(checksumOf(before), t1.list_profiles, 'list_profiles exact after the first run');
    assert.deepEqual(
      checksumOf(await tableIds(dest, 'segment_profiles', { schema: 'inc', table: 'segment_profiles' })),
      t1.segment_profiles,
    );

    // 2. members join and leave; the next run (the full refresh a moment old) is incremental
    await advance(stack);
    const now = await currentMembers(dest);
    const joined = [...now].filter((m) => !before.includes(m));
    const left = before.filter((m) => !now.has(m));
    assert.ok(joined.length > 0 && left.length > 0, `advance made members join (${joined.length}) and leave (${left.length})`);
    const second = await replicateWith(stack, yaml(target), `memberships-2-${target}`);
    const second1 = summaryOf(second.streams, 'list_profiles');
    assert.equal(second1.mode, 'incremental');
    assert.equal(summaryOf(second.streams, 'segment_profiles').mode, 'incremental');
    // only the members who joined since each list's watermark (and that second again), not every member
    assert.ok(second1.rows >= joined.length, `read the ${joined.length} who joined (${second1.rows} rows)`);
    assert.ok(second1.rows < first1.rows / 4, `read ${second1.rows} rows, not the ${first1.rows} of a full read`);
    t.diagnostic(
      `list_profiles: full read ${first1.rows} rows; incremental ${second1.rows} rows (${joined.length} joined, ${left.length} left)`,
    );
    const kept = new Set(await tableIds(dest, 'list_profiles', { schema: 'inc', table: 'list_profiles' }));
    assert.deepEqual(kept, new Set([...before, ...now]), 'every current member, and those who left (until the next full refresh)');

    // 3. the last full refresh is older than full_refresh_every: this run is one, and who left is gone
    await sleep(1100);
    const third = await replicateWith(stack, yaml(target, '1s'), `memberships-3-${target}`);
    assert.equal(summaryOf(third.streams, 'list_profiles').mode, 'full-refresh');
    assert.equal(summaryOf(third.streams, 'segment_profiles').mode, 'incremental', 'segments keep their week');
    const t3 = await truth(stack);
    assert.deepEqual(checksumOf(await tableIds(dest, 'list_profiles', { schema: 'inc', table: 'list_profiles' })), t3.list_profiles);

    // 4. and the run after it is incremental again, reading nearly nothing
    const fourth = await replicateWith(stack, yaml(target, '7d'), `memberships-4-${target}`);
    const fourth1 = summaryOf(fourth.streams, 'list_profiles');
    assert.equal(fourth1.mode, 'incremental');
    assert.ok(fourth1.rows < first1.rows / 4, `nothing new: ${fourth1.rows} rows`);
    assert.deepEqual(checksumOf(await tableIds(dest, 'list_profiles', { schema: 'inc', table: 'list_profiles' })), t3.list_profiles);
  });
}
