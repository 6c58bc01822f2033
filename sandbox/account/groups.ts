import { Collection, type Source } from './collection';
import type { ShortIdPool } from './ids';
import { sortKey, Touches, type SortKeys } from './overlay';
import type { ProfileModel } from './profiles';
import * as prng from './prng';
import type { Rng } from './prng';
import type { TagModel } from './tags';
import * as time from './time';
import type { Row, SortKey } from './types';
import { LIST_NAMES, SEGMENT_NAMES } from './vocabulary';

// Copies of the imported bindings, read per profile row: tsx turns each read of an import into uninlined getter calls.
const { STREAM, hash32, mix32, rngFor, unit } = prng;
const { DAY, HISTORY_DAYS, between, isoSeconds } = time;

const GROUP_SORT_FIELDS = ['created', 'name', 'updated'] as const;

/**
 * The members of one list or segment. Base members are a deterministic subset of the profiles (a hash of
 * (group, profile) under the group's fraction) in profile order; `advance` appends new members after them and
 * deletes removed ones, so slots are stable.
 */
export class GroupMembers implements Source {
  readonly keyFields = ['joined_group_at'];
  readonly table: Collection;
  private base: Uint32Array | undefined;
  private readonly addedProfiles: number[] = [];
  private readonly addedJoined: number[] = [];
  /** Profile -> its latest appended slot. */
  private readonly addedSlot = new Map<number, number>();
  private readonly removedBase = new Set<number>();

  constructor(
    private readonly seed: number,
    private readonly streams: { membership: number; joined: number },
    private readonly group: number,
    readonly groupId: string,
    private readonly groupCreated: number,
    private readonly profiles: ProfileModel,
    /** Whether profile p is a base member (see GroupModel.memberships). */
    private readonly inBase: (p: number) => boolean,
    private readonly end: number,
    version: () => number,
  ) {
    this.table = new Collection(`members of ${groupId}`, this, version);
  }

  private baseSlots(): Uint32Array {
    if (!this.base) {
      const n = this.profiles.slots();
      const picked: number[] = [];
      for (let p = 0; p < n; p++) if (this.inBase(p)) picked.push(p);
      this.base = Uint32Array.from(picked);
    }
    return this.base;
  }

  /** `inBase` is `this.inBase(p)`, which GroupModel.groupsOf reads for every group at once. */
  isMember(p: number, inBase = this.inBase(p)): boolean {
    // Skip the lookups in overlays that `advance` has not filled.
    if (inBase && (this.removedBase.size === 0 || !this.removedBase.has(p))) return true;
    if (this.addedSlot.size === 0) return false;
    const slot = this.addedSlot.get(p);
    return slot !== undefined && this.table.isLive(slot);
  }

  profileOf(slot: number): number {
    const base = this.baseSlots();
    return slot < base.length ? base[slot] : this.addedProfiles[slot - base.length];
  }

  joinedAt(slot: number): number {
    const base = this.baseSlots();
    if (slot >= base.length) return this.addedJoined[slot - base.length];
    const p = base[slot];
    const from = Math.max(this.profiles.created(p), this.groupCreated);
    return between(from, this.end, unit(this.seed, this.streams.joined, p, this.group + 1));
  }

  /** Adds profile p as joined at `sec`; false if it already is a member. */
  add(p: number, sec: number): boolean {
    if (this.isMember(p)) return false;
    const slot = this.slots();
    this.addedProfiles.push(p);
    this.addedJoined.push(sec);
    this.addedSlot.set(p, slot);
    return true;
  }

  /** Removes the member in `slot`; false if that slot is not live. */
  remove(slot: number): boolean {
    if (!this.table.delete(slot)) return false;
    if (slot < this.baseSlots().length) this.removedBase.add(this.profileOf(slot));
    return true;
  }

  slots(): number {
    return this.baseSlots().length + this.addedProfiles.length;
  }

  id(slot: number): string {
    return this.profiles.id(this.profileOf(slot));
  }

  key(slot: number, field: string): SortKey {
    if (field !== 'joined_group_at') throw new Error(`members: no sort key '${field}'`);
    return this.joinedAt(slot);
  }

  row(slot: number): Row {
    const profile = this.profiles.row(this.profileOf(slot));
    return { ...profile, attributes: { ...profile.attributes, joined_group_at: isoSeconds(this.joinedAt(slot)) } };
  }
}

export interface GroupOptions {
  seed: number;
  count: number;
  anchorSec: number;
  ids: ShortIdPool;
  profiles: ProfileModel;
  tags: TagModel;
  version: () => number;
}

/** What lists and segments share: ids, names, created/updated, tags and members. */
abstract class GroupModel implements Source {
  readonly keyFields = GROUP_SORT_FIELDS;
  readonly ids: string[] = [];
  readonly members: GroupMembers[] = [];
  protected readonly touches = new Touches();
  private static readonly KEYS: SortKeys<GroupModel> = {
    created: (m, i) => m.created(i),
    updated: (m, i) => m.updated(i),
    name: (m, i) => m.name(i),
  };
  protected readonly seed: number;
  protected readonly end: number;
  private readonly start: number;
  private readonly count: number;
  private readonly tags: TagModel;
  private readonly profiles: ProfileModel;
  /** Per group: the share of profiles in its base, and the salt that picks them. */
  private readonly fractions: number[] = [];
  private readonly salts: number[] = [];
  /** 32-bit words of `memberships` per profile. */
  private readonly words: number;
  private baseMemberships: Uint32Array | undefined;

  protected constructor(
    o: GroupOptions,
    protected readonly names: readonly string[],
    protected readonly streams: { meta: number; membership: number; joined: number },
  ) {
    this.seed = o.seed;
    this.count = o.count;
    this.tags = o.tags;
    this.profiles = o.profiles;
    this.end = o.anchorSec - 1;
    this.start = o.anchorSec - HISTORY_DAYS * DAY;
    this.words = Math.ceil(o.count / 32);
    for (let i = 0; i < o.count; i++) {
      this.ids.push(o.ids.draw(rngFor(o.seed, STREAM.groupIds, streams.meta, i + 1)));
      this.fractions.push(0.03 + 0.37 * unit(o.seed, streams.meta, i, 99));
      this.salts.push(hash32(o.seed, streams.membership, i + 1));
      this.members.push(
        new GroupMembers(o.seed, streams, i, this.ids[i], this.created(i), o.profiles, (p) => this.inBase(p, i), this.end, o.version),
      );
    }
  }

  slots(): number {
    return this.count;
  }

  /**
   * Base membership of every profile in every group, a bit each, the bits of one profile side by side: each profile
   * row asks every group, and reading one word beats reading fifty arrays. A profile is in group g's base when its
   * hash mixed with g's salt falls under g's fraction.
   */
  private memberships(): Uint32Array {
    if (!this.baseMemberships) {
      const n = this.profiles.slots();
      const bits = new Uint32Array(n * this.words);
      for (let p = 0; p < n; p++) {
        const hash = hash32(this.seed, this.streams.membership, p);
        for (let g = 0; g < this.count; g++) {
          if (mix32((hash ^ this.salts[g]) >>> 0) / 0x100000000 < this.fractions[g]) bits[p * this.words + (g >>> 5)] |= 1 << (g & 31);
        }
      }
      this.baseMemberships = bits;
    }
    return this.baseMemberships;
  }

  private inBase(p: number, g: number): boolean {
    return (this.memberships()[p * this.words + (g >>> 5)] & (1 << (g & 31))) !== 0;
  }

  id(i: number): string {
    return this.ids[i];
  }

  /** Early groups are the account's oldest, as the first lists of a real account are. */
  created(i: number): number {
    const u = (i + unit(this.seed, this.streams.meta, i, 1)) / this.count;
    return this.start + Math.floor((this.end - DAY - this.start) * u);
  }

  updated(i: number): number {
    const created = this.created(i);
    return this.touches.sec(i) ?? between(created, this.end, Math.sqrt(unit(this.seed, this.streams.meta, i, 2)));
  }

  name(i: number): string {
    const base = this.names[i % this.names.length];
    const named = i < this.names.length ? base : `${base} ${Math.floor(i / this.names.length) + 1}`;
    const rev = this.touches.rev(i);
    return rev === 0 ? named : `${named} (v${rev + 1})`;
  }

  /** Records an update by `advance`: `updated` moves to `sec` and the name gains a revision. */
  touch(i: number, sec: number): void {
    this.touches.touch(i, sec);
  }

  key(i: number, field: string): SortKey {
    return sortKey('groups', GroupModel.KEYS, this, i, field);
  }

  /** Groups profile p belongs to right now. */
  groupsOf(p: number): string[] {
    const out: string[] = [];
    const bits = this.memberships();
    const at = p * this.words;
    for (let g = 0; g < this.members.length; g++) {
      if (this.members[g].isMember(p, (bits[at + (g >>> 5)] & (1 << (g & 31))) !== 0)) out.push(this.ids[g]);
    }
    return out;
  }

  protected tagLinks(r: Rng): Array<{ type: string; id: string }> {
    return this.tags.liveSample(r, r.int(3)).map((id) => ({ type: 'tag', id }));
  }

  abstract row(i: number): Row;

  /**
   * `attributes` with `profile_count`, the group's live members now, which Klaviyo sends only when
   * `additional-fields[list|segment]=profile_count` asks for it (the HTTP layer drops it otherwise): counted only when
   * read, since a first count walks the whole membership.
   */
  protected withProfileCount(i: number, attributes: Record<string, unknown>): Record<string, unknown> {
    return Object.defineProperty(attributes, 'profile_count', { enumerable: true, get: () => this.members[i].table.count() });
  }
}

export class ListModel extends GroupModel {
  constructor(o: GroupOptions) {
    super(o, LIST_NAMES, { meta: STREAM.listMeta, membership: STREAM.listMembership, joined: STREAM.listJoined });
  }

  row(i: number): Row {
    const r = rngFor(this.seed, this.streams.meta, i);
    const id = this.ids[i];
    return {
      type: 'list',
      id,
      attributes: this.withProfileCount(i, {
        name: this.name(i),
        created: isoSeconds(this.created(i)),
        updated: isoSeconds(this.updated(i)),
        opt_in_process: r.chance(0.7) ? 'single_opt_in' : 'double_opt_in',
      }),
      relationships: { tags: this.tagLinks(r) },
      hidden: { id },
    };
  }
}

/** Looks up what segment definitions point at; undefined when the account has no such metric or list. */
export interface DefinitionTargets {
  metricId(name: string): string | undefined;
  listIds: readonly string[];
}

export class SegmentModel extends GroupModel {
  constructor(
    o: GroupOptions,
    private readonly targets: DefinitionTargets,
  ) {
    super(o, SEGMENT_NAMES, { meta: STREAM.segmentMeta, membership: STREAM.segmentMembership, joined: STREAM.segmentJoined });
  }

  row(i: number): Row {
    const r = rngFor(this.seed, this.streams.meta, i);
    const id = this.ids[i];
    return {
      type: 'segment',
      id,
      attributes: this.withProfileCount(i, {
        name: this.name(i),
        definition: { condition_groups: this.definition(i, r) },
        created: isoSeconds(this.created(i)),
        updated: isoSeconds(this.updated(i)),
        is_active: r.chance(0.9),
        is_processing: r.chance(0.05),
        is_starred: r.chance(0.25),
      }),
      relationships: { tags: this.tagLinks(r) },
      hidden: { id },
    };
  }

  /** Condition groups in the shapes of the spec's ConditionGroup, chosen to match the segment's name. */
  private definition(i: number, r: Rng): Array<{ conditions: unknown[] }> {
    const inLast = (days: number) => ({ type: 'date', operator: 'in-the-last', unit: 'day', quantity: days });
    const alltime = { type: 'date', operator: 'alltime' };
    const region = (where: 'united_states' | 'european_union') => ({ type: 'profile-region', in_region: true, region: where });
    const metric = (name: string, operator: string, value: number, timeframe: unknown) => {
      const metricId = this.targets.metricId(name);
      if (metricId === undefined) return region('united_states');
      return {
        type: 'profile-metric',
        metric_id: metricId,
        measurement: 'count',
        measurement_filter: { type: 'numeric', operator, value },
        timeframe_filter: timeframe,
        metric_filters: null,
      };
    };
    const predictive = (dimension: string, operator: string, value: number) => ({
      type: 'profile-predictive-analytics',
      dimension,
      filter: { type: 'numeric', operator, value },
    });
    const emailConsent = {
      type: 'profile-marketing-consent',
      consent: { channel: 'email', can_receive_marketing: true, consent_status: { subscription: 'subscribed', filters: null } },
    };
    const one = (...conditions: unknown[]) => ({ conditions });
    switch (SEGMENT_NAMES[i % SEGMENT_NAMES.length]) {
      case 'Engaged (90 days)':
        return [one(metric('Opened Email', 'greater-than', 0, inLast(90)), metric('Clicked Email', 'greater-than', 0, inLast(90)))];
      case 'Repeat Purchasers':
        return [one(metric('Placed Order', 'greater-than-or-equal', 2, alltime))];
      case 'Lapsed Customers':
        return [one(metric('Placed Order', 'greater-than-or-equal', 1, alltime)), one(metric('Placed Order', 'equals', 0, inLast(180)))];
      case 'Potential Purchasers':
        return [one(metric('Active on Site', 'greater-than-or-equal', 1, inLast(30))), one(metric('Placed Order', 'equals', 0, alltime))];
      case 'High CLV':
        return [one(predictive('historic_clv', 'greater-than', 500))];
      case 'Churn Risk':
        return [one(predictive('churn_probability', 'greater-than', 0.7)), one(emailConsent)];
      case 'US Subscribers':
        return [one(region('united_states')), one(emailConsent)];
      case 'Gold Tier':
        return [
          one({
            type: 'profile-property',
            property: "properties['loyalty_tier']",
            filter: { type: 'string', operator: 'equals', value: 'Gold' },
          }),
        ];
      case 'Never Opened':
        return [one(metric('Opened Email', 'equals', 0, alltime)), one(metric('Received Email', 'greater-than', 3, inLast(90)))];
      case 'Cart Abandoners':
        return [
          one(metric('Started Checkout', 'greater-than-or-equal', 1, inLast(30))),
          one(metric('Placed Order', 'equals', 0, inLast(30))),
        ];
      case 'EU Profiles':
        return [one(region('european_union'))];
      case 'New Subscribers (30 days)': {
        const list = this.targets.listIds[0];
        if (list === undefined) return [one(emailConsent)];
        return [one({ type: 'profile-group-membership', is_member: true, group_ids: [list], timeframe_filter: inLast(30) })];
      }
      case 'Window Shoppers':
        return [one(metric('Viewed Product', 'greater-than-or-equal', r.between(3, 5), inLast(60)))];
      case 'SMS Engaged':
        return [one(metric('Clicked SMS', 'greater-than-or-equal', 1, inLast(90)))];
      default:
        return [one(emailConsent)];
    }
  }
}
