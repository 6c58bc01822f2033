import type { Source } from './collection';
import { DrawnIdModel } from './drawn';
import { sortKey, type SortKeys } from './overlay';
import type { ShortIdPool } from './ids';
import { type Rng, STREAM, rngFor } from './prng';
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

const ACTION_SORT_FIELDS = ['action_type', 'created', 'status', 'updated'] as const;

/** What each kind of step does, and its settings (Klaviyo's `settings` object is free-form per action type). */
const ACTION_KINDS: ReadonlyArray<{ type: string; settings: (r: Rng) => Record<string, unknown> | null; sends: boolean }> = [
  { type: 'SEND_EMAIL', settings: () => null, sends: true },
  {
    type: 'TIME_DELAY',
    settings: (r) => ({ delay_seconds: r.pick([3600, 86_400, 3 * 86_400, 7 * 86_400]), timezone: 'recipient' }),
    sends: false,
  },
  { type: 'SEND_SMS', settings: () => null, sends: true },
  { type: 'CONDITIONAL_SPLIT', settings: (r) => ({ condition: r.pick(['placed_order', 'opened_email', 'in_list']) }), sends: false },
  { type: 'UPDATE_PROFILE', settings: (r) => ({ property: r.pick(['vip', 'winback_sent', 'last_flow']) }), sends: false },
];

/**
 * The steps of one flow, as `GET /api/flows/{id}/flow-actions` lists them: the flow row's `flow-actions` ids, each
 * a step whose type, status and times follow from the flow (a live flow's steps are live, others draft or manual).
 */
export class FlowActions implements Source {
  readonly keyFields = ACTION_SORT_FIELDS;
  private readonly ids: Array<{ type: string; id: string }>;

  constructor(
    private readonly flow: Row,
    private readonly seed: number,
  ) {
    const data = flow.relationships?.['flow-actions'];
    this.ids = Array.isArray(data) ? data : [];
  }

  slots(): number {
    return this.ids.length;
  }

  id(k: number): string {
    return this.ids[k].id;
  }

  private times(k: number): { created: number; updated: number } {
    const a = this.flow.attributes as { created: string; updated: string };
    const created = Date.parse(a.created) / 1000 + k * 60;
    return { created, updated: Math.max(created, Date.parse(a.updated) / 1000) };
  }

  key(k: number, field: string): SortKey {
    const row = this.row(k).attributes as Record<string, unknown>;
    if (field === 'created' || field === 'updated') return this.times(k)[field];
    if (field === 'action_type' || field === 'status') return row[field] as string;
    throw new Error(`flow actions: no sort key '${field}'`);
  }

  row(k: number): Row {
    const id = this.ids[k].id;
    const r = rngFor(this.seed, STREAM.flow, Number(id), 3);
    // a flow starts with a send, and alternates sends with the other steps
    const kind = k === 0 ? ACTION_KINDS[0] : ACTION_KINDS[r.int(ACTION_KINDS.length)];
    const status = String((this.flow.attributes as { status: string }).status);
    const { created, updated } = this.times(k);
    return {
      type: 'flow-action',
      id,
      attributes: {
        action_type: kind.type,
        status,
        created: isoSeconds(created),
        updated: isoSeconds(updated),
        settings: kind.settings(r),
        tracking_options: null,
        send_options: kind.sends ? { use_smart_sending: r.chance(0.8), is_transactional: false } : null,
        badge_options: null,
        render_options: null,
      },
      hidden: { id },
    };
  }
}

const MESSAGE_SORT_FIELDS = ['created', 'name', 'updated'] as const;

/** What a send step's message goes out on, by its action type; other steps have no messages. */
const MESSAGE_CHANNELS: Readonly<Record<string, 'email' | 'sms'>> = { SEND_EMAIL: 'email', SEND_SMS: 'sms' };

/**
 * The messages of one flow step, as `GET /api/flow-actions/{id}/flow-messages` lists them: a send step has one,
 * sometimes two (an A/B test of its content); the other steps none. Ids, names and content follow from the step.
 */
export class FlowMessages implements Source {
  readonly keyFields = MESSAGE_SORT_FIELDS;
  private readonly channel: 'email' | 'sms' | undefined;
  private readonly count: number;

  constructor(
    private readonly action: Row,
    private readonly flow: Row,
    private readonly seed: number,
  ) {
    this.channel = MESSAGE_CHANNELS[String(action.attributes.action_type)];
    this.count = this.channel === undefined ? 0 : rngFor(seed, STREAM.flow, Number(action.id), 4).chance(0.2) ? 2 : 1;
  }

  slots(): number {
    return this.count;
  }

  id(k: number): string {
    // the step's id and the message's place: unique across the account, as Klaviyo's ids are
    return `${this.action.id}${String(k + 1).padStart(2, '0')}`;
  }

  private times(k: number): { created: number; updated: number } {
    const a = this.action.attributes as { created: string; updated: string };
    const created = Date.parse(a.created) / 1000 + k;
    return { created, updated: Math.max(created, Date.parse(a.updated) / 1000) };
  }

  key(k: number, field: string): SortKey {
    if (field === 'created' || field === 'updated') return this.times(k)[field];
    if (field === 'name') return this.name(k);
    throw new Error(`flow messages: no sort key '${field}'`);
  }

  private name(k: number): string {
    const flowName = String(this.flow.attributes.name);
    return this.count > 1 ? `${flowName}: ${this.channel} ${k === 0 ? 'A' : 'B'}` : `${flowName}: ${this.channel}`;
  }

  row(k: number): Row {
    const id = this.id(k);
    const name = this.name(k);
    const { created, updated } = this.times(k);
    const content =
      this.channel === 'sms'
        ? { body: `${name}: reply STOP to opt out`, media_url: null }
        : {
            subject: k === 0 ? name : `${name} (variant)`,
            preview_text: 'A little something for you',
            from_email: 'hello@example.com',
            from_label: 'Example Store',
            reply_to_email: null,
            cc_email: null,
            bcc_email: null,
          };
    return {
      type: 'flow-message',
      id,
      attributes: { name, channel: this.channel!, content, created: isoSeconds(created), updated: isoSeconds(updated) },
      hidden: { id },
    };
  }
}
