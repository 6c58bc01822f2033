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
  | 'catalog_items'
  | 'list_profiles'
  | 'segment_profiles';

export type Mode = 'full-refresh' | 'incremental';

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
  /** where a first incremental run starts when `source_options.start_date` is not given */
  defaultLookbackDays: number;
}

export interface PartitionDef {
  /** a short label for logs and the UI, e.g. `email` or `archived` */
  label: string;
  /** a Klaviyo filter expression this partition always sends (combined with the cursor filter by `and(...)`) */
  filter: string;
}

export interface ParentDef {
  /** the stream whose ids partition this one (lists for list_profiles) */
  stream: StreamName;
  /** the column that holds the parent's id in this stream's table */
  column: string;
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
  /** primary key columns; child streams key on (parent column, `profile_id`) */
  primaryKey: string[];
  /** for child streams: the column the resource id is stored in (e.g. `profile_id`); otherwise `id` */
  idColumn: string;
  cursor?: CursorDef;
  /** sort sent on every request (needed for a monotonic watermark) */
  sort?: string;
  /** `page[size]` to send; only where the operation takes the parameter */
  pageSize?: number;
  /** the page size the API serves (for the benchmark and progress estimates) */
  servedPageSize: number;
  /** extra query parameters sent on the first request of each run */
  params?: Record<string, string>;
  /** separate listings whose union is the stream (campaigns: channel × archived; flows: archived) */
  partitions?: PartitionDef[];
  parent?: ParentDef;
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
}
