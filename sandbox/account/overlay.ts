/**
 * What the generated models share around their rows: sort keys by field, and the updates `advance` writes over a
 * generated table.
 */
import type { SortKey } from './types';

/** One getter per sort field of a model (besides `id`), a static table per model class. */
export type SortKeys<M> = Readonly<Record<string, (model: M, i: number) => SortKey>>;

/** The sort key of slot `i` of `model` by `field`; a field without a getter throws, naming the table. */
export function sortKey<M>(table: string, keys: SortKeys<M>, model: M, i: number, field: string): SortKey {
  const get = Object.hasOwn(keys, field) ? keys[field] : undefined;
  if (!get) throw new Error(`${table}: no sort key '${field}'`);
  return get(model, i);
}

/** Updates written by `advance` over a generated table: per slot, when it was last updated and how many times. */
export class Touches {
  private readonly bySlot = new Map<number, { sec: number; rev: number }>();

  /** Records an update of slot `i` at `sec` (epoch seconds). */
  touch(i: number, sec: number): void {
    this.bySlot.set(i, { sec, rev: this.rev(i) + 1 });
  }

  /** When slot `i` was last updated by `advance`, if it was. */
  sec(i: number): number | undefined {
    return this.bySlot.get(i)?.sec;
  }

  /** How many times slot `i` was updated by `advance` (0: never). */
  rev(i: number): number {
    return this.bySlot.get(i)?.rev ?? 0;
  }
}
