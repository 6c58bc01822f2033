/**
 * The sandbox's HTTP behaviour, against the real `klaviyo-sync sandbox` process: startup and shutdown, keyset
 * pagination (also across data changes), filters and sorts checked against a full walk, JSON:API shapes, includes and
 * additional fields, auth, revision, bad input, faults, rate limits and the /__sandbox endpoints.
 * (The schema contract and the official SDK are covered by sandbox-contract, sandbox-errors and sandbox-sdk tests.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { request } from 'undici';
import { buildOperationsSpec } from '../sandbox/http/generate-operations-spec';
import snapshot from '../sandbox/http/operations-spec.json';
import { RateLimiter } from '../sandbox/http/ratelimit';
import { bucketStarts, keyedTimeframe, REPORTS } from '../sandbox/http/reports';
import { ROOT, runSandboxCli as runCli, startSandbox, type SandboxProcess } from './helpers/sandbox';

const KEY = 'pk_http_test_key';
const READ_PROFILES = 'pk_profiles_only';

let sb: SandboxProcess;

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

async function get(
  pathOrUrl: string,
  opts: { key?: string | null; revision?: string | null; method?: string; body?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.key !== null) headers.authorization = `Klaviyo-API-Key ${opts.key ?? KEY}`;
  if (opts.revision !== null) headers.revision = opts.revision ?? '2025-07-15';
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${sb.baseUrl}${pathOrUrl}`;
  const res = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers, body: opts.body });
  const text = await res.body.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // left null: the assertion that follows shows the text
  }
  return { status: res.statusCode, headers: res.headers, text, body };
}

async function ok(pathOrUrl: string, opts: Parameters<typeof get>[1] = {}): Promise<any> {
  const res = await get(pathOrUrl, opts);
  assert.equal(res.status, 200, `GET ${pathOrUrl}: ${res.text.slice(0, 400)}`);
  assert.match(String(res.headers['content-type']), /^application\/vnd\.api\+json/);
  return res.body;
}

async function admin(method: 'GET' | 'POST', p: string, body?: unknown): Promise<Res> {
  const res = await request(`${sb.baseUrl}${p}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, body: JSON.parse(text) };
}

/** Asserts a JSON:API error answer with status, code and (optionally) source.parameter. */
async function expectError(
  pathOrUrl: string,
  status: number,
  code: string,
  parameter?: string,
  opts: Parameters<typeof get>[1] = {},
): Promise<any> {
  const res = await get(pathOrUrl, opts);
  assert.equal(res.status, status, `GET ${pathOrUrl}: ${res.text.slice(0, 400)}`);
  assert.match(String(res.headers['content-type']), /^application\/vnd\.api\+json/);
  const e = res.body?.errors?.[0];
  assert.ok(e, `GET ${pathOrUrl}: no errors[]: ${res.text.slice(0, 300)}`);
  assert.match(e.id, /^[0-9a-f-]{36}$/);
  assert.equal(e.status, status);
  assert.equal(e.code, code, `GET ${pathOrUrl}: ${e.detail}`);
  assert.ok(e.title && e.detail, 'title and detail');
  if (parameter !== undefined) assert.equal(e.source?.parameter, parameter, `GET ${pathOrUrl}: ${e.detail}`);
  return e;
}

/** Follows links.next to the end; every page but the last holds `pageSize` rows. */
async function walk(first: string, pageSize: number): Promise<any[]> {
  const rows: any[] = [];
  let url: string | undefined = first;
  for (let page = 1; url; page++) {
    const doc = await ok(url);
    rows.push(...doc.data);
    if (doc.links.next) assert.equal(doc.data.length, pageSize, `${first} page ${page}: a page with a next link is full`);
    else assert.ok(doc.data.length <= pageSize);
    url = doc.links.next;
    assert.ok(page < 2000, 'links.next loops');
  }
  return rows;
}

const ids = (rows: any[]): string[] => rows.map((r) => r.id);
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const q = (params: Record<string, string | number>): string =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

before(async () => {
  sb = await startSandbox([
    '--size',
    'small',
    '--seed',
    '11',
    '--api-key',
    KEY,
    '--api-key',
    `${READ_PROFILES}=profiles:read`,
    '--rate-limits',
    'off',
    // the revision lifecycle judged on a fixed day, so the test does not change with the calendar
    '--revisions-as-of',
    '2026-06-01',
    '--log',
  ]);
});
after(async () => {
  await sb?.stop();
});

void describe('startup and shutdown', () => {
  void test('prints the listening line first, then the keys (masked) and sizes', async () => {
    for (let i = 0; i < 50 && !sb.output().includes('account:'); i++) await new Promise((r) => setTimeout(r, 100));
    const lines = sb.output().split('\n');
    assert.match(lines[0], /^Klaviyo sandbox listening on http:\/\/127\.0\.0\.1:\d+$/);
    const keys = lines.find((l) => l.includes('keys:'));
    assert.ok(keys, sb.output());
    assert.ok(!keys.includes(KEY), `the banner shows the key itself: ${keys}`);
    assert.match(keys, /pk_h\*+ \(all scopes\); pk_p\*+ \(profiles:read\)/);
    assert.match(sb.output(), /size small, seed 11, .*2000 profiles, .*20000 events.*rate limits off/);
  });

  void test('--quiet prints only the listening line; --faults applies; SIGTERM exits 0', async () => {
    const quiet = await startSandbox(['--size', 'tiny', '--quiet', '--faults', '503=1']);
    try {
      const res = await request(`${quiet.baseUrl}/api/tags`, {
        headers: { authorization: 'Klaviyo-API-Key pk_sandbox', revision: '2025-07-15' },
      });
      assert.equal(res.statusCode, 503, 'every request fails with --faults 503=1');
      await res.body.text();
      assert.match(quiet.output(), /^Klaviyo sandbox listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    } finally {
      await quiet.stop();
    }
    assert.equal(quiet.child.exitCode, 0, `exit code after SIGTERM: ${quiet.child.exitCode} ${quiet.child.signalCode}`);
  });

  void test('bad flags: one sentence on stderr, exit code 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--size', 'huge'], /--size must be one of tiny, small, medium, large/],
      [['--rate-limits', 'fast'], /--rate-limits.*documented, off or scale:N/],
      [['--faults', '500=2'], /--faults.*between 0 and 1/],
      [['--port', 'abc'], /--port.*integer/],
      [['--api-key', 'pk_x=profiles'], /scope 'profiles'/],
      [['--bogus'], /unknown option '--bogus'/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['--port', '0', ...args])));
    results.forEach((r, i) => {
      const [args, message] = cases[i];
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line, got:\n${r.stderr}`);
      assert.match(r.stderr, message);
    });
  });
});

void test('operations-spec.json is what generate-operations-spec.ts makes of spec/klaviyo', () => {
  assert.deepEqual(
    snapshot,
    buildOperationsSpec(path.resolve(ROOT, 'spec', 'klaviyo')),
    'run: npx tsx sandbox/http/generate-operations-spec.ts',
  );
});

void describe('JSON:API documents', () => {
  void test('resources, relationships per the response schema, links ending with / that resolve', async () => {
    const doc = await ok('/api/profiles?page[size]=3');
    assert.deepEqual(Object.keys(doc), ['data', 'links']);
    const p = doc.data[0];
    assert.deepEqual(Object.keys(p), ['type', 'id', 'attributes', 'relationships', 'links']);
    assert.equal(p.type, 'profile');
    assert.equal(p.links.self, `${sb.baseUrl}/api/profiles/${p.id}/`);
    // get_profiles: lists and segments carry only links, push-tokens carries data
    assert.deepEqual(Object.keys(p.relationships.lists), ['links']);
    assert.deepEqual(p.relationships.lists.links, {
      self: `${sb.baseUrl}/api/profiles/${p.id}/relationships/lists/`,
      related: `${sb.baseUrl}/api/profiles/${p.id}/lists/`,
    });
    assert.ok(Array.isArray(p.relationships['push-tokens'].data));
    const again = await ok(p.links.self);
    assert.equal(again.data.id, p.id);
    assert.deepEqual(again.data.attributes, p.attributes);
    // get_profile: lists and segments carry data
    assert.ok(Array.isArray(again.data.relationships.lists.data));
  });

  void test('additional-fields[profile]: subscriptions and predictive_analytics only when asked for', async () => {
    const plain = (await ok('/api/profiles?page[size]=5')).data;
    assert.ok(plain.every((p: any) => !('subscriptions' in p.attributes) && !('predictive_analytics' in p.attributes)));
    const subs = (await ok('/api/profiles?page[size]=5&additional-fields[profile]=subscriptions')).data;
    assert.ok(subs.every((p: any) => 'subscriptions' in p.attributes && !('predictive_analytics' in p.attributes)));
    const both = (await ok('/api/profiles?page[size]=5&additional-fields[profile]=subscriptions,predictive_analytics')).data;
    assert.ok(both.every((p: any) => 'subscriptions' in p.attributes && 'predictive_analytics' in p.attributes));
    assert.deepEqual(ids(both), ids(plain));
  });

  void test('fields[type] sparse fieldsets, nested paths included', async () => {
    const full = (await ok('/api/profiles?page[size]=20')).data;
    const sparse = (await ok('/api/profiles?page[size]=20&fields[profile]=email,location.city')).data;
    sparse.forEach((p: any, i: number) => {
      const want: Record<string, unknown> = {};
      if (full[i].attributes.email !== undefined) want.email = full[i].attributes.email;
      if (full[i].attributes.location) want.location = { city: full[i].attributes.location.city };
      assert.deepEqual(p.attributes, want);
    });
    const lists = (await ok('/api/lists?fields[list]=name')).data;
    assert.ok(lists.every((l: any) => Object.keys(l.attributes).join() === 'name'));
  });

  void test('include on events: every referenced metric and profile is included once, profiles without additional fields', async () => {
    const doc = await ok('/api/events?include=metric,profile');
    const included = new Map<string, any>(doc.included.map((r: any) => [`${r.type}:${r.id}`, r]));
    assert.equal(included.size, doc.included.length, 'no duplicates in included');
    for (const e of doc.data) {
      for (const rel of ['metric', 'profile']) {
        const ref = e.relationships[rel].data;
        assert.ok(included.has(`${ref.type}:${ref.id}`), `event ${e.id}: ${rel} ${ref.id} not included`);
      }
      assert.ok(Array.isArray(e.relationships.attributions.data));
    }
    const profile = doc.included.find((r: any) => r.type === 'profile');
    assert.ok(!('subscriptions' in profile.attributes));
  });

  void test("include=attributions: a share of orders is attributed to an email campaign's message, linked both ways", async () => {
    const emailCampaigns = new Map<string, string[]>();
    for (const archived of [false, true]) {
      let url: string | undefined = `/api/campaigns?${q({ filter: `and(equals(messages.channel,'email'),equals(archived,${archived}))` })}`;
      while (url) {
        const page = await ok(url);
        for (const c of page.data)
          emailCampaigns.set(
            c.id,
            c.relationships['campaign-messages'].data.map((m: any) => m.id),
          );
        url = page.links.next ?? undefined;
      }
    }
    const metricNames = new Map<string, string>((await ok('/api/metrics')).data.map((m: any) => [m.id, m.attributes.name]));
    let orders = 0;
    let attributed = 0;
    let url: string | undefined = `/api/events?${q({ include: 'attributions' })}`;
    for (let pages = 0; url && pages < 20; pages++) {
      const doc = await ok(url);
      const included = new Map<string, any>((doc.included ?? []).map((r: any) => [`${r.type}:${r.id}`, r]));
      for (const e of doc.data) {
        const data = e.relationships.attributions.data;
        const order = metricNames.get(e.relationships.metric.data.id) === 'Placed Order';
        if (order) orders++;
        if (!order) assert.deepEqual(data, [], `event ${e.id}: only orders are attributed`);
        for (const ref of data) {
          attributed++;
          const a = included.get(`attribution:${ref.id}`);
          assert.ok(a, `attribution ${ref.id} of event ${e.id} is included`);
          assert.match(a.id, /^[0-9a-f]{32}$/);
          assert.deepEqual(a.relationships.event.data, { type: 'event', id: e.id });
          const campaign = a.relationships.campaign.data.id;
          assert.ok(emailCampaigns.has(campaign), `attribution ${a.id}: ${campaign} is an email campaign`);
          assert.equal(a.relationships['campaign-message'].data.id, emailCampaigns.get(campaign)![0]);
        }
      }
      url = doc.links.next ?? undefined;
    }
    assert.ok(orders > 20, `${orders} orders`);
    assert.ok(attributed > orders * 0.2 && attributed < orders * 0.5, `${attributed} of ${orders} orders attributed`);
    // without the include, the same events name their attributions and nothing is included
    const plain = await ok('/api/events');
    assert.equal(plain.included, undefined);
  });

  void test('include on campaigns synthesizes campaign messages of the campaign channel; include on a profile by id', async () => {
    const doc = await ok(`/api/campaigns?${q({ filter: "equals(messages.channel,'sms')", include: 'campaign-messages,tags' })}`);
    const messages = doc.included.filter((r: any) => r.type === 'campaign-message');
    const wanted = doc.data.flatMap((c: any) => c.relationships['campaign-messages'].data.map((m: any) => m.id));
    assert.ok(wanted.length > 0);
    assert.deepEqual(messages.map((m: any) => m.id).sort(), [...new Set<string>(wanted)].sort());
    assert.ok(messages.every((m: any) => m.attributes.definition.channel === 'sms'));

    const member = (await ok('/api/profiles?page[size]=100&include=lists')).data.find((p: any) => p.relationships.lists.data.length > 0);
    assert.ok(member, 'a profile in some list');
    const one = await ok(`/api/profiles/${member.id}?include=lists,segments&fields[list]=name`);
    const listRefs = one.data.relationships.lists.data.map((r: any) => r.id).sort();
    assert.deepEqual(listRefs, member.relationships.lists.data.map((r: any) => r.id).sort());
    assert.deepEqual(
      one.included
        .filter((r: any) => r.type === 'list')
        .map((r: any) => r.id)
        .sort(),
      listRefs,
    );
    assert.ok(one.included.filter((r: any) => r.type === 'list').every((l: any) => Object.keys(l.attributes).join() === 'name'));
  });

  void test('include=lists on get_profiles adds the relationship data the included lists need', async () => {
    const doc = await ok('/api/profiles?page[size]=30&include=lists');
    const refs = new Set<string>(doc.data.flatMap((p: any) => p.relationships.lists.data.map((r: any) => r.id)));
    assert.deepEqual(new Set(doc.included.map((r: any) => r.id)), refs);
  });
});

void describe('pagination', () => {
  void test('profiles by id: complete, unique, in order, with self and next links carrying the query', async () => {
    const truth = (await admin('GET', '/__sandbox/truth')).body;
    const first = await ok('/api/profiles?page[size]=37&additional-fields[profile]=subscriptions');
    assert.equal(first.links.self, `${sb.baseUrl}/api/profiles?page%5Bsize%5D=37&additional-fields%5Bprofile%5D=subscriptions`);
    const next = new URL(first.links.next);
    assert.equal(next.searchParams.get('page[size]'), '37');
    assert.equal(next.searchParams.get('additional-fields[profile]'), 'subscriptions');
    const rows = await walk('/api/profiles?page[size]=37&additional-fields[profile]=subscriptions', 37);
    assert.equal(rows.length, truth.profiles.count);
    assert.equal(new Set(ids(rows)).size, rows.length);
    assert.deepEqual(ids(rows), [...ids(rows)].sort(byCodeUnits));
  });

  void test('served page sizes: fixed per operation, page[size] where declared', async () => {
    const truth = (await admin('GET', '/__sandbox/truth')).body;
    const cases: Array<[string, number, number]> = [
      ['/api/lists', 10, truth.lists.count],
      ['/api/segments', 10, truth.segments.count],
      ['/api/templates', 10, truth.templates.count],
      ['/api/events', 200, truth.events.count],
      ['/api/metrics', 200, truth.metrics.count],
      ['/api/tags', 50, truth.tags.count],
      ['/api/catalog-items', 100, truth.catalog_items.count],
      ['/api/flows', 50, truth.flows.count],
      ['/api/flows?page[size]=7', 7, truth.flows.count],
      ['/api/profiles', 20, truth.profiles.count],
    ];
    for (const [p, size, count] of cases) {
      const doc = await ok(p);
      assert.equal(doc.data.length, Math.min(size, count), p);
      assert.equal('next' in doc.links, count > size, `${p}: next link iff more rows`);
    }
    const email = await walk(`/api/campaigns?${q({ filter: "equals(messages.channel,'email')" })}`, 10);
    assert.ok(email.length > 10, 'campaigns page by 10');
  });

  void test('the SDK habit of passing the whole links.next URL as page[cursor] works', async () => {
    const first = await ok('/api/tags');
    const viaLink = await ok(first.links.next);
    const viaUrlCursor = await ok(`/api/tags?${q({ 'page[cursor]': first.links.next })}`);
    assert.deepEqual(ids(viaUrlCursor.data), ids(viaLink.data));
  });
});

void describe('filters and sorts, checked against a full walk', () => {
  let profiles: any[];
  before(async () => {
    profiles = await walk('/api/profiles?page[size]=100', 100);
  });

  void test('greater-than(updated,T) without sort walks updated order and finds exactly the newer profiles', async () => {
    const times = profiles.map((p) => Date.parse(p.attributes.updated)).sort((a, b) => a - b);
    const t = Math.floor(times[Math.floor(times.length * 0.7)] / 1000) * 1000;
    const want = profiles.filter((p) => Date.parse(p.attributes.updated) > t);
    const rows = await walk(`/api/profiles?${q({ filter: `greater-than(updated,${iso(t)})`, 'page[size]': 50 })}`, 50);
    assert.deepEqual(ids(rows).sort(), ids(want).sort());
    const keys = rows.map((p) => [Date.parse(p.attributes.updated), p.id] as const);
    keys.slice(1).forEach(([ms, id], i) => assert.ok(ms > keys[i][0] || (ms === keys[i][0] && id > keys[i][1]), 'ascending (updated, id)'));

    const desc = await walk(`/api/profiles?${q({ filter: `greater-than(updated,${iso(t)})`, sort: '-updated', 'page[size]': 50 })}`, 50);
    assert.deepEqual(ids(desc), ids(rows).reverse());
  });

  void test('a window and(greater-than, less-than) on created, and sort=email', async () => {
    const times = profiles.map((p) => Date.parse(p.attributes.created)).sort((a, b) => a - b);
    const lo = Math.floor(times[Math.floor(times.length * 0.2)] / 1000) * 1000;
    const hi = Math.floor(times[Math.floor(times.length * 0.6)] / 1000) * 1000;
    const want = profiles.filter((p) => Date.parse(p.attributes.created) > lo && Date.parse(p.attributes.created) < hi);
    const rows = await walk(
      `/api/profiles?${q({ filter: `and(greater-than(created,${iso(lo)}),less-than(created,${iso(hi)}))`, sort: 'email', 'page[size]': 100 })}`,
      100,
    );
    assert.deepEqual(ids(rows).sort(), ids(want).sort());
    const emails = rows.map((p) => p.attributes.email).filter((e) => e !== null);
    assert.deepEqual(emails, [...emails].sort(byCodeUnits), 'sorted by email');
  });

  void test('equals and any on ids and emails', async () => {
    const pick = [profiles[3], profiles[500], profiles[1500]];
    const byIds = await ok(`/api/profiles?${q({ filter: `any(id,[${pick.map((p) => `'${p.id}'`).join(',')}])` })}`);
    assert.deepEqual(ids(byIds.data).sort(), ids(pick).sort());
    const withEmail = profiles.find((p) => p.attributes.email);
    const byEmail = await ok(`/api/profiles?${q({ filter: `equals(email,"${withEmail.attributes.email}")` })}`);
    assert.deepEqual(ids(byEmail.data), ids(profiles.filter((p) => p.attributes.email === withEmail.attributes.email)));
  });

  void test('events: and(equals(metric_id,...), greater-or-equal(datetime,...)) sorted by -datetime', async () => {
    const events = await walk('/api/events', 200);
    const metric = events[0].relationships.metric.data.id;
    const t = Math.floor(Date.parse(events[Math.floor(events.length / 2)].attributes.datetime) / 1000) * 1000;
    const want = events.filter((e) => e.relationships.metric.data.id === metric && Date.parse(e.attributes.datetime) >= t);
    const rows = await walk(
      `/api/events?${q({ filter: `and(equals(metric_id,'${metric}'),greater-or-equal(datetime,${iso(t)}))`, sort: '-datetime' })}`,
      200,
    );
    assert.deepEqual(ids(rows).sort(), ids(want).sort());
    const ts = rows.map((e) => e.attributes.timestamp);
    assert.deepEqual(
      ts,
      [...ts].sort((a, b) => b - a),
    );
    // a datetime range narrows a timestamp-sorted walk (same order), in both directions
    const recent = events.filter((e) => Date.parse(e.attributes.datetime) >= t);
    const byTimestamp = await walk(`/api/events?${q({ filter: `greater-or-equal(datetime,${iso(t)})`, sort: '-timestamp' })}`, 200);
    assert.deepEqual(ids(byTimestamp).sort(), ids(recent).sort());
    const older = await walk(`/api/events?${q({ filter: `less-than(timestamp,${t / 1000})`, sort: 'datetime' })}`, 200);
    assert.equal(older.length, events.length - recent.length);
    const withProfile = await walk('/api/events?filter=has(profile)', 200);
    assert.equal(withProfile.length, events.filter((e) => e.relationships.profile.data).length);
  });

  void test('flows, tags, catalog items: string operators, booleans, ids', async () => {
    const flows = await walk('/api/flows', 50);
    const name = flows[0].attributes.name as string;
    const starts = await walk(`/api/flows?${q({ filter: `starts-with(name,'${name.slice(0, 4)}')` })}`, 50);
    assert.deepEqual(ids(starts).sort(), ids(flows.filter((f) => f.attributes.name.startsWith(name.slice(0, 4)))).sort());
    const archived = await walk('/api/flows?filter=equals(archived,true)', 50);
    assert.deepEqual(ids(archived).sort(), ids(flows.filter((f) => f.attributes.archived === true)).sort());
    // equals on sortable fields (answered from sort keys before rows are generated)
    const { status, trigger_type: trigger } = flows[1].attributes;
    const byStatus = await walk(`/api/flows?${q({ filter: `and(equals(status,'${status}'),equals(trigger_type,'${trigger}'))` })}`, 50);
    assert.deepEqual(
      ids(byStatus).sort(),
      ids(flows.filter((f) => f.attributes.status === status && f.attributes.trigger_type === trigger)).sort(),
    );
    assert.ok(byStatus.length > 0);
    const lists = await walk('/api/lists', 10);
    const byName = await walk(`/api/lists?${q({ filter: `any(name,['${lists[0].attributes.name}','no such list'])` })}`, 10);
    assert.deepEqual(ids(byName).sort(), ids(lists.filter((l) => l.attributes.name === lists[0].attributes.name)).sort());
    const tags = await walk('/api/tags', 50);
    const word = tags[0].attributes.name.slice(1, 4);
    const contains = await walk(`/api/tags?${q({ filter: `contains(name,'${word}')`, sort: '-name' })}`, 50);
    assert.deepEqual(
      ids(contains),
      ids(tags.filter((t) => t.attributes.name.includes(word)).sort((a, b) => byCodeUnits(b.attributes.name, a.attributes.name))),
    );
    const items = await walk('/api/catalog-items', 100);
    const some = [items[0].id, items[items.length - 1].id];
    const byIds = await ok(`/api/catalog-items?${q({ filter: `any(ids,[${some.map((i) => `'${i}'`).join(',')}])` })}`);
    assert.deepEqual(ids(byIds.data).sort(), [...some].sort());
  });

  void test('campaigns: a channel filter is required; archived ones only with equals(archived,true)', async () => {
    const e = await expectError('/api/campaigns', 400, 'invalid', 'filter');
    assert.match(e.detail, /channel filter is required/);
    const truth = (await admin('GET', '/__sandbox/truth')).body;
    const seen: any[] = [];
    for (const channel of ['email', 'sms', 'mobile_push']) {
      const live = await walk(`/api/campaigns?${q({ filter: `equals(messages.channel,'${channel}')` })}`, 10);
      const archived = await walk(
        `/api/campaigns?${q({ filter: `and(equals(messages.channel,'${channel}'),equals(archived,true))` })}`,
        10,
      );
      assert.ok(live.every((c) => c.attributes.archived === false));
      assert.ok(archived.every((c) => c.attributes.archived === true));
      seen.push(...live, ...archived);
    }
    assert.equal(new Set(ids(seen)).size, truth.campaigns.count);
    assert.ok(
      seen.some((c) => c.attributes.archived),
      'the account has archived campaigns',
    );
  });

  void test('sort values outside the enum, a quoted or future datetime: 400', async () => {
    await expectError('/api/profiles?sort=-nickname', 400, 'invalid', 'sort');
    await expectError('/api/metrics?sort=name', 400, 'invalid', 'sort');
    const quoted = await expectError(
      `/api/profiles?${q({ filter: "greater-than(updated,'2024-01-01T00:00:00Z')" })}`,
      400,
      'invalid',
      'filter',
    );
    assert.match(quoted.detail, /unquoted datetime/);
    const future = await expectError(
      `/api/events?${q({ filter: `greater-than(datetime,${iso(Date.now() + 86_400_000)})` })}`,
      400,
      'invalid',
      'filter',
    );
    assert.match(future.detail, /future/);
  });
});

void describe('cursors across data changes (POST /__sandbox/advance)', () => {
  void test('a cursor taken before advance resumes without repeats or skips', async () => {
    const firstPage = await ok('/api/catalog-items');
    const eventsPages = [await ok('/api/events?sort=datetime')];
    eventsPages.push(await ok(eventsPages[0].links.next));
    const before = (await admin('GET', '/__sandbox/truth')).body;

    const advanced = await admin('POST', '/__sandbox/advance', {});
    assert.equal(advanced.status, 200, advanced.text);
    assert.ok(advanced.body.eventsAppended > 0 && advanced.body.catalogItemsDeleted > 0, advanced.text);
    const afterTruth = (await admin('GET', '/__sandbox/truth')).body;
    assert.equal(afterTruth.events.count, before.events.count + advanced.body.eventsAppended);

    // Catalog items (by id): the rest of the walk is exactly the live items after the first page's last id.
    const rest: any[] = [];
    for (let url: string | undefined = firstPage.links.next; url;) {
      const doc = await ok(url);
      rest.push(...doc.data);
      url = doc.links.next;
    }
    const live = await walk('/api/catalog-items', 100);
    const lastSeen = firstPage.data.at(-1).id;
    assert.deepEqual(
      ids(rest),
      ids(live).filter((id) => id > lastSeen),
    );

    // Events by datetime: the old cursor continues into the appended events, each event once.
    const seen = ids(eventsPages.flatMap((p) => p.data));
    for (let url: string | undefined = eventsPages[1].links.next; url;) {
      const doc = await ok(url);
      seen.push(...ids(doc.data));
      url = doc.links.next;
    }
    assert.equal(new Set(seen).size, seen.length, 'no event twice');
    assert.equal(seen.length, afterTruth.events.count, 'every event, the appended ones too');
  });
});

void describe('authentication and the revision header', () => {
  void test('missing, unknown, public and under-scoped keys', async () => {
    await expectError('/api/profiles', 401, 'not_authenticated', undefined, { key: null });
    await expectError('/api/profiles', 401, 'authentication_failed', undefined, { key: 'pk_nope' });
    const pub = await expectError('/api/profiles', 401, 'authentication_failed', undefined, { key: 'AbC123' });
    assert.match(pub.detail, /private API key \(pk_/);
    await ok('/api/profiles', { key: READ_PROFILES });
    const denied = await expectError('/api/lists', 403, 'permission_denied', undefined, { key: READ_PROFILES });
    assert.match(denied.detail, /lists:read/);
    const both = await expectError('/api/lists/x/profiles', 403, 'permission_denied', undefined, { key: READ_PROFILES });
    assert.match(both.detail, /lists:read/);
  });

  void test('revision: required, well-formed, not newer than ours nor retired (as of 2026-06-01)', async () => {
    await expectError('/api/tags', 400, 'invalid', 'revision', { revision: null });
    await expectError('/api/tags', 400, 'invalid', 'revision', { revision: '15-07-2025' });
    const early = await expectError('/api/tags', 400, 'invalid', 'revision', { revision: '2021-06-01' });
    assert.match(early.detail, /first is 2022-10-17/);
    const newer = await expectError('/api/tags', 400, 'invalid', 'revision', { revision: '2026-01-15' });
    assert.match(newer.detail, /newer than this sandbox, which implements 2025-07-15/);
    // two years after its release a revision is retired: 2024-05-15 on 2026-05-15
    const gone = await expectError('/api/tags', 410, 'gone', 'revision', { revision: '2024-05-15' });
    assert.match(gone.detail, /2024-05-15 was retired on 2026-05-15.*send "revision: 2025-07-15"/);
    await ok('/api/tags', { revision: '2025-07-15.pre' });
    await ok('/api/tags', { revision: '2024-06-15' });
  });

  void test("2024-10-15 (Airbyte's and the Singer tap's) gets the same data, comma-listed filters included", async () => {
    // what both peers send on every events request: a top-level comma list, read as and(...)
    const from = '2024-01-01T00:00:00Z';
    const to = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const listed = `/api/events?${q({ filter: `greater-or-equal(datetime,${from}),less-or-equal(datetime,${to})`, sort: 'datetime' })}`;
    const anded = `/api/events?${q({ filter: `and(greater-or-equal(datetime,${from}),less-or-equal(datetime,${to}))`, sort: 'datetime' })}`;
    const peer = await get(listed, { revision: '2024-10-15' });
    assert.equal(peer.status, 200, peer.text.slice(0, 300));
    const ours = await get(anded);
    assert.equal(ours.status, 200, ours.text.slice(0, 300));
    assert.ok(ours.body.data.length > 0, 'the window holds events');
    // the same page, and its next link carries the same listing on
    assert.deepEqual(peer.body.data, ours.body.data);
    const nextPeer = await ok(peer.body.links.next, { revision: '2024-10-15' });
    const nextOurs = await ok(ours.body.links.next);
    assert.deepEqual(nextPeer.data, nextOurs.data);
  });
});

void describe('bad input never crashes the server', () => {
  void test('malformed and repeated parameters, unknown parameters, bad page sizes and cursors', async () => {
    await expectError('/api/profiles?filter=%E0%A4%A', 400, 'invalid', 'filter');
    await expectError('/api/profiles?sort=id&sort=-id', 400, 'invalid', 'sort');
    await expectError('/api/profiles?shoe=42', 400, 'invalid', 'shoe');
    await expectError(`/api/tags?api_key=${KEY}`, 400, 'invalid', 'api_key');
    await expectError('/api/lists?page[size]=5', 400, 'invalid', 'page[size]');
    await expectError('/api/profiles?page[size]=101', 400, 'invalid', 'page[size]');
    await expectError('/api/flows?page[size]=0', 400, 'invalid', 'page[size]');
    await expectError('/api/profiles?include=tags', 400, 'invalid', 'include');
    await expectError('/api/profiles?fields[profile]=shoe_size', 400, 'invalid', 'fields[profile]');
    await expectError('/api/profiles?page[cursor]=not-a-cursor-at-all', 400, 'invalid', 'page[cursor]');
    const first = await ok(`/api/profiles?${q({ filter: 'greater-than(updated,2020-01-01T00:00:00Z)' })}`);
    const cursor = new URL(first.links.next).searchParams.get('page[cursor]')!;
    const other = await expectError(
      `/api/profiles?${q({ filter: 'greater-than(updated,2021-01-01T00:00:00Z)', 'page[cursor]': cursor })}`,
      400,
      'invalid',
      'page[cursor]',
    );
    assert.match(other.detail, /different filter/);
  });

  void test('wrong method, unknown paths, unknown groups', async () => {
    const res = await get('/api/profiles', { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET');
    assert.equal(res.body.errors[0].code, 'method_not_allowed');
    await expectError('/api/profiles/nobody', 404, 'not_found');
    await expectError('/api/lists/NOPE00/profiles', 404, 'not_found');
    await expectError('/api/accounts', 404, 'not_found');
    await expectError('/elsewhere', 404, 'not_found');
    const health = await ok('/api/tags');
    assert.ok(health.data.length > 0, 'still serving');
  });

  void test('list and segment members: 20 by default, joined_group_at filter and sort', async () => {
    const segment = (await ok('/api/segments')).data[0];
    const members = await walk(`/api/segments/${segment.id}/profiles?page[size]=100`, 100);
    assert.ok(members.length > 0 && members.every((m) => typeof m.attributes.joined_group_at === 'string'));
    const times = members.map((m) => Date.parse(m.attributes.joined_group_at)).sort((a, b) => a - b);
    const t = Math.floor(times[Math.floor(times.length / 2)] / 1000) * 1000;
    const recent = await walk(
      `/api/segments/${segment.id}/profiles?${q({ filter: `greater-or-equal(joined_group_at,${iso(t)})`, sort: '-joined_group_at', 'page[size]': 15 })}`,
      15,
    );
    assert.deepEqual(ids(recent).sort(), ids(members.filter((m) => Date.parse(m.attributes.joined_group_at) >= t)).sort());
    const joined = recent.map((m) => Date.parse(m.attributes.joined_group_at));
    assert.deepEqual(
      joined,
      [...joined].sort((a, b) => b - a),
    );
  });
});

void describe('faults (POST /__sandbox/faults)', () => {
  after(async () => {
    await admin('POST', '/__sandbox/faults', {});
  });

  void test('failNext fails exactly the next N /api/ requests, not /__sandbox/ ones', async () => {
    const set = await admin('POST', '/__sandbox/faults', { failNext: { count: 2, status: 503 } });
    assert.deepEqual(set.body, { failNext: { count: 2, status: 503 } });
    assert.equal((await admin('GET', '/__sandbox/health')).status, 200, '/__sandbox is never faulted');
    const e = await expectError('/api/tags', 503, 'service_unavailable');
    assert.match(e.detail, /Injected fault/);
    await expectError('/api/profiles', 503, 'service_unavailable');
    await ok('/api/tags');
    assert.deepEqual((await admin('GET', '/__sandbox/faults')).body, {});
  });

  void test('shares: 429 with Retry-After, a reset socket, a slow answer', async () => {
    await admin('POST', '/__sandbox/faults', { '429': 1 });
    const throttledRes = await get('/api/tags');
    assert.equal(throttledRes.status, 429);
    assert.equal(throttledRes.headers['retry-after'], '1');
    assert.equal(throttledRes.body.errors[0].code, 'throttled');

    await admin('POST', '/__sandbox/faults', { reset: 1 });
    await assert.rejects(get('/api/tags'), 'the socket is destroyed');

    await admin('POST', '/__sandbox/faults', { slow: { p: 1, ms: 300 } });
    const t0 = Date.now();
    await ok('/api/tags');
    assert.ok(Date.now() - t0 >= 290, `slow fault took ${Date.now() - t0} ms`);
    await admin('POST', '/__sandbox/faults', {});
  });

  void test('draws are seeded: the same configuration gives the same sequence', async () => {
    const run = async () => {
      await admin('POST', '/__sandbox/faults', { '500': 0.5 });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) statuses.push((await get('/api/tags')).status);
      return statuses;
    };
    const a = await run();
    const b = await run();
    assert.deepEqual(a, b);
    assert.ok(a.includes(500) && a.includes(200), a.join(','));
    const stats = (await admin('GET', '/__sandbox/stats')).body;
    assert.ok(stats.faultsInjected['500'] >= a.filter((s) => s === 500).length * 2);
  });

  void test('mangle: each kind of the table spoils the answer its way, `count` times after `skip`', async () => {
    const other = 'http://127.0.0.1:9';
    const spoil = (mangle: Record<string, unknown>) => admin('POST', '/__sandbox/faults', { mangle: { path: '/api/tags', ...mangle } });
    await spoil({ kind: 'html-502', skip: 1, count: 2 });
    assert.equal((await get('/api/tags')).status, 200, 'skipped');
    for (let i = 0; i < 2; i++) {
      const res = await get('/api/tags');
      assert.equal(res.status, 502);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.match(res.text, /^<!DOCTYPE html>/);
    }
    assert.equal((await get('/api/tags')).status, 200, 'count spent');
    assert.equal((await get('/api/metrics')).status, 200, 'another path is never spoiled');

    await spoil({ kind: 'redirect-307', origin: other });
    const moved = await get('/api/tags?fields%5Btag%5D=name');
    assert.equal(moved.status, 307);
    assert.equal(moved.headers.location, `${other}/api/tags?fields%5Btag%5D=name`);

    await spoil({ kind: 'foreign-next', origin: other });
    assert.equal(new URL((await get('/api/tags')).body.links.next).origin, other);

    await spoil({ kind: 'retry-after-none' });
    const bare = await get('/api/tags');
    assert.deepEqual([bare.status, bare.headers['retry-after'], bare.body.errors[0].detail], [429, undefined, 'Request was throttled.']);
    await spoil({ kind: 'retry-after-huge', seconds: 99999 });
    assert.equal((await get('/api/tags')).headers['retry-after'], '99999');

    await spoil({ kind: 'no-data' });
    assert.equal('data' in (await get('/api/tags')).body, false);
    await spoil({ kind: 'data-not-array' });
    assert.equal((await get('/api/tags')).body.data, 'profiles');
    await spoil({ kind: 'record-without-id' });
    assert.equal('id' in (await get('/api/tags')).body.data[0], false);
    await spoil({ kind: 'huge-attribute', bytes: 1000 });
    assert.equal((await get('/api/tags')).body.data[0].attributes.hostile_blob.length, 1000);

    await spoil({ kind: 'never-answer' });
    await assert.rejects(
      request(`${sb.baseUrl}/api/tags`, {
        headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15' },
        headersTimeout: 300,
      }),
    );
    await spoil({ kind: 'endless-body', ms: 20 });
    const endless = await request(`${sb.baseUrl}/api/tags`, {
      headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15' },
      bodyTimeout: 300,
    });
    assert.equal(endless.statusCode, 200);
    let bytes = 0;
    const until = Date.now() + 300;
    for await (const chunk of endless.body) {
      bytes += (chunk as Buffer).length;
      if (Date.now() > until) break;
    }
    endless.body.destroy();
    assert.ok(bytes > 9, `it kept sending (${bytes} bytes)`);
    const stats = (await admin('GET', '/__sandbox/stats')).body;
    assert.equal(stats.faultsInjected['mangle:html-502'], 2);
    await admin('POST', '/__sandbox/faults', {});
  });

  void test('mangle: a bad kind or option is refused naming it', async () => {
    for (const [mangle, pattern] of [
      [{ kind: 'teapot' }, /needs a kind, one of invalid-json, .*never-answer/],
      [{ kind: 'foreign-next' }, /of kind foreign-next needs an origin/],
      [{ kind: 'redirect-301', origin: 'http://x/y' }, /needs an origin/],
      [{ kind: 'self-next', count: -1 }, /count of 0 or more/],
      [{ kind: 'self-next', colour: 'red' }, /no option "colour"/],
    ] as const) {
      const res = await admin('POST', '/__sandbox/faults', { mangle });
      assert.equal(res.status, 400, JSON.stringify(mangle));
      assert.match(res.body.errors[0].detail, pattern);
    }
  });

  void test('a bad configuration is refused with 400', async () => {
    const res = await admin('POST', '/__sandbox/faults', { '500': 2 });
    assert.equal(res.status, 400);
    assert.match(res.body.errors[0].detail, /between 0 and 1/);
    assert.equal((await admin('POST', '/__sandbox/faults', { teapot: 0.1 })).status, 400);
  });
});

void describe('rate limits', () => {
  after(async () => {
    await admin('POST', '/__sandbox/rate-limits', { mode: 'off' });
  });

  void test('documented tiers, including the conditional ones, in RateLimit-Limit', async () => {
    assert.deepEqual((await admin('POST', '/__sandbox/rate-limits', { mode: 'documented' })).body, { mode: 'documented' });
    const limitOf = async (p: string) => (await get(p)).headers['ratelimit-limit'];
    const list = (await ok('/api/lists')).data[0].id;
    const profile = (await ok('/api/profiles')).data[0].id;
    assert.equal(await limitOf('/api/profiles'), '75, 75;w=1, 700;w=60');
    assert.equal(await limitOf('/api/profiles?additional-fields[profile]=predictive_analytics'), '10, 10;w=1, 150;w=60');
    assert.equal(
      await limitOf(`/api/lists/${list}/profiles?additional-fields[profile]=subscriptions,predictive_analytics`),
      '10, 10;w=1, 150;w=60',
    );
    assert.equal(await limitOf(`/api/profiles/${profile}?include=segments`), '1, 1;w=1, 15;w=60');
    assert.equal(await limitOf(`/api/lists/${list}`), '75, 75;w=1, 700;w=60');
    assert.equal(await limitOf(`/api/lists/${list}?additional-fields[list]=profile_count`), '1, 1;w=1, 15;w=60');
    const segment = (await ok('/api/segments')).data[0].id;
    assert.equal(await limitOf(`/api/segments/${segment}?additional-fields[segment]=profile_count`), '1, 1;w=1, 15;w=60');
    assert.equal(await limitOf('/api/events'), '350, 350;w=1, 3500;w=60');
    const res = await get('/api/flows');
    assert.match(String(res.headers['ratelimit-remaining']), /^\d+$/);
    assert.match(String(res.headers['ratelimit-reset']), /^\d+$/);
  });

  void test('scale:N multiplies the limits; excess answers 429 throttled with Retry-After', async () => {
    await admin('POST', '/__sandbox/rate-limits', { mode: 'scale:0.01' });
    const first = await get('/api/tags');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['ratelimit-limit'], '1, 1;w=1, 1;w=60');
    const second = await get('/api/tags');
    const e = await expectError('/api/tags', 429, 'throttled');
    assert.equal(second.status, 429);
    assert.equal(second.headers['ratelimit-limit'], undefined, 'no RateLimit-* on a 429');
    const retry = Number(second.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${second.headers['retry-after']}`);
    assert.equal(e.title, 'Request was throttled.');
    assert.match(e.detail, /^Request was throttled\. Expected available in \d+ seconds?\.$/);
    assert.equal((await get('/api/metrics')).status, 200, 'limits are per operation');
    assert.equal((await get('/api/tags', { key: READ_PROFILES })).status, 403, 'and per key: another key is not throttled');
  });

  void test('a bad mode is refused', async () => {
    const res = await admin('POST', '/__sandbox/rate-limits', { mode: 'fast' });
    assert.equal(res.status, 400);
    assert.deepEqual((await admin('GET', '/__sandbox/rate-limits')).body, { mode: 'scale:0.01' });
  });
});

void describe('/__sandbox endpoints', () => {
  void test('health, truth, stats, advance, without an API key', async () => {
    const health = await admin('GET', '/__sandbox/health');
    assert.equal(health.body.ok, true);
    assert.equal(health.body.revision, '2025-07-15');
    assert.match(health.body.version, /^\d+\.\d+\.\d+/);
    const truth = (await admin('GET', '/__sandbox/truth')).body;
    assert.deepEqual(Object.keys(truth).sort(), [
      'campaign_messages',
      'campaigns',
      'catalog_categories',
      'catalog_items',
      'catalog_variants',
      'coupon_codes',
      'coupons',
      'events',
      'flow_actions',
      'flow_messages',
      'flows',
      'forms',
      'global_exclusions',
      'list_profiles',
      'lists',
      'metrics',
      'profiles',
      'segment_profiles',
      'segments',
      'tag_groups',
      'tags',
      'templates',
    ]);
    const stats = (await admin('GET', '/__sandbox/stats')).body;
    assert.ok(stats.operations.get_profiles['200'] > 10, JSON.stringify(stats.operations.get_profiles));
    assert.ok(stats.operations.get_lists['403'] >= 1);
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000).toISOString();
    const advanced = await admin('POST', '/__sandbox/advance', { scale: 2, at });
    assert.equal(advanced.status, 200, advanced.text);
    assert.equal(Date.parse(advanced.body.at), Date.parse(at));
    const later = (await admin('GET', '/__sandbox/truth')).body;
    assert.equal(later.events.count, truth.events.count + advanced.body.eventsAppended);
  });

  void test('bad bodies and unknown endpoints', async () => {
    const res = await request(`${sb.baseUrl}/__sandbox/advance`, { method: 'POST', body: '{nope' });
    assert.equal(res.statusCode, 400);
    assert.match(await res.body.text(), /not valid JSON/);
    assert.equal((await admin('POST', '/__sandbox/advance', { at: '2001-01-01T00:00:00Z' })).status, 400, 'at before the account clock');
    assert.equal((await admin('POST', '/__sandbox/advance', { scale: -1 })).status, 400);
    assert.equal((await admin('GET', '/__sandbox/nothing')).status, 404);
    assert.equal((await admin('GET', '/__sandbox/advance')).status, 405);
  });
});

void test('--log writes a line per request and never the API key', () => {
  const out = sb.output();
  assert.match(out, /GET \/api\/profiles\?page\[size\]=37\S* 200 [\d.]+ms/);
  assert.ok(!out.includes(KEY) && !out.includes(READ_PROFILES), 'an API key appears in the output');
});

void describe('the reporting API (POST /api/*-reports)', () => {
  const CT = { 'content-type': 'application/vnd.api+json' };
  let metric: string;
  async function post(p: string, body: unknown, opts: { key?: string; headers?: Record<string, string>; raw?: string } = {}): Promise<Res> {
    const res = await request(`${sb.baseUrl}${p}`, {
      method: 'POST',
      headers: { authorization: `Klaviyo-API-Key ${opts.key ?? KEY}`, revision: '2025-07-15', ...CT, ...opts.headers },
      body: opts.raw ?? JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, body: JSON.parse(text) };
  }
  const flowValues = (attributes: Record<string, unknown>) => ({
    data: { type: 'flow-values-report', attributes: { statistics: ['recipients', 'clicks'], conversion_metric_id: metric, ...attributes } },
  });
  async function expectBodyError(p: string, body: unknown, pointer: string | undefined, detail: RegExp, status = 400): Promise<void> {
    const res = await post(p, body);
    assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 200)}: ${res.text.slice(0, 300)}`);
    const e = res.body.errors[0];
    assert.equal(e.status, status);
    if (pointer !== undefined) assert.equal(e.source?.pointer, pointer, e.detail);
    assert.match(e.detail, detail);
  }
  // A month wholly before the sandbox's start, so that the answers do not move with the clock.
  const month = { start: '2026-09-01T00:00:00+00:00', end: '2026-10-01T00:00:00+00:00' };
  const HOUR = 3_600_000;

  before(async () => {
    metric = (await ok('/api/metrics')).data[0].id;
  });

  void test('the request body is held to the official DTO: 400s that point at the member, 415, 405, 401, 403', async () => {
    const p = '/api/flow-values-reports';
    await expectBodyError(
      p,
      flowValues({ timeframe: month, statistics: ['opens', 'total_members'] }),
      '/data/attributes/statistics/1',
      /expected one of/,
    );
    await expectBodyError(p, { data: { type: 'campaign-values-report', attributes: {} } }, '/data/type', /flow-values-report/);
    await expectBodyError(p, flowValues({}), '/data/attributes/timeframe', /timeframe|expected/);
    await expectBodyError(p, flowValues({ timeframe: { key: 'last_2_days' } }), '/data/attributes/timeframe', /last_30_days/);
    await expectBodyError(p, flowValues({ timeframe: { ...month, key: 'today' } }), '/data/attributes/timeframe', /key/);
    await expectBodyError(p, flowValues({ timeframe: month, group_by: ['flow_id'] }), '/data/attributes', /group_by/);
    await expectBodyError(
      p,
      flowValues({ timeframe: { start: month.end, end: month.start } }),
      '/data/attributes/timeframe',
      /before its end/,
    );
    await expectBodyError(
      p,
      flowValues({ timeframe: { start: '2025-01-01T00:00:00Z', end: '2026-06-01T00:00:00Z' } }),
      '/data/attributes/timeframe',
      /1 year/,
    );
    await expectBodyError(
      p,
      flowValues({ timeframe: month, conversion_metric_id: 'NOPE00' }),
      '/data/attributes/conversion_metric_id',
      /no metric/,
    );
    const noMetric = flowValues({ timeframe: month });
    delete (noMetric.data.attributes as Record<string, unknown>).conversion_metric_id;
    await expectBodyError(p, noMetric, '/data/attributes/conversion_metric_id', /expected string/);
    const series = (interval: string, timeframe: unknown) => ({
      data: { type: 'flow-series-report', attributes: { statistics: ['opens'], conversion_metric_id: metric, timeframe, interval } },
    });
    await expectBodyError('/api/flow-series-reports', series('hourly', month), '/data/attributes/interval', /7 days/);
    await expectBodyError('/api/flow-series-reports', series('daily', { key: 'last_90_days' }), '/data/attributes/interval', /60 days/);
    await expectBodyError('/api/flow-series-reports', series('yearly', month), '/data/attributes/interval', /expected one of/);
    const segments = {
      data: {
        type: 'segment-series-report',
        attributes: {
          statistics: ['total_members'],
          interval: 'monthly',
          timeframe: { start: '2023-01-01T00:00:00Z', end: '2023-12-01T00:00:00Z' },
        },
      },
    };
    await expectBodyError('/api/segment-series-reports', segments, '/data/attributes/timeframe', /June 1st, 2023/);

    const bodyless = await post(p, null, { raw: '{"data":' });
    assert.equal(bodyless.status, 400);
    assert.equal(bodyless.body.errors[0].code, 'parse_error');
    const text = await post(p, flowValues({ timeframe: month }), { headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415, text.text);
    const cursor = await request(`${sb.baseUrl}${p}?page_cursor=abc`, {
      method: 'POST',
      headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15', ...CT },
      body: JSON.stringify(flowValues({ timeframe: month })),
    });
    assert.equal(cursor.statusCode, 400);
    assert.equal(((await cursor.body.json()) as any).errors[0].source.parameter, 'page_cursor');
    const asGet = await get(p);
    assert.equal(asGet.status, 405);
    assert.equal(asGet.headers.allow, 'POST');
    assert.equal((await get('/api/profiles', { method: 'POST', body: '{}' })).status, 405, 'a GET operation still refuses POST');
    assert.equal((await post(p, flowValues({ timeframe: month }), { key: 'pk_nobody' })).status, 401);
    const scoped = await post(p, flowValues({ timeframe: month }), { key: READ_PROFILES });
    assert.equal(scoped.status, 403);
    assert.match(scoped.body.errors[0].detail, /flows:read/);
  });

  void test('filters: the documented fields and operators, one per field, and nothing else', async () => {
    const p = '/api/campaign-values-reports';
    const campaignValues = (filter: string) => ({
      data: {
        type: 'campaign-values-report',
        attributes: { statistics: ['recipients'], conversion_metric_id: metric, timeframe: { key: 'last_365_days' }, filter },
      },
    });
    const all = await post(p, campaignValues('contains-any(send_channel,["email","sms","push-notification"])'));
    assert.equal(all.status, 200, all.text);
    const rows = all.body.data.attributes.results as Array<{ groupings: Record<string, string> }>;
    assert.ok(rows.length > 3, 'sent campaigns in the last year');
    const one = rows[0].groupings.campaign_id;
    const narrowed = await post(
      p,
      campaignValues(`and(equals(campaign_id,"${one}"),equals(send_channel,"${rows[0].groupings.send_channel}"))`),
    );
    assert.deepEqual(
      narrowed.body.data.attributes.results,
      (all.body.data.attributes.results as any[]).filter((r) => r.groupings.campaign_id === one),
    );
    assert.deepEqual(narrowed.body.data.relationships.campaigns.data, [{ type: 'campaign', id: one }]);
    const pointer = '/data/attributes/filter';
    await expectBodyError(
      p,
      campaignValues('equals(flow_id,"x")'),
      pointer,
      /not a valid filter field.*send_channel, campaign_id, campaign_message_id/,
    );
    await expectBodyError(p, campaignValues('any(campaign_id,["x"])'), pointer, /not a valid filter operator/);
    await expectBodyError(
      p,
      campaignValues('and(equals(campaign_id,"a"),equals(campaign_id,"b"))'),
      pointer,
      /one filter can be used per attribute/,
    );
    await expectBodyError(p, campaignValues('equals(send_channel,"whatsapp")'), pointer, /push-notification/);
    await expectBodyError(p, campaignValues('or(equals(campaign_id,"a"),equals(campaign_id,"b"))'), pointer, /and/);
    await expectBodyError(p, campaignValues('equals(campaign_id,["a"])'), pointer, /one quoted string/);
    const segment = (filter: string) => ({
      data: { type: 'segment-series-report', attributes: { statistics: ['total_members'], interval: 'weekly', timeframe: month, filter } },
    });
    const segmentId = (await ok('/api/segments')).data[0].id;
    const segs = await post('/api/segment-series-reports', segment(`any(segment_id,["${segmentId}","NOPE00"])`));
    assert.equal(segs.status, 200, segs.text);
    assert.deepEqual(
      segs.body.data.attributes.results.map((r: any) => r.groupings),
      [{ segment_id: segmentId }],
    );
  });

  void test('numbers: identical requests answer identically; a daily series sums to the values over the same month', async () => {
    const values = await post('/api/flow-values-reports', flowValues({ timeframe: month }));
    assert.equal(values.status, 200, values.text);
    assert.equal((await post('/api/flow-values-reports', flowValues({ timeframe: month }))).text, values.text);
    const series = await post('/api/flow-series-reports', {
      data: {
        type: 'flow-series-report',
        attributes: { statistics: ['recipients', 'clicks'], conversion_metric_id: metric, timeframe: month, interval: 'daily' },
      },
    });
    assert.equal(series.status, 200, series.text);
    const dates = series.body.data.attributes.date_times as string[];
    assert.equal(dates.length, 30);
    assert.deepEqual(dates.slice(0, 2), ['2026-09-01T00:00:00+00:00', '2026-09-02T00:00:00+00:00']);
    const v = values.body.data.attributes.results as any[];
    const s = series.body.data.attributes.results as any[];
    assert.deepEqual(
      s.map((r) => r.groupings),
      v.map((r) => r.groupings),
      'the same groupings in the same order',
    );
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    let recipients = 0;
    v.forEach((r, i) => {
      assert.equal(sum(s[i].statistics.recipients), r.statistics.recipients);
      assert.equal(sum(s[i].statistics.clicks), r.statistics.clicks);
      recipients += r.statistics.recipients;
    });
    assert.ok(recipients > 0, 'the flows sent something');
    // a rate is computed from the summed counts, and a different conversion metric gives other conversions
    const rates = await post(
      '/api/flow-values-reports',
      flowValues({ timeframe: month, statistics: ['click_rate', 'clicks_unique', 'delivered'] }),
    );
    for (const r of rates.body.data.attributes.results as any[])
      assert.equal(r.statistics.click_rate, r.statistics.delivered ? r.statistics.clicks_unique / r.statistics.delivered : 0);
  });

  void test('only what exists has rows: sent campaigns of the timeframe, live flows, with their ids', async () => {
    const range = { start: '2026-03-01T00:00:00+00:00', end: '2026-06-01T00:00:00+00:00' };
    const res = await post('/api/campaign-values-reports', {
      data: {
        type: 'campaign-values-report',
        attributes: { statistics: ['recipients'], conversion_metric_id: metric, timeframe: range, filter: 'equals(send_channel,"email")' },
      },
    });
    assert.equal(res.status, 200, res.text);
    const listed = [
      ...(await walk(`/api/campaigns?filter=${encodeURIComponent("equals(messages.channel,'email')")}`, 10)),
      ...(await walk(`/api/campaigns?filter=${encodeURIComponent("and(equals(messages.channel,'email'),equals(archived,true))")}`, 10)),
    ];
    const [from, to] = [Date.parse(range.start), Date.parse(range.end)];
    const sent = listed
      .filter((c) => ['Sent', 'Variations Sent'].includes(c.attributes.status) && c.attributes.send_time)
      .filter(
        (c) => Date.parse(c.attributes.send_time) + 24 * HOUR > from && Math.floor(Date.parse(c.attributes.send_time) / HOUR) * HOUR < to,
      )
      .map((c) => c.id)
      .sort();
    const got = [...new Set((res.body.data.attributes.results as any[]).map((r) => r.groupings.campaign_id))].sort();
    assert.ok(sent.length > 0);
    assert.deepEqual(got, sent);
    const flows = await post('/api/flow-values-reports', flowValues({ timeframe: month }));
    const live = new Set((await walk('/api/flows?page[size]=50', 50)).filter((f) => f.attributes.status === 'live').map((f) => f.id));
    for (const r of flows.body.data.attributes.results as any[]) assert.ok(live.has(r.groupings.flow_id), `${r.groupings.flow_id} is live`);
    assert.deepEqual(
      new Set(flows.body.data.relationships.flows.data.map((f: any) => f.id)),
      new Set((flows.body.data.attributes.results as any[]).map((r) => r.groupings.flow_id)),
    );
  });

  void test('injected faults reach report POSTs as they reach GETs', async () => {
    await admin('POST', '/__sandbox/faults', { failNext: { count: 1, status: 503 } });
    const failed = await post('/api/flow-values-reports', flowValues({ timeframe: month }));
    assert.equal(failed.status, 503);
    assert.equal(failed.body.errors[0].code, 'service_unavailable');
    assert.equal((await post('/api/flow-values-reports', flowValues({ timeframe: month }))).status, 200, 'only the next one');
  });

  void test('rate limits: 1/s, 2/m and 225/d per operation under documented, none when off', async () => {
    await admin('POST', '/__sandbox/rate-limits', { mode: 'documented' });
    try {
      const first = await post('/api/flow-values-reports', flowValues({ timeframe: month }));
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers['ratelimit-limit'], '1, 1;w=1, 2;w=60, 225;w=86400');
      const second = await post('/api/flow-values-reports', flowValues({ timeframe: month }));
      assert.equal(second.status, 429, 'the burst of 1/s');
      assert.ok(Number(second.headers['retry-after']) >= 1);
      assert.equal(
        (
          await post('/api/flow-series-reports', {
            data: {
              type: 'flow-series-report',
              attributes: { statistics: ['opens'], conversion_metric_id: metric, timeframe: month, interval: 'weekly' },
            },
          })
        ).status,
        200,
        'per operation',
      );
    } finally {
      await admin('POST', '/__sandbox/rate-limits', { mode: 'off' });
    }
    for (let i = 0; i < 5; i++) assert.equal((await post('/api/flow-values-reports', flowValues({ timeframe: month }))).status, 200);
  });
});

void describe('the daily window (RateLimiter, on a fake clock)', () => {
  const tier = { name: 'default', burst: 1, steady: 2, daily: 225 };
  const day = Date.UTC(2026, 11, 7);

  void test('the 226th request of a UTC day answers 429 with Retry-After until midnight; the next day is new', () => {
    const limiter = new RateLimiter({ kind: 'documented' });
    // 225 requests, one every 30 s from midnight: inside 1/s and 2/m, so only the day can refuse
    for (let i = 0; i < 225; i++) {
      const d = limiter.take('k', 'query_flow_values', tier, day + i * 30_000);
      assert.equal(d.ok, true, `request ${i + 1}`);
    }
    const at = day + 225 * 30_000;
    const refused = limiter.take('k', 'query_flow_values', tier, at);
    assert.equal(refused.ok, false);
    if (refused.ok) return;
    assert.equal(refused.error.status, 429);
    assert.equal(refused.error.headers['retry-after'], String(Math.ceil((day + 86_400_000 - at) / 1000)));
    assert.equal(limiter.take('k', 'query_flow_series', tier, at).ok, true, 'per operation');
    assert.equal(limiter.take('other', 'query_flow_values', tier, at).ok, true, 'per key');
    assert.equal(limiter.take('k', 'query_flow_values', tier, day + 86_400_000).ok, true, 'a new day');
  });

  void test('off never refuses; scale:N scales the day; a tier without a day has none', () => {
    const off = new RateLimiter({ kind: 'off' });
    for (let i = 0; i < 300; i++) assert.equal(off.take('k', 'q', tier, day + i * 30_000).ok, true);
    const scaled = new RateLimiter({ kind: 'scale', factor: 0.02 });
    assert.deepEqual(scaled.limits(tier), { burst: 1, steady: 1, daily: 5 });
    for (let i = 0; i < 5; i++) assert.equal(scaled.take('k', 'q', tier, day + i * 61_000).ok, true);
    assert.equal(scaled.take('k', 'q', tier, day + 5 * 61_000).ok, false);
    const plain = new RateLimiter({ kind: 'documented' });
    const noDay = { name: 'default', burst: 1, steady: 2 };
    for (let i = 0; i < 300; i++) assert.equal(plain.take('k', 'q', noDay, day + i * 30_000).ok, true);
    assert.equal(plain.limits(noDay).daily, null);
  });
});

void test('timeframe keys: every key of the spec, in UTC, as calendar ranges ending at or before now', () => {
  const now = Date.parse('2026-12-08T10:30:00Z'); // a Tuesday
  const d = (text: string) => Date.parse(`${text}T00:00:00Z`);
  const want: Record<string, [number, number]> = {
    today: [d('2026-12-08'), now],
    yesterday: [d('2026-12-07'), d('2026-12-08')],
    last_7_days: [d('2026-12-01'), d('2026-12-08')],
    last_30_days: [d('2026-11-08'), d('2026-12-08')],
    last_90_days: [d('2026-09-09'), d('2026-12-08')],
    last_365_days: [d('2025-12-08'), d('2026-12-08')],
    this_week: [d('2026-12-06'), now],
    last_week: [d('2026-11-29'), d('2026-12-06')],
    this_month: [d('2026-12-01'), now],
    last_month: [d('2026-11-01'), d('2026-12-01')],
    last_3_months: [d('2026-09-01'), d('2026-12-01')],
    last_12_months: [d('2025-12-01'), d('2026-12-01')],
    this_year: [d('2026-01-01'), now],
    last_year: [d('2025-01-01'), d('2026-01-01')],
  };
  const keys = REPORTS[0].spec.timeframeKeys;
  assert.deepEqual([...keys].sort(), Object.keys(want).sort(), 'the spec has these 14 keys');
  for (const key of keys) assert.deepEqual(keyedTimeframe(key, now), want[key], key);
  for (const r of REPORTS) assert.deepEqual(r.spec.timeframeKeys, keys, `${r.id} takes the same keys`);
});

void test('series buckets: from the bucket holding the start, hourly, daily, weekly (Sundays) and monthly', () => {
  const t = (text: string) => Date.parse(text);
  const iso = (ms: number[]) => ms.map((m) => new Date(m).toISOString());
  assert.deepEqual(iso(bucketStarts('hourly', t('2026-09-01T22:30:00Z'), t('2026-09-02T01:00:00Z'))), [
    '2026-09-01T22:00:00.000Z',
    '2026-09-01T23:00:00.000Z',
    '2026-09-02T00:00:00.000Z',
  ]);
  assert.equal(bucketStarts('daily', t('2026-09-01T00:00:00Z'), t('2026-10-01T00:00:00Z')).length, 30);
  assert.deepEqual(iso(bucketStarts('weekly', t('2026-09-01T00:00:00Z'), t('2026-09-14T00:00:00Z'))), [
    '2026-08-30T00:00:00.000Z',
    '2026-09-06T00:00:00.000Z',
    '2026-09-13T00:00:00.000Z',
  ]);
  assert.deepEqual(iso(bucketStarts('monthly', t('2026-01-15T00:00:00Z'), t('2026-03-02T00:00:00Z'))), [
    '2026-01-01T00:00:00.000Z',
    '2026-02-01T00:00:00.000Z',
    '2026-03-01T00:00:00.000Z',
  ]);
});
