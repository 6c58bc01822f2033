/**
 * Replication config in Sling's shape, and the plan the `replicate` workflow runs.
 *
 *   source: KLAVIYO                 # connection NAMES (see ./connections/); secrets never appear here
 *   target: MY_PG
 *   defaults:
 *     mode: full-refresh            # full-refresh | incremental
 *     object: klaviyo.{stream_name} # `{stream_table}` is an alias of `{stream_name}`; default {stream_name}
 *     source_options: { start_date: 2024-01-01 }
 *   streams:
 *     events: { source_options: { metric_name: true } }   # a stream's options (streams/streams.ts `options`)
 *     '*':                          # every stream
 *     profiles: { mode: incremental }
 *     tags: { disabled: true }
 *
 * Options merge per stream: defaults < `'*'` < the stream's own entry. An `object` without a dot (the default is
 * `{stream_name}`) is a table in the target connection's `schema` (Postgres), else in `klaviyo`; names follow the
 * writer's rule (lib/db/naming.ts). `incremental` inherited from defaults or `'*'` means "incremental where
 * the stream has a cursor": streams without one run full-refresh; set on a stream's own entry it must be possible.
 * `start_date` only concerns incremental streams (where a first run starts instead of the stream's lookback).
 *
 * No Node built-ins here: the module stays loadable anywhere, workflow bundles included.
 */
import { z } from 'zod';
import { YamlInputError, echo, echoKey, formatYamlProblems, listKeys, maskSecrets, parseYamlSafely } from './input';
import { STREAMS, STREAM_NAMES, getStream, isStreamName } from '../streams/streams';
import { hasIdPass, parentOf, partitionsOf } from '../streams/partitions';
import { optionsOf } from '../streams/options';
import type { Mode, StreamName } from '../streams/types';
import { IdentifierError, validateObjectName } from '../lib/db/naming';

export const MODES: readonly Mode[] = ['full-refresh', 'incremental', 'backfill'];
export const DEFAULT_MODE: Mode = 'full-refresh';
export const DEFAULT_SCHEMA = 'klaviyo';
/** a table named after the stream, in the default schema: the target connection's `schema` (Postgres), else klaviyo */
export const DEFAULT_OBJECT = '{stream_name}';

/** Why the writer (lib/db/naming.ts) would refuse this schema name, or undefined when it is a valid one. */
export function schemaNameProblem(schema: string): string | undefined {
  try {
    validateObjectName({ schema, table: 'probe' });
    return undefined;
  } catch (err) {
    if (err instanceof IdentifierError) return err.message;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The config's shape: zod schemas, and the types inferred from them. `start_date` is checked against `now` (the
// time of the check unless a test fixes it), so planning builds its schema with the `now` it was given.

const LOOKBACK = /^(\d+)(s|m|h|d)$/;
const LOOKBACK_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const LOOKBACK_PROBLEM = 'must be a whole number of seconds or a duration such as 30s, 15m, 2h or 1d';
/** incremental runs re-read this much before the saved watermark: seconds, or `30s`, `15m`, `2h`, `1d` */
const LookbackSchema = z
  .union([z.number(), z.string()], { error: LOOKBACK_PROBLEM })
  .refine((v) => (typeof v === 'number' ? Number.isInteger(v) && v >= 0 : LOOKBACK.test(v)), { error: LOOKBACK_PROBLEM });

const FULL_REFRESH_EVERY_PROBLEM = 'must be a duration such as 12h or 7d (seconds as a number), or never';
/** an incremental stream becomes a full refresh when its table's last one is this old: a duration, or `never` */
const FullRefreshEverySchema = z
  .union([z.number(), z.string()], { error: FULL_REFRESH_EVERY_PROBLEM })
  .refine((v) => v === 'never' || (typeof v === 'number' ? Number.isInteger(v) && v >= 0 : LOOKBACK.test(v)), {
    error: FULL_REFRESH_EVERY_PROBLEM,
  });

/** what a full refresh does with rows gone from Klaviyo: removes them (the default), or keeps them with `_deleted_at` */
const DeletesSchema = z.enum(['remove', 'mark'], {
  error:
    'must be remove (rows deleted in Klaviyo leave the table at a full refresh, the default) or mark (they stay, with _deleted_at set)',
});

/** ISO 8601 date or date-time (UTC unless it has an offset), not in the future → `YYYY-MM-DDTHH:MM:SSZ` */
function startDateSchema(now?: Date) {
  return z.string().transform((value, ctx) => {
    const parsed = parseStartDate(value, now ?? new Date());
    if (typeof parsed === 'string') return parsed;
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  });
}

/** Every stream option's name (StreamDef.options), each a `source_options` flag: `metric_name: true`. */
export const STREAM_OPTION_NAMES: readonly string[] = [...new Set(STREAMS.flatMap((s) => Object.keys(optionsOf(s))))];

const RANGE_PROBLEM = "must be 'START,END' (Sling's backfill range): two ISO dates, END after START, e.g. '2024-03-01,2024-04-01'";

/** `mode: backfill`'s `source_options.range` (Sling's): `START,END`, both past ISO dates, END after START */
function rangeSchema(now?: Date) {
  return z.string({ error: RANGE_PROBLEM }).transform((value, ctx) => {
    const parts = value.split(',');
    if (parts.length !== 2) {
      ctx.addIssue({ code: 'custom', message: `${echo(value)}: ${RANGE_PROBLEM}` });
      return z.NEVER;
    }
    const at = new Date(now ?? Date.now());
    const [start, end] = parts.map((p) => parseStartDate(p, at));
    for (const p of [start, end]) {
      if (typeof p !== 'string') {
        ctx.addIssue({ code: 'custom', message: p.problem });
        return z.NEVER;
      }
    }
    if (Date.parse(end as string) <= Date.parse(start as string)) {
      ctx.addIssue({ code: 'custom', message: `${echo(value)}: END must be after START` });
      return z.NEVER;
    }
    return { start: start as string, end: end as string };
  });
}

function sourceOptionsSchema(now?: Date) {
  return z.strictObject({
    start_date: startDateSchema(now).nullish(),
    range: rangeSchema(now).nullish(),
    lookback: LookbackSchema.nullish(),
    full_refresh_every: FullRefreshEverySchema.nullish(),
    reconcile_every: FullRefreshEverySchema.nullish(),
    deletes: DeletesSchema.nullish(),
    ...Object.fromEntries(STREAM_OPTION_NAMES.map((name) => [name, z.boolean().nullish()])),
  });
}

/** The streams that offer an option, for the message when one is asked of a stream that does not. */
function streamsWithOption(name: string): string {
  return STREAMS.filter((s) => name in optionsOf(s))
    .map((s) => s.name)
    .join(', ');
}

const ModeSchema = z.enum(MODES, {
  error: (issue) =>
    typeof issue.input === 'string' ? `unknown mode ${echo(issue.input)}; use one of: ${MODES.join(', ')}` : 'must be a string',
});

/**
 * Sling's `target_options` that mean something here, with the one value each that klaviyo-sync writes: columns are
 * Klaviyo's attribute names, already snake_case and lower case, so the casings that keep them are accepted; a new
 * attribute always gets its column, so nothing is lost.
 */
const TARGET_OPTIONS: Record<string, { accepts: readonly unknown[]; otherwise: string }> = {
  column_casing: {
    accepts: ['source', 'target', 'snake', 'lower', 'normalize'],
    otherwise:
      "columns are Klaviyo's attribute names, snake_case and lower case, which source, target, snake, lower and normalize all keep; " +
      'upper-case names would need quoting in every query',
  },
  add_new_columns: {
    accepts: [true],
    otherwise: 'a new Klaviyo attribute always gets its column (so no value is lost); it cannot be turned off',
  },
};

/** Sling target_options that do not apply to klaviyo-sync, and why: refused, so none is silently ignored. */
const REFUSED_TARGET_OPTIONS: Record<string, string> = {
  table_keys: "each stream's table is keyed on its primary key (klaviyo-sync discover lists them)",
  table_ddl: 'klaviyo-sync creates and widens its tables itself, from the official schema',
  table_tmp: 'a full refresh stages into <table>__staging and swaps it in, in one transaction',
  pre_sql: 'klaviyo-sync runs no SQL of the config; run it before `klaviyo-sync run`',
  post_sql: 'klaviyo-sync runs no SQL of the config; run it after `klaviyo-sync run`',
  use_bulk: 'every page is one multi-row upsert, committed with its cursor',
  batch_limit: 'every page (at most 200 rows) is one multi-row upsert, committed with its cursor',
  adjust_column_type: "column types follow Klaviyo's official schema; a column never changes type",
  column_typing: "column types follow Klaviyo's official schema",
  delete_missing: 'use source_options.deletes: mark (or remove, the default of a full refresh)',
  file_max_rows: 'for file targets; klaviyo-sync writes to Postgres or SQLite',
  file_max_bytes: 'for file targets; klaviyo-sync writes to Postgres or SQLite',
  format: 'for file targets; klaviyo-sync writes to Postgres or SQLite',
  compression: 'for file targets; klaviyo-sync writes to Postgres or SQLite',
};

const TargetOptionsSchema = z
  .record(z.string(), z.unknown(), { error: 'must be a mapping, e.g. { column_casing: snake }' })
  .superRefine((options, ctx) => {
    for (const [key, value] of Object.entries(options)) {
      // own keys only: a key such as `constructor` is no option
      const known = Object.hasOwn(TARGET_OPTIONS, key) ? TARGET_OPTIONS[key] : undefined;
      if (known) {
        if (value !== null && !known.accepts.includes(value)) {
          ctx.addIssue({ code: 'custom', path: [key], message: `${echo(value)} is not accepted: ${known.otherwise}` });
        }
      } else if (Object.hasOwn(REFUSED_TARGET_OPTIONS, key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `does not apply: ${REFUSED_TARGET_OPTIONS[key]}; remove it` });
      } else {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `unknown target option; supported: ${Object.keys(TARGET_OPTIONS).join(', ')}`,
        });
      }
    }
  });

function streamOptionsSchema(now?: Date) {
  return z.strictObject({
    mode: ModeSchema.nullish(),
    /** Sling's target options, where they apply (TARGET_OPTIONS) */
    target_options: TargetOptionsSchema.nullish(),
    /** `schema.table` or `table`, with `{stream_name}` / `{stream_table}` placeholders */
    object: z.string().nullish(),
    disabled: z.boolean().nullish(),
    source_options: sourceOptionsSchema(now).nullish(),
  });
}

export const StreamOptionsSchema = streamOptionsSchema();
export const SourceOptionsSchema = sourceOptionsSchema();

/**
 * The whole config. Its top level is checked by hand in buildReplicationPlan, for messages that name the fix
 * (a URL or key where a connection name belongs, an empty streams:); each options entry with the schemas above.
 */
export const ReplicationConfigSchema = z.strictObject({
  /** connection name of the Klaviyo account */
  source: z.string(),
  /** connection name of the database */
  target: z.string(),
  defaults: StreamOptionsSchema.nullish(),
  /** stream name (or `'*'`) → options; an empty entry takes the defaults */
  streams: z.record(z.string(), StreamOptionsSchema.nullable()),
});

/** What the `replicate` workflow takes (e.g. from `temporal workflow start --input-file`): a config or its YAML. */
export const ReplicationInputSchema = z.object({
  /** a human name for the replication, e.g. the YAML file's name */
  name: z.string().optional(),
  config: ReplicationConfigSchema.optional(),
  yaml: z.string().optional(),
});

/** A config as written (dates as given): what YAML, JSON and code hand in. */
export type ReplicationConfig = z.input<typeof ReplicationConfigSchema>;
export type StreamOptions = z.input<typeof StreamOptionsSchema>;
export type SourceOptions = z.input<typeof SourceOptionsSchema>;
export type ReplicationInput = z.input<typeof ReplicationInputSchema>;
/** One layer of options as checked: mode known, start_date normalised to `YYYY-MM-DDTHH:MM:SSZ`. */
type ParsedOptions = z.output<typeof StreamOptionsSchema>;

export interface PlannedStream {
  stream: StreamName;
  mode: Mode;
  object: { schema: string; table: string };
  /** `schema.table` */
  objectName: string;
  /** where a first incremental run starts, as `YYYY-MM-DDTHH:MM:SSZ`; only on incremental streams */
  startDate?: string;
  /** `mode: backfill`: the cursor range [start, end) read again (`source_options.range`), as `YYYY-MM-DDTHH:MM:SSZ` */
  range?: { start: string; end: string };
  /** `source_options.lookback` in seconds; only on incremental streams that set it */
  lookbackSeconds?: number;
  /** the stream's options turned on (`source_options.<name>: true`; streams/options.ts) */
  options?: string[];
  /**
   * an incremental stream runs as a full refresh when its table's last full refresh is this many seconds old (or it
   * had none): `source_options.full_refresh_every`, else the stream's `cursor.fullRefreshEveryDays` (memberships: a
   * week); the worker decides it when it plans the run (PlannedRun.fullRefreshDue)
   */
  fullRefreshEverySeconds?: number;
  /**
   * `source_options.deletes: mark`: a full refresh keeps the rows it no longer finds in Klaviyo, with `_deleted_at`
   * set to when it first missed them, instead of removing them
   */
  markDeleted?: true;
  /** set by the worker's planning when an incremental stream runs as a full refresh this time, saying why */
  fullRefreshDue?: string;
  /**
   * `source_options.reconcile_every` (with `deletes: mark`): an incremental run adds an id pass, which marks the rows
   * gone from Klaviyo with `_deleted_at`, when the table's last one is this many seconds old
   */
  reconcileEverySeconds?: number;
  /** set by the worker's planning when this run adds an id pass, saying why */
  reconcileDue?: string;
  /** the stream this one reads its parent ids from (memberships); it comes earlier in the plan when planned */
  parent?: StreamName;
}

export interface ReplicationPlan {
  name: string;
  source: string;
  target: string;
  /** parents before their children */
  streams: PlannedStream[];
}

export interface PlanOptions {
  /** names the config in error messages, e.g. the file it came from */
  source?: string;
  /** the plan's name; defaults to the source's file name without extension */
  name?: string;
  /** for the start_date check; defaults to the current time */
  now?: Date;
  /**
   * The schema of the target connection (a Postgres connection's `schema`, as in Sling), if it names one: objects
   * that name no schema go there instead of `klaviyo`.
   */
  targetSchema?: (target: string) => string | undefined;
}

/** problems a ConfigError's message lists (all of them are in `problems`) */
export const MAX_PROBLEMS_LISTED = 20;
/** unknown stream names reported one by one; the rest are counted in one more line */
const MAX_UNKNOWN_STREAMS_LISTED = 10;

export class ConfigError extends Error {
  constructor(
    /** the file or name of the config */
    readonly source: string,
    /** one line each, without the header */
    readonly problems: string[],
    header = `${source} has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}`,
  ) {
    const listed = problems.slice(0, MAX_PROBLEMS_LISTED);
    const more = problems.length - listed.length;
    super(
      `${header}:\n${[...listed, ...(more > 0 ? [`... and ${more.toLocaleString('en-US')} more`] : [])].map((p) => `  ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** Parses and validates a replication YAML; every problem (syntax first, then content) is in the ConfigError. */
export function parseReplicationYaml(text: string, source = 'replication.yaml'): ReplicationConfig {
  let config: unknown;
  try {
    // merge keys (`<<: *base`) as Sling users write them with anchors
    config = parseYamlSafely(text, { merge: true });
  } catch (err) {
    if (!(err instanceof YamlInputError)) throw err;
    throw new ConfigError(source, formatYamlProblems(err, source), `${source} is not valid YAML`);
  }
  buildReplicationPlan(config, { source });
  return config as ReplicationConfig;
}

/** The JSON for `temporal workflow start --workflow-type replicate --input-file <file>`: `{ name?, config }`. */
export function replicationToJson(yamlText: string, opts: { source?: string; name?: string } = {}): string {
  const config = parseReplicationYaml(yamlText, opts.source);
  const input: ReplicationInput = opts.name === undefined ? { config } : { name: opts.name, config };
  return `${JSON.stringify(input, null, 2)}\n`;
}

/** Plans a workflow input: exactly one of `config` and `yaml`. */
export function resolveReplicationInput(input: ReplicationInput, opts: Pick<PlanOptions, 'now' | 'targetSchema'> = {}): ReplicationPlan {
  const source = input?.name ?? 'replication input';
  const hasConfig = input?.config !== undefined && input?.config !== null;
  const hasYaml = typeof input?.yaml === 'string';
  if (hasConfig === hasYaml) {
    throw new ConfigError(source, [
      `give exactly one of config (an object) or yaml (the file's text), not ${hasConfig ? 'both' : 'neither'}`,
    ]);
  }
  const config = hasYaml ? parseReplicationYaml(input.yaml!, input.name ?? 'replication.yaml') : input.config;
  return buildReplicationPlan(config, { source, name: input.name ?? 'replication', now: opts.now, targetSchema: opts.targetSchema });
}

function lookbackSeconds(value: number | string): number {
  if (typeof value === 'number') return value;
  const [, n, unit] = LOOKBACK.exec(value)!;
  return Number(n) * LOOKBACK_UNITS[unit];
}
const TOP_LEVEL_KEYS = ['source', 'target', 'defaults', 'streams'];

/** Sling replication keys (top level, or of a stream and defaults) that do not apply to klaviyo-sync, and why. */
const REFUSED_SLING_KEYS: Record<string, string> = {
  env: "connections and settings come from the worker's environment, .env.sling or env.yaml; workflow input never carries them",
  hooks: 'klaviyo-sync runs no hooks; run commands before or after `klaviyo-sync run`',
  primary_key: "each stream's primary key is Klaviyo's (klaviyo-sync discover lists it)",
  update_key: "each stream's cursor is fixed by the endpoint's filters (klaviyo-sync discover lists it)",
  select: "every attribute of Klaviyo's official schema is a column",
  columns: "column types follow Klaviyo's official schema",
  transforms: 'klaviyo-sync writes values as Klaviyo sends them; transform them in SQL',
  sql: 'a Klaviyo stream is an API listing, not a query',
  where: "a stream's filters are klaviyo-sync's own (time windows, partitions)",
  single: "a stream's table is one table already",
};

/** Validates a config (from YAML, JSON or code) and expands it into the ordered list of streams to run. */
export function buildReplicationPlan(config: ReplicationConfig | unknown, opts: PlanOptions = {}): ReplicationPlan {
  const source = opts.source ?? 'replication config';
  const problems: string[] = [];
  const seen = new Set<string>();
  const report = (p: string) => {
    if (!seen.has(p)) {
      seen.add(p);
      problems.push(p);
    }
  };

  if (!isMapping(config)) {
    const empty = config === null || config === undefined;
    throw new ConfigError(source, [
      `${empty ? 'is empty' : 'must be a mapping'}: write source: KLAVIYO, target: MY_PG and streams: ('*' for every stream)`,
    ]);
  }
  const unknownKeys = Object.keys(config).filter((k) => !TOP_LEVEL_KEYS.includes(k) && !Object.hasOwn(REFUSED_SLING_KEYS, k));
  if (unknownKeys.length > 0) report(`unknown key${plural(unknownKeys)} ${listKeys(unknownKeys)}; supported: ${TOP_LEVEL_KEYS.join(', ')}`);
  for (const key of Object.keys(config).filter((k) => Object.hasOwn(REFUSED_SLING_KEYS, k))) {
    report(`${key}: Sling's ${key} does not apply here: ${REFUSED_SLING_KEYS[key]}; remove it`);
  }

  const sourceName = checkConnectionName(config.source, 'source', 'KLAVIYO', report);
  const targetName = checkConnectionName(config.target, 'target', 'MY_PG', report);
  const defaultSchema = (targetName === undefined ? undefined : opts.targetSchema?.(targetName)) ?? DEFAULT_SCHEMA;
  const schema = opts.now ? streamOptionsSchema(opts.now) : StreamOptionsSchema;
  const defaults = checkOptions(schema, config.defaults, 'defaults', report);

  const entries = new Map<string, ParsedOptions>();
  if (config.streams === undefined || config.streams === null) {
    report(`streams: missing: list the streams to replicate, or '*' for all of them (${STREAM_NAMES.join(', ')})`);
  } else if (!isMapping(config.streams)) {
    report(`streams: must be a mapping of stream name to options, e.g. streams: { '*': null, profiles: { mode: incremental } }`);
  } else if (Object.keys(config.streams).length === 0) {
    report(`streams: is empty: list the streams to replicate, or '*' for all of them (${STREAM_NAMES.join(', ')})`);
  } else {
    // a file of 200,000 unknown names is reported in bounded time and space: the first ones, then how many more
    let unknownStreams = 0;
    for (const [key, value] of Object.entries(config.streams)) {
      if (key !== '*' && !isStreamName(key)) {
        if (++unknownStreams <= MAX_UNKNOWN_STREAMS_LISTED) {
          checkOptions(schema, value, `streams.${echoKey(key)}`, report);
          report(`streams.${echoKey(key)}: unknown stream ${echo(key)}; the streams are: ${STREAM_NAMES.join(', ')} (or '*' for all)`);
        }
        continue;
      }
      const options = checkOptions(schema, value, `streams.${key}`, report);
      if (options) entries.set(key, options);
    }
    if (unknownStreams > MAX_UNKNOWN_STREAMS_LISTED) {
      report(
        `streams: ${(unknownStreams - MAX_UNKNOWN_STREAMS_LISTED).toLocaleString('en-US')} more unknown streams (${unknownStreams.toLocaleString('en-US')} in all)`,
      );
    }
  }

  const planned: PlannedStream[] = [];
  for (const stream of selectedStreams(entries)) {
    const layers: Layer[] = [{ path: 'defaults', options: defaults ?? {} }];
    if (entries.has('*')) layers.push({ path: 'streams.*', options: entries.get('*')! });
    if (entries.has(stream)) layers.push({ path: `streams.${stream}`, options: entries.get(stream)! });
    const entry = planStream(stream, layers, defaultSchema, report);
    if (entry) planned.push(entry);
  }

  if (problems.length === 0) checkDistinctObjects(planned, report);
  if (problems.length === 0 && planned.length === 0) {
    report(`streams: every listed stream is disabled, so there is nothing to replicate: enable one (disabled: false)`);
  }
  if (problems.length > 0) throw new ConfigError(source, problems);

  const name = opts.name ?? (opts.source === undefined ? 'replication' : fileStem(opts.source));
  return { name, source: sourceName!, target: targetName!, streams: planned };
}

interface Layer {
  path: string;
  options: ParsedOptions;
}

/** The innermost layer that sets an option, and where: defaults < '*' < the stream's own entry. */
function pick<T>(layers: Layer[], get: (o: ParsedOptions) => T | null | undefined): { value: T; path: string } | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const value = get(layers[i].options);
    if (value !== undefined && value !== null) return { value, path: layers[i].path };
  }
  return undefined;
}

function planStream(stream: StreamName, layers: Layer[], defaultSchema: string, report: (p: string) => void): PlannedStream | undefined {
  const def = getStream(stream);
  const own = `streams.${stream}`;
  if (pick(layers, (o) => o.disabled)?.value === true) return undefined;

  const modeOption = pick(layers, (o) => o.mode);
  let mode: Mode = DEFAULT_MODE;
  if (modeOption) {
    if (modeOption.value === 'incremental' && !def.cursor) {
      // Inherited incremental means "where possible"; asked for on the stream itself, it is a mistake to point out.
      if (modeOption.path === own) {
        report(`${own}.mode: ${stream} has no cursor, so it can only be full-refresh; incremental works on: ${incrementalStreams()}`);
      }
    } else if (modeOption.value === 'backfill' && modeOption.path !== own) {
      // a backfill is asked of a stream, never inherited: defaults or '*' would backfill every stream
      report(
        `${modeOption.path}.mode: backfill names one range of one stream: set it on the stream (streams.<name>.mode), not in ${modeOption.path}`,
      );
      return undefined;
    } else if (modeOption.value === 'backfill' && !partitionsOf(def).windows) {
      report(
        `${own}.mode: backfill re-reads a range of a stream read in time windows (${backfillStreams()}); ${stream} is not: ` +
          (def.cursor
            ? `to read it again from a date, run \`klaviyo-sync state reset <replication.yaml> --stream ${stream}\` and set source_options.start_date`
            : `it is full-refresh only, so every run reads it whole`),
      );
    } else {
      mode = modeOption.value;
    }
  }

  // normalised by the schema; an invalid one was reported where it is written and left out
  const start = pick(layers, (o) => o.source_options?.start_date);
  let startDate: string | undefined;
  if (start !== undefined) {
    const where = `${start.path}.source_options.start_date`;
    if (mode === 'incremental') startDate = start.value;
    else if (start.path === own) {
      report(
        def.cursor
          ? `${where}: start_date only applies to incremental streams; set mode: incremental on ${stream} or remove start_date`
          : `${where}: ${stream} has no cursor (full-refresh only), so start_date does not apply: remove it (incremental works on: ${incrementalStreams()})`,
      );
    }
  }

  const rangeOption = pick(layers, (o) => o.source_options?.range);
  let range: { start: string; end: string } | undefined;
  if (mode === 'backfill') {
    if (rangeOption) range = rangeOption.value;
    else report(`${own}.source_options.range: mode: backfill needs the range to read again, e.g. range: '2024-03-01,2024-04-01'`);
  } else if (rangeOption?.path === own) {
    report(`${own}.source_options.range: a range is read by mode: backfill only; set mode: backfill on ${stream} or remove range`);
  }

  const lookback = mode === 'incremental' ? pick(layers, (o) => o.source_options?.lookback)?.value : undefined;

  const every = pick(layers, (o) => o.source_options?.full_refresh_every);
  let fullRefreshEverySeconds: number | undefined;
  if (mode === 'incremental') {
    const days = def.cursor?.fullRefreshEveryDays;
    if (every === undefined) fullRefreshEverySeconds = days === undefined ? undefined : days * 86_400;
    else fullRefreshEverySeconds = every.value === 'never' ? undefined : lookbackSeconds(every.value);
  } else if (every !== undefined && every.path === own) {
    report(
      `${every.path}.source_options.full_refresh_every: it only applies to incremental streams` +
        (def.cursor ? `; set mode: incremental on ${stream} or remove it` : `, and ${stream} is full-refresh only: remove it`),
    );
  }

  // rows gone from Klaviyo show only to a full read: an incremental stream marks them when an id pass lists every id
  // (reconcile_every) or full_refresh_every runs a full refresh
  const deletes = pick(layers, (o) => o.source_options?.deletes);
  const reconcile = pick(layers, (o) => o.source_options?.reconcile_every);
  let reconcileEverySeconds: number | undefined;
  if (reconcile !== undefined && reconcile.value !== 'never') {
    const seconds = lookbackSeconds(reconcile.value);
    const where = `${reconcile.path}.source_options.reconcile_every`;
    if (mode !== 'incremental') {
      if (reconcile.path === own)
        report(`${where}: an id pass reconciles incremental runs only; set mode: incremental on ${stream} or remove it`);
    } else if (!hasIdPass(def)) {
      if (reconcile.path === own)
        report(
          `${where}: ${stream} has no id pass (it is read through its parent${def.cursor?.fullRefreshEveryDays ? `; its full_refresh_every, ${def.cursor.fullRefreshEveryDays}d by default, removes who left` : ''}); remove it`,
        );
    } else if (deletes?.value !== 'mark') {
      if (reconcile.path === own)
        report(`${where}: an id pass marks the rows gone from Klaviyo; set source_options.deletes: mark on ${stream} too`);
    } else reconcileEverySeconds = seconds;
  }
  const markDeleted =
    deletes?.value === 'mark' && (mode === 'full-refresh' || fullRefreshEverySeconds !== undefined || reconcileEverySeconds !== undefined);
  if (deletes?.value === 'mark' && !markDeleted && deletes.path === own) {
    report(
      `${own}.source_options.deletes: mark: an incremental run cannot see deletions by itself; set ` +
        (hasIdPass(def) ? `source_options.reconcile_every (e.g. 7d: an id pass lists every id now and then, the cheapest way) or ` : '') +
        `source_options.full_refresh_every (e.g. 7d) on ${stream}, or use mode: full-refresh`,
    );
  }

  // an option inherited from defaults or '*' applies where the stream offers it; asked of the stream itself, it must
  const options: string[] = [];
  for (const name of STREAM_OPTION_NAMES) {
    const set = pick(layers, (o) => (o.source_options as Record<string, boolean | null | undefined> | null | undefined)?.[name]);
    if (set?.value !== true) continue;
    if (name in optionsOf(def)) options.push(name);
    else if (set.path === own)
      report(`${own}.source_options.${name}: ${stream} has no option ${name}; it is an option of: ${streamsWithOption(name)}`);
  }

  const parent = parentOf(def);
  const objectOption = pick(layers, (o) => o.object) ?? { value: DEFAULT_OBJECT, path: 'defaults' };
  const object = renderObject(objectOption.value, stream, defaultSchema);
  if ('problem' in object) {
    report(`${objectOption.path}.object: ${object.problem}`);
    return undefined;
  }
  return {
    stream,
    mode,
    object,
    objectName: `${object.schema}.${object.table}`,
    ...(startDate ? { startDate } : {}),
    ...(range ? { range } : {}),
    ...(lookback !== undefined ? { lookbackSeconds: lookbackSeconds(lookback) } : {}),
    ...(options.length ? { options } : {}),
    ...(fullRefreshEverySeconds !== undefined ? { fullRefreshEverySeconds } : {}),
    ...(markDeleted ? { markDeleted: true as const } : {}),
    ...(reconcileEverySeconds !== undefined ? { reconcileEverySeconds } : {}),
    ...(parent ? { parent: parent.stream } : {}),
  };
}

/**
 * With `'*'`, every stream in table order (already parents first); otherwise the listed streams in their order,
 * each child preceded by its parent when the parent is listed after it.
 */
function selectedStreams(entries: Map<string, ParsedOptions>): StreamName[] {
  if (entries.has('*')) return [...STREAM_NAMES];
  const listed = [...entries.keys()].filter(isStreamName);
  const ordered: StreamName[] = [];
  for (const name of listed) {
    const parent = parentOf(getStream(name))?.stream;
    if (parent && listed.includes(parent) && !ordered.includes(parent)) ordered.push(parent);
    if (!ordered.includes(name)) ordered.push(name);
  }
  return ordered;
}

/** The issues that leave the rest of a layer usable: its other options are still checked and planned. */
const LOCAL_ISSUES = ['mode', 'source_options.start_date'];

function checkOptions(
  schema: ReturnType<typeof streamOptionsSchema>,
  value: unknown,
  path: string,
  report: (p: string) => void,
): ParsedOptions | undefined {
  // an empty entry (`profiles:`) takes the defaults; most entries of a long list are
  if (value === null || value === undefined) return {};
  const result = schema.safeParse(value);
  if (result.success) return result.data ?? {};
  for (const issue of result.error.issues) {
    const at = [path, ...issue.path.map((k) => echoKey(String(k)))].join('.');
    if (issue.code === 'unrecognized_keys') {
      const supported = issue.path.length === 0 ? Object.keys(StreamOptionsSchema.shape) : Object.keys(SourceOptionsSchema.shape);
      const sling = issue.path.length === 0 ? issue.keys.filter((k) => Object.hasOwn(REFUSED_SLING_KEYS, k)) : [];
      for (const key of sling) report(`${at}.${key}: Sling's ${key} does not apply here: ${REFUSED_SLING_KEYS[key]}; remove it`);
      const unknown = issue.keys.filter((k) => !sling.includes(k));
      if (unknown.length > 0) report(`${at}: unknown key${plural(unknown)} ${listKeys(unknown)}; supported: ${supported.join(', ')}`);
    } else if (issue.code === 'invalid_type' && issue.path.length === 0) {
      report(`${at}: must be a mapping of options (e.g. { mode: incremental }) or empty`);
    } else if (issue.code === 'invalid_type') {
      const expected =
        ({ boolean: 'true or false', record: 'a mapping' } as Record<string, string>)[issue.expected] ?? `a ${issue.expected}`;
      report(`${at}: must be ${expected}`);
    } else {
      report(`${at}: ${issue.message}`);
    }
  }
  // an unknown mode or a bad start_date (reported above) is left out, and the layer's other options still count
  const paths = result.error.issues.map((i) => i.path.join('.'));
  if (!isMapping(value) || !paths.every((p) => LOCAL_ISSUES.includes(p))) return undefined;
  const rest: Record<string, unknown> = { ...value };
  if (paths.includes('mode')) delete rest.mode;
  if (paths.includes('source_options.start_date') && isMapping(rest.source_options)) {
    rest.source_options = { ...rest.source_options, start_date: null };
  }
  const retried = schema.safeParse(rest);
  return retried.success ? retried.data : undefined;
}

/** A name, not a URL or key: a URL or key is not repeated, since it may carry a secret. */
function checkConnectionName(value: unknown, key: 'source' | 'target', example: string, report: (p: string) => void): string | undefined {
  const how = `name a connection defined in an env var or env.yaml, e.g. ${key}: ${example}`;
  if (value === undefined || value === null || value === '') {
    report(`${key}: missing: ${how}`);
  } else if (typeof value !== 'string') {
    report(`${key}: must be a connection name: ${how}`);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.includes('@')) {
    report(`${key}: looks like a URL; put the URL in an env var (e.g. ${example}=...) and ${how}`);
  } else if (/^pk_[A-Za-z0-9]{8,}$/.test(value)) {
    report(`${key}: looks like an API key; put the key in a connection and ${how}`);
  } else if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    report(`${key}: ${echo(value)} is not a connection name (letters, digits and _): ${how}`);
  } else {
    return value;
  }
  return undefined;
}

const PLACEHOLDERS = ['stream_name', 'stream_table', 'target_schema'];

/** Sling's object placeholders that have no value for a Klaviyo stream, and why. */
const REFUSED_PLACEHOLDERS: Record<string, string> = {
  stream_schema: 'a Klaviyo stream has no source schema (that placeholder is for database sources)',
  stream_file_name: 'a Klaviyo stream is not a file',
  stream_file_folder: 'a Klaviyo stream is not a file',
  stream_file_ext: 'a Klaviyo stream is not a file',
  stream_file_path: 'a Klaviyo stream is not a file',
  stream_full_name: 'a Klaviyo stream has no source schema; {stream_name} is its whole name',
  run_timestamp: "a run's time in a table name would start a new table, and a new state, every run",
};

function renderObject(
  template: string,
  stream: StreamName,
  defaultSchema: string,
): { schema: string; table: string } | { problem: string } {
  const used = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]);
  const refused = used.find((p) => Object.hasOwn(REFUSED_PLACEHOLDERS, p));
  if (refused) {
    return { problem: `{${refused}} in ${echo(template)}: ${REFUSED_PLACEHOLDERS[refused]}; use {stream_name} and {target_schema}` };
  }
  const unknown = used.filter((p) => !PLACEHOLDERS.includes(p));
  if (unknown.length > 0) {
    return {
      problem: `unknown placeholder${plural(unknown)} ${unknown
        .slice(0, 10)
        .map((p) => (/^[\w-]{0,40}$/.test(p) && maskSecrets(p) === p ? `{${p}}` : echo(`{${p}}`)))
        .join(', ')} in ${echo(template)}; use {stream_name} (or its alias {stream_table}) and {target_schema}`,
    };
  }
  const rendered = template.replace(/\{(stream_name|stream_table)\}/g, stream).replace(/\{target_schema\}/g, defaultSchema);
  const parts = rendered.split('.');
  if (parts.length > 2) {
    return { problem: `${echo(template)} has ${parts.length - 1} dots; use table or schema.table (e.g. ${DEFAULT_SCHEMA}.{stream_name})` };
  }
  const [schema, table] = parts.length === 2 ? parts : [defaultSchema, parts[0]];
  // the writer's own rule, so that a name it would refuse fails here, before anything starts, not in every stream
  try {
    return validateObjectName({ schema, table });
  } catch (err) {
    if (!(err instanceof IdentifierError)) throw err;
    const forStream = rendered === template ? '' : ` (for ${stream})`;
    return { problem: `${echo(template)}${forStream}: ${err.message}` };
  }
}

function checkDistinctObjects(planned: PlannedStream[], report: (p: string) => void): void {
  // SQLite compares table names without regard to case, so the check does too.
  const byObject = new Map<string, StreamName[]>();
  for (const p of planned) byObject.set(p.objectName.toLowerCase(), [...(byObject.get(p.objectName.toLowerCase()) ?? []), p.stream]);
  for (const [object, streams] of byObject) {
    if (streams.length > 1) report(`streams ${streams.join(', ')} would all write to ${object}: put {stream_name} in object`);
  }
}

const IsoDate = z.iso.date();
/** with or without seconds (precision -1: minutes), any fraction, an offset or none (UTC) */
const IsoDateTimes = [z.iso.datetime({ offset: true, local: true }), z.iso.datetime({ offset: true, local: true, precision: -1 })];

/**
 * ISO 8601 (UTC unless it has an offset) → `YYYY-MM-DDTHH:MM:SSZ`, the form Klaviyo filters take unquoted. zod's ISO
 * parsers check it (calendar dates, hours and minutes in range); before them, the spellings accepted before and
 * they do not are made theirs: a space or `t` for the `T`, a lower-case `z`, an offset without its colon (`-0500`).
 */
function parseStartDate(value: string, now: Date): string | { problem: string } {
  const text = value
    .trim()
    .replace(/^(\d{4}-\d{2}-\d{2})[ t](?=\d)/, '$1T')
    .replace(/z$/, 'Z')
    .replace(/(T[\d:.]+[+-]\d{2})(\d{2})$/, '$1:$2');
  const invalid = { problem: `${echo(value)} is not a date: use ISO 8601, e.g. 2024-01-31 or 2024-01-31T08:00:00Z` };
  let iso: string;
  if (IsoDate.safeParse(text).success) iso = `${text}T00:00:00Z`;
  else if (IsoDateTimes.some((schema) => schema.safeParse(text).success)) iso = /(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`;
  else return invalid;
  const instant = new Date(iso);
  // years before 100 were never accepted (nor meant): Date.UTC takes 0-99 for 1900-1999
  if (Number.isNaN(instant.getTime()) || instant.getUTCFullYear() < 100) return invalid;
  if (instant.getTime() > now.getTime()) {
    return { problem: `${echo(value)} is in the future (now is ${formatInstant(now)}); use a past date` };
  }
  return formatInstant(instant);
}

function formatInstant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function backfillStreams(): string {
  return STREAMS.filter((s) => partitionsOf(s).windows)
    .map((s) => s.name)
    .join(', ');
}

function incrementalStreams(): string {
  return STREAMS.filter((s) => s.cursor)
    .map((s) => s.name)
    .join(', ');
}

function fileStem(source: string): string {
  const base = source.split(/[\\/]/).pop() ?? source;
  return base.replace(/\.(ya?ml|json)$/i, '') || 'replication';
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function plural(items: unknown[]): string {
  return items.length > 1 ? 's' : '';
}
