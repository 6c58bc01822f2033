import type { ShortIdPool } from './ids';
import { rngFor } from './prng';
import { DAY, HISTORY_DAYS } from './time';

/**
 * A small collection whose ids are drawn from a shared short-id pool (flows, templates), created within the
 * account's history window [start, end]. Subclasses generate the rows.
 */
export abstract class DrawnIdModel {
  protected readonly ids: string[] = [];
  protected readonly start: number;
  protected readonly end: number;

  constructor(
    protected readonly seed: number,
    protected readonly stream: number,
    count: number,
    anchorSec: number,
    pool: ShortIdPool,
  ) {
    for (let i = 0; i < count; i++) this.ids.push(pool.draw(rngFor(seed, stream, i, 1)));
    this.end = anchorSec - 1;
    this.start = anchorSec - HISTORY_DAYS * DAY;
  }

  slots(): number {
    return this.ids.length;
  }

  id(i: number): string {
    return this.ids[i];
  }
}
