/**
 * Keyset pagination over a table's sorted order. A page starts strictly after the cursor's (key, id), found by
 * binary search in `Table.order(field)`, and scans forward (or backward for a descending sort) applying the filter.
 * Range conditions on the sort field become index bounds, found by binary search over the rows' values and cached
 * per data version, so a range-filtered walk of a large table costs the rows it serves, not the table size.
 */
import type { Row, SortKey, Table } from '../account/types';
import { timeOf, type CompiledCondition, type ValueKind } from './filter';

/** Every value at a filter field: `hidden` by the whole dotted name, else the id, else attributes by path, else relationship ids. */
function fieldValues(row: Row, field: string): unknown[] {
  const hidden = row.hidden;
  if (hidden && field in hidden) {
    const v = hidden[field];
    return Array.isArray(v) ? v : [v];
  }
  if (field === 'id' || field === 'ids') return [row.id];
  let current: unknown[] = [row.attributes];
  for (const part of field.split('.')) {
    const next: unknown[] = [];
    for (const c of current) {
      if (Array.isArray(c)) {
        for (const e of c) if (e !== null && typeof e === 'object') next.push((e as Record<string, unknown>)[part]);
      } else if (c !== null && typeof c === 'object') next.push((c as Record<string, unknown>)[part]);
    }
    current = next;
  }
  const found = current.flatMap((v) => (Array.isArray(v) ? v : [v])).filter((v) => v !== undefined);
  if (found.length > 0 || !row.relationships || !(field in row.relationships)) return found;
  const rel = row.relationships[field];
  return rel === null ? [] : (Array.isArray(rel) ? rel : [rel]).map((r) => r.id);
}

function typeRank(k: SortKey): number {
  return k === null ? 0 : typeof k === 'boolean' ? 1 : typeof k === 'number' ? 2 : 3;
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (a === b) return 0;
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  return (a as string | number | boolean) < (b as string | number | boolean) ? -1 : 1;
}

/** First index in [lo, hi) where `pred` holds, for a predicate that is false then true along the array. */
function partitionPoint(lo: number, hi: number, pred: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export interface ListingQuery {
  table: Table;
  /** identifies the table across requests for the range cache, e.g. `get_profiles_for_list:Y6nRLr` */
  tableKey: string;
  version: number;
  sortField: string | null;
  descending: boolean;
  conditions: readonly CompiledCondition[];
  /** value kind of each filter field */
  kinds: Readonly<Record<string, { kind: ValueKind }>>;
  /** fields `Table.key` answers (the operation's sort fields), which equality tests can read without a row */
  keyed: ReadonlySet<string>;
  /** filter field -> the sort field that orders rows exactly like it (events: `datetime` and `timestamp`) */
  sameOrder: Readonly<Record<string, string>>;
  after: { key: SortKey; id: string } | null;
  pageSize: number;
}

export interface ListingPage {
  /** the (key, id) of the last row served, for the next cursor; null when the page is empty */
  last: { key: SortKey; id: string } | null;
  hasMore: boolean;
}

/** Index bounds [start, end) of rows satisfying the range conditions on the sort field, per table version. */
export class RangeCache {
  private version = -1;
  private entries = new Map<string, [number, number]>();

  get(key: string, version: number, compute: () => [number, number]): [number, number] {
    if (version !== this.version) {
      this.version = version;
      this.entries.clear();
    }
    let hit = this.entries.get(key);
    if (!hit) {
      if (this.entries.size >= 1000) this.entries.clear();
      hit = compute();
      this.entries.set(key, hit);
    }
    return hit;
  }
}

function rangeBounds(q: ListingQuery, order: Uint32Array, bounded: readonly CompiledCondition[]): [number, number] {
  const field = q.sortField!;
  const kind = q.kinds[field].kind;
  const valueAt = (i: number): number | null => {
    const row = q.table.row(order[i]);
    if (!row) return null;
    for (const v of fieldValues(row, field)) {
      const t = timeOf(kind, v);
      if (t !== null) return t;
    }
    return null;
  };
  const lowers = bounded.filter((c) => c.bound!.side === 'lower').map((c) => c.bound!);
  const uppers = bounded.filter((c) => c.bound!.side === 'upper').map((c) => c.bound!);
  // Nulls sort first, so "non-null and past every lower bound" and "non-null and beyond some upper bound" both
  // flip from false to true exactly once along the order.
  const start = partitionPoint(0, order.length, (i) => {
    const t = valueAt(i);
    return t !== null && lowers.every((b) => (b.inclusive ? t >= b.ms : t > b.ms));
  });
  const end = partitionPoint(start, order.length, (i) => {
    const t = valueAt(i);
    return t !== null && uppers.some((b) => (b.inclusive ? t > b.ms : t >= b.ms));
  });
  return [start, end];
}

/**
 * Hands the page's rows to `serve` one by one, as they are found. Serving each before generating the next keeps a
 * page's rows from piling up in memory, where every young-generation collection would copy them.
 */
export function listPage(q: ListingQuery, ranges: RangeCache, serve: (row: Row) => void): ListingPage {
  const { table, sortField } = q;
  const order = table.order(sortField);
  const bounded =
    sortField === null ? [] : q.conditions.filter((c) => c.bound && (c.field === sortField || q.sameOrder[c.field] === sortField));
  const residual = q.conditions.filter((c) => !bounded.includes(c));
  let [start, end] = [0, order.length];
  if (bounded.length > 0) {
    const rangeKey = `${q.tableKey}\u0000${sortField}\u0000${bounded.map((c) => `${c.operator}:${c.bound!.ms}`).join(',')}`;
    [start, end] = ranges.get(rangeKey, q.version, () => rangeBounds(q, order, bounded));
  }

  const keyOf = (slot: number): SortKey => (sortField === null ? null : table.key(slot, sortField));
  if (q.after) {
    const { key, id } = q.after;
    const cmp = (i: number): number =>
      compareKeys(keyOf(order[i]), key) || (table.id(order[i]) < id ? -1 : table.id(order[i]) > id ? 1 : 0);
    if (q.descending)
      end = Math.min(
        end,
        partitionPoint(0, order.length, (i) => cmp(i) >= 0),
      );
    else
      start = Math.max(
        start,
        partitionPoint(0, order.length, (i) => cmp(i) > 0),
      );
  }

  // Equality on ids and on sortable string fields (e.g. email) needs no row: test the cheap id or sort key first
  // and generate only the rows that can match. A key that is not a string cannot be judged here.
  const cheap = residual
    .filter((c) => c.oneOf && (c.field === 'id' || c.field === 'ids' || q.keyed.has(c.field)))
    .map((c) => ({ set: c.oneOf!, byId: c.field === 'id' || c.field === 'ids', field: c.field }));
  const rejected = (slot: number): boolean =>
    cheap.some((c) => {
      const k = c.byId ? table.id(slot) : table.key(slot, c.field);
      return typeof k === 'string' ? !c.set.has(k) : k === null;
    });
  let served = 0;
  let lastSlot = -1;
  let hasMore = false;
  const step = q.descending ? -1 : 1;
  for (let i = q.descending ? end - 1 : start; q.descending ? i >= start : i < end; i += step) {
    const slot = order[i];
    if (served === q.pageSize && residual.length === 0) {
      hasMore = true;
      break;
    }
    if (cheap.length > 0 && rejected(slot)) continue;
    const row = table.row(slot);
    if (!row || !residual.every((c) => c.test(fieldValues(row, c.field)))) continue;
    if (served === q.pageSize) {
      hasMore = true;
      break;
    }
    serve(row);
    served++;
    lastSlot = slot;
  }
  return { last: lastSlot < 0 ? null : { key: keyOf(lastSlot), id: table.id(lastSlot) }, hasMore };
}
