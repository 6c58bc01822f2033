import type { Source } from './collection';
import { DrawnIdModel } from './drawn';
import { sortKey, type SortKeys } from './overlay';
import type { ShortIdPool } from './ids';
import { STREAM, rngFor } from './prng';
import type { TagModel } from './tags';
import { DAY, between, isoSeconds } from './time';
import type { Row, SortKey } from './types';
import { FLOW_KINDS } from './vocabulary';

const FLOW_SORT_FIELDS = ['created', 'name', 'status', 'trigger_type', 'updated'] as const;

interface FlowPlan {
  name: string;
  status: string;
  archived: boolean;
  trigger: string;
  created: number;
  updated: number;
}

/** Flows: the usual automations (welcome, abandoned cart, winback...), some in draft, some archived. */
export class FlowModel extends DrawnIdModel implements Source {
  readonly keyFields = FLOW_SORT_FIELDS;

  constructor(
    seed: number,
    count: number,
    anchorSec: number,
    ids: ShortIdPool,
    private readonly tags: TagModel,
  ) {
    super(seed, STREAM.flow, count, anchorSec, ids);
  }

  private plan(i: number): FlowPlan {
    const r = rngFor(this.seed, STREAM.flow, i);
    const kind = FLOW_KINDS[i % FLOW_KINDS.length];
    const round = Math.floor(i / FLOW_KINDS.length);
    const name = round === 0 ? kind.name : `${kind.name} ${round + 1}`;
    const unconfigured = kind.trigger === 'Unconfigured';
    const x = r.float();
    const status = unconfigured || x < 0.2 ? 'draft' : x < 0.3 ? 'manual' : 'live';
    const created = between(this.start, this.end - DAY, r.float());
    return {
      name,
      status,
      archived: status !== 'live' && r.chance(0.3),
      trigger: kind.trigger,
      created,
      updated: between(created, this.end, Math.sqrt(r.float())),
    };
  }

  private static readonly KEYS: SortKeys<FlowModel> = {
    created: (m, i) => m.plan(i).created,
    updated: (m, i) => m.plan(i).updated,
    name: (m, i) => m.plan(i).name,
    status: (m, i) => m.plan(i).status,
    trigger_type: (m, i) => m.plan(i).trigger,
  };

  key(i: number, field: string): SortKey {
    return sortKey('flows', FlowModel.KEYS, this, i, field);
  }

  row(i: number): Row {
    const plan = this.plan(i);
    const r = rngFor(this.seed, STREAM.flow, i, 2);
    const id = this.ids[i];
    const actions = Array.from({ length: r.between(1, 6) }, () => ({ type: 'flow-action', id: String(r.between(10_000_000, 99_999_999)) }));
    return {
      type: 'flow',
      id,
      attributes: {
        name: plan.name,
        status: plan.status,
        archived: plan.archived,
        created: isoSeconds(plan.created),
        updated: isoSeconds(plan.updated),
        trigger_type: plan.trigger,
      },
      relationships: { 'flow-actions': actions, tags: this.tags.liveSample(r, r.int(3)).map((t) => ({ type: 'tag', id: t })) },
      hidden: { id },
    };
  }
}
