/**
 * The sandbox's synthetic account (sandbox/account/): deterministic, valid against the Klaviyo spec's response
 * schemas, consistently ordered, mutated by `advance` exactly as its summary says, and cheap even at the large size.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { createAccount, SIZE_PRESETS, STREAM_NAMES } from '../sandbox/account';
import { idsChecksum } from '../sandbox/account/checksum';
import type { Account, Row, SizeOptions, SortKey, Table } from '../sandbox/account/types';
import { KLAVIYO_DIR, SPEC_FILE, toJsonSchema } from './helpers/spec';

const ANCHOR = new Date('2025-06-01T12:00:00Z');
const ANCHOR_SEC = ANCHOR.getTime() / 1000;
const KLAVIYO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;

type TableName = 'profiles' | 'lists' | 'segments' | 'campaigns' | 'flows' | 'templates' | 'events' | 'metrics' | 'tags' | 'catalogItems';

/** Each table with the spec schema of its resources, the operation that lists it and its URL path. */
const TABLES: ReadonlyArray<{ name: TableName; schema: string; operation: string; path: string }> = [
  { name: 'profiles', schema: 'ProfileResponseObjectResource', operation: 'get_profiles', path: 'profiles' },
  { name: 'lists', schema: 'ListListResponseObjectResource', operation: 'get_lists', path: 'lists' },
  { name: 'segments', schema: 'SegmentListResponseObjectResource', operation: 'get_segments', path: 'segments' },
  { name: 'campaigns', schema: 'CampaignResponseObjectResource', operation: 'get_campaigns', path: 'campaigns' },
  { name: 'flows', schema: 'FlowResponseObjectResource', operation: 'get_flows', path: 'flows' },
  { name: 'templates', schema: 'TemplateResponseObjectResource', operation: 'get_templates', path: 'templates' },
  { name: 'events', schema: 'EventResponseObjectResource', operation: 'get_events', path: 'events' },
  { name: 'metrics', schema: 'MetricResponseObjectResource', operation: 'get_metrics', path: 'metrics' },
  { name: 'tags', schema: 'TagResponseObjectResource', operation: 'get_tags', path: 'tags' },
  { name: 'catalogItems', schema: 'CatalogItemResponseObjectResource', operation: 'get_catalog_items', path: 'catalog-items' },
];

function account(sizes: SizeOptions, seed = 42): Account {
  return createAccount({ seed, sizes, anchor: ANCHOR });
}

/** Every group's member table: lists then segments. */
function memberTables(a: Account): Array<{ kind: 'list' | 'segment'; groupId: string; table: Table }> {
  const out: Array<{ kind: 'list' | 'segment'; groupId: string; table: Table }> = [];
  for (const slot of a.lists.order(null)) out.push({ kind: 'list', groupId: a.lists.id(slot), table: a.listMembers(a.lists.id(slot))! });
  for (const slot of a.segments.order(null))
    out.push({ kind: 'segment', groupId: a.segments.id(slot), table: a.segmentMembers(a.segments.id(slot))! });
  return out;
}

function liveRows(table: Table): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < table.slots(); i++) {
    const row = table.row(i);
    if (row) rows.push(row);
  }
  return rows;
}

/** Sort fields per GET operation, from the spec's sort enums (endpoints.json), without the '-' variants. */
const SORTS: Record<string, string[]> = Object.fromEntries(
  (
    JSON.parse(fs.readFileSync(path.join(KLAVIYO_DIR, 'endpoints.json'), 'utf8')) as {
      operations: Array<{ method: string; operationId: string; sort: string[] }>;
    }
  ).operations
    .filter((op) => op.method === 'GET')
    .map((op) => [op.operationId, op.sort.filter((s) => !s.startsWith('-'))]),
);

let validators: ((name: string) => ValidateFunction) | undefined;
function schema(name: string): ValidateFunction {
  if (!validators) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const raw = JSON.parse(fs.readFileSync(SPEC_FILE, 'utf8')) as { components: unknown };
    ajv.addSchema({ components: toJsonSchema(raw.components) }, 'spec');
    const cache = new Map<string, ValidateFunction>();
    validators = (n) => {
      let v = cache.get(n);
      if (!v) cache.set(n, (v = ajv.compile({ $ref: `spec#/components/schemas/${n}` })));
      return v;
    };
  }
  return validators(name);
}

function assertValid(schemaName: string, value: unknown, what: string): void {
  const v = schema(schemaName);
  assert.ok(
    v(value),
    `${what} does not validate as ${schemaName}: ${JSON.stringify(v.errors?.slice(0, 3))}\n${JSON.stringify(value).slice(0, 600)}`,
  );
}

/** Every string that looks like a datetime is printed the way Klaviyo prints them. */
function assertKlaviyoDatetimes(value: unknown, where: string): void {
  if (typeof value === 'string') {
    if (/^\d{4}-\d{2}-\d{2}T/.test(value)) assert.match(value, KLAVIYO_DATETIME, `${where}: ${value}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, k) => assertKlaviyoDatetimes(v, `${where}[${k}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertKlaviyoDatetimes(v, `${where}.${k}`);
  }
}

/** What `key(i, field)` must agree with: the row's value, datetimes as epoch seconds. */
function rowValue(row: Row, field: string): SortKey {
  if (field === 'id') return row.id;
  const v = row.hidden && field in row.hidden ? row.hidden[field] : row.attributes[field];
  if (typeof v === 'string' && KLAVIYO_DATETIME.test(v)) return Date.parse(v) / 1000;
  return (v ?? null) as SortKey;
}

function compare(a: SortKey, b: SortKey): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/** order(field) holds exactly the live slots, ascending by (key, id), and keys agree with the rows. */
function assertOrder(table: Table, field: string | null, what: string): void {
  const order = table.order(field);
  assert.equal(order.length, table.count(), `${what}: order(${field}) length`);
  const seen = new Set<number>();
  const name = field ?? 'id';
  let prev: { key: SortKey; id: string } | undefined;
  for (const slot of order) {
    assert.ok(!seen.has(slot), `${what}: slot ${slot} twice in order(${field})`);
    seen.add(slot);
    const row = table.row(slot);
    assert.ok(row, `${what}: order(${field}) holds deleted slot ${slot}`);
    const key = table.key(slot, name);
    assert.deepEqual(key, rowValue(row, name), `${what}: key(${slot}, ${name}) disagrees with the row`);
    const id = table.id(slot);
    assert.equal(id, row.id);
    if (prev) {
      const c = compare(prev.key, key) || (prev.id < id ? -1 : 1);
      assert.ok(
        c < 0,
        `${what}: order(${field}) not ascending at slot ${slot}: ${JSON.stringify(prev)} then ${JSON.stringify({ key, id })}`,
      );
    }
    prev = { key, id };
  }
}

void describe('sandbox account: determinism', () => {
  void test('same seed, sizes and anchor give byte-identical rows; another seed gives different ones', () => {
    const a = account(SIZE_PRESETS.tiny, 7);
    const b = account(SIZE_PRESETS.tiny, 7);
    const c = account(SIZE_PRESETS.tiny, 8);
    for (const { name } of TABLES) {
      assert.equal(JSON.stringify(liveRows(a[name])), JSON.stringify(liveRows(b[name])), `${name} rows differ between equal accounts`);
      assert.notEqual(JSON.stringify(liveRows(a[name])), JSON.stringify(liveRows(c[name])), `${name} rows equal across seeds`);
    }
    const membersA = memberTables(a).map((m) => liveRows(m.table));
    assert.equal(JSON.stringify(membersA), JSON.stringify(memberTables(b).map((m) => liveRows(m.table))));
    assert.deepEqual(a.truth(), b.truth());
    for (const stream of STREAM_NAMES) {
      assert.notEqual(a.truth()[stream].checksum, c.truth()[stream].checksum, `${stream}: checksum equal across seeds`);
    }
  });

  void test('row i is the same whether or not rows 0..i-1 were generated first', () => {
    const fresh = account(SIZE_PRESETS.small);
    const walked = account(SIZE_PRESETS.small);
    for (let i = 0; i < 5000; i++) walked.events.row(i);
    for (let i = 0; i < 1000; i++) walked.profiles.row(i);
    assert.deepEqual(fresh.events.row(4999), walked.events.row(4999));
    assert.deepEqual(fresh.profiles.row(999), walked.profiles.row(999));
  });
});

void describe('sandbox account: rows match the spec', () => {
  for (const preset of ['tiny', 'small'] as const) {
    void test(`every ${preset} row validates against its response schema`, () => {
      const a = account(SIZE_PRESETS[preset]);
      let validated = 0;
      for (const t of TABLES) {
        for (const row of liveRows(a[t.name])) {
          const resource = {
            type: row.type,
            id: row.id,
            attributes: row.attributes,
            links: { self: `https://a.klaviyo.com/api/${t.path}/${encodeURIComponent(row.id)}` },
          };
          assertValid(t.schema, resource, `${t.name} ${row.id}`);
          assertKlaviyoDatetimes(row.attributes, `${t.name} ${row.id}`);
          if (t.name === 'profiles') {
            assertValid('Subscriptions', row.attributes.subscriptions, `profile ${row.id} subscriptions`);
            assertValid('PredictiveAnalytics', row.attributes.predictive_analytics, `profile ${row.id} predictive_analytics`);
          }
          validated++;
        }
      }
      for (const m of memberTables(a)) {
        const schemaName = m.kind === 'list' ? 'ListMemberResponseObjectResource' : 'SegmentMemberResponseObjectResource';
        for (const row of liveRows(m.table)) {
          const resource = {
            type: row.type,
            id: row.id,
            attributes: row.attributes,
            links: { self: `https://a.klaviyo.com/api/profiles/${row.id}` },
          };
          assertValid(schemaName, resource, `${m.kind} ${m.groupId} member ${row.id}`);
          validated++;
        }
      }
      console.log(`  ${preset}: ${validated} rows validated`);
      assert.ok(validated > (preset === 'tiny' ? 1500 : 20000));
    });
  }

  void test('ids, emails and phone numbers look like Klaviyo data and are unique', () => {
    const a = account(SIZE_PRESETS.small);
    const profiles = liveRows(a.profiles);
    const emails = profiles.map((p) => p.attributes.email).filter((e): e is string => e !== null);
    const phones = profiles.map((p) => p.attributes.phone_number).filter((e): e is string => e !== null);
    assert.ok(emails.length < profiles.length && emails.length > profiles.length * 0.9, 'some, not many, profiles lack an email');
    assert.ok(phones.length < profiles.length * 0.8 && phones.length > profiles.length * 0.4, 'many profiles lack a phone');
    assert.equal(new Set(emails).size, emails.length, 'emails unique');
    assert.equal(new Set(phones).size, phones.length, 'phone numbers unique');
    for (const e of emails) assert.match(e, /^[a-z0-9._]+@[a-z0-9.-]+\.[a-z]+$/);
    for (const p of phones) assert.match(p, /^\+[1-9]\d{9,14}$/, 'E.164');
    for (const p of profiles) assert.match(p.id, /^01[0-9A-HJKMNP-TV-Z]{24}$/, 'profile ids are ULIDs from 2023-2025');
    const created = profiles.map((p) => Date.parse(p.attributes.created as string) / 1000);
    assert.ok(
      Math.min(...created) >= ANCHOR_SEC - 740 * 86400 && Math.min(...created) < ANCHOR_SEC - 700 * 86400,
      'history starts ~2 years back',
    );
    assert.ok(Math.max(...created) < ANCHOR_SEC);
    assert.ok(
      profiles.some((p) => (p.attributes.properties as Record<string, unknown>).preferences !== undefined),
      'nested custom properties',
    );
    for (const t of [a.lists, a.segments, a.flows, a.templates, a.metrics]) {
      for (const row of liveRows(t)) assert.match(row.id, /^[0-9A-Za-z]{6}$/);
    }
    const shortIds = [a.lists, a.segments, a.flows, a.templates, a.metrics].flatMap((t) => liveRows(t).map((r) => r.id));
    assert.equal(new Set(shortIds).size, shortIds.length, 'short ids unique across the account');
    for (const row of liveRows(a.tags)) assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const row of liveRows(a.catalogItems)) {
      assert.equal(row.id, `$custom:::$default:::${row.attributes.external_id as string}`);
      assert.equal(row.hidden?.ids, row.id);
      assert.match(String(row.hidden?.['category.id']), /^\$custom:::\$default:::CATEGORY-\d+$/);
    }
  });

  void test('campaigns come in three channels with the filter fields and relationships the API needs', () => {
    const a = account(SIZE_PRESETS.small);
    const campaigns = liveRows(a.campaigns);
    for (const channel of ['email', 'sms', 'mobile_push']) {
      const of = campaigns.filter((c) => c.hidden?.['messages.channel'] === channel);
      assert.equal(of.length, SIZE_PRESETS.small.campaigns, `${channel} campaigns`);
      assert.ok(
        of.some((c) => c.attributes.archived === true) && of.some((c) => c.attributes.archived === false),
        `${channel}: some archived`,
      );
    }
    const methods = new Set(campaigns.map((c) => (c.attributes.send_strategy as { method: string }).method));
    assert.ok(methods.size >= 4, `send strategies: ${[...methods].join(', ')}`);
    for (const c of campaigns) {
      assert.equal(c.hidden?.id, c.id);
      const messages = c.relationships?.['campaign-messages'];
      assert.ok(Array.isArray(messages) && messages.length >= 1 && messages.every((m) => m.type === 'campaign-message'));
    }
  });

  void test('events reference live metrics and profiles that existed at the time, with a recent share', () => {
    const a = account(SIZE_PRESETS.small);
    const events = liveRows(a.events);
    let recent = 0;
    for (const e of events.filter((_, k) => k % 37 === 0)) {
      const metric = a.lookup('metric', e.hidden?.metric_id as string);
      const profile = a.lookup('profile', e.hidden?.profile_id as string);
      assert.ok(metric && profile, `event ${e.id} links resolve`);
      assert.deepEqual(e.relationships?.metric, { type: 'metric', id: metric.id });
      assert.ok(
        Date.parse(profile.attributes.created as string) / 1000 <= (e.attributes.timestamp as number),
        'profile created before its event',
      );
      assert.equal(e.attributes.datetime, new Date((e.attributes.timestamp as number) * 1000).toISOString().slice(0, 19) + '+00:00');
    }
    for (const e of events) if ((e.attributes.timestamp as number) >= ANCHOR_SEC - 30 * 86400) recent++;
    const share = recent / events.length;
    assert.ok(share > 0.1 && share < 0.16, `share of events in the last 30 days: ${share}`);
    const orders = events.filter((e) => (e.attributes.event_properties as Record<string, unknown>).Items !== undefined);
    assert.ok(orders.length > 0, 'order events carry line items');
  });

  void test('memberships are deterministic subsets of a few % to ~40 % of the profiles', () => {
    const a = account(SIZE_PRESETS.small);
    for (const m of memberTables(a)) {
      const share = m.table.count() / a.profiles.count();
      assert.ok(share > 0.01 && share < 0.45, `${m.kind} ${m.groupId}: ${share}`);
      const row = m.table.row(0)!;
      assert.equal(row.type, 'profile');
      assert.deepEqual(
        { ...row.attributes, joined_group_at: undefined },
        { ...a.lookup('profile', row.id)!.attributes, joined_group_at: undefined },
      );
      const rel = a.lookup('profile', row.id)!.relationships?.[`${m.kind}s`] as Array<{ id: string }>;
      assert.ok(
        rel.some((r) => r.id === m.groupId),
        'the profile links back to its group',
      );
    }
  });
});

void describe('sandbox account: orders and keys', () => {
  void test('every sort field of every operation: complete, ascending by (key, id), keys agree with rows', () => {
    const a = account(SIZE_PRESETS.small);
    for (const t of TABLES) {
      assertOrder(a[t.name], null, t.name);
      for (const field of SORTS[t.operation]) assertOrder(a[t.name], field, t.name);
    }
    for (const m of memberTables(a).filter((_, k) => k % 4 === 0)) {
      assertOrder(m.table, null, `${m.kind} ${m.groupId} members`);
      for (const field of SORTS.get_profiles_for_list) assertOrder(m.table, field, `${m.kind} ${m.groupId} members`);
    }
  });

  void test('orders are cached per version; unknown fields and ids are refused', () => {
    const a = account(SIZE_PRESETS.tiny);
    assert.equal(a.profiles.order('updated'), a.profiles.order('updated'), 'same array while the version holds');
    assert.throws(() => a.profiles.order('name'), /'name' is not a sort field here; use one of: id, created/);
    assert.throws(() => a.events.key(0, 'created'), /not a sort field/);
    assert.equal(a.listMembers('nope00'), undefined);
    assert.equal(a.segmentMembers(a.lists.id(0)), undefined, 'a list id is not a segment');
    assert.equal(a.lookup('profile', 'nope'), undefined);
    assert.equal(a.lookup('event', 'zzzzzzzzzzzzz'), undefined);
    for (const { name } of TABLES) {
      const row = a[name].row(0)!;
      assert.deepEqual(a.lookup(row.type, row.id), row, `lookup(${row.type})`);
    }
    const tag = a.tags.row(0)!;
    const group = tag.relationships?.['tag-group'] as { type: string; id: string };
    assertValid(
      'TagGroupResponseObjectResource',
      { ...a.lookup('tag-group', group.id), links: { self: 'https://a.klaviyo.com/api/tag-groups/x' } },
      'tag group',
    );
  });

  void test('createAccount refuses bad options with a hint', () => {
    assert.throws(
      () => createAccount({ seed: 1, sizes: { ...SIZE_PRESETS.tiny, events: -1 }, anchor: ANCHOR }),
      /sizes\.events must be a non-negative integer.*SIZE_PRESETS/,
    );
    assert.throws(() => createAccount({ seed: 1.5, sizes: SIZE_PRESETS.tiny, anchor: ANCHOR }), /seed must be an integer/);
    assert.throws(() => createAccount({ seed: 1, sizes: SIZE_PRESETS.tiny, anchor: new Date('x') }), /anchor must be a valid Date/);
  });
});

void describe('sandbox account: advance', () => {
  void test('changes exactly what its summary says, after the previous watermark, and truth follows', () => {
    const a = account(SIZE_PRESETS.small);
    const before = a.truth();
    const version = a.version;
    // Attributes only: a membership change alters a profile's `relationships` without touching `updated`.
    const snapshot = (t: Table) => new Map(liveRows(t).map((r) => [r.id, JSON.stringify(r.attributes)]));
    const profilesBefore = snapshot(a.profiles);
    const templatesBefore = snapshot(a.templates);
    const listsBefore = snapshot(a.lists);
    const maxUpdated = Math.max(...liveRows(a.profiles).map((p) => Date.parse(p.attributes.updated as string) / 1000));
    const eventOrder = a.events.order('datetime');
    const lastEventTs = a.events.key(eventOrder[eventOrder.length - 1], 'datetime') as number;
    const eventsBefore = a.events.count();
    const membersBefore = memberTables(a).reduce((n, m) => n + m.table.count(), 0);
    const catalogIds = new Set(liveRows(a.catalogItems).map((r) => r.id));
    const tagIds = new Set(liveRows(a.tags).map((r) => r.id));

    const at = new Date(ANCHOR.getTime() + 3600_000);
    const atSec = at.getTime() / 1000;
    const s = a.advance({ at });
    assert.equal(a.version, version + 1);
    assert.equal(s.at, '2025-06-01T13:00:00+00:00');
    for (const k of [
      'profilesUpdated',
      'templatesUpdated',
      'listsUpdated',
      'membershipsAdded',
      'membershipsRemoved',
      'eventsAppended',
      'catalogItemsDeleted',
      'tagsDeleted',
    ] as const) {
      assert.ok(s[k] > 0, `${k} = ${s[k]}`);
    }

    // Updated rows: exactly the ones whose `updated` is now `at`, each with a visible change besides `updated`. A
    // group's profile_count (sent only on request) follows its members, which advance changes without `updated`.
    const changed = (t: Table, was: Map<string, string>, field: string) => {
      const rows = liveRows(t).filter((r) => r.attributes[field] === s.at);
      for (const r of liveRows(t))
        if (r.attributes[field] !== s.at)
          assert.equal(
            JSON.stringify({ ...r.attributes, profile_count: undefined }),
            JSON.stringify({ ...JSON.parse(was.get(r.id)!), profile_count: undefined }),
            `${r.id} changed without being updated`,
          );
      for (const r of rows) {
        const old = JSON.parse(was.get(r.id)!) as Row['attributes'];
        assert.ok(Date.parse(old[field] as string) / 1000 < atSec);
        assert.notDeepEqual({ ...r.attributes, [field]: null }, { ...old, [field]: null }, `${r.id}: only ${field} changed`);
      }
      return rows.length;
    };
    assert.equal(changed(a.profiles, profilesBefore, 'updated'), s.profilesUpdated);
    assert.equal(changed(a.templates, templatesBefore, 'updated'), s.templatesUpdated);
    assert.equal(changed(a.lists, listsBefore, 'updated'), s.listsUpdated);
    assert.ok(atSec > maxUpdated);
    const byUpdated = a.profiles.order('updated');
    for (let k = 1; k <= s.profilesUpdated; k++)
      assert.equal(a.profiles.key(byUpdated[byUpdated.length - k], 'updated'), atSec, 'updated order reflects advance');

    // Appended events come after every old one, in (datetime, id) order and by default order.
    assert.equal(a.events.count(), eventsBefore + s.eventsAppended);
    for (const field of ['datetime', null]) {
      const order = a.events.order(field);
      const tail = Array.from(order.slice(order.length - s.eventsAppended));
      assert.ok(
        tail.every((slot) => slot >= eventsBefore),
        `order(${field}) ends with the appended events`,
      );
      for (const slot of tail) {
        const ts = a.events.key(slot, 'timestamp') as number;
        assert.ok(ts > lastEventTs && ts <= atSec, `appended event at ${ts}, after ${lastEventTs}, at or before ${atSec}`);
      }
    }
    assertOrder(a.events, 'datetime', 'events after advance');

    // Memberships: added members joined at `at`; removed ones are gone.
    const groups = memberTables(a);
    const membersAfter = groups.reduce((n, m) => n + m.table.count(), 0);
    assert.equal(membersAfter, membersBefore + s.membershipsAdded - s.membershipsRemoved);
    const joinedNow = groups.reduce(
      (n, m) => n + m.table.order('joined_group_at').filter((slot) => m.table.key(slot, 'joined_group_at') === atSec).length,
      0,
    );
    assert.equal(joinedNow, s.membershipsAdded);
    for (const m of groups) assertOrder(m.table, 'joined_group_at', `${m.kind} ${m.groupId} members after advance`);

    // Deletions: gone from rows, lookups, orders, counts and other rows' relationships.
    const catalogAfter = new Set(liveRows(a.catalogItems).map((r) => r.id));
    const deletedItems = [...catalogIds].filter((id) => !catalogAfter.has(id));
    assert.equal(deletedItems.length, s.catalogItemsDeleted);
    assert.equal(a.catalogItems.count(), catalogIds.size - s.catalogItemsDeleted);
    for (const id of deletedItems) assert.equal(a.lookup('catalog-item', id), undefined);
    assertOrder(a.catalogItems, 'created', 'catalog items after advance');
    const deletedTags = [...tagIds].filter((id) => !liveRows(a.tags).some((r) => r.id === id));
    assert.equal(deletedTags.length, s.tagsDeleted);
    for (const t of [a.campaigns, a.flows, a.lists, a.segments]) {
      for (const r of liveRows(t)) {
        const linked = (r.relationships?.tags ?? []) as Array<{ id: string }>;
        assert.ok(!linked.some((l) => deletedTags.includes(l.id)), `${r.type} ${r.id} still links a deleted tag`);
      }
    }

    // Truth: counts and checksums of the live ids, recomputed here from the tables.
    const truth = a.truth();
    const tableOf: Record<string, Table> = {
      profiles: a.profiles,
      lists: a.lists,
      segments: a.segments,
      campaigns: a.campaigns,
      flows: a.flows,
      templates: a.templates,
      events: a.events,
      metrics: a.metrics,
      tags: a.tags,
      catalog_items: a.catalogItems,
    };
    for (const [stream, table] of Object.entries(tableOf)) {
      const ids = liveRows(table).map((r) => r.id);
      assert.deepEqual(truth[stream as keyof typeof truth], { count: ids.length, checksum: idsChecksum(ids) }, stream);
    }
    for (const kind of ['list', 'segment'] as const) {
      const ids = groups.filter((m) => m.kind === kind).flatMap((m) => liveRows(m.table).map((r) => `${m.groupId}:${r.id}`));
      assert.deepEqual(truth[`${kind}_profiles`], { count: ids.length, checksum: idsChecksum(ids) }, `${kind}_profiles`);
    }
    for (const stream of ['events', 'catalog_items', 'tags'] as const) assert.notEqual(truth[stream].checksum, before[stream].checksum);
    assert.equal(truth.events.count, before.events.count + s.eventsAppended);
  });

  void test('is deterministic, may not move the clock back, and scales', () => {
    const later = new Date(ANCHOR.getTime() + 86400_000);
    const a = account(SIZE_PRESETS.small);
    const b = account(SIZE_PRESETS.small);
    assert.deepEqual(a.advance({ at: later }), b.advance({ at: later }));
    assert.deepEqual(a.truth(), b.truth());
    assert.throws(() => a.advance({ at: ANCHOR }), /before the account's clock.*pass a later `at`/);
    assert.throws(() => a.advance({ at: later, scale: 0 }), /scale must be a positive number/);
    const big = a.advance({ at: new Date(later.getTime() + 60_000), scale: 4 });
    const small = b.advance({ at: new Date(later.getTime() + 60_000) });
    assert.ok(
      big.profilesUpdated > 3 * small.profilesUpdated && big.eventsAppended > 3 * small.eventsAppended,
      JSON.stringify({ big, small }),
    );
    const defaulted = b.advance();
    assert.ok(Date.parse(defaulted.at) <= Date.now() && Date.parse(defaulted.at) > Date.now() - 60_000, 'at defaults to now');
  });

  void test('with deletes: profiles go with their events and memberships, templates go; without, none does', () => {
    const later = new Date(ANCHOR.getTime() + 86400_000);
    const plain = account(SIZE_PRESETS.small);
    const a = account(SIZE_PRESETS.small);
    const before = a.truth();
    const profileIds = new Set(liveRows(a.profiles).map((r) => r.id));
    const templateIds = new Set(liveRows(a.templates).map((r) => r.id));
    const s = a.advance({ at: later, deletes: true });
    const p = plain.advance({ at: later });
    assert.equal(p.profilesDeleted, undefined, 'deletes are opt-in');
    assert.deepEqual(plain.truth().profiles, before.profiles, 'no profile deleted without them');
    const { profilesDeleted, eventsDeleted, templatesDeleted, ...rest } = s;
    assert.deepEqual(rest, p, 'the other changes are those of an advance without deletes');
    assert.ok(profilesDeleted! >= 1 && templatesDeleted! >= 1 && eventsDeleted! >= 1, JSON.stringify(s));

    const truth = a.truth();
    assert.equal(truth.profiles.count, before.profiles.count - profilesDeleted!);
    assert.equal(truth.templates.count, before.templates.count - templatesDeleted!);
    assert.equal(truth.events.count, before.events.count + s.eventsAppended - eventsDeleted!);
    const live = new Set(liveRows(a.profiles).map((r) => r.id));
    const gone = [...profileIds].filter((id) => !live.has(id));
    assert.equal(gone.length, profilesDeleted);
    assert.equal(liveRows(a.templates).length, templateIds.size - templatesDeleted!);
    // nothing left refers to a deleted profile: no event, no membership
    const goneSet = new Set(gone);
    assert.equal(liveRows(a.events).filter((e) => goneSet.has(String(e.hidden?.profile_id))).length, 0);
    for (const m of memberTables(a)) assert.equal(liveRows(m.table).filter((r) => goneSet.has(r.id)).length, 0, `${m.kind} ${m.groupId}`);
    // and a later advance neither appends events for them nor adds them to a group
    a.advance({ at: new Date(later.getTime() + 86400_000), scale: 20 });
    assert.equal(liveRows(a.events).filter((e) => goneSet.has(String(e.hidden?.profile_id))).length, 0);
    for (const m of memberTables(a)) assert.equal(liveRows(m.table).filter((r) => goneSet.has(r.id)).length, 0);
  });
});

void describe('sandbox account: large preset', () => {
  void test('creates fast in modest memory, and truth and orders stay quick', () => {
    assert.ok(SIZE_PRESETS.large.profiles >= 200_000 && SIZE_PRESETS.large.events >= 1_000_000);
    let t = performance.now();
    const a = account(SIZE_PRESETS.large);
    const createMs = performance.now() - t;
    t = performance.now();
    const truth = a.truth();
    const truthMs = performance.now() - t;
    t = performance.now();
    const byDatetime = a.events.order('datetime');
    const byUpdated = a.profiles.order('updated');
    const orderMs = performance.now() - t;
    // Absolute figures: a before/after delta is blurred by collections of the earlier tests' garbage.
    const heapMb = process.memoryUsage().heapUsed / 1e6;
    console.log(
      `  large: create ${createMs.toFixed(0)} ms, truth ${truthMs.toFixed(0)} ms, events+profiles orders ${orderMs.toFixed(0)} ms, ` +
        `heap ${heapMb.toFixed(0)} MB, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB; ` +
        `${truth.profiles.count} profiles, ${truth.events.count} events, ${truth.list_profiles.count + truth.segment_profiles.count} memberships`,
    );
    assert.ok(createMs < 10_000, `creation took ${createMs} ms`);
    assert.ok(truthMs < 20_000, `truth took ${truthMs} ms`);
    assert.ok(heapMb < 1000, `heap holds ${heapMb} MB`);
    assert.equal(truth.events.count, SIZE_PRESETS.large.events);
    assert.equal(byDatetime.length, SIZE_PRESETS.large.events);
    assert.equal(byUpdated.length, SIZE_PRESETS.large.profiles);
    const last = a.events.row(byDatetime[byDatetime.length - 1])!;
    assert.ok((last.attributes.timestamp as number) < ANCHOR_SEC);
    assert.deepEqual(a.lookup('event', last.id), last);
  });
});
