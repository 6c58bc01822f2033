/**
 * Holds a real sandbox process to Klaviyo's published contract (openapi 2025-07-15): every one of the 20 GET
 * operations answers documents that validate against the spec's 200 schema on its first, a middle and its last page;
 * pages have the documented sizes; `links.next` carries the query and vanishes on the last page; filters, sorts,
 * includes and additional-fields do what they say; and error bodies validate against ClientError.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSandbox, type SandboxProcess } from './helpers/sandbox';
import { request } from 'undici';
import { REPORTS } from '../sandbox/http/reports';
import { klaviyoGet, validateRequest, validateResponse, type KlaviyoResponse } from './helpers/spec';

const KEY = 'pk_test';
const CHANNELS = ['email', 'sms', 'mobile_push'] as const;

type Resource = { type: string; id: string; attributes: Record<string, any>; relationships?: Record<string, any>; links: { self: string } };
interface Page {
  data: Resource[];
  links: { self: string; next?: string; [k: string]: unknown };
  included?: Resource[];
}
interface Walk {
  pages: Page[];
  rows: Resource[];
}

let sb: SandboxProcess;
let truth: Record<string, { count: number; checksum: string }>;

function q(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(String(v))}`)
    .join('&');
}

function assertValid(operationId: string, res: KlaviyoResponse, what: string): void {
  const errors = validateResponse(operationId, res.status, res.body);
  assert.deepEqual(errors, [], `${what}: the body does not match the spec:\n${errors.join('\n')}`);
}

async function get(pathAndQuery: string): Promise<KlaviyoResponse> {
  return klaviyoGet(sb.baseUrl, pathAndQuery, { key: KEY });
}

async function getOk(operationId: string, pathAndQuery: string): Promise<KlaviyoResponse> {
  const res = await get(pathAndQuery);
  assert.equal(res.status, 200, `GET ${pathAndQuery} answered ${res.status}: ${res.text.slice(0, 600)}`);
  assert.match(String(res.headers['content-type']), /^application\/vnd\.api\+json/, `GET ${pathAndQuery}: content-type`);
  if (['get_profile', 'get_list', 'get_segment'].includes(operationId)) assertValid(operationId, res, `GET ${pathAndQuery}`);
  return res;
}

/**
 * Follows `links.next` from `first` to the end. Every page but the last holds exactly `pageSize` rows, the last
 * 1..pageSize (0 only when it is the only page); `next` keeps the original query; ids never repeat; the first, a
 * middle and the last page validate against the spec.
 */
async function walk(operationId: string, first: string, pageSize: number): Promise<Walk> {
  const pages: Page[] = [];
  const responses: KlaviyoResponse[] = [];
  const original = new URL(first, sb.baseUrl);
  let url: string | undefined = first;
  while (url) {
    const res = await getOk(operationId, url);
    const page = res.body as Page;
    assert.ok(Array.isArray(page.data), `GET ${url}: data is not an array`);
    pages.push(page);
    responses.push(res);
    assert.ok(pages.length <= 5000, `GET ${first}: more than 5000 pages, links.next probably loops`);
    url = page.links?.next;
    if (url) {
      const next = new URL(url);
      assert.equal(next.pathname, original.pathname, `links.next ${url} left the path of ${first}`);
      assert.ok(next.searchParams.get('page[cursor]'), `links.next ${url} has no page[cursor]`);
      for (const [k, v] of original.searchParams) {
        if (k !== 'page[cursor]') assert.equal(next.searchParams.get(k), v, `links.next ${url} lost or changed ${k}=${v}`);
      }
    }
  }
  const last = pages.length - 1;
  pages.forEach((p, i) => {
    if (i < last)
      assert.equal(p.data.length, pageSize, `${first}: page ${i + 1} of ${pages.length} has ${p.data.length} rows, expected ${pageSize}`);
    else
      assert.ok(
        p.data.length <= pageSize && (p.data.length > 0 || pages.length === 1),
        `${first}: last page has ${p.data.length} rows (page size ${pageSize})`,
      );
  });
  assert.equal('next' in pages[last].links, false, `${first}: the last page still has links.next`);
  for (const i of new Set([0, Math.floor(last / 2), last]))
    assertValid(operationId, responses[i], `${first} page ${i + 1}/${pages.length}`);
  const rows = pages.flatMap((p) => p.data);
  const ids = new Set(rows.map((r) => r.id));
  assert.equal(ids.size, rows.length, `${first}: ${rows.length - ids.size} ids repeat across pages`);
  return { pages, rows };
}

const memo = new Map<string, Promise<Walk>>();
function walkOnce(operationId: string, first: string, pageSize: number): Promise<Walk> {
  let w = memo.get(first);
  if (!w) memo.set(first, (w = walk(operationId, first, pageSize)));
  return w;
}

function time(v: unknown, what: string): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  assert.ok(Number.isFinite(t), `${what}: '${String(v)}' is not a datetime`);
  return t;
}

/** Asserts `values` are in ascending (or descending) order. */
function assertOrdered(values: Array<string | number>, descending: boolean, what: string): void {
  for (let i = 1; i < values.length; i++) {
    const [a, b] = descending ? [values[i], values[i - 1]] : [values[i - 1], values[i]];
    assert.ok(a <= b, `${what}: row ${i} (${String(values[i])}) is out of order after ${String(values[i - 1])}`);
  }
}

/** Z-suffixed ISO datetime, unquoted in filters as Klaviyo wants. */
function iso(ms: number): string {
  return new Date(ms).toISOString();
}

void describe('sandbox contract against the Klaviyo 2025-07-15 spec', () => {
  before(async () => {
    sb = await startSandbox(['--size', 'small', '--seed', '7', '--api-key', KEY, '--rate-limits', 'off']);
    const res = await get('/__sandbox/truth');
    assert.equal(res.status, 200, `GET /__sandbox/truth: ${res.status} ${res.text}`);
    truth = res.body;
  });
  after(async () => {
    await sb?.stop();
  });

  void describe('each operation pages through, first, middle and last pages valid', () => {
    const fixed: Array<[string, string, number, string]> = [
      ['get_lists', '/api/lists', 10, 'lists'],
      ['get_segments', '/api/segments', 10, 'segments'],
      ['get_templates', '/api/templates', 10, 'templates'],
      ['get_events', '/api/events', 200, 'events'],
      ['get_metrics', '/api/metrics', 200, 'metrics'],
      ['get_tags', '/api/tags', 50, 'tags'],
      ['get_tag_groups', '/api/tag-groups', 25, 'tag_groups'],
      ['get_catalog_items', '/api/catalog-items', 100, 'catalog_items'],
      ['get_catalog_variants', '/api/catalog-variants', 100, 'catalog_variants'],
      ['get_catalog_categories', '/api/catalog-categories', 100, 'catalog_categories'],
    ];
    for (const [op, path, size, stream] of fixed) {
      void test(`${op}: pages of ${size}, all ${stream} once`, async () => {
        const { rows, pages } = await walkOnce(op, path, size);
        assert.equal(rows.length, truth[stream].count, `${path}: walked ${rows.length} rows, truth says ${truth[stream].count}`);
        assert.ok(rows.length > 0, `${path}: no rows at all`);
        if (truth[stream].count > size) assert.ok(pages.length > 1, `${path}: ${rows.length} rows fit one page of ${size}?`);
      });
    }

    void test('get_profiles: default page size 20, page[size]=100 walks every profile', async () => {
      const first = await getOk('get_profiles', '/api/profiles');
      assert.equal(first.body.data.length, Math.min(20, truth.profiles.count), 'default page[size] is 20');
      assertValid('get_profiles', first, 'GET /api/profiles');
      const { rows } = await walkOnce('get_profiles', '/api/profiles?page[size]=100', 100);
      assert.equal(rows.length, truth.profiles.count);
      for (const r of rows) {
        assert.equal(r.type, 'profile');
        assert.equal('subscriptions' in r.attributes, false, `profile ${r.id}: subscriptions sent without additional-fields`);
        assert.equal('predictive_analytics' in r.attributes, false, `profile ${r.id}: predictive_analytics sent without additional-fields`);
      }
    });

    void test('get_profile: first, middle and last profiles by id', async () => {
      const { rows } = await walkOnce('get_profiles', '/api/profiles?page[size]=100', 100);
      for (const row of [rows[0], rows[Math.floor(rows.length / 2)], rows[rows.length - 1]]) {
        const res = await getOk('get_profile', `/api/profiles/${row.id}`);
        assert.equal(res.body.data.id, row.id);
        assert.deepEqual(res.body.data.attributes, row.attributes, `profile ${row.id}: by id differs from the listing`);
        const more = await getOk('get_profile', `/api/profiles/${row.id}?additional-fields[profile]=subscriptions,predictive_analytics`);
        assert.ok(more.body.data.attributes.subscriptions, `profile ${row.id}: subscriptions missing though asked for`);
        assert.ok('predictive_analytics' in more.body.data.attributes, `profile ${row.id}: predictive_analytics missing though asked for`);
      }
    });

    void test('get_list, get_segment: a group by id as listed; profile_count, only when asked, is its live members', async () => {
      for (const [kind, type] of [
        ['lists', 'list'],
        ['segments', 'segment'],
      ] as const) {
        const op = `get_${type}`;
        const { rows } = await walkOnce(`get_${kind}`, `/api/${kind}`, 10);
        for (const row of [rows[0], rows[rows.length - 1]]) {
          const plain = await getOk(op, `/api/${kind}/${row.id}`);
          assert.equal(plain.body.data.id, row.id);
          assert.deepEqual(plain.body.data.attributes, row.attributes, `${type} ${row.id}: by id differs from the listing`);
          assert.equal('profile_count' in row.attributes, false, `${type} ${row.id}: profile_count listed though no listing takes it`);
          const counted = await getOk(op, `/api/${kind}/${row.id}?additional-fields[${type}]=profile_count`);
          const members = (await walk(`get_profiles_for_${type}`, `/api/${kind}/${row.id}/profiles?page[size]=100`, 100)).rows.length;
          assert.equal(counted.body.data.attributes.profile_count, members, `${type} ${row.id}: profile_count`);
        }
        assert.equal((await get(`/api/${kind}/NOSUCH`)).status, 404);
      }
    });

    void test('get_flows: page[size] default 50, page[size]=7 walks', async () => {
      const first = await getOk('get_flows', '/api/flows');
      assertValid('get_flows', first, 'GET /api/flows');
      assert.ok(first.body.data.length > 0 && first.body.data.length <= 50, `default flows page has ${first.body.data.length} rows`);
      const { rows } = await walkOnce('get_flows', '/api/flows?page[size]=7', 7);
      if (first.body.links.next === undefined) assert.equal(rows.length, first.body.data.length, 'one default page holds every flow');
    });

    void test('get_campaigns: pages of 10 per channel, archived ones apart, together the truth', async () => {
      let total = 0;
      for (const channel of CHANNELS) {
        for (const archived of [false, true]) {
          const filter = archived
            ? `and(equals(messages.channel,'${channel}'),equals(archived,true))`
            : `equals(messages.channel,'${channel}')`;
          const { rows } = await walkOnce('get_campaigns', `/api/campaigns?${q({ filter })}`, 10);
          for (const r of rows)
            assert.equal(r.attributes.archived, archived, `campaign ${r.id} (filter ${filter}): archived=${r.attributes.archived}`);
          total += rows.length;
        }
      }
      assert.equal(total, truth.campaigns.count, 'campaigns over 3 channels x archived');
    });

    void test('get_profiles_for_list / get_profiles_for_segment: every group, members carry joined_group_at', async () => {
      for (const [op, group, stream] of [
        ['get_profiles_for_list', 'lists', 'list_profiles'],
        ['get_profiles_for_segment', 'segments', 'segment_profiles'],
      ] as const) {
        const groups = (await walkOnce(group === 'lists' ? 'get_lists' : 'get_segments', `/api/${group}`, 10)).rows;
        let members = 0;
        let largest: { id: string; n: number } = { id: '', n: -1 };
        for (const g of groups) {
          const { rows } = await walkOnce(op, `/api/${group}/${g.id}/profiles?page[size]=100`, 100);
          for (const r of rows) assert.equal(r.type, 'profile');
          members += rows.length;
          if (rows.length > largest.n) largest = { id: g.id, n: rows.length };
        }
        assert.equal(members, truth[stream].count, `${stream}: members over all ${group}`);
        assert.ok(largest.n > 20, `${group}: the largest group has only ${largest.n} members; cannot test paging`);
        const first = await getOk(op, `/api/${group}/${largest.id}/profiles`);
        assertValid(op, first, `${group}/${largest.id}/profiles`);
        assert.equal(first.body.data.length, 20, 'default membership page[size] is 20');
      }
    });
  });

  void describe('filters, sorts, includes and additional-fields', () => {
    void test('profiles: greater-than(updated,T) sorted by updated, with subscriptions and predictive_analytics', async () => {
      const all = (await walkOnce('get_profiles', '/api/profiles?page[size]=100', 100)).rows;
      const times = all.map((r) => time(r.attributes.updated, `profile ${r.id} updated`)).sort((a, b) => a - b);
      const t = times[Math.floor(times.length * 0.7)];
      const expected = times.filter((x) => x > t).length;
      const filter = `greater-than(updated,${iso(t)})`;
      const path = `/api/profiles?${q({ filter, sort: 'updated', 'page[size]': 100, 'additional-fields[profile]': 'subscriptions,predictive_analytics' })}`;
      const { rows } = await walk('get_profiles', path, 100);
      assert.equal(rows.length, expected, `${filter}: ${rows.length} rows, ${expected} profiles are newer`);
      const updated = rows.map((r) => time(r.attributes.updated, `profile ${r.id}`));
      for (const u of updated) assert.ok(u > t, `${filter} returned updated=${iso(u)}`);
      assertOrdered(updated, false, 'sort=updated');
      for (const r of rows) {
        assert.ok(r.attributes.subscriptions && typeof r.attributes.subscriptions === 'object', `profile ${r.id}: no subscriptions`);
        assert.ok('predictive_analytics' in r.attributes, `profile ${r.id}: no predictive_analytics`);
      }
      const desc = await walk('get_profiles', `/api/profiles?${q({ filter, sort: '-updated', 'page[size]': 100 })}`, 100);
      assertOrdered(
        desc.rows.map((r) => time(r.attributes.updated, r.id)),
        true,
        'sort=-updated',
      );
      assert.deepEqual(desc.rows.map((r) => r.id).sort(), rows.map((r) => r.id).sort(), 'sort=-updated holds the same rows');
    });

    void test('profiles: any(id,[...]), equals(email,...) and fields[profile] sparse fieldsets', async () => {
      const all = (await walkOnce('get_profiles', '/api/profiles?page[size]=100', 100)).rows;
      const picks = [all[3], all[500 % all.length], all[all.length - 2]];
      const anyIds = await walk(
        'get_profiles',
        `/api/profiles?${q({ filter: `any(id,[${picks.map((p) => `'${p.id}'`).join(',')}])` })}`,
        20,
      );
      assert.deepEqual(anyIds.rows.map((r) => r.id).sort(), picks.map((p) => p.id).sort());
      const withEmail = all.find((r) => typeof r.attributes.email === 'string' && !r.attributes.email.includes("'"))!;
      const byEmail = await walk('get_profiles', `/api/profiles?${q({ filter: `equals(email,'${withEmail.attributes.email}')` })}`, 20);
      assert.ok(
        byEmail.rows.some((r) => r.id === withEmail.id),
        `equals(email,'${withEmail.attributes.email}') misses ${withEmail.id}`,
      );
      for (const r of byEmail.rows) assert.equal(r.attributes.email, withEmail.attributes.email);
      const sparse = await getOk('get_profiles', `/api/profiles?${q({ 'fields[profile]': 'email,created' })}`);
      assertValid('get_profiles', sparse, 'fields[profile]=email,created');
      for (const r of sparse.body.data as Resource[]) {
        assert.deepEqual(
          Object.keys(r.attributes).sort(),
          ['created', 'email'],
          `fields[profile]=email,created gave ${Object.keys(r.attributes).join(',')}`,
        );
      }
    });

    void test('events: datetime range with include=metric,profile,attributions', async () => {
      const all = (await walkOnce('get_events', '/api/events', 200)).rows;
      const times = all.map((r) => time(r.attributes.datetime, `event ${r.id}`)).sort((a, b) => a - b);
      const from = times[Math.floor(times.length * 0.4)];
      const to = times[Math.floor(times.length * 0.55)];
      const expected = times.filter((x) => x >= from && x < to).length;
      const filter = `and(greater-or-equal(datetime,${iso(from)}),less-than(datetime,${iso(to)}))`;
      const { rows, pages } = await walk(
        'get_events',
        `/api/events?${q({ filter, include: 'metric,profile,attributions', sort: 'datetime' })}`,
        200,
      );
      assert.equal(rows.length, expected, `${filter}: ${rows.length} rows, expected ${expected}`);
      const dts = rows.map((r) => time(r.attributes.datetime, `event ${r.id}`));
      for (const d of dts) assert.ok(d >= from && d < to, `${filter} returned datetime ${iso(d)}`);
      assertOrdered(dts, false, 'events sort=datetime');
      let attributed = 0;
      for (const page of pages) {
        const included = new Set((page.included ?? []).map((r) => `${r.type}:${r.id}`));
        assert.equal(included.size, (page.included ?? []).length, 'included repeats a resource');
        for (const e of page.data) {
          for (const rel of ['metric', 'profile']) {
            const d = e.relationships?.[rel]?.data;
            assert.ok(d && d.id, `event ${e.id}: relationships.${rel}.data missing though include=${rel}`);
            assert.ok(included.has(`${d.type}:${d.id}`), `event ${e.id}: ${d.type} ${d.id} is not in included`);
          }
          for (const a of e.relationships?.attributions?.data ?? []) {
            assert.ok(included.has(`attribution:${a.id}`), `event ${e.id}: attribution ${a.id} is not in included`);
            attributed++;
          }
        }
      }
      assert.ok(attributed > 0, 'some orders in the range are attributed');
    });

    void test('campaigns: each channel with include=campaign-messages,tags', async () => {
      for (const channel of CHANNELS) {
        const filter = `equals(messages.channel,'${channel}')`;
        const { pages } = await walk('get_campaigns', `/api/campaigns?${q({ filter, include: 'campaign-messages,tags' })}`, 10);
        for (const page of pages) {
          const included = new Map((page.included ?? []).map((r) => [`${r.type}:${r.id}`, r]));
          for (const c of page.data) {
            const messages = c.relationships?.['campaign-messages']?.data;
            assert.ok(Array.isArray(messages) && messages.length > 0, `campaign ${c.id}: no campaign-messages data though included`);
            for (const m of messages) {
              const msg = included.get(`campaign-message:${m.id}`);
              assert.ok(msg, `campaign ${c.id}: campaign-message ${m.id} not in included`);
              const def = msg.attributes.definition;
              if (def) assert.equal(def.channel, channel, `campaign-message ${m.id} of a ${channel} campaign has channel ${def.channel}`);
            }
            for (const t of c.relationships?.tags?.data ?? [])
              assert.ok(included.has(`tag:${t.id}`), `campaign ${c.id}: tag ${t.id} not in included`);
          }
        }
      }
    });

    void test("flow actions: each flow's steps, the ones its relationship names, valid; sorted and filtered", async () => {
      const flows = [
        ...(await walk('get_flows', `/api/flows?${q({ filter: 'equals(archived,false)' })}`, 50)).rows,
        ...(await walk('get_flows', `/api/flows?${q({ filter: 'equals(archived,true)' })}`, 50)).rows,
      ];
      let steps = 0;
      for (const f of flows) {
        const { rows } = await walk('get_actions_for_flow', `/api/flows/${f.id}/flow-actions?page[size]=50`, 50);
        assert.deepEqual(
          rows.map((a) => a.id).sort(),
          (f.relationships?.['flow-actions']?.data ?? []).map((a: { id: string }) => a.id).sort(),
          `flow ${f.id}: the steps its relationship names`,
        );
        assert.ok(
          rows.every((a) => a.attributes.status === f.attributes.status),
          "a step has its flow's status",
        );
        steps += rows.length;
      }
      assert.equal(steps, truth.flow_actions.count);
      const busy = flows.find((f) => (f.relationships?.['flow-actions']?.data ?? []).length > 2)!;
      const sorted = (await walk('get_actions_for_flow', `/api/flows/${busy.id}/flow-actions?sort=-action_type`, 50)).rows;
      assertOrdered(
        sorted.map((a) => String(a.attributes.action_type)),
        true,
        'sort=-action_type',
      );
      const sends = await walk(
        'get_actions_for_flow',
        `/api/flows/${busy.id}/flow-actions?${q({ filter: "equals(action_type,'SEND_EMAIL')" })}`,
        50,
      );
      assert.deepEqual(
        sends.rows.map((a) => a.id).sort(),
        sorted
          .filter((a) => a.attributes.action_type === 'SEND_EMAIL')
          .map((a) => a.id)
          .sort(),
      );
      assert.ok(sends.rows.length > 0, 'a flow starts with a send');
      const missing = await get('/api/flows/NOPE00/flow-actions');
      assert.equal(missing.status, 404);
    });

    void test("flow messages: a send step's one or two messages, valid, on its channel; the other steps none; sorted", async () => {
      const flows = [
        ...(await walk('get_flows', `/api/flows?${q({ filter: 'equals(archived,false)' })}`, 50)).rows,
        ...(await walk('get_flows', `/api/flows?${q({ filter: 'equals(archived,true)' })}`, 50)).rows,
      ];
      let messages = 0;
      let abTests = 0;
      const channels = new Set<string>();
      for (const f of flows) {
        for (const a of (await walk('get_actions_for_flow', `/api/flows/${f.id}/flow-actions`, 50)).rows) {
          const { rows } = await walk('get_flow_action_messages', `/api/flow-actions/${a.id}/flow-messages`, 50);
          const type = String(a.attributes.action_type);
          const channel = type === 'SEND_EMAIL' ? 'email' : type === 'SEND_SMS' ? 'sms' : undefined;
          if (!channel) {
            assert.equal(rows.length, 0, `step ${a.id} (${type}) sends nothing`);
            continue;
          }
          assert.ok(rows.length === 1 || rows.length === 2, `send step ${a.id}: one or two messages, not ${rows.length}`);
          for (const m of rows) {
            assert.equal(m.attributes.channel, channel, `message ${m.id} of a ${type} step`);
            channels.add(channel);
            const content = m.attributes.content as Record<string, unknown>;
            assert.ok(
              channel === 'sms' ? typeof content.body === 'string' : typeof content.subject === 'string',
              `message ${m.id}: content`,
            );
          }
          if (rows.length === 2) {
            abTests++;
            const sorted = (await walk('get_flow_action_messages', `/api/flow-actions/${a.id}/flow-messages?sort=-name`, 50)).rows;
            assertOrdered(
              sorted.map((m) => String(m.attributes.name)),
              true,
              'sort=-name',
            );
          }
          messages += rows.length;
        }
      }
      assert.equal(messages, truth.flow_messages.count);
      assert.deepEqual([...channels].sort(), ['email', 'sms']);
      assert.ok(abTests > 0, 'some send step tests two messages');
      const missing = await get('/api/flow-actions/1/flow-messages');
      assert.equal(missing.status, 404);
    });

    void test("coupon codes: each coupon's codes in pages of 100, valid, each id the coupon's and its code; filtered", async () => {
      const coupons = (await walk('get_coupons', '/api/coupons', 5)).rows;
      let codes = 0;
      let paged = 0;
      for (const c of coupons) {
        const { rows, pages } = await walk('get_coupon_codes_for_coupon', `/api/coupons/${c.id}/coupon-codes`, 100);
        for (const code of rows) {
          assert.equal(code.id, `${c.id}-${String(code.attributes.unique_code)}`, 'a code id is the coupon id and its unique code');
          assert.equal(code.relationships?.coupon?.data, undefined, 'the relationships carry links only');
        }
        codes += rows.length;
        if (pages.length > 1) paged++;
        const used = rows.filter((r) => r.attributes.status === 'USED').map((r) => r.id);
        const filtered = await walk(
          'get_coupon_codes_for_coupon',
          `/api/coupons/${c.id}/coupon-codes?${q({ filter: "equals(status,'USED')" })}`,
          100,
        );
        assert.deepEqual(filtered.rows.map((r) => r.id).sort(), used.sort(), `coupon ${c.id}: equals(status,'USED')`);
      }
      assert.equal(codes, truth.coupon_codes.count);
      assert.ok(codes > 0 && paged > 0, `some coupons hold more than a page of codes (${codes} codes, ${paged} paged)`);
      const missing = await get('/api/coupons/NOPE00/coupon-codes');
      assert.equal(missing.status, 404);
    });

    void test("campaign messages: every campaign's messages in one page, valid, each the channel's definition", async () => {
      for (const channel of CHANNELS) {
        for (const archived of [false, true]) {
          const filter = `and(equals(messages.channel,'${channel}'),equals(archived,${archived}))`;
          const campaigns = (await walk('get_campaigns', `/api/campaigns?${q({ filter })}`, 10)).rows;
          for (const c of campaigns) {
            const res = await getOk('get_messages_for_campaign', `/api/campaigns/${c.id}/campaign-messages`);
            assertValid('get_messages_for_campaign', res, `messages of campaign ${c.id}`);
            const page = res.body as Page;
            assert.equal(page.links?.next, undefined, 'one page: the operation takes no cursor');
            assert.deepEqual(
              page.data.map((m) => m.id),
              (c.relationships?.['campaign-messages']?.data ?? []).map((m: { id: string }) => m.id),
              `campaign ${c.id}: the messages its relationship names`,
            );
            for (const m of page.data) {
              assert.equal((m.attributes.definition as { channel?: string }).channel, channel, `message ${m.id}: channel`);
              assert.deepEqual(m.relationships?.campaign?.data, { type: 'campaign', id: c.id });
            }
          }
        }
      }
      const missing = await get('/api/campaigns/01NOSUCHCAMPAIGN0000000000/campaign-messages');
      assert.equal(missing.status, 404);
      assert.match(missing.text, /There is no campaign with id/);
    });

    void test('campaigns: sort=-created_at and a created_at window within a channel', async () => {
      const base = "equals(messages.channel,'email')";
      const sorted = await walk('get_campaigns', `/api/campaigns?${q({ filter: base, sort: '-created_at' })}`, 10);
      const created = sorted.rows.map((r) => time(r.attributes.created_at, r.id));
      assertOrdered(created, true, 'campaigns sort=-created_at');
      const cut = [...created].sort((a, b) => a - b)[Math.floor(created.length / 2)];
      const filter = `and(${base},greater-or-equal(created_at,${iso(cut)}))`;
      const recent = await walk('get_campaigns', `/api/campaigns?${q({ filter })}`, 10);
      assert.equal(recent.rows.length, created.filter((c) => c >= cut).length, filter);
    });

    void test('flows: equals(archived,true) only archived, equals(archived,false) none', async () => {
      const archived = await walk('get_flows', `/api/flows?${q({ filter: 'equals(archived,true)' })}`, 50);
      assert.ok(archived.rows.length > 0, 'the small account should have some archived flows');
      for (const r of archived.rows) assert.equal(r.attributes.archived, true, `flow ${r.id}`);
      const live = await walk('get_flows', `/api/flows?${q({ filter: 'equals(archived,false)', sort: 'name' })}`, 50);
      for (const r of live.rows) assert.equal(r.attributes.archived, false, `flow ${r.id}`);
      assertOrdered(
        live.rows.map((r) => r.attributes.name),
        false,
        'flows sort=name',
      );
      assert.equal(archived.rows.length + live.rows.length, truth.flows.count, 'archived + live flows');
    });

    void test('catalog items: any(ids,[...]) returns exactly those items', async () => {
      const all = (await walkOnce('get_catalog_items', '/api/catalog-items', 100)).rows;
      const picks = [all[0], all[Math.floor(all.length / 2)], all[all.length - 1]].map((r) => r.id);
      const filter = `any(ids,[${picks.map((id) => `'${id}'`).join(',')}])`;
      const { rows } = await walk('get_catalog_items', `/api/catalog-items?${q({ filter })}`, 100);
      assert.deepEqual(rows.map((r) => r.id).sort(), [...picks].sort(), filter);
      const sorted = await walk('get_catalog_items', '/api/catalog-items?sort=-created', 100);
      assertOrdered(
        sorted.rows.map((r) => time(r.attributes.created, r.id)),
        true,
        'catalog items sort=-created',
      );
    });

    void test('forms: page[size]=100, sort=updated_at and greater-or-equal(updated_at,T) walk each form once, in order', async () => {
      const first = await getOk('get_forms', '/api/forms');
      assert.equal(first.body.data.length, Math.min(20, truth.forms.count), 'default page[size] is 20');
      const all = (await walk('get_forms', '/api/forms?page[size]=100&sort=updated_at', 100)).rows;
      assert.equal(all.length, truth.forms.count);
      assertOrdered(
        all.map((r) => time(r.attributes.updated_at, r.id)),
        false,
        'forms sort=updated_at',
      );
      const since = String(all[Math.floor(all.length / 2)].attributes.updated_at);
      const filter = `greater-or-equal(updated_at,${since})`;
      const later = (await walk('get_forms', `/api/forms?${q({ filter, sort: 'updated_at', 'page[size]': '100' })}`, 100)).rows;
      assert.deepEqual(
        later.map((r) => r.id),
        all.filter((r) => Date.parse(String(r.attributes.updated_at)) >= Date.parse(since)).map((r) => r.id),
        filter,
      );
      assert.ok(new Set(all.map((r) => r.attributes.status)).size === 2, 'live and draft forms');
    });

    void test('global exclusions: equals(suppression.reason) with a nested sparse fieldset reads each suppressed profile once, only its email marketing', async () => {
      const seen = new Set<string>();
      for (const reason of ['HARD_BOUNCE', 'INVALID_EMAIL', 'SPAM_COMPLAINT', 'UNSUBSCRIBE', 'USER_SUPPRESSED']) {
        const filter = `equals(subscriptions.email.marketing.suppression.reason,'${reason}')`;
        const query = q({
          filter,
          'additional-fields[profile]': 'subscriptions',
          'fields[profile]': 'email,subscriptions.email.marketing',
          'page[size]': '100',
        });
        for (const r of (await walk('get_profiles', `/api/profiles?${query}`, 100)).rows) {
          assert.deepEqual(Object.keys(r.attributes).sort(), ['email', 'subscriptions'], `${r.id}: the sparse fieldset`);
          assert.deepEqual(Object.keys(r.attributes.subscriptions), ['email'], `${r.id}: only subscriptions.email`);
          const suppression = r.attributes.subscriptions.email.marketing.suppression as Array<{ reason: string; timestamp: string }>;
          assert.equal(suppression[0].reason, reason, filter);
          assert.ok(Number.isFinite(Date.parse(suppression[0].timestamp)), `${r.id}: the suppression's timestamp`);
          assert.ok(!seen.has(String(r.id)), `${r.id} under two reasons`);
          seen.add(String(r.id));
        }
      }
      assert.equal(seen.size, truth.global_exclusions.count);
      assert.ok(seen.size > 0 && seen.size < truth.profiles.count, 'some profiles are suppressed, not all');
    });

    void test("catalog variants and categories: every item's variants by item.id and include=variants; each item in its category", async () => {
      const items = (await walkOnce('get_catalog_items', '/api/catalog-items', 100)).rows;
      const variants = (await walkOnce('get_catalog_variants', '/api/catalog-variants', 100)).rows;
      const named = items.flatMap((i) => ((i.relationships?.variants?.data ?? []) as Array<{ id: string }>).map((v) => v.id));
      assert.deepEqual(named.sort(), variants.map((v) => v.id).sort(), "the items' variants are the variants listed");
      const withVariants = items.filter((i) => (i.relationships?.variants?.data ?? []).length > 0);
      const item = withVariants[0];
      const byItem = await walk('get_catalog_variants', `/api/catalog-variants?${q({ filter: `equals(item.id,'${item.id}')` })}`, 100);
      assert.deepEqual(
        byItem.rows.map((v) => v.id).sort(),
        (item.relationships!.variants!.data as Array<{ id: string }>).map((v) => v.id).sort(),
        `variants of ${item.id}`,
      );
      const included = await getOk(
        'get_catalog_items',
        `/api/catalog-items?${q({ filter: `any(ids,['${item.id}'])`, include: 'variants' })}`,
      );
      assertValid('get_catalog_items', included, 'include=variants');
      assert.deepEqual(
        ((included.body as { included?: Array<{ id: string }> }).included ?? []).map((v) => v.id).sort(),
        byItem.rows.map((v) => v.id).sort(),
      );
      const categories = (await walkOnce('get_catalog_categories', '/api/catalog-categories', 100)).rows;
      assert.ok(categories.length > 1);
      const home = await walk('get_catalog_categories', `/api/catalog-categories?${q({ filter: `equals(item.id,'${item.id}')` })}`, 100);
      assert.equal(home.rows.length, 1, `${item.id} is in one category`);
      const inIt = await walk('get_catalog_items', `/api/catalog-items?${q({ filter: `equals(category.id,'${home.rows[0].id}')` })}`, 100);
      assert.ok(
        inIt.rows.some((r) => r.id === item.id),
        'and the category lists it',
      );
    });

    void test('lists, segments, templates, tags, tag groups: sorts keep every row in order', async () => {
      const cases: Array<[string, string, string, number, string, boolean]> = [
        ['get_lists', '/api/lists', 'name', 10, 'lists', false],
        ['get_segments', '/api/segments', '-created', 10, 'segments', true],
        ['get_templates', '/api/templates', '-updated', 10, 'templates', true],
        ['get_tags', '/api/tags', 'name', 50, 'tags', false],
        ['get_tag_groups', '/api/tag-groups', '-name', 25, 'tag_groups', false],
      ];
      for (const [op, path, sort, size, stream, isTime] of cases) {
        const { rows } = await walk(op, `${path}?sort=${sort}`, size);
        assert.equal(rows.length, truth[stream].count, `${path}?sort=${sort}`);
        const field = sort.replace(/^-/, '');
        const values = rows.map((r) => (isTime ? time(r.attributes[field], r.id) : (r.attributes[field] as string)));
        assertOrdered(values, sort.startsWith('-'), `${path}?sort=${sort}`);
      }
    });

    void test('tags: starts-with(name,...), lists: equals(name,...), tag groups: equals(default|exclusive,true)', async () => {
      const tags = (await walkOnce('get_tags', '/api/tags', 50)).rows;
      const prefix = String(tags[0].attributes.name).slice(0, 2);
      const filter = `starts-with(name,'${prefix}')`;
      const { rows } = await walk('get_tags', `/api/tags?${q({ filter })}`, 50);
      assert.equal(rows.length, tags.filter((t) => String(t.attributes.name).startsWith(prefix)).length, filter);
      const lists = (await walkOnce('get_lists', '/api/lists', 10)).rows;
      const name = lists.map((l) => String(l.attributes.name)).find((n) => !n.includes("'"))!;
      const byName = await walk('get_lists', `/api/lists?${q({ filter: `equals(name,'${name}')` })}`, 10);
      assert.ok(byName.rows.length >= 1 && byName.rows.every((r) => r.attributes.name === name), `equals(name,'${name}')`);
      // tag groups: every account has exactly one default group; exclusive ones filter on the boolean
      const groups = (await walkOnce('get_tag_groups', '/api/tag-groups', 25)).rows;
      const defaults = await walk('get_tag_groups', `/api/tag-groups?${q({ filter: 'equals(default,true)' })}`, 25);
      assert.deepEqual(
        defaults.rows.map((g) => g.id),
        groups.filter((g) => g.attributes.default === true).map((g) => g.id),
      );
      assert.equal(defaults.rows.length, 1, 'one default tag group');
      const exclusive = await walk('get_tag_groups', `/api/tag-groups?${q({ filter: 'equals(exclusive,true)' })}`, 25);
      assert.ok(exclusive.rows.length > 0 && exclusive.rows.length < groups.length, 'some tag groups are exclusive, not all');
      assert.ok(exclusive.rows.every((g) => g.attributes.exclusive === true));
    });

    void test('memberships: sort=-joined_group_at and greater-or-equal(joined_group_at,T); the profile includes its list', async () => {
      const lists = (await walkOnce('get_lists', '/api/lists', 10)).rows;
      const sizes = await Promise.all(
        lists.map(async (l) => ({
          id: l.id,
          rows: (await walkOnce('get_profiles_for_list', `/api/lists/${l.id}/profiles?page[size]=100`, 100)).rows,
        })),
      );
      const list = sizes.reduce((a, b) => (b.rows.length > a.rows.length ? b : a));
      const joined = list.rows.map((r) => time(r.attributes.joined_group_at, r.id)).sort((a, b) => a - b);
      const cut = joined[Math.floor(joined.length / 3)];
      const filter = `greater-or-equal(joined_group_at,${iso(cut)})`;
      const { rows } = await walk(
        'get_profiles_for_list',
        `/api/lists/${list.id}/profiles?${q({ filter, sort: '-joined_group_at', 'page[size]': 30 })}`,
        30,
      );
      assert.equal(rows.length, joined.filter((j) => j >= cut).length, filter);
      assertOrdered(
        rows.map((r) => time(r.attributes.joined_group_at, r.id)),
        true,
        'sort=-joined_group_at',
      );
      const member = list.rows[0];
      const res = await getOk('get_profile', `/api/profiles/${member.id}?include=lists`);
      const included = (res.body.included ?? []) as Resource[];
      assert.ok(
        included.some((r) => r.type === 'list' && r.id === list.id),
        `profile ${member.id} is in list ${list.id} but include=lists omits it`,
      );
    });
  });

  void describe('errors validate against ClientError', () => {
    const cases: Array<[string, string, number, string | undefined]> = [
      ['get_campaigns', '/api/campaigns', 400, 'filter'],
      ['get_profiles', `/api/profiles?${q({ filter: 'equals(nickname,"x")' })}`, 400, 'filter'],
      ['get_profiles', '/api/profiles?sort=nickname', 400, 'sort'],
      ['get_lists', '/api/lists?page[size]=5', 400, 'page[size]'],
      ['get_profiles', '/api/profiles?page[cursor]=bogus', 400, 'page[cursor]'],
      ['get_profile', '/api/profiles/01NOSUCHPROFILE0000000000X', 404, undefined],
    ];
    for (const [op, path, status, parameter] of cases) {
      void test(`${path} -> ${status}`, async () => {
        const res = await get(path);
        assert.equal(res.status, status, `GET ${path}: ${res.text.slice(0, 400)}`);
        assertValid(op, res, `GET ${path}`);
        assert.ok(res.body.errors.length >= 1, 'errors is empty');
        if (parameter) assert.equal(res.body.errors[0].source?.parameter, parameter, `GET ${path}: source.parameter`);
      });
    }
  });
});

void describe('the reporting API (POST) against its official response schemas', () => {
  before(async () => {
    sb = await startSandbox(['--size', 'small', '--seed', '7', '--api-key', KEY, '--rate-limits', 'off']);
  });
  after(async () => {
    await sb?.stop();
  });

  async function post(path: string, body: unknown, contentType = 'application/vnd.api+json'): Promise<KlaviyoResponse> {
    const res = await request(`${sb.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15', 'content-type': contentType },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, body: JSON.parse(text) };
  }

  void test('every statistic of each operation, values and each interval of series: 200s that match the spec, and the requests too', async () => {
    const metric = (await get('/api/metrics')).body.data[0].id as string;
    const reports = [
      {
        id: 'query_campaign_values',
        path: '/api/campaign-values-reports',
        type: 'campaign-values-report',
        metric: true,
        intervals: [undefined],
      },
      { id: 'query_flow_values', path: '/api/flow-values-reports', type: 'flow-values-report', metric: true, intervals: [undefined] },
      {
        id: 'query_flow_series',
        path: '/api/flow-series-reports',
        type: 'flow-series-report',
        metric: true,
        intervals: ['hourly', 'daily', 'weekly', 'monthly'],
      },
      {
        id: 'query_segment_series',
        path: '/api/segment-series-reports',
        type: 'segment-series-report',
        metric: false,
        intervals: ['hourly', 'daily', 'weekly', 'monthly'],
      },
    ];
    for (const r of reports) {
      const statistics = REPORTS.find((o) => o.id === r.id)!.spec.statistics;
      for (const interval of r.intervals) {
        const body = {
          data: {
            type: r.type,
            attributes: {
              statistics,
              timeframe: { key: interval === 'hourly' ? 'last_7_days' : 'last_30_days' },
              ...(interval ? { interval } : {}),
              ...(r.metric ? { conversion_metric_id: metric } : {}),
            },
          },
        };
        assert.deepEqual(validateRequest(r.id, body), [], `${r.id}: the request is valid`);
        const res = await post(r.path, body);
        assert.equal(res.status, 200, `${r.id} ${interval ?? ''}: ${res.text.slice(0, 400)}`);
        assertValid(r.id, res, `POST ${r.path} ${interval ?? ''}`);
        const results = res.body.data.attributes.results as Array<{ statistics: Record<string, unknown> }>;
        assert.ok(results.length > 0, `${r.id}: some rows`);
        for (const row of results)
          assert.deepEqual(Object.keys(row.statistics).sort(), [...statistics].sort(), 'every statistic asked for');
        if (interval) {
          const n = res.body.data.attributes.date_times.length;
          for (const row of results) for (const v of Object.values(row.statistics)) assert.equal((v as number[]).length, n);
        }
      }
    }
  });

  void test('errors (bad body, bad content type) are ClientErrors as the spec says', async () => {
    const bad = await post('/api/flow-values-reports', { data: { type: 'flow-values-report', attributes: { statistics: ['opens'] } } });
    assert.equal(bad.status, 400);
    assertValid('query_flow_values', bad, 'a body without timeframe');
    const type = await post('/api/flow-values-reports', {}, 'text/plain');
    assert.equal(type.status, 415);
    assertValid('query_flow_values', type, 'a text/plain body');
  });
});
