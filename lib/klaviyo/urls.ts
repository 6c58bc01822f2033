/**
 * The first request of a listing. Later pages follow `links.next` exactly as Klaviyo returns it: it already carries
 * the filter, sort and cursor, and re-adding parameters breaks pagination (MeltanoLabs/tap-klaviyo#179).
 */
import { parentOf, sortOf } from '../../streams/partitions';
import { requestParams } from '../../streams/options';
import type { ResourceLookup, StreamDef } from '../../streams/types';

export interface FirstPageOptions {
  /** the parent's id, for paths with `{id}` (list and segment memberships) */
  parentId?: string;
  /** the partition's fixed filter expression, e.g. `equals(messages.channel,'email')` */
  partitionFilter?: string;
  /** the watermark to resume after (any ISO 8601 instant); null or absent reads everything */
  since?: string | null;
  /** the exclusive upper bound of a time window, `less-than(<cursor>, until)`; null or absent: no upper bound */
  until?: string | null;
  /** the stream's options turned on: their query parameters join the stream's (streams/options.ts) */
  options?: readonly string[];
  now: Date;
}

/**
 * A datetime as Klaviyo filters take it: unquoted, UTC with `Z` (a `+00:00` would need encoding, and `+` decoded as
 * a space breaks the filter), whole seconds, and never later than `now`, because a future value is a 400 and a
 * cursor saved from a skewed clock would otherwise wedge the stream. Whole seconds are truncated, which can only
 * re-read rows at the boundary; writes are upserts.
 */
export function filterDatetime(since: string, now: Date): string {
  const at = new Date(since);
  if (Number.isNaN(at.getTime())) {
    throw new Error(`The cursor value ${JSON.stringify(since)} is not an ISO 8601 datetime; reset the stream's state.`);
  }
  const clamped = Math.min(at.getTime(), now.getTime());
  return new Date(Math.floor(clamped / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The terms of `expr` if it is one `and(...)` call as a whole (not `and(a,b),x`), else `[expr]`. */
function andTerms(expr: string): string[] {
  if (!expr.startsWith('and(') || !expr.endsWith(')')) return [expr];
  const terms: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 4;
  for (let i = 4; i < expr.length - 1; i++) {
    const c = expr[i];
    if (c === "'") quoted = !quoted;
    if (quoted) continue;
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    if (depth < 0) return [expr];
    if (depth === 0 && c === ',') {
      terms.push(expr.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(expr.slice(start, -1));
  return depth === 0 ? terms : [expr];
}

/**
 * `and(a,b)` when both are present, either alone otherwise (an `and` of one term is not valid); a partition filter
 * that is itself an `and(...)` is flattened into one `and` rather than nested.
 */
function combineFilters(terms: Array<string | undefined>): string | undefined {
  const flat = terms.filter((t): t is string => !!t).flatMap(andTerms);
  if (flat.length === 0) return undefined;
  return flat.length === 1 ? flat[0] : `and(${flat.join(',')})`;
}

export function firstPageUrl(baseUrl: string, stream: StreamDef, options: FirstPageOptions): string {
  let path = stream.path;
  if (path.includes('{id}')) {
    if (!options.parentId) {
      const parent = parentOf(stream)?.stream ?? 'parent';
      throw new Error(`Stream ${stream.name} reads ${stream.path} and needs the id of a ${parent} row.`);
    }
    path = path.replace('{id}', encodeURIComponent(options.parentId));
  }

  let cursorTerm: string | undefined;
  if (options.since) {
    if (!stream.cursor) {
      throw new Error(`Stream ${stream.name} has no cursor, so it cannot resume from ${options.since}.`);
    }
    cursorTerm = `${stream.cursor.operator}(${stream.cursor.field},${filterDatetime(options.since, options.now)})`;
  }
  let untilTerm: string | undefined;
  if (options.until) {
    if (!stream.cursor) throw new Error(`Stream ${stream.name} has no cursor, so it cannot read up to ${options.until}.`);
    // a bound in the future (now moved back?) is clamped like `since`: Klaviyo refuses future datetimes
    untilTerm = `less-than(${stream.cursor.field},${filterDatetime(options.until, options.now)})`;
  }

  // URLSearchParams percent-encodes `[`, `]`, `(`, `,`, `'` and `:`; Klaviyo's own next links encode the same way.
  const query = new URLSearchParams();
  const filter = combineFilters([options.partitionFilter, cursorTerm, untilTerm]);
  if (filter) query.set('filter', filter);
  const sort = sortOf(stream);
  if (sort) query.set('sort', sort);
  if (stream.pageSize !== undefined) query.set('page[size]', String(stream.pageSize));
  for (const [name, value] of Object.entries(requestParams(stream, options.options))) query.set(name, value);

  const search = query.toString();
  return `${baseUrl.replace(/\/+$/, '')}${path}${search ? `?${search}` : ''}`;
}

/**
 * The first page of an id pass (lib/db/id-pass.ts): every resource of the stream, unfiltered and unsorted, with
 * the least the API sends, one attribute (the cursor's, a timestamp: a sparse fieldset names at least one) and no
 * additional fields or included resources, at the stream's page size.
 */
export function idsPageUrl(baseUrl: string, stream: StreamDef): string {
  if (stream.path.includes('{id}') || !stream.cursor)
    throw new Error(`Stream ${stream.name} has no id pass: it is not one listing with a cursor.`);
  const query = new URLSearchParams();
  query.set(`fields[${stream.resourceType}]`, stream.cursor.field);
  if (stream.pageSize !== undefined) query.set('page[size]', String(stream.pageSize));
  return `${baseUrl.replace(/\/+$/, '')}${stream.path}?${query.toString()}`;
}

/** The read of one resource by id (a stream option's lookup, streams/types.ts ResourceLookup), with its params. */
export function resourceUrl(baseUrl: string, lookup: Pick<ResourceLookup, 'path' | 'params'>, id: string): string {
  if (!lookup.path.includes('{id}')) throw new Error(`A resource lookup's path must take the resource's {id}, not ${lookup.path}.`);
  const search = new URLSearchParams(Object.entries(lookup.params)).toString();
  return `${baseUrl.replace(/\/+$/, '')}${lookup.path.replace('{id}', encodeURIComponent(id))}${search ? `?${search}` : ''}`;
}
