import { CampaignMessages, CampaignModel } from './campaigns';
import { CatalogCategories, CatalogModel, CatalogVariants } from './catalog';
import { IdsChecksum } from './checksum';
import { Collection } from './collection';
import { EventModel } from './events';
import { FlowActions, FlowMessages, FlowModel } from './flows';
import { ListModel, SegmentModel, type GroupMembers } from './groups';
import { ShortIdPool } from './ids';
import { MetricModel } from './metrics';
import { ProfileModel } from './profiles';
import { Rng, STREAM, rngFor } from './prng';
import { TagGroupSource, TagModel } from './tags';
import { CouponSource, maxCodesPerCoupon } from './coupons';
import { TemplateModel } from './templates';
import { FormModel } from './forms';
import { isoSeconds } from './time';
import {
  STREAM_NAMES,
  type Account,
  type AccountOptions,
  type AdvanceSummary,
  type Row,
  type SizeOptions,
  type StreamName,
  type StreamTruth,
  type Table,
} from './types';

const SIZE_KEYS: ReadonlyArray<keyof SizeOptions> = [
  'profiles',
  'lists',
  'segments',
  'campaigns',
  'flows',
  'templates',
  'events',
  'metrics',
  'tags',
  'catalogItems',
];

function validate(options: AccountOptions): void {
  if (!Number.isInteger(options.seed)) throw new TypeError(`createAccount: seed must be an integer, got ${String(options.seed)}`);
  if (!(options.anchor instanceof Date) || Number.isNaN(options.anchor.getTime())) {
    throw new TypeError('createAccount: anchor must be a valid Date (the instant the synthetic history ends at)');
  }
  for (const k of SIZE_KEYS) {
    const n = options.sizes?.[k];
    if (!Number.isInteger(n) || n < 0) {
      throw new TypeError(`createAccount: sizes.${k} must be a non-negative integer, got ${String(n)}; start from SIZE_PRESETS`);
    }
  }
  if (options.sizes.events > 0 && (options.sizes.profiles === 0 || options.sizes.metrics === 0)) {
    throw new RangeError(
      'createAccount: events need at least one profile and one metric; raise sizes.profiles and sizes.metrics or set sizes.events to 0',
    );
  }
}

/** Forms are not a size of their own: about one per two flows (a preset's flows and forms grow together). */
function formCount(sizes: SizeOptions): number {
  return sizes.flows === 0 ? 0 : Math.max(2, Math.round(sizes.flows / 2));
}

/** Up to n distinct live slots of `table`, drawn from r. */
function pickLive(r: Rng, table: Collection, n: number): number[] {
  return r.sample(Array.from(table.liveSlots()), n);
}

/**
 * A deterministic synthetic Klaviyo account. Tables generate rows from (seed, slot) on demand; `advance` records
 * its changes as overlays (touched slots, appended slots, deleted slots) on top of that.
 */
export class SyntheticAccount implements Account {
  readonly options: AccountOptions;
  readonly profiles: Collection;
  readonly lists: Collection;
  readonly segments: Collection;
  readonly campaigns: Collection;
  readonly flows: Collection;
  readonly templates: Collection;
  readonly events: Collection;
  readonly metrics: Collection;
  readonly tags: Collection;
  readonly tagGroups: Collection;
  readonly coupons: Collection;
  private readonly couponSource: CouponSource;
  readonly catalogItems: Collection;
  readonly catalogVariants: Collection;
  readonly forms: Collection;
  readonly catalogCategories: Collection;
  private readonly seed: number;
  private currentVersion = 0;
  /** Epoch seconds of the latest instant the account has written; `advance` may not go back before it. */
  private clock: number;
  private truthCache: { version: number; value: Record<StreamName, StreamTruth> } | undefined;
  private actionIndex: { version: number; byId: Map<string, { flow: Row; action: Row }> } | undefined;
  private readonly m: {
    profiles: ProfileModel;
    lists: ListModel;
    segments: SegmentModel;
    templates: TemplateModel;
    events: EventModel;
    tags: TagModel;
    variants: CatalogVariants;
    forms: FormModel;
  };

  constructor(options: AccountOptions) {
    validate(options);
    this.options = { seed: options.seed, sizes: { ...options.sizes }, anchor: new Date(options.anchor.getTime()) };
    const seed = options.seed >>> 0;
    const sizes = this.options.sizes;
    const anchorSec = Math.floor(options.anchor.getTime() / 1000);
    this.seed = seed;
    this.clock = anchorSec;
    const version = () => this.currentVersion;
    const ids = new ShortIdPool();

    const tags = new TagModel(seed, sizes.tags);
    this.tags = new Collection('tags', tags, version);
    tags.attach(this.tags);
    this.tagGroups = new Collection('tag groups', new TagGroupSource(tags), version);
    this.couponSource = new CouponSource(seed, maxCodesPerCoupon(sizes.profiles), anchorSec);
    this.coupons = new Collection('coupons', this.couponSource, version);
    const metrics = new MetricModel(seed, sizes.metrics, anchorSec, ids);
    this.metrics = new Collection('metrics', metrics, version);

    // Profiles link to their lists and segments, and memberships are subsets of profiles: the links resolve lazily.
    const profiles: ProfileModel = new ProfileModel(seed, sizes.profiles, anchorSec, {
      listIds: () => lists.ids,
      listsOf: (p) => lists.groupsOf(p),
      segmentsOf: (p) => segments.groupsOf(p),
    });
    const groupOptions = { seed, anchorSec, ids, profiles, tags, version };
    const lists = new ListModel({ ...groupOptions, count: sizes.lists });
    const segments = new SegmentModel(
      { ...groupOptions, count: sizes.segments },
      { metricId: (name) => metrics.idByName(name), listIds: lists.ids },
    );
    this.profiles = new Collection('profiles', profiles, version);
    this.lists = new Collection('lists', lists, version);
    this.segments = new Collection('segments', segments, version);

    const catalog = new CatalogModel(seed, sizes.catalogItems, anchorSec);
    this.catalogItems = new Collection('catalog items', catalog, version);
    const variants = new CatalogVariants(catalog, seed);
    this.catalogVariants = new Collection('catalog variants', variants, version);
    this.catalogCategories = new Collection('catalog categories', new CatalogCategories(catalog, anchorSec), version);
    const campaigns = new CampaignModel(seed, sizes.campaigns, anchorSec, [...lists.ids, ...segments.ids], tags);
    this.campaigns = new Collection('campaigns', campaigns, version);
    this.flows = new Collection('flows', new FlowModel(seed, sizes.flows, anchorSec, ids, tags), version);
    const templates = new TemplateModel(seed, sizes.templates, anchorSec, ids);
    this.templates = new Collection('templates', templates, version);
    const events = new EventModel(seed, sizes.events, anchorSec, {
      profiles,
      metrics,
      catalog,
      campaigns,
      campaignsPerChannel: sizes.campaigns,
      lists,
    });
    this.events = new Collection('events', events, version);
    // drawn last from the short-id pool, so the ids of everything before are what they were without forms
    const forms = new FormModel(seed, formCount(sizes), anchorSec, ids);
    this.forms = new Collection('forms', forms, version);
    this.m = { profiles, lists, segments, templates, events, tags, variants, forms };
  }

  get version(): number {
    return this.currentVersion;
  }

  listMembers(listId: string): Table | undefined {
    const slot = this.lists.slotOf(listId);
    return slot === undefined ? undefined : this.m.lists.members[slot].table;
  }

  segmentMembers(segmentId: string): Table | undefined {
    const slot = this.segments.slotOf(segmentId);
    return slot === undefined ? undefined : this.m.segments.members[slot].table;
  }

  campaignMessages(campaignId: string): Table | undefined {
    const slot = this.campaigns.slotOf(campaignId);
    const campaign = slot === undefined ? undefined : this.campaigns.row(slot);
    return campaign && new Collection('campaign_messages', new CampaignMessages(campaign), () => this.currentVersion);
  }

  flowActions(flowId: string): Table | undefined {
    const slot = this.flows.slotOf(flowId);
    const flow = slot === undefined ? undefined : this.flows.row(slot);
    return flow && new Collection('flow_actions', new FlowActions(flow, this.seed), () => this.currentVersion);
  }

  flowMessages(actionId: string): Table | undefined {
    const found = this.flowActionsById().get(actionId);
    return found && new Collection('flow_messages', new FlowMessages(found.action, found.flow, this.seed), () => this.currentVersion);
  }

  /** Every live flow's steps by id (the first step of an id two flows happen to draw), for the steps' own listings. */
  private flowActionsById(): Map<string, { flow: Row; action: Row }> {
    if (this.actionIndex?.version === this.currentVersion) return this.actionIndex.byId;
    const byId = new Map<string, { flow: Row; action: Row }>();
    for (const slot of this.flows.liveSlots()) {
      const flow = this.flows.row(slot)!;
      const actions = new FlowActions(flow, this.seed);
      for (let k = 0; k < actions.slots(); k++) if (!byId.has(actions.id(k))) byId.set(actions.id(k), { flow, action: actions.row(k) });
    }
    this.actionIndex = { version: this.currentVersion, byId };
    return byId;
  }

  couponCodes(couponId: string): Table | undefined {
    const codes = this.couponSource.codesOf(couponId);
    return codes && new Collection('coupon_codes', codes, () => this.currentVersion);
  }

  lookup(type: string, id: string): Row | undefined {
    const table = this.byType()[type];
    if (!table) return undefined;
    const slot = table.slotOf(id);
    return slot === undefined ? undefined : table.row(slot);
  }

  private byType(): Record<string, Collection | undefined> {
    return {
      profile: this.profiles,
      list: this.lists,
      segment: this.segments,
      campaign: this.campaigns,
      flow: this.flows,
      template: this.templates,
      event: this.events,
      metric: this.metrics,
      tag: this.tags,
      'tag-group': this.tagGroups,
      coupon: this.coupons,
      'catalog-item': this.catalogItems,
      'catalog-variant': this.catalogVariants,
      'catalog-category': this.catalogCategories,
      form: this.forms,
    };
  }

  /** profiles `advance` deleted: events appended later for them are deleted too */
  private readonly deletedProfiles = new Set<number>();

  /**
   * Moves the clock and changes the account. With `deletes` (opt-in, so that accounts without it change as they
   * always did) it also deletes profiles, with their events and memberships as Klaviyo deletes them, and templates:
   * what only a full read or an id pass can see.
   */
  advance(options: { at?: Date; scale?: number; deletes?: boolean } = {}): AdvanceSummary {
    const at = options.at ?? new Date();
    const atSec = Math.floor(at.getTime() / 1000);
    if (!Number.isFinite(atSec)) throw new TypeError('advance: `at` must be a valid Date');
    if (atSec < this.clock) {
      throw new RangeError(
        `advance: at=${isoSeconds(atSec)} is before the account's clock ${isoSeconds(this.clock)}; ` +
          'pass a later `at` (or none, to use now), since synced watermarks must never move backwards',
      );
    }
    const scale = options.scale ?? 1;
    if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`advance: scale must be a positive number, got ${scale}`);

    const r = rngFor(this.seed, STREAM.advance, this.currentVersion + 1);
    /** share of n, scaled, at least 1 when n > 0, at most n. */
    const amount = (n: number, share: number) => (n === 0 ? 0 : Math.min(n, Math.max(1, Math.round(n * share * scale))));
    const { profiles, lists, segments, templates, events } = this.m;

    const touchedProfiles = pickLive(r, this.profiles, amount(this.profiles.count(), 0.005));
    for (const p of touchedProfiles) profiles.touch(p, atSec);
    const touchedTemplates = pickLive(r, this.templates, amount(this.templates.count(), 0.05));
    for (const t of touchedTemplates) templates.touch(t, atSec);
    const touchedLists = pickLive(r, this.lists, amount(this.lists.count(), 0.1));
    for (const l of touchedLists) lists.touch(l, atSec);

    const groups: GroupMembers[] = [...lists.members, ...segments.members];
    const profileCount = this.profiles.count();
    const changes = groups.length === 0 || profileCount === 0 ? 0 : Math.max(1, Math.round(profileCount * 0.004 * scale));
    let membershipsAdded = 0;
    let membershipsRemoved = 0;
    // A few tries per change: a drawn profile may already be a member, a drawn slot may already be gone.
    for (let k = 0; k < changes; k++) {
      for (let attempt = 0; attempt < 10; attempt++) {
        // drawn in this order (group, then profile) as ever, so an account's advances stay what they were
        const group = r.pick(groups);
        const p = r.int(profileCount);
        if (this.deletedProfiles.has(p)) continue;
        if (group.add(p, atSec)) {
          membershipsAdded++;
          break;
        }
      }
    }
    for (let k = 0; k < Math.ceil(changes / 2); k++) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const g = r.pick(groups);
        if (g.slots() > 0 && g.remove(r.int(g.slots()))) {
          membershipsRemoved++;
          break;
        }
      }
    }

    const eventCount = this.options.sizes.events === 0 ? 0 : Math.max(1, Math.round(Math.max(this.events.count(), 1000) * 0.002 * scale));
    const newestEvent = events.lastTimestamp() ?? this.clock;
    const appendedFrom = this.events.slots();
    events.append(eventCount, Math.min(Math.max(newestEvent + 1, this.clock), atSec), atSec);
    // a deleted profile has no events, new ones included
    if (this.deletedProfiles.size > 0) this.deleteEventsOf(this.deletedProfiles, appendedFrom);

    let catalogItemsDeleted = 0;
    for (const slot of pickLive(r, this.catalogItems, amount(this.catalogItems.count(), 0.005))) {
      if (this.catalogItems.delete(slot)) {
        catalogItemsDeleted++;
        // an item's variants go with it
        for (const v of this.m.variants.slotsOf(slot)) this.catalogVariants.delete(v);
      }
    }
    let tagsDeleted = 0;
    for (const slot of pickLive(r, this.tags, Math.min(this.tags.count(), Math.max(1, Math.round(scale))))) {
      if (this.tags.delete(slot)) tagsDeleted++;
    }
    // drawn after everything else, so the other changes are those of an account without forms
    const editedForms = pickLive(r, this.forms, amount(this.forms.count(), 0.1));
    for (const f of editedForms) this.m.forms.touch(f, atSec);
    // drawn after the forms, so an advance without deletes changes what it always did
    const deleted = options.deletes
      ? this.deleteSome(rngFor(this.seed, STREAM.advanceDeletes, this.currentVersion + 1), amount)
      : undefined;

    this.currentVersion++;
    this.clock = atSec;
    return {
      at: isoSeconds(atSec),
      profilesUpdated: touchedProfiles.length,
      templatesUpdated: touchedTemplates.length,
      listsUpdated: touchedLists.length,
      membershipsAdded,
      membershipsRemoved,
      eventsAppended: eventCount,
      catalogItemsDeleted,
      tagsDeleted,
      formsUpdated: editedForms.length,
      ...deleted,
    };
  }

  /** `advance`'s deletes: a share of the profiles (their events and memberships go with them) and of the templates. */
  private deleteSome(
    r: ReturnType<typeof rngFor>,
    amount: (n: number, share: number) => number,
  ): Pick<AdvanceSummary, 'profilesDeleted' | 'eventsDeleted' | 'templatesDeleted'> {
    const gone = new Set<number>();
    for (const p of pickLive(r, this.profiles, amount(this.profiles.count(), 0.002))) if (this.profiles.delete(p)) gone.add(p);
    for (const p of gone) this.deletedProfiles.add(p);
    let templatesDeleted = 0;
    for (const t of pickLive(r, this.templates, amount(this.templates.count(), 0.05))) if (this.templates.delete(t)) templatesDeleted++;
    for (const g of [...this.m.lists.members, ...this.m.segments.members]) {
      for (let slot = 0; slot < g.slots(); slot++) if (gone.has(g.profileOf(slot))) g.remove(slot);
    }
    return { profilesDeleted: gone.size, eventsDeleted: this.deleteEventsOf(gone, 0), templatesDeleted };
  }

  /** Deletes the events from slot `from` on whose profile is one of `profiles`; how many. */
  private deleteEventsOf(profiles: ReadonlySet<number>, from: number): number {
    let n = 0;
    if (profiles.size === 0) return 0;
    for (let i = from; i < this.events.slots(); i++) if (profiles.has(this.m.events.profileSlot(i)) && this.events.delete(i)) n++;
    return n;
  }

  truth(): Record<StreamName, StreamTruth> {
    if (this.truthCache?.version === this.currentVersion) return this.truthCache.value;
    const tables: Record<
      Exclude<
        StreamName,
        'list_profiles' | 'segment_profiles' | 'campaign_messages' | 'flow_actions' | 'flow_messages' | 'global_exclusions' | 'coupon_codes'
      >,
      Collection
    > = {
      profiles: this.profiles,
      lists: this.lists,
      segments: this.segments,
      campaigns: this.campaigns,
      flows: this.flows,
      templates: this.templates,
      events: this.events,
      metrics: this.metrics,
      tags: this.tags,
      tag_groups: this.tagGroups,
      coupons: this.coupons,
      catalog_items: this.catalogItems,
      catalog_variants: this.catalogVariants,
      catalog_categories: this.catalogCategories,
      forms: this.forms,
    };
    const value = {} as Record<StreamName, StreamTruth>;
    for (const name of STREAM_NAMES) {
      const sum = new IdsChecksum();
      if (name === 'list_profiles' || name === 'segment_profiles') {
        const model = name === 'list_profiles' ? this.m.lists : this.m.segments;
        model.members.forEach((members, g) => {
          const prefix = `${model.ids[g]}:`;
          for (const slot of members.table.liveSlots()) sum.add(prefix + members.id(slot));
        });
      } else if (name === 'global_exclusions') {
        for (const slot of this.profiles.liveSlots()) if (this.m.profiles.globallySuppressed(slot)) sum.add(this.profiles.id(slot));
      } else if (name === 'flow_actions') {
        for (const slot of this.flows.liveSlots()) {
          const flow = this.flows.row(slot)!;
          const actions = new FlowActions(flow, this.seed);
          for (let k = 0; k < actions.slots(); k++) sum.add(`${flow.id}:${actions.id(k)}`);
        }
      } else if (name === 'flow_messages') {
        for (const [actionId, { flow, action }] of this.flowActionsById()) {
          const messages = new FlowMessages(action, flow, this.seed);
          for (let k = 0; k < messages.slots(); k++) sum.add(`${actionId}:${messages.id(k)}`);
        }
      } else if (name === 'coupon_codes') {
        for (const codes of this.couponSource.allCodes())
          for (let k = 0; k < codes.slots(); k++) sum.add(`${codes.couponId}:${codes.id(k)}`);
      } else if (name === 'campaign_messages') {
        for (const slot of this.campaigns.liveSlots()) {
          const campaign = this.campaigns.row(slot)!;
          const messages = new CampaignMessages(campaign);
          for (let k = 0; k < messages.slots(); k++) sum.add(`${campaign.id}:${messages.id(k)}`);
        }
      } else {
        const table = tables[name];
        for (const slot of table.liveSlots()) sum.add(table.id(slot));
      }
      value[name] = { count: sum.count, checksum: sum.digest() };
    }
    this.truthCache = { version: this.currentVersion, value };
    return value;
  }
}
