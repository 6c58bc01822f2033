/**
 * Answers one authorised GET on one of the operations: validates every query parameter against the operation's
 * spec, runs the filtered, sorted, keyset-paginated listing and writes the JSON:API document.
 */
import type { Account, Row } from '../account/types';
import { decodeCursor, encodeCursor } from './cursor';
import { pathSegment, writeResource, type Shape, type TextOut } from './documents';
import { invalid, notFound } from './errors';
import { compileFilter, parseFilter, type CompiledCondition } from './filter';
import { INCLUDED_RELATIONSHIPS, includedFor } from './included';
import { listPage, type RangeCache } from './listing';
import { ByteSink } from './sink';
import type { Operation } from './operations';
import type { ParsedQuery } from './query';

export interface ApiRequest {
  account: Account;
  operation: Operation;
  /** the decoded `{id}` of the path, if the operation has one */
  pathId: string | null;
  query: ParsedQuery;
  /** scheme, host and port for links */
  base: string;
  now: number;
  ranges: RangeCache;
}

const CHANNELS = ['email', 'sms', 'mobile_push'];

/** A comma-separated parameter value, each item checked against the allowed ones. */
function listParam(query: ParsedQuery, name: string, allowed: readonly string[]): string[] {
  const raw = query.params.get(name);
  if (raw === undefined) return [];
  const items = raw.split(',').map((s) => s.trim());
  const bad = items.filter((i) => !allowed.includes(i));
  if (items.some((i) => i === ''))
    throw invalid(name, `'${name}' has an empty value; send a comma-separated list of: ${allowed.join(', ')}.`);
  if (bad.length > 0) {
    throw invalid(name, `'${bad[0]}' is not a valid value for '${name}'. Allowed values: ${allowed.join(', ')}.`);
  }
  return [...new Set(items)];
}

function checkParamNames(req: ApiRequest): void {
  const { spec } = req.operation;
  for (const name of req.query.params.keys()) {
    if (spec.queryParams.includes(name)) continue;
    const why =
      name === 'page[size]'
        ? `${spec.operationId} does not take page[size]; it serves ${req.operation.pageSize || 'one resource'} per page.`
        : `'${name}' is not a query parameter of GET ${spec.path}.`;
    throw invalid(name, `${why} Allowed parameters: ${spec.queryParams.join(', ') || 'none'}.`);
  }
}

/** The resource shape the request asks for: additional fields and sparse fieldsets per type. */
function shapeOf(req: ApiRequest): Shape {
  const { spec } = req.operation;
  const additional = new Map<string, Set<string>>();
  for (const [param, allowed] of Object.entries(spec.additionalFields)) {
    const type = /^additional-fields\[(.+)\]$/.exec(param)![1];
    additional.set(type, new Set(listParam(req.query, param, allowed)));
  }
  const fields = new Map<string, string[]>();
  for (const [param, allowed] of Object.entries(spec.fields)) {
    if (!req.query.params.has(param)) continue;
    fields.set(/^fields\[(.+)\]$/.exec(param)![1], listParam(req.query, param, allowed));
  }
  return { base: req.base, additional, fields };
}

function pageSizeOf(req: ApiRequest): number {
  const limits = req.operation.spec.pageSize;
  const raw = req.query.params.get('page[size]');
  if (!limits || raw === undefined) return req.operation.pageSize;
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= limits.min && n <= limits.max)) {
    throw invalid(
      'page[size]',
      `page[size] must be an integer from ${limits.min} to ${limits.max} for ${req.operation.id}; got '${raw.slice(0, 40)}'.`,
    );
  }
  return n;
}

/** The sort asked for, or none; `-field` sorts descending. */
function sortOf(req: ApiRequest): { field: string; descending: boolean } | null {
  const raw = req.query.params.get('sort');
  if (raw === undefined) return null;
  const allowed = req.operation.spec.sort;
  if (!allowed.includes(raw)) {
    throw invalid(
      'sort',
      allowed.length === 0
        ? `${req.operation.id} does not support sort.`
        : `'${raw.slice(0, 60)}' is not a valid sort for ${req.operation.id}. Allowed: ${allowed.join(', ')}.`,
    );
  }
  return { field: raw.replace(/^-/, ''), descending: raw.startsWith('-') };
}

/** Campaigns: a channel filter is required, and archived campaigns are listed only when the filter asks for them. */
function campaignRules(conditions: CompiledCondition[]): CompiledCondition[] {
  const channel = conditions.find((c) => c.field === 'messages.channel');
  if (!channel) {
    throw invalid(
      'filter',
      "A channel filter is required to list campaigns: filter=equals(messages.channel,'email') (or 'sms', 'mobile_push'), combined with other conditions by and(...).",
    );
  }
  if (typeof channel.equals !== 'string' || !CHANNELS.includes(channel.equals)) {
    throw invalid('filter', `messages.channel must be one of ${CHANNELS.map((c) => `'${c}'`).join(', ')}.`);
  }
  if (conditions.some((c) => c.field === 'archived')) return conditions;
  const notArchived: CompiledCondition = { field: 'archived', operator: 'equals', test: (values) => !values.includes(true), equals: false };
  return [...conditions, notArchived];
}

function filterOf(req: ApiRequest): { text: string; conditions: CompiledCondition[] } {
  const { operation } = req;
  const text = req.query.params.get('filter');
  let conditions: CompiledCondition[] = [];
  if (text !== undefined)
    conditions = compileFilter(parseFilter(text), operation.filterFields, `GET ${operation.spec.path}`, req.now).conditions;
  if (operation.id === 'get_campaigns') conditions = campaignRules(conditions);
  return { text: text ?? '', conditions };
}

/**
 * The page[cursor] value. The official SDK passes a whole `links.next` URL as the cursor and extracts the cursor
 * itself only from https:// URLs, so against this http:// sandbox it sends the URL: take the cursor out of it here.
 */
function cursorText(req: ApiRequest): string | undefined {
  const raw = req.query.params.get('page[cursor]');
  if (raw === undefined || !/^https?:\/\//.test(raw)) return raw;
  try {
    return new URL(raw).searchParams.get('page[cursor]') ?? raw;
  } catch {
    return raw;
  }
}

/** Percent-encodes a query component, leaving the URI-legal characters that keep filters readable (`,` `:` `$` `@` `/`). */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/%(2C|3A|24|40|2F)/g, (m) => decodeURIComponent(m));
}

/** The request URL rebuilt from its decoded parameters, in their order, with a valid URI encoding. */
function requestUrl(req: ApiRequest, cursor?: string): string {
  const parts = [...req.query.params]
    .filter(([name]) => cursor === undefined || name !== 'page[cursor]')
    .map(([name, value]) => `${encodeComponent(name)}=${encodeComponent(value)}`);
  if (cursor !== undefined) parts.push(`page%5Bcursor%5D=${cursor}`);
  const path = req.operation.spec.path.replace('{id}', pathSegment(req.pathId ?? ''));
  return `${req.base}${path}${parts.length ? `?${parts.join('&')}` : ''}`;
}

function includeOf(req: ApiRequest): Set<string> {
  return new Set(listParam(req.query, 'include', req.operation.spec.include));
}

/** Appends `,"included":[...]` when the request includes relationships. */
function writeIncluded(out: TextOut, rows: readonly Row[], include: ReadonlySet<string>, req: ApiRequest, shape: Shape): void {
  if (include.size === 0) return;
  out.push(',"included":[');
  includedFor(rows, include, req.account).forEach((row, i) => {
    if (i > 0) out.push(',');
    writeResource(out, row, shape, INCLUDED_RELATIONSHIPS[row.type] ?? null);
  });
  out.push(']');
}

/** An answer's bytes and the number of resources in its `data` (what the latency model charges per row). */
export interface Answer {
  body: Buffer;
  rows: number;
}

function single(req: ApiRequest): Answer {
  const { operation, account } = req;
  const shape = shapeOf(req);
  const include = includeOf(req);
  const row = account.lookup(operation.spec.resourceType, req.pathId!);
  if (!row) throw notFound(`There is no ${operation.spec.resourceType} with id '${req.pathId}'.`);
  const out = new ByteSink();
  out.push('{"data":');
  writeResource(out, row, shape, operation.relationships, include);
  writeIncluded(out, [row], include, req, shape);
  out.push('}');
  return { body: out.bytes(), rows: 1 };
}

function collection(req: ApiRequest): Answer {
  const { operation, account } = req;
  const shape = shapeOf(req);
  const include = includeOf(req);
  const pageSize = pageSizeOf(req);
  const sort = sortOf(req);
  const filter = filterOf(req);
  const table = operation.table(account, req.pathId);
  // the parent a path names: /api/lists/{id}/profiles → a list
  if (!table)
    throw notFound(`There is no ${operation.segments[operation.segments.indexOf('{id}') - 1].replace(/s$/, '')} with id '${req.pathId}'.`);

  // Without a sort, a range filter on a sortable field walks that field's order: Klaviyo promises no default
  // order, and this keeps incremental reads (greater-than(updated,...)) from scanning the whole table.
  const rangeField = sort ? null : filter.conditions.find((c) => c.bound && operation.sortFields.has(c.field))?.field;
  const sortField = sort?.field ?? rangeField ?? null;
  const descending = sort?.descending ?? false;
  const sortName = sortField === null ? null : `${descending ? '-' : ''}${sortField}`;
  const cursorState = { operationId: operation.id, parentId: req.pathId, sort: sortName, filter: filter.text };
  const rawCursor = cursorText(req);
  const after = rawCursor === undefined ? null : decodeCursor(rawCursor, cursorState);

  const out = new ByteSink(Math.min(pageSize, 200) * 4096);
  out.push('{"data":[');
  // Rows are written as the listing finds them; only an `include` needs them again afterwards.
  const rows: Row[] = [];
  let written = 0;
  const page = listPage(
    {
      table,
      tableKey: `${operation.id}\u0000${req.pathId ?? ''}`,
      version: account.version,
      sortField,
      descending,
      conditions: filter.conditions,
      kinds: operation.filterFields,
      keyed: operation.sortFields,
      sameOrder: operation.sameOrder,
      after,
      pageSize,
    },
    req.ranges,
    (row) => {
      if (written++ > 0) out.push(',');
      writeResource(out, row, shape, operation.relationships, include);
      if (include.size > 0) rows.push(row);
    },
  );

  const links: Record<string, string> = { self: requestUrl(req) };
  if (page.hasMore && page.last) links.next = requestUrl(req, encodeCursor({ ...cursorState, ...page.last }));
  out.push('],"links":', JSON.stringify(links));
  writeIncluded(out, rows, include, req, shape);
  out.push('}');
  return { body: out.bytes(), rows: written };
}

/** The JSON:API document (UTF-8 bytes) for the request and its resource count, or a thrown ApiError. */
export function answer(req: ApiRequest): Answer {
  checkParamNames(req);
  return req.operation.spec.collection ? collection(req) : single(req);
}
