/**
 * The `profile_count` option of lists and segments: Klaviyo serves a group's profile count only from the read of
 * that one group (`additional-fields[list]=profile_count`), at a tier of 1/s, 15/min. With the option a replication
 * reads each list and segment once more, paced in that tier's own budget (no 429 from the sandbox, which enforces
 * it), and lands the count in a `profile_count` column equal to the members the group's listing serves; without it,
 * no such request and no such column. Into SQLite and Postgres.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Destination } from '../lib/db/destination';
import { replicateWith, requestStats, sandboxResources, startStack, targetOf, type Stack } from './helpers/stack';

let stack: Stack;
const stats = () => requestStats(stack);

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

/** The members of each group as its membership listing serves them, by group id. */
async function memberCounts(kind: 'lists' | 'segments'): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const id of (await sandboxResources(stack, `/api/${kind}`)).keys())
    out.set(id, (await sandboxResources(stack, `/api/${kind}/${id}/profiles?page[size]=100`)).size);
  return out;
}

void test(
  'profile_count: one read per list and segment at its own tier, the count in a column; none without the option',
  { timeout: 300_000 },
  async () => {
    const want = { lists: await memberCounts('lists'), segments: await memberCounts('segments') };
    assert.ok(
      [...want.lists.values()].some((n) => n > 0),
      'some list has members',
    );
    for (const target of ['LITE', 'PG'] as const) {
      const before = await stats();
      const yaml = `source: KLAVIYO\ntarget: ${target}\ndefaults:\n  object: counted.{stream_name}\n  source_options: { profile_count: true }\nstreams:\n  lists:\n  segments:\n`;
      const summary = await replicateWith(stack, yaml, `profile-count-${target}`);
      assert.ok(summary.streams.every((s) => s.status === 'completed'));
      const now = await stats();
      const delta = (op: string, status: string) => (now[op]?.[status] ?? 0) - (before[op]?.[status] ?? 0);
      process.stdout.write(
        `# ${target}: get_list ${delta('get_list', '200')} and get_segment ${delta('get_segment', '200')} reads, 429s: ${delta('get_list', '429') + delta('get_segment', '429')}\n`,
      );
      assert.equal(delta('get_list', '200'), want.lists.size, 'one read per list');
      assert.equal(delta('get_segment', '200'), want.segments.size, 'one read per segment');
      assert.equal(delta('get_list', '429') + delta('get_segment', '429'), 0, 'paced within 1/s, 15/min');
      const dest = new Destination(targetOf(stack, target));
      for (const kind of ['lists', 'segments'] as const) {
        const rows = await dest.snapshot({ schema: 'counted', table: kind }, ['id']);
        assert.equal(rows.length, want[kind].size, `${kind}: row count`);
        for (const row of rows) assert.strictEqual(row.profile_count, want[kind].get(String(row.id)), `${kind} ${row.id}.profile_count`);
      }
    }

    // without the option: the listings only, and no profile_count column
    const before = await stats();
    const summary = await replicateWith(
      stack,
      'source: KLAVIYO\ntarget: LITE\nstreams:\n  lists:\n    object: plain.lists\n',
      'profile-count-off',
    );
    assert.ok(summary.streams.every((s) => s.status === 'completed'));
    const now = await stats();
    assert.equal((now.get_list?.['200'] ?? 0) - (before.get_list?.['200'] ?? 0), 0, 'no per-list read');
    const rows = await new Destination(targetOf(stack, 'LITE')).snapshot({ schema: 'plain', table: 'lists' }, ['id']);
    assert.equal(rows.length, want.lists.size);
    assert.ok(
      rows.every((r) => !('profile_count' in r)),
      'no profile_count column',
    );
  },
);
