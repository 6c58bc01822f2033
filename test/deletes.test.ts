/**
 * `source_options.deletes: mark`, on real SQLite and Postgres: a full refresh keeps the rows it does not find again,
 * with `_deleted_at` set when it first missed them, and a row that comes back is live again. In the writer, then end
 * to end: replications on a Temporal dev server after the sandbox's `advance` deleted catalog items and memberships.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { getStream } from '../streams/streams';
import type { KlaviyoResource } from '../lib/db/columns';
import { Destination } from '../lib/db/destination';
import { advance, replicateWith, startStack, liveAndMarked, targetOf, truth, type Stack } from './helpers/stack';

const tags = getStream('tags');

function tag(id: string, attributes: Record<string, unknown> = {}): KlaviyoResource {
  return { type: 'tag', id, attributes: { name: `tag ${id}`, ...attributes } };
}

let stack: Stack;
const runTag = crypto.randomBytes(3).toString('hex');

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

for (const [kind, name] of [
  ['sqlite', 'LITE'],
  ['postgres', 'PG'],
] as const) {
  void describe(`${kind}: deletes: mark`, () => {
    void test('a full refresh keeps what it no longer finds, marked when first missed; a row found again is live', async () => {
      let clock = Date.parse('2026-12-01T00:00:00Z');
      const dest = new Destination(targetOf(stack, name), { now: () => new Date(clock) });
      const object = { schema: `del_${kind}_${runTag}`, table: 'tags' };
      let n = 0;
      let lastRun: Parameters<Destination['finish']>[0] | undefined;
      const fullRefresh = async (resources: KlaviyoResource[], markDeleted = true) => {
        clock += 86_400_000;
        const run = { stream: tags, mode: 'full-refresh' as const, object, runId: `r${++n}`, markDeleted };
        lastRun = run;
        await dest.prepare(run);
        await dest.writePage({ ...run, partition: '', resources, nextUrl: null, done: true });
        return dest.finish(run);
      };
      const table = async () =>
        Object.fromEntries(
          (await dest.snapshot(object, ['id'])).map((r) => [
            r.id,
            { name: r.name, color: r.color ?? null, deleted: r._deleted_at ?? null },
          ]),
        );
      const day = (d: number) => new Date(Date.parse('2026-12-01T00:00:00Z') + d * 86_400_000).toISOString();

      // the first run: nothing to mark, but the column is there for `WHERE _deleted_at IS NULL`
      const first = await fullRefresh([tag('A'), tag('B', { color: 'red' }), tag('C')]);
      assert.equal(first.markedDeleted, 0);
      assert.deepEqual(await table(), {
        A: { name: 'tag A', color: null, deleted: null },
        B: { name: 'tag B', color: 'red', deleted: null },
        C: { name: 'tag C', color: null, deleted: null },
      });

      // B is gone: kept with every value it had (its color column, which this run's pages lack), marked now
      const second = await fullRefresh([tag('A', { name: 'renamed' }), tag('C'), tag('D')]);
      assert.equal(second.markedDeleted, 1);
      assert.equal(second.rows, 3, 'rows read by the run');
      assert.deepEqual(await table(), {
        A: { name: 'renamed', color: null, deleted: null },
        B: { name: 'tag B', color: 'red', deleted: day(2) },
        C: { name: 'tag C', color: null, deleted: null },
        D: { name: 'tag D', color: null, deleted: null },
      });

      // C goes too; B keeps the time it was first missed, and is not counted again
      const third = await fullRefresh([tag('A', { name: 'renamed' }), tag('D')]);
      assert.equal(third.markedDeleted, 1);
      // finish called again for the finished run (a retried activity) returns the same result, its count included
      clock += 3_600_000;
      assert.deepEqual(await dest.finish(lastRun!), third);
      assert.equal((await table()).B.deleted, day(2));
      assert.equal((await table()).C.deleted, day(3));

      // B comes back: live again, with what Klaviyo says now
      await fullRefresh([tag('A', { name: 'renamed' }), tag('B', { name: 'back' }), tag('D')]);
      const back = await table();
      assert.deepEqual(back.B, { name: 'back', color: null, deleted: null });
      assert.equal(back.C.deleted, day(3));

      // deletes: remove (the default) drops the marked rows with the rest of what is gone
      await fullRefresh([tag('A'), tag('D')], false);
      assert.deepEqual(Object.keys(await table()).sort(), ['A', 'D']);
    });
  });
}

void test('end to end: catalog items and members deleted by advance stay, marked; the live rows equal the truth', async () => {
  for (const name of ['LITE', 'PG'] as const) {
    const schema = `soft_${name.toLowerCase()}`;
    const yaml = `
source: KLAVIYO
target: ${name}
defaults:
  object: ${schema}.{stream_name}
  source_options: { deletes: mark }
streams:
  catalog_items:
  list_profiles: { mode: incremental, source_options: { full_refresh_every: 1s } }
`;
    const dest = new Destination(targetOf(stack, name));
    const first = await replicateWith(stack, yaml, `deletes-${name}-1`);
    assert.ok(first.streams.every((s) => s.status === 'completed'));
    const before = {
      items: await liveAndMarked(dest, 'catalog_items', schema),
      members: await liveAndMarked(dest, 'list_profiles', schema),
    };
    assert.deepEqual(before.items.marked, []);
    assert.deepEqual(before.members.marked, []);

    const changes = await advance(stack);
    await new Promise((r) => setTimeout(r, 1100)); // full_refresh_every: 1s
    const second = await replicateWith(stack, yaml, `deletes-${name}-2`);
    assert.ok(second.streams.every((s) => s.status === 'completed'));
    const t = await truth(stack);
    for (const [stream, was] of [
      ['catalog_items', before.items],
      ['list_profiles', before.members],
    ] as const) {
      const now = await liveAndMarked(dest, stream, schema);
      assert.equal(now.live.length, t[stream].count, `${stream}: live rows = truth`);
      const gone = was.live.filter((id) => !now.live.includes(id)).sort();
      assert.ok(gone.length > 0, `${stream}: advance deleted some (${JSON.stringify(changes)})`);
      assert.deepEqual(now.marked, gone, `${stream}: exactly the rows gone since the first run are kept, marked`);
      const summary = second.streams.find((s) => s.stream === stream)!;
      assert.equal(summary.markedDeleted, gone.length, `${stream}: the summary counts the rows marked`);
    }
    assert.equal(first.streams.find((s) => s.stream === 'catalog_items')!.markedDeleted, 0, 'nothing to mark in a first run');
  }
});
