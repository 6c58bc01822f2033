import type { Row, SortKey, Table } from './types';

/** What a resource generator provides; `Collection` adds deletions, orders and lookups on top. */
export interface Source {
  /** Slots, deleted ones included. Grows when rows are appended (events, memberships). */
  slots(): number;
  id(i: number): string;
  row(i: number): Row;
  /** Sort keys for fields other than `id`; datetimes are epoch seconds. */
  key(i: number, field: string): SortKey;
  /** Fields `key` answers for (besides `id`). */
  readonly keyFields: readonly string[];
  /** Fields (`id` included) by which slot order is already ascending, by construction: their orders skip sorting. */
  readonly inSlotOrder?: readonly string[];
  /** The slot holding `id`, when the source can decode it without a map; else Collection builds one. */
  slotOf?(id: string): number | undefined;
}

/** null first, then by value; strings by UTF-16 code units as `<` does. */
export function compareKeys(a: SortKey, b: SortKey): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/**
 * `slots` reordered ascending by (key, id). Generators mostly emit rows already in key order (events by time,
 * profiles by creation), so a linear check comes first and the sort only runs when it fails.
 */
function sortSlots(slots: Uint32Array, key: (i: number) => SortKey, id: (i: number) => string): Uint32Array {
  const n = slots.length;
  const keys: SortKey[] = new Array<SortKey>(n);
  for (let p = 0; p < n; p++) keys[p] = key(slots[p]);
  const ids: Array<string | undefined> = new Array<string | undefined>(n);
  const idAt = (p: number): string => (ids[p] ??= id(slots[p]));
  const cmp = (a: number, b: number): number => {
    const byKey = compareKeys(keys[a], keys[b]);
    if (byKey !== 0) return byKey;
    const ia = idAt(a);
    const ib = idAt(b);
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  };
  let sorted = true;
  for (let p = 1; p < n && sorted; p++) sorted = cmp(p - 1, p) <= 0;
  if (sorted) return slots;
  const perm = new Uint32Array(n);
  for (let p = 0; p < n; p++) perm[p] = p;
  perm.sort(cmp);
  const out = new Uint32Array(n);
  for (let p = 0; p < n; p++) out[p] = slots[perm[p]];
  return out;
}

export class Collection implements Table {
  private readonly deleted = new Set<number>();
  private readonly orders = new Map<string, Uint32Array>();
  private ordersVersion = -1;
  private idIndex: Map<string, number> | undefined;
  private idIndexSlots = 0;

  constructor(
    readonly name: string,
    private readonly source: Source,
    private readonly version: () => number,
  ) {}

  slots(): number {
    return this.source.slots();
  }

  count(): number {
    return this.source.slots() - this.deleted.size;
  }

  isLive(i: number): boolean {
    return Number.isInteger(i) && i >= 0 && i < this.source.slots() && !this.deleted.has(i);
  }

  row(i: number): Row | undefined {
    return this.isLive(i) ? this.source.row(i) : undefined;
  }

  id(i: number): string {
    return this.source.id(i);
  }

  key(i: number, field: string): SortKey {
    if (field === 'id') return this.source.id(i);
    this.assertSortable(field);
    return this.source.key(i, field);
  }

  order(field: string | null): Uint32Array {
    const name = field ?? 'id';
    if (name !== 'id') this.assertSortable(name);
    const v = this.version();
    if (v !== this.ordersVersion) {
      this.orders.clear();
      this.ordersVersion = v;
    }
    let order = this.orders.get(name);
    if (!order) {
      const live = this.liveSlots();
      order = this.source.inSlotOrder?.includes(name)
        ? live
        : sortSlots(
            live,
            (i) => this.key(i, name),
            (i) => this.source.id(i),
          );
      this.orders.set(name, order);
    }
    return order;
  }

  /** Live slots in slot order. */
  liveSlots(): Uint32Array {
    const total = this.source.slots();
    const out = new Uint32Array(total - this.deleted.size);
    let p = 0;
    for (let i = 0; i < total; i++) if (!this.deleted.has(i)) out[p++] = i;
    return out;
  }

  /** The live slot holding `id`, or undefined. */
  slotOf(id: string): number | undefined {
    const slot = this.source.slotOf ? this.source.slotOf(id) : this.indexedSlotOf(id);
    return slot !== undefined && this.isLive(slot) && this.source.id(slot) === id ? slot : undefined;
  }

  /** Marks slot i deleted; false if it already was (or does not exist). */
  delete(i: number): boolean {
    if (!this.isLive(i)) return false;
    this.deleted.add(i);
    return true;
  }

  private indexedSlotOf(id: string): number | undefined {
    const total = this.source.slots();
    if (!this.idIndex) this.idIndex = new Map();
    // Slot ids never change, so the index only needs extending when slots were appended.
    for (let i = this.idIndexSlots; i < total; i++) this.idIndex.set(this.source.id(i), i);
    this.idIndexSlots = total;
    return this.idIndex.get(id);
  }

  private assertSortable(field: string): void {
    if (!this.source.keyFields.includes(field)) {
      throw new Error(`${this.name}: '${field}' is not a sort field here; use one of: id, ${this.source.keyFields.join(', ')}`);
    }
  }
}
