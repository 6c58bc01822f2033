/**
 * A stream is data: which Klaviyo operation it reads, how rows are keyed, how it pages and how it goes incremental.
 * One engine (workflows/ + activities/) runs every stream from these fields alone; nothing in the engine names a
 * stream. The table itself is streams/streams.ts.
 */

export type StreamName =
  | 'profiles'
  | 'lists'
  | 'segments'
  | 'campaigns'
  | 'flows'
  | 'templates'
  | 'events'
  | 'metrics'
  | 'tags'
  | 'tag_groups'
  | 'catalog_items'
  | 'catalog_variants'
  | 'catalog_categories'
  | 'forms'
  | 'coupons'
  | 'global_exclusions'
  | 'list_profiles'
  | 'segment_profiles'
  | 'campaign_messages'
  | 'flow_actions'
  | 'flow_messages'
  | 'coupon_codes';

/**
 * How a run reads a stream: everything into a staging table swapped in at the end, what changed since the
 * watermark, or (`backfill`, streams read in time windows) a range of the cursor again into the incremental table,
 * upserted, leaving the watermark as it was.
 */
export type Mode = 'full-refresh' | 'incremental' | 'backfill';

export interface CursorDef {
  /** attribute holding the change time, e.g. `updated` or `datetime` */
  field: string;
  /** the Klaviyo filter operator to resume with: inclusive where the endpoint allows it */
  operator: 'greater-than' | 'greater-or-equal';
  /**
   * how far before the watermark every incremental run reads again (the upsert absorbs what was read before): a
   * row changed later in the watermark's own instant has the same cursor value, so `greater-than` on a field of
   * one-second resolution needs 1; `greater-or-equal` reads the watermark's instant again already (0).
   * `source_options.lookback` widens it per replication.
   */
  overlapSeconds: number;
  /**
   * where a first incremental run (or a partition new to it) starts when `source_options.start_date` is not given:
   * this many days before now, or null for the beginning (memberships: a list made last week may hold members who
   * joined years ago through an import, so `joined_group_at` says nothing of what an earlier run read)
   */
  defaultLookbackDays: number | null;
  /**
   * what an incremental run cannot see, rows gone from Klaviyo (a member who left a list), a full refresh removes:
   * an incremental run becomes one when the table's last full refresh is this many days old
   * (`source_options.full_refresh_every` sets it per replication); absent: only when asked for
   */
  fullRefreshEveryDays?: number;
}

export interface PartitionDef {
  /** a short label for logs and the UI, e.g. `email` or `archived` */
  label: string;
  /** a Klaviyo filter expression this partition always sends (combined with the cursor filter by `and(...)`) */
  filter: string;
  /**
   * what the filter says of every row it lists and the resource itself does not carry, as columns the rows get
   * (campaigns: the channel, which a 2025-07-15 campaign has no attribute for). Every partition of a stream states
   * the same column names.
   */
  columns?: Readonly<Record<string, string>>;
}

/**
 * How a stream's rows are split into listings, stated rather than inferred (Airbyte's `ListPartitionRouter` and
 * `SubstreamPartitionRouter`). One module, ./partitions.ts, turns the kind into what the engine needs.
 */
export type Partitioning =
  /** one listing, partition key '' */
  | { kind: 'none' }
  /** separate listings whose union is the stream, one per fixed filter (campaigns: channel × archived; flows: archived) */
  | { kind: 'filters'; partitions: PartitionDef[] }
  /** one listing per row of the parent stream (the memberships of each list); partition key = the parent's id */
  | ParentPartitioning
  /**
   * incremental runs read time windows of the cursor at once, each bounded above by `less-than(field, end)`
   * (./windows.ts); a full refresh reads one unbounded listing. Only for a cursor whose filter takes `less-than`.
   */
  | WindowsPartitioning;

export interface WindowsPartitioning {
  kind: 'windows';
  /** at most this many windows per run: enough to keep the endpoint's requests in flight (sync-stream.ts) */
  maxWindows: number;
  /** no window shorter than this (seconds): an incremental run over the last hour is one window */
  minWindowSeconds: number;
  /**
   * no piece of a window split while read (slots idle) shorter than this (seconds): finer than the planned windows,
   * so a backfill's last windows still fill the idle slots
   */
  minSplitSeconds: number;
}

export interface ParentPartitioning {
  kind: 'parent';
  /** the stream whose ids partition this one (lists for list_profiles) */
  stream: StreamName;
  /** the column that holds the parent's id in this stream's table */
  column: string;
  /**
   * a parent deleted between reading its id and reading its children (Klaviyo answers 404): `empty` reads it as
   * a parent without children, so the stream completes without it (a 404; PostHog's Klaviyo source skips it too)
   */
  onParentNotFound: 'empty';
  /**
   * only the parent rows whose attribute `field` starts with `prefix` have children to read (a flow's send steps,
   * `SEND_*`, have messages; its delays and splits none): the others are not asked. Absent: every parent row.
   */
  parentRows?: ParentRowFilter;
  /**
   * one child workflow per parent row, each with a history of its own (memberships: a list may hold millions of
   * members), or false: the stream workflow pages the parents' listings itself, many at once, as it pages filters
   * (campaign messages: one page per campaign)
   */
  fanOut: boolean;
}

/** Which rows of a parent stream partition its child (ParentPartitioning.parentRows). */
export interface ParentRowFilter {
  field: string;
  prefix: string;
}

export type PartitionKind = Partitioning['kind'];

/**
 * An opt-in of a stream (`source_options.<name>: true` in the replication): more query parameters on its requests,
 * columns filled from the compound document's `included` resources, and the rate tier such requests count against
 * when Klaviyo puts them in a lower one.
 */
export type IncludedFrom =
  { relationship: string; attribute: string } | { relationship: string; links: readonly string[]; attributes?: readonly string[] };

export interface StreamOption {
  description: string;
  /** merged into the stream's own `params` (a parameter both set lists the values of both, comma-separated) */
  params: Readonly<Record<string, string>>;
  /**
   * columns read from `included`: the attribute of the resource a to-one relationship points at (`attribute`), or,
   * for a to-many relationship, a JSON array with one object per resource it points at, holding its id, the
   * ids its own relationships name (`links`: `campaign-message` → `campaign_message_id`) and the `attributes` named
   */
  includedColumns?: Readonly<Record<string, IncludedFrom>>;
  /** the (lower) tier of requests with this option: they draw from their own budget, `<operation>+<option>` */
  rateLimit?: { burst: number; steady: number };
  /**
   * one more request per resource of each page, for attributes its listing cannot give (a list's `profile_count`
   * comes only from reading that one list): they fill the columns of the same names
   */
  lookup?: ResourceLookup;
}

/** A read of one resource of a page by its id (StreamOption.lookup), at its own tier. */
export interface ResourceLookup {
  /** the single-resource operation, e.g. `get_list`; its requests draw from `<operation>+<option>` */
  operation: string;
  /** path template, `{id}` the resource's id */
  path: string;
  params: Readonly<Record<string, string>>;
  /** the attributes of its answer the rows keep */
  attributes: readonly string[];
  /** its tier with these params (endpoints.json's conditional one) */
  rateLimit: { burst: number; steady: number };
}

export interface StreamDef {
  name: StreamName;
  description: string;
  /** Klaviyo operationId, e.g. `get_profiles` (see spec/klaviyo/endpoints.json) */
  operation: string;
  /** path template; `{id}` is the parent's id for child streams */
  path: string;
  /** the JSON:API resource type of the rows */
  resourceType: string;
  /**
   * primary key columns; child streams key on (parent column, `profile_id`). The resource id goes in the key column
   * that is not the parent's (`idColumnOf`).
   */
  primaryKey: string[];
  /** the listing is sorted ascending on `cursor.field` (`sortOf`), so a committed page is a safe watermark */
  cursor?: CursorDef;
  /** `page[size]` to send; only where the operation takes the parameter */
  pageSize?: number;
  /** the page size the API serves (for the benchmark and progress estimates) */
  servedPageSize: number;
  /** extra query parameters sent on the first request of each run */
  params?: Record<string, string>;
  partitioning: Partitioning;
  /** to-one relationships stored as `<name>_id` columns, e.g. `{ metric: 'metric_id' }` */
  relationshipColumns?: Record<string, string>;
  /**
   * when set, the only attributes a row keeps (each in its own column), requested as a sparse fieldset through
   * `params`; membership rows keep `joined_group_at` because the profile itself is the `profiles` stream
   */
  keepAttributes?: string[];
  /** API key scopes the stream needs */
  scopes: string[];
  /** rate tier of the operation: burst per second and steady per minute, from the spec */
  rateLimit: { burst: number; steady: number };
  /** opt-ins by name (see StreamOption), e.g. events' `metric_name` */
  options?: Readonly<Record<string, StreamOption>>;
}
