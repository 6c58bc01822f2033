/**
 * The contract between the sandbox's synthetic account (sandbox/account/) and its HTTP layer (sandbox/http/).
 *
 * The account owns the data: it generates it deterministically from a seed, lazily where it is large, mutates it
 * on `advance()`, and reports the truth. The HTTP layer owns the protocol: filters, sorts, keyset cursors, sparse
 * fieldsets, JSON:API documents, auth, rate limits and faults. It reaches the data only through these interfaces.
 */

/** Our stream names, as used by klaviyo-sync and by `GET /__sandbox/truth`. */
export const STREAM_NAMES = [
  'profiles',
  'lists',
  'segments',
  'campaigns',
  'flows',
  'templates',
  'events',
  'metrics',
  'tags',
  'tag_groups',
  'catalog_items',
  'catalog_variants',
  'catalog_categories',
  'forms',
  'coupons',
  'global_exclusions',
  'list_profiles',
  'segment_profiles',
  'campaign_messages',
  'flow_actions',
  'flow_messages',
  'coupon_codes',
] as const;
export type StreamName = (typeof STREAM_NAMES)[number];

/** A to-one or to-many relationship, as resource identifiers. */
export type RelationshipData = { type: string; id: string } | Array<{ type: string; id: string }> | null;

/**
 * One resource, nearly as JSON:API gives it: the HTTP layer adds `links` and turns `relationships` into
 * `{ data, links: { self, related } }`.
 * - `attributes` holds every attribute the spec lists, including the ones only sent on request
 *   (`subscriptions`, `predictive_analytics` on profiles): the HTTP layer strips what was not asked for.
 * - `hidden` holds values that filters need but the resource does not show as attributes
 *   (e.g. a campaign's `messages.channel`, a catalog item's `category.id`, an event's `metric_id`/`profile_id`).
 *   Filter fields are looked up first in `hidden` (by the whole dotted name), then in `attributes` (by path).
 */
export interface Row {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  relationships?: Record<string, RelationshipData>;
  hidden?: Record<string, unknown>;
}

/** A sort key: what `Table.key` returns. Strings compare with `<` (code units), never localeCompare. */
export type SortKey = string | number | boolean | null;

/**
 * One collection: the rows of an endpoint. Slots are numbered 0..slots()-1; a deleted slot's `row()` is undefined.
 * Row generation may be lazy (computed from the seed on demand), so callers should ask only for rows they serve.
 */
export interface Table {
  /** Number of slots, deleted ones included. */
  slots(): number;
  /** Number of live rows. */
  count(): number;
  /** The row in slot i, or undefined if that slot was deleted. */
  row(i: number): Row | undefined;
  /** The id of slot i (cheap; no full row generation). */
  id(i: number): string;
  /**
   * The sort key of slot i for `field` (a name from the operation's sort enum, without '-'), cheap for every
   * sortable field. `null` sorts first.
   */
  key(i: number, field: string): SortKey;
  /**
   * Live slots ordered ascending by (key(field), id); `field` null means the default order, ascending by id.
   * Cached by the table until the account's version changes.
   */
  order(field: string | null): Uint32Array;
}

export interface SizeOptions {
  profiles: number;
  lists: number;
  segments: number;
  /** campaigns per channel (email, sms, mobile_push) */
  campaigns: number;
  flows: number;
  templates: number;
  events: number;
  metrics: number;
  tags: number;
  catalogItems: number;
}

export interface AccountOptions {
  seed: number;
  sizes: SizeOptions;
  /** The instant the synthetic history ends at (the account's "now" at creation). */
  anchor: Date;
}

export interface StreamTruth {
  count: number;
  /** Order-independent checksum of the stream's ids; see `idsChecksum` in sandbox/account/checksum.ts. */
  checksum: string;
}

export interface AdvanceSummary {
  at: string;
  profilesUpdated: number;
  templatesUpdated: number;
  listsUpdated: number;
  membershipsAdded: number;
  membershipsRemoved: number;
  eventsAppended: number;
  catalogItemsDeleted: number;
  tagsDeleted: number;
  formsUpdated: number;
  /** with `deletes`: profiles deleted (their events and memberships with them) and templates deleted */
  profilesDeleted?: number;
  eventsDeleted?: number;
  templatesDeleted?: number;
}

export interface Account {
  /** Bumped on every mutation; tables cache their orders per version. */
  readonly version: number;
  readonly options: AccountOptions;
  profiles: Table;
  lists: Table;
  segments: Table;
  /** All campaigns of every channel, archived ones too; `hidden['messages.channel']` tells the channel. */
  campaigns: Table;
  flows: Table;
  templates: Table;
  events: Table;
  metrics: Table;
  tags: Table;
  tagGroups: Table;
  coupons: Table;
  catalogVariants: Table;
  catalogCategories: Table;
  forms: Table;
  catalogItems: Table;
  /**
   * Members of a list (or segment): rows of type 'profile' whose attributes are the profile's plus
   * `joined_group_at`. Sortable on `joined_group_at`. Undefined for an unknown id.
   */
  listMembers(listId: string): Table | undefined;
  segmentMembers(segmentId: string): Table | undefined;
  /** The messages of a campaign (archived ones too). Undefined for an unknown campaign. */
  campaignMessages(campaignId: string): Table | undefined;
  /** The steps of a flow. Undefined for an unknown flow. */
  flowActions(flowId: string): Table | undefined;
  /** The messages of a flow step (one or two for a send step, none for the others). Undefined for an unknown step. */
  flowMessages(actionId: string): Table | undefined;
  /** The codes of a coupon. Undefined for an unknown coupon. */
  couponCodes(couponId: string): Table | undefined;
  /** Any resource by type and id (for `GET /api/profiles/{id}` and for `included`). */
  lookup(type: string, id: string): Row | undefined;
  /** Move the clock: update some profiles, templates, lists and memberships; append events; delete a few rows. */
  advance(options?: { at?: Date; scale?: number; deletes?: boolean }): AdvanceSummary;
  /**
   * Per stream: live row count and checksum of ids (list_profiles / segment_profiles ids are `<group id>:<profile id>`,
   * campaign_messages ids `<campaign id>:<message id>`, flow_actions ids `<flow id>:<action id>`, flow_messages ids
   * `<action id>:<message id>`).
   */
  truth(): Record<StreamName, StreamTruth>;
}
