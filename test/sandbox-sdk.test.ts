/**
 * The official Klaviyo Node SDK (klaviyo-api 19.0.2, revision 2025-07-15), pointed at a real sandbox process, pages
 * through all 22 streams and finds exactly what `GET /__sandbox/truth` says is there (count and ids checksum);
 * after `POST /__sandbox/advance` the truth moves and the SDK still finds it. If the SDK can sync the sandbox,
 * the sandbox speaks Klaviyo as the SDK understands it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import {
  ApiKeySession,
  CampaignsApi,
  CatalogsApi,
  EventsApi,
  FormsApi,
  CouponsApi,
  FlowsApi,
  ListsApi,
  MetricsApi,
  ProfilesApi,
  ReportingApi,
  SegmentsApi,
  TagsApi,
  TemplatesApi,
} from 'klaviyo-api';
import { IdsChecksum } from '../sandbox/account/checksum';
import { createAccount } from '../sandbox/account';
import { SIZE_PRESETS } from '../sandbox/account/presets';
import { parseReportRequest, reportDocument, reportRows, REPORTS } from '../sandbox/http/reports';
import { validateRequest } from './helpers/spec';
import { startSandbox, type SandboxProcess } from './helpers/sandbox';

const KEY = 'pk_test';
type Truth = Record<string, { count: number; checksum: string }>;
interface SdkPage {
  body: { data: Array<{ id?: string | null }>; links?: { next?: string } };
}

let sb: SandboxProcess;

function sdk(baseUrl: string) {
  const session = new ApiKeySession(KEY);
  const apis = {
    profiles: new ProfilesApi(session),
    lists: new ListsApi(session),
    segments: new SegmentsApi(session),
    campaigns: new CampaignsApi(session),
    flows: new FlowsApi(session),
    templates: new TemplatesApi(session),
    events: new EventsApi(session),
    metrics: new MetricsApi(session),
    tags: new TagsApi(session),
    catalogs: new CatalogsApi(session),
    forms: new FormsApi(session),
    coupons: new CouponsApi(session),
  };
  for (const api of Object.values(apis)) api.basePath = baseUrl;
  return apis;
}

/** An SDK (axios) error says only "Request failed with status code 400"; the body says why. */
function explain(what: string, err: unknown): Error {
  const res = (err as { response?: { status?: number; data?: unknown; config?: { url?: string; params?: unknown } } }).response;
  if (!res) return err instanceof Error ? err : new Error(String(err));
  return new Error(`${what}: HTTP ${res.status} for ${res.config?.url} ${JSON.stringify(res.config?.params)}: ${JSON.stringify(res.data)}`);
}

/** Pages with the SDK from the first page to the last, passing `links.next` back as `pageCursor`. */
async function pageAll(what: string, fetchPage: (cursor: string | undefined) => Promise<SdkPage>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 1; ; pages++) {
    let page: SdkPage;
    try {
      page = await fetchPage(cursor);
    } catch (err) {
      throw explain(`${what} page ${pages}`, err);
    }
    for (const row of page.body.data) {
      assert.ok(row.id, `${what}: a row without id`);
      ids.push(row.id);
    }
    cursor = page.body.links?.next;
    if (!cursor) return ids;
    assert.ok(pages < 5000, `${what}: more than 5000 pages, links.next probably loops`);
  }
}

/** Reads every stream through the SDK and returns, per truth stream name, the ids it saw. */
async function readAccount(baseUrl: string): Promise<Record<string, string[]>> {
  const k = sdk(baseUrl);
  const groupMembers = async (groups: string[], members: (id: string, cursor?: string) => Promise<SdkPage>, what: string) => {
    const out: string[] = [];
    for (const g of groups) for (const p of await pageAll(`${what} ${g}`, (c) => members(g, c))) out.push(`${g}:${p}`);
    return out;
  };
  const campaigns = async () => {
    const out: string[] = [];
    for (const channel of ['email', 'sms', 'mobile_push']) {
      for (const filter of [`equals(messages.channel,'${channel}')`, `and(equals(messages.channel,'${channel}'),equals(archived,true))`]) {
        out.push(...(await pageAll(`campaigns ${filter}`, (c) => k.campaigns.getCampaigns(filter, { pageCursor: c }))));
      }
    }
    return out;
  };
  const flows = async () => {
    const out: string[] = [];
    for (const filter of ['equals(archived,false)', 'equals(archived,true)']) {
      out.push(...(await pageAll(`flows ${filter}`, (c) => k.flows.getFlows({ filter, pageSize: 50, pageCursor: c }))));
    }
    return out;
  };
  // the suppressed profiles, one listing per reason, as the global_exclusions stream reads them
  const globalExclusions = async () => {
    const out: string[] = [];
    for (const reason of ['HARD_BOUNCE', 'INVALID_EMAIL', 'SPAM_COMPLAINT', 'UNSUBSCRIBE', 'USER_SUPPRESSED']) {
      const filter = `equals(subscriptions.email.marketing.suppression.reason,'${reason}')`;
      const options = {
        filter,
        additionalFieldsProfile: ['subscriptions' as const],
        fieldsProfile: ['email' as const, 'subscriptions.email.marketing' as const],
      };
      out.push(...(await pageAll(`profiles ${filter}`, (c) => k.profiles.getProfiles({ ...options, pageSize: 100, pageCursor: c }))));
    }
    return out;
  };
  const [
    profiles,
    lists,
    segments,
    campaignIds,
    flowIds,
    templates,
    events,
    metrics,
    tags,
    tagGroups,
    catalogItems,
    variants,
    categories,
    forms,
    coupons,
    exclusions,
  ] = await Promise.all([
    pageAll('profiles', (c) => k.profiles.getProfiles({ pageSize: 100, pageCursor: c })),
    pageAll('lists', (c) => k.lists.getLists({ pageCursor: c })),
    pageAll('segments', (c) => k.segments.getSegments({ pageCursor: c })),
    campaigns(),
    flows(),
    pageAll('templates', (c) => k.templates.getTemplates({ pageCursor: c })),
    pageAll('events', (c) => k.events.getEvents({ pageCursor: c })),
    pageAll('metrics', (c) => k.metrics.getMetrics({ pageCursor: c })),
    pageAll('tags', (c) => k.tags.getTags({ pageCursor: c })),
    pageAll('tag groups', (c) => k.tags.getTagGroups({ pageCursor: c })),
    pageAll('catalog items', (c) => k.catalogs.getCatalogItems({ pageCursor: c })),
    pageAll('catalog variants', (c) => k.catalogs.getCatalogVariants({ pageCursor: c })),
    pageAll('catalog categories', (c) => k.catalogs.getCatalogCategories({ pageCursor: c })),
    pageAll('forms', (c) => k.forms.getForms({ pageSize: 100, pageCursor: c })),
    pageAll('coupons', (c) => k.coupons.getCoupons({ pageCursor: c })),
    globalExclusions(),
  ]);
  const [listProfiles, segmentProfiles, campaignMessages, flowActions, couponCodes] = await Promise.all([
    groupMembers(lists, (id, c) => k.lists.getProfilesForList(id, { pageSize: 100, pageCursor: c }), 'list'),
    groupMembers(segments, (id, c) => k.segments.getProfilesForSegment(id, { pageSize: 100, pageCursor: c }), 'segment'),
    // one page per campaign: the operation takes no cursor
    groupMembers(campaignIds, (id) => k.campaigns.getMessagesForCampaign(id), 'campaign'),
    groupMembers(flowIds, (id, c) => k.flows.getActionsForFlow(id, { pageSize: 50, pageCursor: c }), 'flow'),
    // no page[size]: pages of what the sandbox serves
    groupMembers(coupons, (id, c) => k.coupons.getCouponCodesForCoupon(id, { pageCursor: c }), 'coupon'),
  ]);
  // every step asked, the ones that send nothing answering an empty listing
  const flowMessages = await groupMembers(
    flowActions.map((a) => a.slice(a.indexOf(':') + 1)),
    (id, c) => k.flows.getFlowActionMessages(id, { pageSize: 50, pageCursor: c }),
    'flow action',
  );
  return {
    profiles,
    lists,
    segments,
    campaigns: campaignIds,
    flows: flowIds,
    templates,
    events,
    metrics,
    tags,
    tag_groups: tagGroups,
    catalog_items: catalogItems,
    catalog_variants: variants,
    catalog_categories: categories,
    forms,
    coupons,
    global_exclusions: exclusions,
    list_profiles: listProfiles,
    segment_profiles: segmentProfiles,
    campaign_messages: campaignMessages,
    flow_actions: flowActions,
    flow_messages: flowMessages,
    coupon_codes: couponCodes,
  };
}

function summarize(seen: Record<string, string[]>): Truth {
  const out: Truth = {};
  for (const [stream, ids] of Object.entries(seen)) {
    assert.equal(new Set(ids).size, ids.length, `${stream}: the SDK saw ${ids.length - new Set(ids).size} ids twice`);
    const c = new IdsChecksum();
    for (const id of ids) c.add(id);
    out[stream] = { count: c.count, checksum: c.digest() };
  }
  return out;
}

async function sandboxJson(method: 'GET' | 'POST', path: string): Promise<any> {
  const res = await request(`${sb.baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: method === 'POST' ? '{}' : undefined,
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, `${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

before(async () => {
  sb = await startSandbox(['--size', 'small', '--seed', '7', '--api-key', KEY, '--rate-limits', 'off']);
});
after(async () => {
  await sb?.stop();
});

void test('the official SDK reads every stream exactly as /__sandbox/truth says, before and after advance', async () => {
  const before = (await sandboxJson('GET', '/__sandbox/truth')) as Truth;
  assert.equal(Object.keys(before).length, 22, `truth has ${Object.keys(before).join(', ')}`);
  const seen = summarize(await readAccount(sb.baseUrl));
  assert.deepEqual(seen, before, 'what the SDK read vs /__sandbox/truth');

  const summary = await sandboxJson('POST', '/__sandbox/advance');
  assert.ok(summary.eventsAppended > 0, `advance appended no events: ${JSON.stringify(summary)}`);
  const afterAdvance = (await sandboxJson('GET', '/__sandbox/truth')) as Truth;
  assert.notDeepEqual(afterAdvance, before, 'advance changed nothing in the truth');
  assert.equal(afterAdvance.events.count, before.events.count + summary.eventsAppended, 'events after advance');
  const seenAgain = summarize(await readAccount(sb.baseUrl));
  assert.deepEqual(seenAgain, afterAdvance, 'what the SDK read after advance vs /__sandbox/truth');
});

void test("the official SDK's getList and getSegment with additional-fields profile_count: each group's members, as the SDK pages them", async () => {
  const k = sdk(sb.baseUrl);
  let groups = 0;
  for (const { ids, one, members } of [
    {
      ids: () => k.lists.getLists(),
      one: (id: string) => k.lists.getList(id, { additionalFieldsList: ['profile_count'] }),
      members: (id: string, c?: string) => k.lists.getProfilesForList(id, { pageSize: 100, pageCursor: c }),
    },
    {
      ids: () => k.segments.getSegments(),
      one: (id: string) => k.segments.getSegment(id, { additionalFieldsSegment: ['profile_count'] }),
      members: (id: string, c?: string) => k.segments.getProfilesForSegment(id, { pageSize: 100, pageCursor: c }),
    },
  ]) {
    for (const g of (await ids()).body.data.slice(0, 3)) {
      const count = (await one(g.id!)).body.data.attributes.profileCount;
      let n = 0;
      let cursor: string | undefined;
      do {
        const page = (await members(g.id!, cursor)) as SdkPage;
        n += page.body.data.length;
        cursor = page.body.links?.next ? (new URL(page.body.links.next).searchParams.get('page[cursor]') ?? undefined) : undefined;
      } while (cursor);
      assert.equal(count, n, `${g.id}: profileCount`);
      groups++;
    }
  }
  assert.equal(groups, 6);
});

void describe('the reporting API through the official SDK (ReportingApi)', () => {
  // A sandbox of its own with a fixed anchor, so that an in-process account of the same seed, size and anchor is the
  // very account the process serves, and reportRows (the sandbox's documented numbers) says what it must answer.
  const ANCHOR = new Date('2026-11-01T00:00:00Z');
  const account = createAccount({ seed: 7, sizes: SIZE_PRESETS.tiny, anchor: ANCHOR });
  let rsb: SandboxProcess;
  let reporting: ReportingApi;
  let metricId: string;
  // a custom timeframe wholly in the past, so the answer does not depend on the hour the test runs
  const start = new Date('2026-09-01T00:00:00Z');
  const end = new Date('2026-10-01T00:00:00Z');
  /** values reports over the year before `end` (the longest timeframe), where even a tiny account sent campaigns */
  const yearStart = new Date('2025-10-01T00:00:00Z');

  before(async () => {
    rsb = await startSandbox(['--size', 'tiny', '--seed', '7', '--anchor', ANCHOR.toISOString(), '--api-key', KEY, '--rate-limits', 'off']);
    const session = new ApiKeySession(KEY);
    reporting = new ReportingApi(session);
    reporting.basePath = rsb.baseUrl;
    const metrics = new MetricsApi(session);
    metrics.basePath = rsb.baseUrl;
    metricId = (await metrics.getMetrics()).body.data[0].id!;
  });
  after(async () => {
    await rsb?.stop();
  });

  /** What the sandbox's own model says for a request, through the same validation the HTTP layer runs. */
  function expected(operationId: string, attributes: Record<string, unknown>, type: string) {
    const report = REPORTS.find((r) => r.id === operationId)!;
    const body = { data: { type, attributes } };
    assert.deepEqual(validateRequest(operationId, body), [], 'the expectation is a valid request');
    return reportRows(account, parseReportRequest(report, account, body, Date.now()), Date.now());
  }

  const byGrouping = (results: Array<{ groupings: object; statistics: object }>) =>
    new Map(results.map((r) => [JSON.stringify(r.groupings), r.statistics]));

  void test('queryCampaignValues and queryFlowValues: every grouping and total as the sandbox model gives them', async () => {
    const statistics = ['recipients', 'delivered', 'opens_unique', 'clicks', 'conversions', 'conversion_value', 'open_rate'];
    const campaign = await reporting
      .queryCampaignValues({
        data: {
          type: 'campaign-values-report',
          attributes: { statistics, timeframe: { start: yearStart, end }, conversionMetricId: metricId },
        },
      } as any)
      .catch((err: unknown) => {
        throw explain('queryCampaignValues', err);
      });
    const want = expected(
      'query_campaign_values',
      { statistics, timeframe: { start: yearStart.toISOString(), end: end.toISOString() }, conversion_metric_id: metricId },
      'campaign-values-report',
    );
    const got = campaign.body.data.attributes.results;
    assert.ok(want.results.length > 0, 'the year has sent campaigns');
    assert.deepEqual(byGrouping(got as any), byGrouping(want.results));
    const total = (rs: Array<{ statistics: any }>) => rs.reduce((sum, r) => sum + r.statistics.recipients, 0);
    assert.equal(total(got as any), total(want.results));
    assert.ok(total(got as any) > 0);

    const flow = await reporting
      .queryFlowValues({
        data: {
          type: 'flow-values-report',
          attributes: {
            statistics,
            timeframe: { start: yearStart, end },
            conversionMetricId: metricId,
            filter: 'equals(send_channel,"email")',
          },
        },
      } as any)
      .catch((err: unknown) => {
        throw explain('queryFlowValues', err);
      });
    const flowWant = expected(
      'query_flow_values',
      {
        statistics,
        timeframe: { start: yearStart.toISOString(), end: end.toISOString() },
        conversion_metric_id: metricId,
        filter: 'equals(send_channel,"email")',
      },
      'flow-values-report',
    );
    assert.ok(flowWant.results.length > 0, 'live email flows exist');
    assert.deepEqual(byGrouping(flow.body.data.attributes.results as any), byGrouping(flowWant.results));
    for (const r of flow.body.data.attributes.results) assert.equal((r.groupings as any).send_channel, 'email');
  });

  void test('reportDocument (the package export) is the very document the server answers, byte for byte once serialized', async () => {
    const body = {
      data: {
        type: 'flow-series-report',
        attributes: {
          statistics: ['recipients', 'conversion_value', 'open_rate'],
          timeframe: { start: start.toISOString(), end: end.toISOString() },
          interval: 'weekly',
          conversion_metric_id: metricId,
        },
      },
    };
    const res = await request(`${rsb.baseUrl}/api/flow-series-reports`, {
      method: 'POST',
      headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15', 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, text);
    assert.equal(text, JSON.stringify(reportDocument('query_flow_series', account, body, Date.now())));
    assert.ok(JSON.parse(text).data.attributes.results.length > 0);
  });

  void test('queryFlowSeries (daily) and querySegmentSeries: date_times and per-day arrays as the model gives them, summing to the values', async () => {
    const series = await reporting
      .queryFlowSeries({
        data: {
          type: 'flow-series-report',
          attributes: { statistics: ['recipients', 'clicks'], timeframe: { start, end }, interval: 'daily', conversionMetricId: metricId },
        },
      } as any)
      .catch((err: unknown) => {
        throw explain('queryFlowSeries', err);
      });
    const attrs = series.body.data.attributes;
    assert.equal(attrs.dateTimes.length, 30, 'one bucket per day of September');
    assert.equal(new Date(attrs.dateTimes[0]).toISOString(), start.toISOString());
    const want = expected(
      'query_flow_series',
      {
        statistics: ['recipients', 'clicks'],
        timeframe: { start: start.toISOString(), end: end.toISOString() },
        interval: 'daily',
        conversion_metric_id: metricId,
      },
      'flow-series-report',
    );
    assert.deepEqual(byGrouping(attrs.results as any), byGrouping(want.results));
    const values = expected(
      'query_flow_values',
      {
        statistics: ['recipients', 'clicks'],
        timeframe: { start: start.toISOString(), end: end.toISOString() },
        conversion_metric_id: metricId,
      },
      'flow-values-report',
    );
    const valuesBy = byGrouping(values.results) as Map<string, any>;
    for (const r of attrs.results as any[]) {
      const v = valuesBy.get(JSON.stringify(r.groupings));
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      assert.equal(sum(r.statistics.recipients), v.recipients, `recipients of ${JSON.stringify(r.groupings)}`);
      assert.equal(sum(r.statistics.clicks), v.clicks);
    }

    const segments = await reporting
      .querySegmentSeries({
        data: {
          type: 'segment-series-report',
          attributes: { statistics: ['total_members', 'net_members_changed'], timeframe: { start, end }, interval: 'weekly' },
        },
      } as any)
      .catch((err: unknown) => {
        throw explain('querySegmentSeries', err);
      });
    const segWant = expected(
      'query_segment_series',
      {
        statistics: ['total_members', 'net_members_changed'],
        timeframe: { start: start.toISOString(), end: end.toISOString() },
        interval: 'weekly',
      },
      'segment-series-report',
    );
    const segGot = segments.body.data.attributes.results as any[];
    assert.equal(segGot.length, account.segments.count(), 'every segment created before October has a row');
    assert.deepEqual(byGrouping(segGot), byGrouping(segWant.results));
    for (const r of segGot) {
      const t = r.statistics.total_members as number[];
      const n = r.statistics.net_members_changed as number[];
      for (let i = 1; i < t.length; i++) assert.equal(t[i] - t[i - 1], n[i], 'a week changes the total by its net change');
    }
  });
});
