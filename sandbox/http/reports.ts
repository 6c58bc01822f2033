/**
 * The reporting API: `POST /api/{campaign-values,flow-values,flow-series,segment-series}-reports`. A request body is
 * validated against the official request DTO (operations-spec.json's `reports[].requestSchema`, compiled with zod's
 * JSON Schema reader, so the spec rather than hand-written checks decides what is well-formed), then against the
 * rules the spec writes only in prose (timeframe and interval lengths, filter fields and operators, the conversion
 * metric being one of the account's). The numbers come from sandbox/account/reports.ts.
 */
import { z } from 'zod';
import {
  HOUR_MS,
  messageCounts,
  messageStatistic,
  segmentCounts,
  subjects,
  hashString,
  zeroCounts,
  type ReportKind,
  type Subject,
} from '../account/reports';
import type { Account } from '../account/types';
import { ApiError, invalid } from './errors';
import { parseFilter, type FilterNode, type FilterValue } from './filter';
import { SPEC } from './operations';
import type { ReportSpec } from './generate-operations-spec';
import type { RateTier } from './ratelimit';
import type { Answer } from './api';

export interface ReportOperation {
  id: string;
  spec: ReportSpec;
  kind: ReportKind;
  scopes: string[];
  tiers: RateTier[];
  validate: z.ZodType;
}

const KIND: Record<string, ReportKind> = {
  query_campaign_values: 'campaign',
  query_flow_values: 'flow',
  query_flow_series: 'flow',
  query_segment_series: 'segment',
};

export const REPORTS: ReportOperation[] = SPEC.reports.map((spec) => {
  const kind = KIND[spec.operationId];
  if (!kind) throw new Error(`operations-spec.json has report ${spec.operationId}, which the sandbox does not serve`);
  return {
    id: spec.operationId,
    spec,
    kind,
    scopes: spec.scopes,
    tiers: [{ name: 'default', ...spec.rateLimit }],
    validate: z.fromJSONSchema(spec.requestSchema as Parameters<typeof z.fromJSONSchema>[0]),
  };
});

/** The report operation at a path (a trailing slash allowed, as for the GETs). */
export function reportRoute(pathname: string): ReportOperation | null {
  const clean = pathname.replace(/\/+$/, '');
  return REPORTS.find((r) => r.spec.path === clean) ?? null;
}

/** A 400 on the request body, pointing at the member (JSON:API `source.pointer`). */
export function invalidBody(pointer: string, detail: string): ApiError {
  return new ApiError(400, 'invalid', 'Invalid input.', detail, { pointer });
}

// ---------------------------------------------------------------------------------------------------------------
// Timeframes and intervals (UTC: the sandbox's company timezone)

const DAY_MS = 24 * HOUR_MS;
/** "Max length: 1 year": a leap year's 366 days. */
const MAX_TIMEFRAME_MS = 366 * DAY_MS;
/** "If hourly is used, the timeframe cannot be longer than 7 days", daily 60 days, monthly 52 weeks. */
const INTERVAL_MAX_MS: Record<string, number> = {
  hourly: 7 * DAY_MS,
  daily: 60 * DAY_MS,
  weekly: MAX_TIMEFRAME_MS,
  monthly: 52 * 7 * DAY_MS,
};
/** "Data is unavailable before June 1st, 2023" (segment series). */
const SEGMENT_DATA_FROM = Date.UTC(2023, 5, 1);

const startOfDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
/** Weeks start on Sunday (Klaviyo's reporting UI does; the API docs do not say). */
const startOfWeek = (ms: number): number => startOfDay(ms) - new Date(ms).getUTCDay() * DAY_MS;
const monthStart = (ms: number, add = 0): number => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + add, 1);
};
const yearStart = (ms: number, add = 0): number => Date.UTC(new Date(ms).getUTCFullYear() + add, 0, 1);

/** A predefined key's [start, end) at `now`: "last_N_days" are the N whole days before today. */
export function keyedTimeframe(key: string, now: number): [number, number] {
  const today = startOfDay(now);
  const days = /^last_(\d+)_days$/.exec(key);
  if (days) return [today - Number(days[1]) * DAY_MS, today];
  switch (key) {
    case 'today':
      return [today, now];
    case 'yesterday':
      return [today - DAY_MS, today];
    case 'this_week':
      return [startOfWeek(now), now];
    case 'last_week':
      return [startOfWeek(now) - 7 * DAY_MS, startOfWeek(now)];
    case 'this_month':
      return [monthStart(now), now];
    case 'last_month':
      return [monthStart(now, -1), monthStart(now)];
    case 'last_3_months':
      return [monthStart(now, -3), monthStart(now)];
    case 'last_12_months':
      return [monthStart(now, -12), monthStart(now)];
    case 'this_year':
      return [yearStart(now), now];
    case 'last_year':
      return [yearStart(now, -1), yearStart(now)];
  }
  throw new Error(`unknown timeframe key ${key}`);
}

/** "Offset is ignored and the company timezone is used": the wall time as written, read in UTC. */
function wallTime(text: string): number {
  return Date.parse(`${text.slice(0, 19)}Z`);
}

function timeframeOf(raw: { key?: string; start?: string; end?: string }, now: number): [number, number] {
  if (raw.key !== undefined) return keyedTimeframe(raw.key, now);
  const start = wallTime(raw.start!);
  const end = wallTime(raw.end!);
  if (!(start < end)) throw invalidBody('/data/attributes/timeframe', 'The timeframe start must be before its end.');
  if (end - start > MAX_TIMEFRAME_MS) throw invalidBody('/data/attributes/timeframe', 'The timeframe cannot be longer than 1 year.');
  return [start, end];
}

/** The series' bucket starts (ms) from the bucket holding `start` until `end`. */
export function bucketStarts(interval: string, start: number, end: number): number[] {
  const first =
    interval === 'hourly'
      ? Math.floor(start / HOUR_MS) * HOUR_MS
      : interval === 'daily'
        ? startOfDay(start)
        : interval === 'weekly'
          ? startOfWeek(start)
          : monthStart(start);
  const out: number[] = [];
  for (let t = first, i = 1; t < end; i++) {
    out.push(t);
    t =
      interval === 'hourly'
        ? first + i * HOUR_MS
        : interval === 'daily'
          ? first + i * DAY_MS
          : interval === 'weekly'
            ? first + i * 7 * DAY_MS
            : monthStart(first, i);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Filters: "Allowed filters are ... Allowed operators are equals, contains-any. Only one filter can be used per
// attribute, only AND can be used as a combination operator. Max of 100 messages per ANY filter."

const MAX_ANY = 100;

function stringsOf(value: FilterValue | undefined): string[] | null {
  if (value?.type === 'string') return [value.value];
  if (value?.type === 'list' && value.items.every((i) => i.type === 'string'))
    return value.items.map((i) => (i as { value: string }).value);
  return null;
}

/** field → the values it may take, from the filter text; throws a 400 on anything the spec does not allow. */
function filterOf(report: ReportOperation, text: string | null | undefined): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (text === undefined || text === null) return out;
  const pointer = '/data/attributes/filter';
  let tree: FilterNode;
  try {
    tree = parseFilter(text);
  } catch (err) {
    throw invalidBody(pointer, err instanceof ApiError ? err.detail : 'The filter is malformed.');
  }
  const { filterFields, filterOperators } = report.spec;
  const conditions = tree.type === 'and' ? tree.terms : [tree];
  for (const c of conditions) {
    if (c.type !== 'condition') throw invalidBody(pointer, 'Filters cannot be nested: combine conditions with one and(...).');
    if (!filterFields.includes(c.field))
      throw invalidBody(pointer, `'${c.field}' is not a valid filter field for ${report.id}. Allowed: ${filterFields.join(', ')}.`);
    if (!filterOperators.includes(c.operator))
      throw invalidBody(
        pointer,
        `'${c.operator}' is not a valid filter operator for ${report.id}. Allowed: ${filterOperators.join(', ')}.`,
      );
    if (out.has(c.field)) throw invalidBody(pointer, `Only one filter can be used per attribute; '${c.field}' has two.`);
    const values = stringsOf(c.value);
    const isList = c.value?.type === 'list';
    if (!values || isList === (c.operator === 'equals'))
      throw invalidBody(
        pointer,
        `${c.operator}(${c.field},...) takes ${c.operator === 'equals' ? 'one quoted string' : 'a list of quoted strings'}.`,
      );
    if (values.length > MAX_ANY) throw invalidBody(pointer, `Max of ${MAX_ANY} values per ${c.operator} filter.`);
    if (c.field === 'send_channel') {
      const bad = values.find((v) => !['email', 'sms', 'push-notification'].includes(v));
      if (bad !== undefined)
        throw invalidBody(pointer, `'${bad}' is not a send_channel; allowed values are email, sms, push-notification.`);
    }
    out.set(c.field, new Set(values));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The answer

interface ReportAttributes {
  statistics: string[];
  timeframe: { key?: string; start?: string; end?: string };
  interval?: string;
  conversion_metric_id?: string;
  filter?: string | null;
}

/** The parsed, checked request: what `reportRows` needs. */
export interface ReportQuery {
  kind: ReportKind;
  statistics: string[];
  start: number;
  end: number;
  /** series only */
  interval: string | null;
  /** the metric id's hash, 0 for a segment report */
  metric: number;
  filter: Map<string, Set<string>>;
}

function pointerOf(path: PropertyKey[]): string {
  return `/${path.map(String).join('/')}`;
}

/** Validates a parsed JSON body against the DTO and the prose rules; `now` resolves the timeframe keys. */
export function parseReportRequest(report: ReportOperation, account: Account, body: unknown, now: number): ReportQuery {
  const parsed = report.validate.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // a union's own message says nothing; its branches say what each form of timeframe needs
    const detail =
      issue.code === 'invalid_union'
        ? `${pointerOf(issue.path)} must be {"key": one of ${report.spec.timeframeKeys.join(', ')}} or {"start": <date-time>, "end": <date-time>}.`
        : `${pointerOf(issue.path)}: ${issue.message}`;
    throw invalidBody(pointerOf(issue.path), detail);
  }
  const attrs = (parsed.data as { data: { attributes: ReportAttributes } }).data.attributes;
  if (attrs.statistics.length === 0) throw invalidBody('/data/attributes/statistics', 'Request at least one statistic.');
  const [start, end] = timeframeOf(attrs.timeframe, now);
  const interval = attrs.interval ?? null;
  if (interval !== null && end - start > INTERVAL_MAX_MS[interval]) {
    const limit = { hourly: '7 days', daily: '60 days', weekly: '1 year', monthly: '52 weeks' }[interval];
    throw invalidBody('/data/attributes/interval', `With interval ${interval} the timeframe cannot be longer than ${limit}.`);
  }
  if (report.kind === 'segment' && start < SEGMENT_DATA_FROM)
    throw invalidBody('/data/attributes/timeframe', 'Segment data is unavailable before June 1st, 2023; use a timeframe after that date.');
  let metric = 0;
  if (attrs.conversion_metric_id !== undefined) {
    if (!account.lookup('metric', attrs.conversion_metric_id))
      throw invalidBody('/data/attributes/conversion_metric_id', `There is no metric with id '${attrs.conversion_metric_id}'.`);
    metric = hashString(`m:${attrs.conversion_metric_id}`);
  }
  return {
    kind: report.kind,
    statistics: [...new Set(attrs.statistics)],
    start,
    end,
    interval,
    metric,
    filter: filterOf(report, attrs.filter),
  };
}

export interface ReportResult {
  groupings: Record<string, string>;
  statistics: Record<string, number | number[]>;
}

/** Hour ranges [from, to) of a request: one for a values report, one per bucket for a series. */
function hourRanges(q: ReportQuery, now: number): { dateTimes: number[] | null; ranges: Array<[number, number]> } {
  const endHour = Math.ceil(Math.min(q.end, now) / HOUR_MS);
  const clip = (from: number, to: number): [number, number] => [
    Math.floor(Math.max(from, q.start) / HOUR_MS),
    Math.min(Math.ceil(Math.min(to, q.end) / HOUR_MS), endHour),
  ];
  if (q.interval === null) return { dateTimes: null, ranges: [clip(q.start, q.end)] };
  const starts = bucketStarts(q.interval, q.start, q.end);
  const ranges = starts.map((s, i) => clip(s, i + 1 < starts.length ? starts[i + 1] : q.end));
  return { dateTimes: starts, ranges };
}

/**
 * The rows a report request answers, and its series' bucket starts: the one function the HTTP answer and the
 * tests both use, so that "what should the sandbox have said" is never a second implementation. A grouping is listed
 * when its active hours meet the timeframe (so a campaign sent before the timeframe, or a flow created after it, has
 * no row), even if all its numbers there are zero.
 */
export function reportRows(account: Account, q: ReportQuery, now: number): { dateTimes: number[] | null; results: ReportResult[] } {
  const seed = account.options.seed;
  const { dateTimes, ranges } = hourRanges(q, now);
  const from = ranges[0]?.[0] ?? 0;
  const to = ranges.length ? Math.max(...ranges.map((r) => r[1])) : 0;
  const chosen = subjects(account, q.kind).filter(
    (s: Subject) => s.fromHour < to && s.toHour > from && [...q.filter].every(([field, values]) => values.has(s.groupings[field])),
  );
  const results = chosen.map((s): ReportResult => {
    if (q.kind === 'segment') {
      const counts = segmentCounts(seed, s, ranges);
      return {
        groupings: s.groupings,
        statistics: Object.fromEntries(q.statistics.map((n) => [n, counts.map((c) => c[n as keyof typeof c])])),
      };
    }
    const counts = ranges.map(([a, b]) => messageCounts(seed, q.kind, s, q.metric, a, b, zeroCounts()));
    const stat = (n: string) => counts.map((c) => messageStatistic(n, c));
    return {
      groupings: s.groupings,
      statistics: Object.fromEntries(q.statistics.map((n) => [n, dateTimes === null ? stat(n)[0] : stat(n)])),
    };
  });
  return { dateTimes, results };
}

const isoHour = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}+00:00`;

/** The relationships a report's response lists: the campaigns, flows and flow messages its rows are about. */
function relationshipsOf(report: ReportOperation, results: ReportResult[]): Record<string, unknown> | undefined {
  const ids = (field: string, type: string) => ({
    data: [...new Set(results.map((r) => r.groupings[field]))].map((id) => ({ type, id })),
  });
  if (report.kind === 'campaign') return { campaigns: ids('campaign_id', 'campaign') };
  if (report.kind === 'flow') return { flows: ids('flow_id', 'flow'), 'flow-messages': ids('flow_message_id', 'flow-message') };
  return undefined;
}

export interface ReportRequest {
  account: Account;
  report: ReportOperation;
  params: ReadonlyMap<string, string>;
  contentType: string | undefined;
  body: Buffer;
  now: number;
}

/** The JSON:API answer to one authorised report request, or a thrown ApiError. */
export function answerReport(req: ReportRequest): Answer {
  const { report } = req;
  for (const name of req.params.keys()) {
    // The spec lists page_cursor, but this revision's response carries no `links` to take a cursor from: every
    // answer is one page, so there is no cursor the sandbox could accept.
    const why = report.spec.queryParams.includes(name)
      ? `The sandbox answers every ${report.id} in one page and issues no '${name}'.`
      : `'${name}' is not a query parameter of POST ${report.spec.path}.`;
    throw invalid(name, why);
  }
  const type = (req.contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/vnd.api+json' && type !== 'application/json') {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'Unsupported media type.',
      `Unsupported media type "${type}" in request; send the body as application/vnd.api+json.`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'parse_error', 'Malformed request.', 'The request body is not valid JSON.');
  }
  const document = reportDocument(report.id, req.account, body, req.now);
  return { body: Buffer.from(JSON.stringify(document)), rows: document.data.attributes.results.length };
}

/**
 * The whole JSON:API document the sandbox answers to a report request body (already parsed JSON) at `now`, or a
 * thrown 400 ApiError: the server's own answer, for tests (e.g. the connector's report streams, through
 * `startSandbox().account`) that check a sync against what the sandbox said, exactly.
 */
export function reportDocument(
  operationId: string,
  account: Account,
  body: unknown,
  now: number,
): { data: { type: string; attributes: { results: ReportResult[]; date_times?: string[] }; relationships?: Record<string, unknown> } } {
  const report = REPORTS.find((r) => r.id === operationId);
  if (!report) throw new Error(`${operationId} is not a report operation; they are ${REPORTS.map((r) => r.id).join(', ')}`);
  const query = parseReportRequest(report, account, body, now);
  const { dateTimes, results } = reportRows(account, query, now);
  const attributes: { results: ReportResult[]; date_times?: string[] } = { results };
  if (dateTimes !== null) attributes.date_times = dateTimes.map(isoHour);
  const relationships = relationshipsOf(report, results);
  return { data: { type: report.spec.resourceType, attributes, ...(relationships ? { relationships } : {}) } };
}
