/**
 * A membership stream iterates the parent ids of this run (Sling: "the parent endpoint collects IDs, and the child
 * endpoint iterates through them"): with its parent selected it reads them from the parent's table and sends no
 * request of its own to the parent endpoint; without it, it reads the parent endpoint once per run, not once per
 * continue-as-new. Counted with the sandbox's request stats (GET /__sandbox/stats), 40 lists (4 pages of 10),
 * continue-as-new suggested at 30 history events.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Destination } from '../lib/db/destination';
import { checksumOf, replicateWith, requestsDuring, startStack, tableIds, targetOf, truth, type Stack } from './helpers/stack';

const LISTS = 40;
const LIST_PAGES = LISTS / 10;

let stack: Stack;

before(async () => {
  stack = await startStack(['--lists', String(LISTS)], ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=30']);
});
after(async () => {
  await stack?.stop();
});

async function runsOf(workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of stack.temporal.env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

async function assertExact(streams: Array<'lists' | 'list_profiles'>): Promise<void> {
  const dest = new Destination(targetOf(stack, 'LITE'));
  const t = await truth(stack);
  for (const s of streams) assert.deepEqual(checksumOf(await tableIds(dest, s)), t[s], `${s}: exact`);
}

void test(
  'with its parent selected, a membership stream reads the list ids from the lists table: no request of its own to get_lists',
  { timeout: 300_000 },
  async () => {
    const yaml = `
source: KLAVIYO
target: LITE
defaults:
  mode: full-refresh
streams:
  lists:
  list_profiles:
`;
    let summary: Awaited<ReturnType<typeof replicateWith>> | undefined;
    const requests = await requestsDuring(stack, async () => {
      summary = await replicateWith(stack, yaml, 'parent-selected');
    });
    assert.ok(summary!.streams.every((s) => s.status === 'completed'));
    const lists = summary!.streams.find((s) => s.stream === 'lists')!;
    assert.equal(lists.pages, LIST_PAGES);
    process.stdout.write(`# get_lists: ${requests.get_lists} requests (lists stream ${lists.pages} pages + 1 scope probe)\n`);
    // the scope probe (checkSource) and the lists stream's own pages; the membership stream adds none
    assert.equal(requests.get_lists, 1 + lists.pages);
    assert.equal(requests.get_profiles_for_list >= LISTS, true, 'every list was read');
    await assertExact(['lists', 'list_profiles']);
  },
);

void test(
  'without its parent, a membership stream walks the lists once per run, not on each continue-as-new',
  { timeout: 300_000 },
  async () => {
    const yaml = `
source: KLAVIYO
target: LITE
streams:
  list_profiles:
    object: klaviyo.members_alone
`;
    let summary: Awaited<ReturnType<typeof replicateWith>> | undefined;
    // one page per activity: 40 children make the stream's history pass 30 events, so it continues as new
    const requests = await requestsDuring(stack, async () => {
      summary = await replicateWith(stack, yaml, 'parent-alone', undefined, 1);
    });
    assert.ok(summary!.streams.every((s) => s.status === 'completed'));
    const runs = await runsOf('parent-alone/list_profiles');
    process.stdout.write(`# get_lists: ${requests.get_lists} requests over ${runs} runs of the stream\n`);
    assert.ok(runs > 1, `the stream continued as new (${runs} runs)`);
    // the scope probe, then one walk of the lists by the first run's prepare; later runs read the state table
    assert.equal(requests.get_lists, 1 + LIST_PAGES);
    const dest = new Destination(targetOf(stack, 'LITE'));
    const t = await truth(stack);
    const rows = await dest.snapshot({ schema: 'klaviyo', table: 'members_alone' }, ['list_id', 'profile_id']);
    assert.deepEqual(checksumOf(rows.map((r) => `${String(r.list_id)}:${String(r.profile_id)}`)), t.list_profiles, 'exact');
  },
);
