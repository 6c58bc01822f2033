import type { Source } from './collection';
import type { ShortIdPool } from './ids';
import { Rng, STREAM, rngFor, unit } from './prng';
import { DAY, HISTORY_DAYS, isoSeconds } from './time';
import type { Row, SortKey } from './types';
import { INTEGRATIONS, METRIC_DEFS, type Integration, type MetricKind } from './vocabulary';

interface MetricDef {
  name: string;
  integration: Integration;
  kind: MetricKind;
  weight: number;
}

/** Metrics: the canonical Klaviyo/Shopify/API metric names, most important first, then custom ones. */
export class MetricModel implements Source {
  readonly keyFields: readonly string[] = [];
  readonly ids: string[] = [];
  private readonly defs: MetricDef[] = [];
  private readonly cumulative: number[] = [];
  private readonly created: number[] = [];

  constructor(seed: number, count: number, anchorSec: number, ids: ShortIdPool) {
    for (let i = 0; i < count; i++) {
      const r = rngFor(seed, STREAM.metric, i);
      this.ids.push(ids.draw(r));
      const known = METRIC_DEFS[i];
      this.defs.push(
        known
          ? { ...known, integration: INTEGRATIONS[known.integration] }
          : { name: `Custom Metric ${i - METRIC_DEFS.length + 1}`, integration: INTEGRATIONS.api, kind: 'custom', weight: 0.1 },
      );
      this.cumulative.push((this.cumulative[i - 1] ?? 0) + this.defs[i].weight);
      // Metrics appear when their first event arrives, so they are created at the very start of the history.
      this.created.push(anchorSec - (HISTORY_DAYS + 6) * DAY + Math.floor(unit(seed, STREAM.metric, i, 1) * DAY));
    }
  }

  slots(): number {
    return this.ids.length;
  }

  id(i: number): string {
    return this.ids[i];
  }

  key(_i: number, field: string): SortKey {
    throw new Error(`metrics: no sort key '${field}'`);
  }

  kind(i: number): MetricKind {
    return this.defs[i].kind;
  }

  name(i: number): string {
    return this.defs[i].name;
  }

  idByName(name: string): string | undefined {
    const i = this.defs.findIndex((d) => d.name === name);
    return i < 0 ? undefined : this.ids[i];
  }

  /** A metric index, weighted by each metric's share of event volume. */
  pick(r: Rng): number {
    const x = r.float() * this.cumulative[this.cumulative.length - 1];
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  row(i: number): Row {
    const { name, integration } = this.defs[i];
    const created = isoSeconds(this.created[i]);
    return {
      type: 'metric',
      id: this.ids[i],
      attributes: { name, created, updated: created, integration: { ...integration } },
      relationships: { 'flow-triggers': [] },
      hidden: { 'integration.name': integration.name, 'integration.category': integration.category },
    };
  }
}
