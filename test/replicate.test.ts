/**
 * End to end: the `replicate` workflow on a real Temporal dev server copies every stream of the sandbox Klaviyo
 * (over HTTP) into SQLite and Postgres, exactly; a second run after the sandbox's clock moves picks up what changed
 * and drops what was deleted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { Destination } from '../lib/db/destination';
import { STREAM_NAMES } from '../streams/streams';
import type { StreamName } from '../streams/types';
import {
  ALL_STREAMS_YAML,
  advance,
  checksumOf,
  replicateWith,
  sandboxResources,
  startStack,
  tableIds,
  targetOf,
  truth,
  type Stack,
} from './helpers/stack';

let stack: Stack;

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

async function assertExact(dest: Destination, streams: readonly StreamName[] = STREAM_NAMES): Promise<void> {
  const t = await truth(stack);
  for (const s of streams) {
    const ids = await tableIds(dest, s);
    assert.deepEqual(checksumOf(ids), t[s], `${s}: table ids differ from the sandbox's`);
    assert.equal(new Set(ids).size, ids.length, `${s}: duplicate rows`);
  }
}

/** Values too, not just ids: every profile's and template's current attributes as the API serves them. */
async function assertValues(dest: Destination): Promise<void> {
  // a campaign has no channel attribute: its row's channel is the listing it came from
  const channelOf = new Map<string, string>();
  for (const channel of ['email', 'sms', 'mobile_push'])
    for (const archived of [false, true]) {
      const filter = encodeURIComponent(`and(equals(messages.channel,'${channel}'),equals(archived,${archived}))`);
      for (const id of (await sandboxResources(stack, `/api/campaigns?filter=${filter}`)).keys()) channelOf.set(id, channel);
    }
  const campaigns = await dest.snapshot({ schema: 'klaviyo', table: 'campaigns' }, ['id']);
  assert.equal(campaigns.length, channelOf.size, 'campaigns: row count');
  assert.deepEqual(new Set(campaigns.map((r) => r.channel)), new Set(['email', 'sms', 'mobile_push']), 'campaigns of every channel');
  for (const row of campaigns) assert.equal(row.channel, channelOf.get(String(row.id)), `campaigns ${row.id}.channel`);

  // a global exclusion: the profile's email, its reason (the listing's) and its email marketing state, nothing else
  const profiles = await sandboxResources(stack, '/api/profiles?page[size]=100&additional-fields[profile]=subscriptions');
  const exclusions = await dest.snapshot({ schema: 'klaviyo', table: 'global_exclusions' }, ['id']);
  assert.ok(exclusions.length > 0, 'the sandbox suppresses some profiles');
  assert.deepEqual(new Set(exclusions.map((r) => r.reason)).size > 1, true, 'more than one reason');
  for (const row of exclusions) {
    const marketing = profiles.get(String(row.id))?.attributes.subscriptions.email.marketing;
    assert.equal(row.email, profiles.get(String(row.id))?.attributes.email, `global_exclusions ${row.id}.email`);
    assert.deepEqual(row.subscriptions, { email: { marketing } }, `global_exclusions ${row.id}.subscriptions`);
    assert.equal(row.reason, marketing.suppression[0].reason, `global_exclusions ${row.id}.reason`);
    assert.deepEqual(
      Object.keys(row).sort(),
      ['_synced_at', 'email', 'id', 'reason', 'subscriptions'],
      `global_exclusions ${row.id}: columns`,
    );
  }

  // a coupon code: its coupon's id beside its own, and the code, status and expiry as the listing gave them
  const codes = await dest.snapshot({ schema: 'klaviyo', table: 'coupon_codes' }, ['coupon_id', 'id']);
  let codesInApi = 0;
  for (const couponId of (await sandboxResources(stack, '/api/coupons')).keys()) {
    const api = await sandboxResources(stack, `/api/coupons/${encodeURIComponent(couponId)}/coupon-codes`);
    codesInApi += api.size;
    for (const row of codes.filter((r) => r.coupon_id === couponId)) {
      const a = api.get(String(row.id))?.attributes;
      assert.ok(a, `coupon_codes ${row.id} is not among coupon ${couponId}'s codes`);
      assert.equal(row.unique_code, a.unique_code, `coupon_codes ${row.id}.unique_code`);
      assert.equal(row.status, a.status, `coupon_codes ${row.id}.status`);
      const instant = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());
      assert.equal(instant(row.expires_at), instant(a.expires_at), `coupon_codes ${row.id}.expires_at`);
    }
  }
  assert.equal(codes.length, codesInApi, 'coupon_codes: row count');
  assert.ok(new Set(codes.map((r) => r.status)).size > 2, 'codes of several statuses');

  for (const [stream, path] of [
    ['profiles', '/api/profiles?page[size]=100'],
    ['templates', '/api/templates'],
    ['lists', '/api/lists'],
  ] as const) {
    const api = await sandboxResources(stack, path);
    const rows = await dest.snapshot({ schema: 'klaviyo', table: stream }, ['id']);
    assert.equal(rows.length, api.size, `${stream}: row count`);
    for (const row of rows) {
      const r = api.get(String(row.id));
      assert.ok(r, `${stream} ${row.id} is not in the sandbox`);
      for (const attr of ['updated', 'name', 'email', 'first_name', 'html']) {
        if (!(attr in r.attributes)) continue;
        const want = r.attributes[attr];
        const got = row[attr];
        if (attr === 'updated') assert.equal(new Date(String(got)).getTime(), new Date(want).getTime(), `${stream} ${row.id}.${attr}`);
        else assert.equal(got ?? null, want ?? null, `${stream} ${row.id}.${attr}`);
      }
    }
  }
}

for (const targetName of ['LITE', 'PG'] as const) {
  void describe(`replicate into ${targetName === 'LITE' ? 'SQLite' : 'Postgres'}`, () => {
    void test('all 22 streams land exactly, then an incremental run after /__sandbox/advance picks up changes and deletions', async () => {
      const dest = new Destination(targetOf(stack, targetName));
      const first = await replicateWith(stack, ALL_STREAMS_YAML(targetName), `e2e-all-${targetName}-1`);
      assert.equal(first.streams.length, 22);
      assert.ok(first.streams.every((s) => s.status === 'completed'));
      await assertExact(dest);
      await assertValues(dest);

      const before = await truth(stack);
      const changes = await advance(stack);
      const after = await truth(stack);
      assert.ok(after.events.count > before.events.count, 'advance appended events');
      assert.ok(after.catalog_items.count < before.catalog_items.count, 'advance deleted catalog items');

      const second = await replicateWith(stack, ALL_STREAMS_YAML(targetName), `e2e-all-${targetName}-2`);
      await assertExact(dest);
      await assertValues(dest);
      const byStream = Object.fromEntries(second.streams.map((s) => [s.stream, s]));
      // incremental: only what changed since the watermark is read (the boundary row may be read again)
      const appended = after.events.count - before.events.count;
      assert.ok(
        byStream.events.rows >= appended && byStream.events.rows <= appended + 5,
        `events re-read ${byStream.events.rows} for ${appended} appended`,
      );
      const updatedProfiles = Number(changes.profilesUpdated);
      assert.ok(
        byStream.profiles.rows >= updatedProfiles && byStream.profiles.rows <= updatedProfiles + 5,
        `profiles read ${byStream.profiles.rows} for ${updatedProfiles} updated`,
      );
      assert.ok(byStream.profiles.rows < after.profiles.count, 'profiles did not re-read everything');
    });
  });
}

void test('a replication of list_profiles alone fetches the lists itself and lands exact memberships', async () => {
  const dest = new Destination(targetOf(stack, 'LITE'));
  const yaml = `
source: KLAVIYO
target: LITE
streams:
  list_profiles:
    object: solo.list_profiles
`;
  const summary = await replicateWith(stack, yaml, 'e2e-list-profiles-alone');
  assert.deepEqual(
    summary.streams.map((s) => s.stream),
    ['list_profiles'],
  );
  const ids = await tableIds(dest, 'list_profiles', { schema: 'solo', table: 'list_profiles' });
  assert.deepEqual(checksumOf(ids), (await truth(stack)).list_profiles);
});

/** A replication into `schema` on `target` with `options` as the defaults' source_options, of the streams given. */
const optionsYaml = (target: string, schema: string, options: string, streams: string) =>
  `source: KLAVIYO\ntarget: ${target}\ndefaults:\n  object: ${schema}.{stream_name}\n  source_options: ${options}\nstreams:${streams}`;

void test("options: events' metric_name and attributions, profiles' predictive_analytics land from the same pages, into SQLite and Postgres", async () => {
  for (const target of ['LITE', 'PG'] as const) {
    const dest = new Destination(targetOf(stack, target));
    // inherited, an option applies where the stream offers it (events), and nowhere else
    const yaml = optionsYaml(
      target,
      'opts',
      '{ metric_name: true, attributions: true }',
      `
  metrics:
  events:
    mode: incremental
    source_options: { start_date: 2015-01-01 }
  profiles:
    mode: incremental
    source_options: { start_date: 2015-01-01, predictive_analytics: true }
`,
    );
    const summary = await replicateWith(stack, yaml, `e2e-options-${target}`);
    assert.ok(summary.streams.every((s) => s.status === 'completed'));
    const t = await truth(stack);
    const names = new Map((await dest.snapshot({ schema: 'opts', table: 'metrics' }, ['id'])).map((m) => [String(m.id), m.name]));
    const events = await dest.snapshot({ schema: 'opts', table: 'events' }, ['id']);
    assert.equal(events.length, t.events.count);
    for (const e of events) assert.equal(e.metric_name, names.get(String(e.metric_id)), `event ${e.id}: metric_name`);
    assert.ok(new Set(events.map((e) => e.metric_name)).size > 1, 'several metrics');

    // each event's attributions as the API links them: the attribution's campaign and message ids
    const included = new Map<string, any>();
    const api = await sandboxResources(stack, '/api/events?include=attributions', included);
    let attributed = 0;
    for (const e of events) {
      const want = api.get(String(e.id)).relationships.attributions.data.map((ref: { id: string }) => {
        const a = included.get(`attribution:${ref.id}`);
        return {
          id: ref.id,
          campaign_id: a.relationships.campaign.data.id,
          campaign_message_id: a.relationships['campaign-message'].data.id,
        };
      });
      attributed += want.length;
      const stored = typeof e.attributions === 'string' ? JSON.parse(e.attributions) : e.attributions;
      assert.deepEqual(stored, want, `event ${e.id}: attributions`);
    }
    assert.ok(attributed > 0, 'some events are attributed');

    // predictive analytics as the API serves them with the option's parameter
    const people = await sandboxResources(stack, '/api/profiles?page[size]=100&additional-fields[profile]=predictive_analytics');
    const profiles = await dest.snapshot({ schema: 'opts', table: 'profiles' }, ['id']);
    assert.equal(profiles.length, people.size);
    for (const p of profiles) {
      const stored = typeof p.predictive_analytics === 'string' ? JSON.parse(p.predictive_analytics) : p.predictive_analytics;
      assert.deepEqual(stored, people.get(String(p.id)).attributes.predictive_analytics, `profile ${p.id}: predictive_analytics`);
    }
  }
});

void test('option tags: campaigns, flows, lists and segments keep the tags they carry, from the same pages, into SQLite and Postgres', async () => {
  // the listings as the streams read them (campaigns per channel, flows archived or not), with their tags
  const listings: Record<string, string[]> = {
    lists: ['/api/lists'],
    segments: ['/api/segments'],
    campaigns: ['email', 'sms', 'mobile_push'].flatMap((c) =>
      [false, true].map((a) => `/api/campaigns?filter=${encodeURIComponent(`and(equals(messages.channel,'${c}'),equals(archived,${a}))`)}`),
    ),
    flows: [false, true].map((a) => `/api/flows?filter=${encodeURIComponent(`equals(archived,${a})`)}`),
  };
  const want = new Map<string, unknown>();
  const tagNames = new Map<string, string>();
  for (const tag of (await sandboxResources(stack, '/api/tags')).values()) tagNames.set(tag.id, tag.attributes.name);
  for (const [stream, paths] of Object.entries(listings))
    for (const path of paths)
      for (const r of (await sandboxResources(stack, `${path}${path.includes('?') ? '&' : '?'}include=tags`)).values())
        want.set(
          `${stream}:${r.id}`,
          (r.relationships.tags.data as Array<{ id: string }>).map((t) => ({ id: t.id, name: tagNames.get(t.id) })),
        );
  for (const target of ['LITE', 'PG'] as const) {
    const dest = new Destination(targetOf(stack, target));
    const yaml = optionsYaml(target, 'tagged', '{ tags: true }', '\n  lists:\n  segments:\n  campaigns:\n  flows:\n  tags:\n');
    const summary = await replicateWith(stack, yaml, `e2e-tags-${target}`);
    assert.ok(summary.streams.every((s) => s.status === 'completed'));
    let tagged = 0;
    for (const stream of Object.keys(listings)) {
      const rows = await dest.snapshot({ schema: 'tagged', table: stream }, ['id']);
      assert.equal(rows.length, [...want.keys()].filter((k) => k.startsWith(`${stream}:`)).length, `${stream}: row count`);
      for (const row of rows) {
        const stored = typeof row.tags === 'string' ? JSON.parse(row.tags) : row.tags;
        assert.deepEqual(stored, want.get(`${stream}:${row.id}`), `${stream} ${row.id}: tags`);
        if ((stored as unknown[]).length > 0) tagged++;
      }
      assert.ok(
        rows.some((r) => (typeof r.tags === 'string' ? JSON.parse(r.tags) : r.tags).length > 0),
        `some ${stream} carry tags`,
      );
    }
    assert.ok(tagged > 0);
    // tags itself offers no such option: it has no tags column
    assert.equal('tags' in (await dest.snapshot({ schema: 'tagged', table: 'tags' }, ['id']))[0], false);
  }
});

void test("a bad API key fails the replication within seconds with Klaviyo's message and the fix, and writes nothing", async () => {
  const env = {
    ...stack.env,
    KLAVIYO: stack.sandbox.connection('pk_wrong_key_000000'),
    BADLITE: `sqlite://${stack.tmp}/bad-key.db`,
  };
  const yaml = `
source: KLAVIYO
target: BADLITE
streams:
  '*':
`;
  const t0 = Date.now();
  await assert.rejects(replicateWith(stack, yaml, 'e2e-bad-key', env), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    const text = chain(err);
    assert.match(text, /authentication_failed|rejected the API key/i);
    assert.match(text, /api_key/);
    assert.doesNotMatch(text, /pk_wrong_key_000000/, 'the key never appears in errors');
    return true;
  });
  assert.ok(Date.now() - t0 < 15_000, `failed in ${Date.now() - t0} ms`);
  const fs = await import('node:fs');
  const written = fs.existsSync(`${stack.tmp}/bad-key.db`) ? fs.statSync(`${stack.tmp}/bad-key.db`).size : 0;
  assert.equal(written, 0, 'nothing was written');
});

function chain(err: unknown): string {
  const parts: string[] = [];
  let e: any = err;
  while (e) {
    parts.push(String(e.message));
    e = e.cause;
  }
  return parts.join(' <- ');
}
