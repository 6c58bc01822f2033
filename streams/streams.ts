/**
 * The stream table: every Klaviyo stream klaviyo-sync replicates, as data (see ./types.ts for what each field means).
 *
 * Operations, paths, scopes, rate limits, page sizes, sorts and filter operators are those of Klaviyo API revision
 * 2025-07-15 (spec/klaviyo/endpoints.json). They are written out rather than read at runtime so that the table has
 * no file I/O and can be imported by workflow code; test/streams.test.ts checks every value against endpoints.json.
 *
 * Parents come before their children, so the table order is also a valid run order. What can be derived is not
 * written: the sort is the cursor's field, the id column the key column that is not the parent's (./partitions.ts).
 */
import type { ParentRowFilter, PartitionDef, StreamDef, StreamName, StreamOption } from './types';

const CAMPAIGN_CHANNELS = ['email', 'sms', 'mobile_push'] as const;

/**
 * Klaviyo lists campaigns only per channel, and archived ones only when asked for with `equals(archived,true)`. A
 * campaign has no channel attribute, so its partition's channel becomes the row's `channel` column (Airbyte adds it
 * too); `archived` is an attribute already.
 */
const CAMPAIGN_PARTITIONS: PartitionDef[] = CAMPAIGN_CHANNELS.flatMap((channel) => [
  { label: channel, filter: `and(equals(messages.channel,'${channel}'),equals(archived,false))`, columns: { channel } },
  { label: `${channel}_archived`, filter: `and(equals(messages.channel,'${channel}'),equals(archived,true))`, columns: { channel } },
]);

/** Flows are split on `archived` the same way, so archived flows are read as well (Airbyte does the same). */
const FLOW_PARTITIONS: PartitionDef[] = [
  { label: 'not_archived', filter: 'equals(archived,false)' },
  { label: 'archived', filter: 'equals(archived,true)' },
];

/** The reasons of a global suppression (EmailMarketingSuppression.reason in the spec). */
const SUPPRESSION_REASONS = ['HARD_BOUNCE', 'INVALID_EMAIL', 'SPAM_COMPLAINT', 'UNSUBSCRIBE', 'USER_SUPPRESSED'] as const;

/**
 * Global exclusions are the profiles suppressed from all email marketing. get_profiles filters on the suppression's
 * reason (`equals` only), so one listing per reason reads exactly the suppressed profiles and no other (Airbyte
 * scans every profile, every run); the reason becomes the row's `reason` column.
 */
const SUPPRESSION_PARTITIONS: PartitionDef[] = SUPPRESSION_REASONS.map((reason) => ({
  label: reason.toLowerCase(),
  filter: `equals(subscriptions.email.marketing.suppression.reason,'${reason}')`,
  columns: { reason },
}));

/**
 * The tags a campaign, flow, list or segment carries, from its own pages: `include=tags` with only the tag's name
 * (`fields[tag]`), so no request more (Airbyte and the Singer tap read each tag's relationships, a request per tag
 * and type).
 */
function tagsOption(what: string): Readonly<Record<string, StreamOption>> {
  return {
    tags: {
      description: `The tags a ${what} carries, in a tags column: a JSON array of {id, name}, from the same requests (include=tags)`,
      params: { include: 'tags', 'fields[tag]': 'name' },
      includedColumns: { tags: { relationship: 'tags', links: [], attributes: ['name'] } },
    },
  };
}

/**
 * `profile_count`: how many profiles a list or segment holds. Klaviyo serves it only from the one group's read
 * (`additional-fields[<type>]=profile_count` on GET /api/lists/{id}, /api/segments/{id}), at that tier's 1/s, 15/min:
 * one request per row, so 100 lists take about 7 minutes, in their own budget beside the listing's.
 */
function profileCountOption(
  type: 'list' | 'segment',
  path: string,
  operation: 'get_list' | 'get_segment',
): Readonly<Record<string, StreamOption>> {
  return {
    profile_count: {
      description: `The ${type}'s profile count, in a profile_count column: one more request per ${type} (${operation}), at its tier of 1/s, 15/min (100 ${type}s: ~7 min)`,
      params: {},
      lookup: {
        operation,
        path,
        params: { [`additional-fields[${type}]`]: 'profile_count', [`fields[${type}]`]: 'profile_count' },
        attributes: ['profile_count'],
        rateLimit: { burst: 1, steady: 15 },
      },
    },
  };
}

/**
 * Time windows of the cursor (./windows.ts): up to 32 planned, split while they are read so that a long backfill
 * keeps up to 48 requests in flight (the stream workflow's PARTITION_CONCURRENCY) as windows finish; none under an
 * hour, so an hourly incremental run reads one window.
 */
const WINDOWS = { kind: 'windows', maxWindows: 32, minWindowSeconds: 3600, minSplitSeconds: 600 } as const;

/**
 * A membership row is (parent id, profile id, joined_group_at); the profile's attributes live in `profiles`.
 * Incremental runs read, per list or segment, only the members who joined since its watermark (`joined_group_at`
 * takes greater-or-equal and sorts ascending); who left shows only to a full read, so a run becomes a full refresh
 * once the last one is a week old (`source_options.full_refresh_every`).
 */
function membershipStream(
  name: 'list_profiles' | 'segment_profiles',
  parent: 'lists' | 'segments',
  operation: string,
  scopes: string[],
): StreamDef {
  const parentColumn = parent === 'lists' ? 'list_id' : 'segment_id';
  return {
    name,
    description: `Membership of profiles in ${parent}: one row per (${parentColumn}, profile_id), with joined_group_at`,
    operation,
    path: `/api/${parent}/{id}/profiles`,
    resourceType: 'profile',
    primaryKey: [parentColumn, 'profile_id'],
    partitioning: { kind: 'parent', stream: parent, column: parentColumn, onParentNotFound: 'empty', fanOut: true },
    pageSize: 100,
    servedPageSize: 100,
    cursor: {
      field: 'joined_group_at',
      operator: 'greater-or-equal',
      overlapSeconds: 0,
      defaultLookbackDays: null,
      fullRefreshEveryDays: 7,
    },
    params: { 'fields[profile]': 'joined_group_at' },
    keepAttributes: ['joined_group_at'],
    scopes,
    rateLimit: { burst: 75, steady: 700 },
  };
}

/**
 * A stream of one parent's resources (`/api/{parents}/{id}/...`), a row per (parent id, id): the parent's id is the
 * `{parent}_id` column, a parent gone meanwhile reads as empty, and each parent's listing is paged by the stream
 * workflow, many at once (a parent has a handful of them, rather than the thousands of members that fan out).
 */
function childStream(
  def: Omit<StreamDef, 'primaryKey' | 'partitioning'> & {
    parent: 'campaigns' | 'flows' | 'flow_actions' | 'coupons';
    parentRows?: ParentRowFilter;
  },
): StreamDef {
  const { parent, parentRows, ...rest } = def;
  const column = `${parent.replace(/s$/, '')}_id`;
  return {
    ...rest,
    primaryKey: [column, 'id'],
    partitioning: {
      kind: 'parent',
      stream: parent,
      column,
      onParentNotFound: 'empty',
      fanOut: false,
      ...(parentRows ? { parentRows } : {}),
    },
  };
}

const TABLE: StreamDef[] = [
  {
    name: 'profiles',
    description: 'Profiles with their subscriptions, incremental on `updated`',
    operation: 'get_profiles',
    path: '/api/profiles',
    resourceType: 'profile',
    primaryKey: ['id'],
    // `updated` takes less-than too: incremental runs read windows of it at once (profiles allow 75/s, 700/min)
    partitioning: WINDOWS,
    // `updated` accepts only greater-than/less-than on this operation and has one-second resolution: a profile
    // updated later in the watermark's second would never be read, so every run reads that second again.
    cursor: { field: 'updated', operator: 'greater-than', overlapSeconds: 1, defaultLookbackDays: 30 },
    pageSize: 100,
    servedPageSize: 100,
    params: { 'additional-fields[profile]': 'subscriptions' },
    scopes: ['profiles:read'],
    rateLimit: { burst: 75, steady: 700 },
    options: {
      // opt-in: asking for it drops the operation's tier from 75/s·700/m to 10/s·150/m (endpoints.json)
      predictive_analytics: {
        description:
          'Predictive analytics (CLV, churn, next order date) in a predictive_analytics column, at a lower rate tier: 10/s, 150/min instead of 75/s, 700/min',
        params: { 'additional-fields[profile]': 'predictive_analytics' },
        rateLimit: { burst: 10, steady: 150 },
      },
    },
  },
  {
    name: 'lists',
    description: 'Lists',
    operation: 'get_lists',
    path: '/api/lists',
    resourceType: 'list',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 10,
    scopes: ['lists:read'],
    rateLimit: { burst: 75, steady: 700 },
    options: { ...tagsOption('list'), ...profileCountOption('list', '/api/lists/{id}', 'get_list') },
  },
  {
    name: 'segments',
    description: 'Segments with their definitions',
    operation: 'get_segments',
    path: '/api/segments',
    resourceType: 'segment',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 10,
    scopes: ['segments:read'],
    rateLimit: { burst: 75, steady: 700 },
    options: { ...tagsOption('segment'), ...profileCountOption('segment', '/api/segments/{id}', 'get_segment') },
  },
  {
    name: 'campaigns',
    description: 'Campaigns of every channel, archived or not',
    operation: 'get_campaigns',
    path: '/api/campaigns',
    resourceType: 'campaign',
    primaryKey: ['id'],
    partitioning: { kind: 'filters', partitions: CAMPAIGN_PARTITIONS },
    servedPageSize: 10,
    scopes: ['campaigns:read'],
    rateLimit: { burst: 10, steady: 150 },
    options: tagsOption('campaign'),
  },
  {
    name: 'flows',
    description: 'Flows, archived or not',
    operation: 'get_flows',
    path: '/api/flows',
    resourceType: 'flow',
    primaryKey: ['id'],
    partitioning: { kind: 'filters', partitions: FLOW_PARTITIONS },
    pageSize: 50,
    servedPageSize: 50,
    scopes: ['flows:read'],
    rateLimit: { burst: 3, steady: 60 },
    options: tagsOption('flow'),
  },
  {
    name: 'templates',
    description: 'Email templates with their HTML, incremental on `updated`',
    operation: 'get_templates',
    path: '/api/templates',
    resourceType: 'template',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    cursor: { field: 'updated', operator: 'greater-or-equal', overlapSeconds: 0, defaultLookbackDays: 365 },
    servedPageSize: 10,
    scopes: ['templates:read'],
    rateLimit: { burst: 10, steady: 150 },
  },
  {
    name: 'events',
    description: 'Events with their metric and profile ids, incremental on `datetime`',
    operation: 'get_events',
    path: '/api/events',
    resourceType: 'event',
    primaryKey: ['id'],
    // `datetime` takes less-than: a backfill reads windows of it at once (events allow 350/s, 3,500/min)
    partitioning: WINDOWS,
    cursor: { field: 'datetime', operator: 'greater-or-equal', overlapSeconds: 0, defaultLookbackDays: 30 },
    servedPageSize: 200,
    relationshipColumns: { metric: 'metric_id', profile: 'profile_id' },
    scopes: ['events:read'],
    rateLimit: { burst: 350, steady: 3500 },
    options: {
      // from the page itself (include=metric, only the name): no request more, no join needed downstream
      metric_name: {
        description: "The metric's name (e.g. Placed Order) in a metric_name column beside metric_id, from the same requests",
        params: { include: 'metric', 'fields[metric]': 'name' },
        includedColumns: { metric_name: { relationship: 'metric', attribute: 'name' } },
      },
      // the campaign or flow message a conversion is attributed to, from the same pages (include=attributions)
      attributions: {
        description:
          'The campaigns and flows an event (a conversion) is attributed to, in an attributions column: a JSON array of {id, campaign_id, campaign_message_id, flow_id, flow_message_id, flow_message_variation_id, attributed_event_id}, from the same requests',
        params: { include: 'attributions' },
        includedColumns: {
          attributions: {
            relationship: 'attributions',
            links: ['campaign', 'campaign-message', 'flow', 'flow-message', 'flow-message-variation', 'attributed-event'],
          },
        },
      },
    },
  },
  {
    name: 'metrics',
    description: 'Metrics (event types)',
    operation: 'get_metrics',
    path: '/api/metrics',
    resourceType: 'metric',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 200,
    scopes: ['metrics:read'],
    rateLimit: { burst: 10, steady: 150 },
  },
  {
    name: 'tags',
    description: 'Tags',
    operation: 'get_tags',
    path: '/api/tags',
    resourceType: 'tag',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 50,
    scopes: ['tags:read'],
    rateLimit: { burst: 3, steady: 60 },
  },
  {
    name: 'tag_groups',
    description: 'Tag groups (the default one too), each exclusive or not',
    operation: 'get_tag_groups',
    path: '/api/tag-groups',
    resourceType: 'tag-group',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 25,
    scopes: ['tags:read'],
    rateLimit: { burst: 3, steady: 60 },
  },
  {
    name: 'catalog_items',
    description: 'Catalog items of the $custom:::$default catalog',
    operation: 'get_catalog_items',
    path: '/api/catalog-items',
    resourceType: 'catalog-item',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 100,
    scopes: ['catalogs:read'],
    rateLimit: { burst: 350, steady: 3500 },
  },
  {
    name: 'catalog_variants',
    description: "Catalog variants: an item's sizes or colours, each with its SKU, price and inventory",
    operation: 'get_catalog_variants',
    path: '/api/catalog-variants',
    resourceType: 'catalog-variant',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 100,
    scopes: ['catalogs:read'],
    rateLimit: { burst: 350, steady: 3500 },
  },
  {
    name: 'catalog_categories',
    description: 'Catalog categories',
    operation: 'get_catalog_categories',
    path: '/api/catalog-categories',
    resourceType: 'catalog-category',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    servedPageSize: 100,
    scopes: ['catalogs:read'],
    rateLimit: { burst: 350, steady: 3500 },
  },
  {
    name: 'forms',
    description: 'Sign-up forms (popups, flyouts, embeds): status, A/B test, incremental on `updated_at`',
    operation: 'get_forms',
    path: '/api/forms',
    resourceType: 'form',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    cursor: { field: 'updated_at', operator: 'greater-or-equal', overlapSeconds: 0, defaultLookbackDays: 365 },
    pageSize: 100,
    servedPageSize: 100,
    scopes: ['forms:read'],
    rateLimit: { burst: 3, steady: 60 },
  },
  {
    name: 'coupons',
    description: 'Coupons (their id is the external id, e.g. a Shopify discount code), with the low-balance monitor',
    operation: 'get_coupons',
    path: '/api/coupons',
    resourceType: 'coupon',
    primaryKey: ['id'],
    partitioning: { kind: 'none' },
    // the operation takes no page[size] and documents no maximum: the sandbox serves 5
    servedPageSize: 5,
    scopes: ['coupons:read'],
    rateLimit: { burst: 75, steady: 700 },
  },
  {
    name: 'global_exclusions',
    description:
      'Profiles suppressed from all email marketing: email, reason and the email marketing state with the suppression (its timestamp), one listing per reason; a full refresh, so a profile suppressed no more leaves the table',
    operation: 'get_profiles',
    path: '/api/profiles',
    resourceType: 'profile',
    primaryKey: ['id'],
    partitioning: { kind: 'filters', partitions: SUPPRESSION_PARTITIONS },
    pageSize: 100,
    servedPageSize: 100,
    // a sparse fieldset: the email and the email marketing state, suppression included (a whole object of the
    // schema: a deeper field would leave out what the schema requires beside it); `subscriptions` is an additional field
    params: { 'additional-fields[profile]': 'subscriptions', 'fields[profile]': 'email,subscriptions.email.marketing' },
    keepAttributes: ['email', 'subscriptions'],
    scopes: ['profiles:read'],
    rateLimit: { burst: 75, steady: 700 },
  },
  membershipStream('list_profiles', 'lists', 'get_profiles_for_list', ['lists:read', 'profiles:read']),
  membershipStream('segment_profiles', 'segments', 'get_profiles_for_segment', ['profiles:read', 'segments:read']),
  // one page per campaign, all its messages (one, two for an A/B test)
  childStream({
    name: 'campaign_messages',
    parent: 'campaigns',
    description:
      "Campaigns' messages: channel, label, content (subject, preview, from, body) and send times, one row per (campaign_id, id)",
    operation: 'get_messages_for_campaign',
    path: '/api/campaigns/{id}/campaign-messages',
    resourceType: 'campaign-message',
    servedPageSize: 2,
    scopes: ['campaigns:read'],
    rateLimit: { burst: 10, steady: 150 },
  }),
  // a flow has a handful of steps: one page each
  childStream({
    name: 'flow_actions',
    parent: 'flows',
    description: "Flows' steps (send, delay, split, update): type, status, settings and send options, one row per (flow_id, id)",
    operation: 'get_actions_for_flow',
    path: '/api/flows/{id}/flow-actions',
    resourceType: 'flow-action',
    pageSize: 50,
    servedPageSize: 50,
    scopes: ['flows:read'],
    rateLimit: { burst: 3, steady: 60 },
  }),
  // a send step has a message (two for an A/B test); only send steps are asked, one request each
  childStream({
    name: 'flow_messages',
    parent: 'flow_actions',
    parentRows: { field: 'action_type', prefix: 'SEND_' },
    description:
      "Flow steps' messages: name, channel and content (subject, preview, from; an SMS's body), one row per (flow_action_id, id), read for the send steps (action_type SEND_*) only",
    operation: 'get_flow_action_messages',
    path: '/api/flow-actions/{id}/flow-messages',
    resourceType: 'flow-message',
    pageSize: 50,
    servedPageSize: 50,
    scopes: ['flows:read'],
    rateLimit: { burst: 3, steady: 60 },
  }),
  // an account has a handful of coupons, each with up to thousands of codes; the operation takes no page[size]
  // and documents no maximum: the sandbox serves 100
  childStream({
    name: 'coupon_codes',
    parent: 'coupons',
    description: "Coupons' codes: the unique code, its status (unassigned, assigned, used) and expiry, one row per (coupon_id, id)",
    operation: 'get_coupon_codes_for_coupon',
    path: '/api/coupons/{id}/coupon-codes',
    resourceType: 'coupon-code',
    servedPageSize: 100,
    scopes: ['coupon-codes:read'],
    rateLimit: { burst: 75, steady: 700 },
  }),
];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Frozen, because workflows and activities share these objects and a stray mutation would change every run. */
export const STREAMS: readonly StreamDef[] = deepFreeze(TABLE);

export const STREAM_NAMES: readonly StreamName[] = Object.freeze(STREAMS.map((s) => s.name));

const BY_NAME = new Map<string, StreamDef>(STREAMS.map((s) => [s.name, s]));

export function isStreamName(name: string): name is StreamName {
  return BY_NAME.has(name);
}

export function getStream(name: string): StreamDef {
  const stream = BY_NAME.get(name);
  if (!stream) throw new Error(`unknown stream "${name}"; the streams are: ${STREAM_NAMES.join(', ')}`);
  return stream;
}
