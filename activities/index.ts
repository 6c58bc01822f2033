/**
 * The activities of klaviyo-sync, built by `createActivities(deps)` (dependency injection as in
 * samples-typescript/activities-dependency-injection). Every activity resolves connections here, on the worker, by
 * name: secrets never travel through Temporal. Page activities fetch with the Klaviyo client and commit each page
 * together with its cursor in the target database, then return counts only. What they work with is injected: the
 * rate limiter of each account, the HTTP agent, the database pools and the clock (tests pass their own; the worker
 * the process's, `defaultDeps`).
 */
import { activityInfo, cancellationSignal, Context, heartbeat, log } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import { resolveReplicationInput, type ReplicationInput, type PlannedStream, type ReplicationPlan } from '../config/replication';
import {
  resolveConnection,
  targetOfConnection,
  targetSchemaOf,
  type DatabaseConnection,
  type KlaviyoConnection,
} from '../config/connections';
import { getStream } from '../streams/streams';
import { hasIdPass, ID_PASS, idColumnOf, keepsParentRow, partitionsOf, type Partitions } from '../streams/partitions';
import { lookupsOf, rateOperation } from '../streams/options';
import type { ParentRowFilter, StreamDef, StreamName } from '../streams/types';
import type { Dispatcher } from 'undici';
import { KlaviyoClient, sharedAgent, type JsonApiResource } from '../lib/klaviyo/client';
import { classify, SyncError, UserFixableError } from '../lib/errors';
import { crashPoint } from '../lib/crash-points';
import { pageMetrics } from './metrics';
import { KlaviyoErrorType } from '../lib/klaviyo/errors';
import { PagingGuard } from '../lib/klaviyo/paging';
import { checkStreamScopes } from '../lib/klaviyo/scopes';
import { processRateLimiter, RATE_LIMIT_MODES, sharedOperations, type RateLimiter, type RateLimitMode } from '../lib/klaviyo/ratelimit';
import { STREAM_OPERATIONS, type OperationTable } from '../lib/klaviyo/operations';
import { accountKey } from '../lib/klaviyo/account-key';
import { firstPageUrl, idsPageUrl, resourceUrl } from '../lib/klaviyo/urls';
import { Destination } from '../lib/db/destination';
import type { ReplicationRun, RunningCheck } from '../lib/db/claims';
import type { ObjectName } from '../lib/db/naming';
import { resumeFrom } from '../lib/db/watermark';
import { isWindowKey, parseWindowKey, splitRange, splitWindows, takeOverWindows, windowCoverage, windowKey } from '../streams/windows';
import { processDatabases, type DatabasePools, type Target } from '../lib/db/connect';
import { systemNow, type Now } from '../lib/clock';
import { processPagesInMemory, type PagesInMemory } from '../lib/pages-in-memory';
import { formatSeconds } from '../workflows/progress';
import type { FinishResult, PageTiming, PagesResult, PartitionPage, PartitionTask, PrepareResult, StreamTask } from '../workflows/types';

export interface ActivityDeps {
  /** where connections are resolved from (env vars, env.yaml) */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** `documented` (each endpoint's published limits; the default) or `sling` (3 requests/s, 3 at once per account) */
  rateLimitMode: RateLimitMode;
  /**
   * the tiers the limiters pace `documented` mode to: the stream table's, times KLAVIYO_SYNC_RATE_SHARE (the part
   * of the account's quota this fleet may use, default 1)
   */
  rateOperations: OperationTable;
  /**
   * the rate limiter of an account (`<connection>@<base URL>`, and its `accountKey`, a hash of base URL and API
   * key); default: the process's, one per account and mode. The worker gives the fleet's (worker/fleet-rate-limiter.ts).
   */
  limiterFor: (account: string, key: { accountKey: string }) => RateLimiter;
  /** the HTTP agent of Klaviyo requests; default: the process's pooled keep-alive Agent */
  dispatcher: Dispatcher;
  /** the database pools, one per target; default: the process's (closed by `closeAll`) */
  databases: DatabasePools;
  /** a page activity returns to its workflow after this many pages or seconds, whichever comes first */
  maxPagesPerCall: number;
  maxSecondsPerCall: number;
  /** how often a page activity heartbeats while a request is in flight (HEARTBEAT_WHILE_WAITING_MS) */
  heartbeatWhileWaitingMs: number;
  /** the clock: the page budget, `now` of URLs and plans, the writer's timestamps */
  now: Now;
  /**
   * whether the namespace has our search attributes, so workflows may set them: the worker registers them when it
   * starts (worker/search-attributes.ts), where the server allows it
   */
  searchAttributes: boolean;
  /**
   * whether a replication run is still running, for the claim on its tables (lib/db/claims.ts); default: asks
   * Temporal with the worker's client (a run Temporal does not know is not running)
   */
  replicationRunning: RunningCheck;
  /** the bound on pages this process holds between their response and their commit (lib/pages-in-memory.ts) */
  pagesInMemory: PagesInMemory;
}

/** The process's collaborators; rate limits from `rateLimitMode`, else KLAVIYO_SYNC_RATE_LIMITS, else documented. */
export function defaultDeps(env: NodeJS.ProcessEnv = process.env, rateLimitMode?: RateLimitMode): ActivityDeps {
  const mode = (rateLimitMode ?? (env.KLAVIYO_SYNC_RATE_LIMITS || 'documented')) as RateLimitMode;
  if (!(RATE_LIMIT_MODES as readonly string[]).includes(mode)) {
    throw new Error(`KLAVIYO_SYNC_RATE_LIMITS must be ${RATE_LIMIT_MODES.join(', ')}, not ${JSON.stringify(mode)}`);
  }
  const rateOperations = sharedOperations(STREAM_OPERATIONS, rateShareOf(env));
  return {
    env,
    cwd: process.cwd(),
    rateLimitMode: mode,
    rateOperations,
    limiterFor: (account) => processRateLimiter(account, { mode, operations: rateOperations }),
    dispatcher: sharedAgent(),
    databases: processDatabases(),
    maxPagesPerCall: 20,
    maxSecondsPerCall: 15,
    heartbeatWhileWaitingMs: HEARTBEAT_WHILE_WAITING_MS,
    now: systemNow,
    searchAttributes: false,
    replicationRunning: askTemporal,
    pagesInMemory: processPagesInMemory(env),
  };
}

/** The replication run's status as Temporal has it, through the client of the worker running this activity. */
async function askTemporal(run: ReplicationRun): Promise<boolean> {
  try {
    const d = await Context.current().client.workflow.getHandle(run.workflowId, run.runId).describe();
    return d.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** KLAVIYO_SYNC_RATE_SHARE: a fraction in (0, 1], e.g. 0.5 to leave half of every tier to other integrations. */
export function rateShareOf(env: NodeJS.ProcessEnv): number {
  const text = env.KLAVIYO_SYNC_RATE_SHARE;
  if (!text) return 1;
  const share = Number(text);
  if (!(share > 0 && share <= 1)) {
    throw new Error(`KLAVIYO_SYNC_RATE_SHARE must be a fraction above 0 and at most 1 (e.g. 0.5), not ${JSON.stringify(text)}`);
  }
  return share;
}

export function createActivities(partial: Partial<ActivityDeps> = {}) {
  const deps: ActivityDeps = { ...defaultDeps(partial.env, partial.rateLimitMode), ...partial };

  const klaviyo = (name: string): { conn: KlaviyoConnection; client: KlaviyoClient } => {
    const conn = resolveConnection(name, { env: deps.env, cwd: deps.cwd, expect: 'klaviyo' }) as KlaviyoConnection;
    const limiter = deps.limiterFor(`${conn.name}@${conn.baseUrl}`, { accountKey: accountKey(conn.baseUrl, conn.apiKey) });
    return {
      conn,
      client: new KlaviyoClient({
        baseUrl: conn.baseUrl,
        apiKey: conn.apiKey,
        limiter,
        dispatcher: deps.dispatcher,
        connection: conn.name,
      }),
    };
  };

  const targetOf = (name: string): Target => {
    return targetOfConnection(resolveConnection(name, { env: deps.env, cwd: deps.cwd, expect: 'database' }) as DatabaseConnection);
  };
  const destination = (name: string): Destination => new Destination(targetOf(name), { databases: deps.databases, now: deps.now });

  /**
   * An incremental stream with `full_refresh_every` (memberships: a week) runs as a full refresh when its table's
   * last one is that old or it never had one: the full read removes what incremental runs cannot see leave.
   */
  const fullRefreshWhenDue = async (s: PlannedStream, target: string): Promise<PlannedStream> => {
    if (s.mode !== 'incremental' || s.fullRefreshEverySeconds === undefined) return s;
    const last = await destination(target).lastFullRefresh(s.object, s.stream);
    const age = last === null ? Infinity : (deps.now().getTime() - Date.parse(last)) / 1000;
    if (age < s.fullRefreshEverySeconds) return s;
    const every = formatSeconds(s.fullRefreshEverySeconds);
    return {
      ...s,
      mode: 'full-refresh',
      fullRefreshDue:
        last === null
          ? `no full refresh of ${s.objectName} yet (full_refresh_every ${every})`
          : `the last full refresh of ${s.objectName} was ${formatSeconds(Math.round(age))} ago (full_refresh_every ${every})`,
    };
  };

  /**
   * An incremental stream with `reconcile_every` adds an id pass to its run (lib/db/id-pass.ts) when the table's
   * last one started that long ago, or it never had one once the table holds a first run's rows (a first run reads
   * everything: nothing to reconcile). A run that became a full refresh sees every delete already.
   */
  const reconcileWhenDue = async (s: PlannedStream, target: string): Promise<PlannedStream> => {
    if (s.mode !== 'incremental' || s.reconcileEverySeconds === undefined) return s;
    const dest = destination(target);
    if ((await dest.readWatermark(s.object)) === null) return s;
    const last = await dest.lastReconcile(s.object, s.stream);
    const age = last === null ? Infinity : (deps.now().getTime() - Date.parse(last)) / 1000;
    if (age < s.reconcileEverySeconds) return s;
    const every = formatSeconds(s.reconcileEverySeconds);
    return {
      ...s,
      reconcileDue:
        last === null
          ? `no id pass over ${s.objectName} yet (reconcile_every ${every})`
          : `the last id pass over ${s.objectName} was ${formatSeconds(Math.round(age))} ago (reconcile_every ${every})`,
    };
  };

  /**
   * Every id of a stream, walked page by page (the parent ids of a child stream), or of its rows that `rows` keeps. A
   * stream that is itself a child (flow_actions, the parent of flow_messages) is walked through its own parent's ids,
   * a parent vanished meanwhile (404) read as having no children, as the child stream reads it.
   */
  const fetchIds = async (source: string, stream: StreamDef, rows?: ParentRowFilter): Promise<string[]> => {
    const { conn, client } = klaviyo(source);
    const ids: string[] = [];
    const parts = partitionsOf(stream);
    if (parts.windows) throw new Error(`stream ${stream.name} is partitioned by time windows, which a parent cannot be`);
    const keys = parts.fixedKeys ?? (await fetchIds(source, getStream(parts.parent!.stream), parts.parent!.parentRows));
    for (const key of keys) {
      const guard = new PagingGuard(stream.name, key);
      let url: string | null = firstPageUrl(conn.baseUrl, stream, { ...parts.request(key), now: deps.now() });
      while (url) {
        let page;
        try {
          page = await client.getPage(url, { operation: stream.operation, signal: cancellationSignal() });
        } catch (err) {
          if (parts.notFoundIsEmpty && isNotFound(err)) break;
          throw err;
        }
        for (const r of asArray(page.document.data)) if (keepsParentRow(rows, rows && r.attributes?.[rows.field])) ids.push(r.id);
        url = guard.follow(url, page.document.links?.next ?? null);
        heartbeat({ ids: ids.length });
      }
    }
    return ids;
  };

  /**
   * The time windows an incremental run reads (streams/windows.ts): those an unfinished earlier run left, taken
   * over; else [watermark less lookback, or start_date, or the default lookback; now) split. A full refresh reads
   * the one unbounded listing ''.
   */
  const windowKeys = async (task: StreamTask, stream: StreamDef, parts: Partitions, dest: Destination): Promise<string[]> => {
    if (task.mode === 'full-refresh' || !parts.windows || !stream.cursor) return [''];
    // a backfill reads its range again, whatever the watermark (which it leaves as it was)
    if (task.mode === 'backfill') {
      if (!task.range) {
        throw new UserFixableError(`stream ${stream.name}: mode backfill needs source_options.range, e.g. '2024-03-01,2024-04-01'`, {
          type: 'KlaviyoSyncConfigError',
        });
      }
      return splitRange(task.range.start, task.range.end, parts.windows).map(windowKey);
    }
    const run = { stream, mode: task.mode, object: task.object, runId: task.runId };
    const { watermark, unfinished } = await dest.windowsBefore(run);
    const now = deps.now();
    if (unfinished.length > 0) return takeOverWindows(unfinished, now, parts.windows).map(windowKey);
    // each window's request takes the cursor's overlap off its start (syncPages): only the lookback here
    const resumed = resumeFrom(watermark, { ...stream.cursor, overlapSeconds: 0 }, task.lookbackSeconds ?? 0, now);
    return splitWindows(resumed ?? task.startDate ?? windowsStart(stream, now), now, parts.windows).map(windowKey);
  };

  /**
   * A start_date is where a FIRST incremental run starts: once the table has a watermark, runs read from it. Said
   * (in the stream's summary, which `run` prints) rather than silently ignored, with the ways to read again from a date.
   */
  const startDateNotes = async (task: StreamTask, dest: Destination): Promise<string[]> => {
    if (task.mode !== 'incremental' || !task.startDate) return [];
    const watermark = await dest.readWatermark(task.object);
    if (watermark === null) return [];
    const object = `${task.object.schema}.${task.object.table}`;
    const backfill = partitionsOf(getStream(task.stream)).windows
      ? `set mode: backfill with source_options.range on ${task.stream}, or run `
      : 'run ';
    return [
      `start_date ${task.startDate} not used: ${object} has a watermark (${watermark}), so this run reads from there; to read ` +
        `again from a date, ${backfill}\`klaviyo-sync state reset <replication.yaml> --stream ${task.stream}\``,
    ];
  };

  /**
   * The partitions a run starts with: the table's fixed keys, time windows, or the parent's ids (from this run's
   * parent table if any).
   */
  const partitionKeys = async (task: StreamTask, stream: StreamDef, parts: Partitions, dest: Destination): Promise<string[]> => {
    const keys = await listingKeys(task, stream, parts, dest);
    // an incremental run that reconciles deletes lists every id once more, beside its own listings (id-pass.ts)
    return task.reconcile && task.mode === 'incremental' && hasIdPass(stream) ? [...keys, ID_PASS] : keys;
  };
  const listingKeys = async (task: StreamTask, stream: StreamDef, parts: Partitions, dest: Destination): Promise<string[]> => {
    if (parts.fixedKeys) return parts.fixedKeys;
    if (parts.windows) return windowKeys(task, stream, parts, dest);
    const parent = getStream(parts.parent!.stream);
    const rows = parts.parent!.parentRows;
    const fromTable = task.parentObject ? await dest.columnValues(task.parentObject, idColumnOf(parent), rows) : null;
    return fromTable ?? (await fetchIds(task.source, parent, rows));
  };

  return {
    /**
     * Parses and validates the replication and checks that both connections resolve: nothing is written. Also
     * says whether the namespace has our search attributes (as the worker found them when it started).
     */
    async planReplication(input: ReplicationInput): Promise<ReplicationPlan & { searchAttributes: boolean }> {
      crashPoint('plan', input.name ?? '');
      const targetSchema = (target: string) => targetSchemaOf(target, { env: deps.env, cwd: deps.cwd });
      const plan = resolveReplicationInput(input, { now: deps.now(), targetSchema });
      klaviyo(plan.source);
      targetOf(plan.target);
      const streams = await Promise.all(
        plan.streams.map(async (s) => reconcileWhenDue(await fullRefreshWhenDue(s, plan.target), plan.target)),
      );
      return { ...plan, streams, searchAttributes: deps.searchAttributes };
    },

    /**
     * One cheap request per scope the streams need (the CLI's pre-check, klaviyo/scopes.ts), so a bad key, a missing
     * scope or a wrong base URL fails the replication before any table is touched. Each scope found present is
     * heartbeated, and a retried attempt probes only the others: with several probes per check, a fault in one does
     * not throw away the rest, so every probe has the check's attempts to itself (a 20% fault rate would otherwise
     * fail a check of many scopes). Then, given the target and its tables, claims them for this replication run
     * (lib/db/claims.ts), all at once: if another replication that is still running holds one, the replication
     * fails here, before any stream starts, naming that replication.
     */
    async checkSource(args: { source: string; streams: StreamName[]; target?: string; objects?: ObjectName[] }): Promise<void> {
      const { conn, client } = klaviyo(args.source);
      const earlier = (activityInfo().heartbeatDetails as { passed?: unknown } | undefined)?.passed;
      const passed = new Set(Array.isArray(earlier) ? earlier.filter((s): s is string => typeof s === 'string') : []);
      await checkStreamScopes(client, args.streams, {
        connection: conn.name,
        baseUrl: conn.baseUrl,
        signal: cancellationSignal(),
        now: deps.now,
        passed,
        onPassed: (scope) => {
          passed.add(scope);
          heartbeat({ passed: [...passed] });
        },
      });
      // the run of the replicate workflow this activity checks for (absent only for an activity run on its own)
      const replication = activityInfo().workflowExecution;
      if (args.target !== undefined && args.objects?.length && replication) {
        await destination(args.target).claimTables(args.objects, replication, deps.replicationRunning);
      }
    },

    /**
     * Gets the target ready and says which partitions remain (resuming this run where its pages stopped): the
     * pending ones after `page.after`, in key order, at most `page.limit` (default PARTITIONS_PER_PREPARE).
     *
     * A run lists its partitions once: the first prepare writes one state row per partition, and every later
     * prepare of the run (after continue-as-new, a retry) reads them back. A stream partitioned by its parent takes
     * the parent's ids from the parent's table when this replication completed the parent (`task.parentObject`),
     * and reads the parent endpoint only when the parent is not part of the run.
     */
    async prepareStream(task: StreamTask, page: PartitionPage = {}): Promise<PrepareResult> {
      const stream = getStream(task.stream);
      const dest = destination(task.target);
      const run = { stream, mode: task.mode, object: task.object, runId: task.runId };
      const listed = await dest.runPartitions(run);
      if (listed.length > 0) crashPoint('resumed', task.stream);
      const keys = listed.length > 0 ? listed : await partitionKeys(task, stream, partitionsOf(stream), dest);
      const prep = await dest.prepare({ ...run, partitions: keys });
      const all = Object.keys(prep.partitions).sort();
      const pending = all.filter((key) => !prep.partitions[key].done);
      const after = page.after;
      const rest = after === undefined ? pending : pending.filter((key) => key > after);
      const limit = Math.max(1, page.limit ?? PARTITIONS_PER_PREPARE);
      const notes = after === undefined ? await startDateNotes(task, dest) : [];
      const coverage = coverageOf(prep.partitions, deps.now());
      return {
        ...(notes.length > 0 ? { notes } : {}),
        ...(coverage ? { coverage } : {}),
        watermark: prep.watermark,
        partitions: rest.slice(0, limit).map((key) => ({ key, done: false })),
        total: all.length,
        done: all.length - pending.length,
        more: rest.length > limit,
      };
    },

    /**
     * Pages one partition from where its saved cursor stands, each page written with its next cursor in one
     * transaction, until the partition ends or this call's budget is spent (the worker's pages and seconds per call, or
     * the task's `maxPages` when lower). A retry after a crash reads the cursor
     * again from the database, so at most the page in flight is fetched twice, and writing it twice is an upsert.
     *
     * A transient or rate-limited failure after this call committed a page ends the call with what it committed
     * (not done), instead of failing it: the stream calls again at once, a new activity at attempt 1, from the
     * committed cursor. Temporal's attempts and backoff then count failures in a row without progress, as the retry
     * policy means them, rather than every fault over a long partition's life (which at a steady fault rate would
     * reach 60 s between attempts and then the 30th attempt, failing a stream that was making progress). A failure
     * before any page of the call committed is thrown, for the backoff (a 429 has also blocked its endpoint for its
     * Retry-After in the limiter, so the next call waits for it either way).
     */
    async syncPages(task: PartitionTask): Promise<PagesResult> {
      const callStarted = performance.now();
      const stream = getStream(task.stream);
      const dest = destination(task.target);
      const parts = partitionsOf(stream);
      const { parentId, partitionFilter, empty, window, idPass } = parts.request(task.partition);
      const run = { stream, mode: task.mode, object: task.object, runId: task.runId };
      const progress = await dest.progress({ ...run, partition: task.partition });
      if (progress.done) return { done: true, rows: 0, pages: 0 };
      if (empty) {
        // nothing to list (no parent rows): the partition ends with an empty page, so the run can finish
        await dest.writePage({ ...run, partition: task.partition, resources: [], nextUrl: null, done: true });
        return { done: true, rows: 0, pages: 1 };
      }

      const { conn, client } = klaviyo(task.source);
      let url = progress.nextUrl && rebase(progress.nextUrl, conn.baseUrl);
      if (!url) {
        const now = deps.now();
        const resumed = stream.cursor && resumeFrom(progress.watermark, stream.cursor, task.lookbackSeconds ?? 0, now);
        // a time window reads from its own start less the cursor's overlap (the instant of a boundary is read by
        // both windows beside it where the cursor's operator is `greater-than`), up to its end
        const since =
          task.mode === 'full-refresh'
            ? null
            : window && stream.cursor
              ? resumeFrom(window.start, stream.cursor, 0, now)
              : (resumed ?? task.startDate ?? lookback(stream, now));
        url = idPass
          ? idsPageUrl(conn.baseUrl, stream)
          : firstPageUrl(conn.baseUrl, stream, { parentId, partitionFilter, since, until: window?.end, options: task.options, now });
      }

      const started = deps.now().getTime();
      const maxPages = Math.min(deps.maxPagesPerCall, task.maxPages ?? Infinity);
      const guard = new PagingGuard(stream.name, task.partition, progress.loopMark);
      let rows = 0;
      let pages = 0;
      // counts for the benchmark's split of time (bench/connector.bench.ts), summed by the stream workflow
      const timing: PageTiming = { waitMs: 0, httpMs: 0, jsonMs: 0, dbMs: 0, activityMs: 0 };
      // the enabled options' reads of each resource by id (a list's profile_count), each at its own tier
      // the id pass asks for no option: its requests are the operation's own, at its own tier
      const lookups = idPass ? [] : lookupsOf(stream, task.options);
      const metrics = pageMetrics();
      const operation = idPass ? stream.operation : rateOperation(stream, task.options);
      // how much of a time window's range this call read (progress' percent done): from its watermark before to after
      const covered = (watermark: string | null, done: boolean) =>
        window ? windowCoverage(window, watermark, done, deps.now()).coveredMs : 0;
      const coveredBefore = covered(progress.watermark, false);
      let watermark = progress.watermark;
      const result = (done: boolean): PagesResult => ({
        done,
        rows,
        pages,
        ...(window ? { coveredMs: Math.max(0, covered(watermark, done) - coveredBefore) } : {}),
        timing: { ...timing, activityMs: performance.now() - callStarted },
      });
      for (;;) {
        try {
          const next = await pageOnce(url);
          if (next === null) return result(true);
          url = next;
        } catch (err) {
          const failure = classify(err);
          const retryable = failure?.kind === 'transient' || failure?.kind === 'rate-limited';
          if (pages === 0 || !retryable || cancellationSignal().aborted) throw err;
          log.warn('page work ended early, after committed pages; the stream calls again from the saved cursor', {
            partition: task.partition,
            pages,
            failure: failure.message,
          });
          return result(false);
        }
        if (pages >= maxPages || deps.now().getTime() - started >= deps.maxSecondsPerCall * 1000) return result(false);
      }

      /** Reads and writes one page; its next URL, or null when the partition ended. */
      async function pageOnce(url: string): Promise<string | null> {
        // the page's place among the pages this process holds, taken when its headers are in, left once committed
        let leave: (() => void) | undefined;
        try {
          return await readAndWrite(url, async () => {
            leave = await deps.pagesInMemory.acquire(cancellationSignal());
          });
        } finally {
          leave?.();
        }
      }

      /** Fills in what the enabled options read of each resource by its id (`lookups`). */
      async function lookUp(resources: JsonApiResource[]): Promise<void> {
        for (const lookup of lookups) {
          // all of a page's at once: the limiter paces them at the lookup's tier
          await Promise.all(
            resources.map(async (r) => {
              let found: JsonApiResource | undefined;
              try {
                const page = await counted(lookup.rateOperation, () =>
                  beating(
                    client.getPage(resourceUrl(conn.baseUrl, lookup, r.id), {
                      operation: lookup.rateOperation,
                      signal: cancellationSignal(),
                    }),
                    deps.heartbeatWhileWaitingMs,
                    () => heartbeat({ partition: task.partition, pages, rows, attempt: activityInfo().attempt }),
                  ),
                );
                found = asArray(page.document.data)[0];
              } catch (err) {
                // deleted since the listing served it: the row is written as listed, without what the lookup adds
                if (!isNotFound(err)) throw err;
              }
              const attributes = { ...r.attributes };
              for (const a of lookup.attributes) attributes[a] = found?.attributes?.[a] ?? null;
              r.attributes = attributes;
            }),
          );
        }
      }

      /** A request, counted by its operation and outcome (activities/metrics.ts). */
      async function counted<T>(op: string, send: () => Promise<T>): Promise<T> {
        try {
          const answer = await send();
          metrics.request(op, 'ok');
          return answer;
        } catch (err) {
          metrics.request(op, classify(err)?.kind ?? 'error');
          throw err;
        }
      }

      async function readAndWrite(url: string, beforeBody: () => Promise<void>): Promise<string | null> {
        let resources: JsonApiResource[];
        let included: JsonApiResource[] | undefined;
        let next: string | null;
        let waitMs = 0;
        try {
          const page = await counted(operation, () =>
            beating(client.getPage(url, { operation, signal: cancellationSignal(), beforeBody }), deps.heartbeatWhileWaitingMs, () =>
              heartbeat({ partition: task.partition, pages, rows, attempt: activityInfo().attempt }),
            ),
          );
          waitMs = page.timing.waitMs;
          resources = asArray(page.document.data);
          included = page.document.included;
          next = guard.follow(url, page.document.links?.next ?? null);
          if (lookups.length > 0) await lookUp(resources);
          timing.waitMs += page.timing.waitMs;
          timing.httpMs += page.timing.httpMs;
          timing.jsonMs += page.timing.jsonMs;
        } catch (err) {
          // A list or segment deleted while its members are read: it has no members any more (a 404; PostHog's Klaviyo source skips it too).
          if (!(parts.notFoundIsEmpty && isNotFound(err))) throw err;
          resources = [];
          next = null;
        }
        const writeStarted = performance.now();
        const written = await dest.writePage({
          ...run,
          partition: task.partition,
          parentId,
          resources,
          ...(task.options?.length ? { options: task.options, included } : {}),
          nextUrl: next,
          done: next === null,
        });
        const writeMs = performance.now() - writeStarted;
        timing.dbMs += writeMs;
        metrics.page(stream.name, written.rows, waitMs, writeMs);
        rows += written.rows;
        pages++;
        watermark = written.watermark;
        // the writer ends a split window's first half at its end, although its listing goes on
        if (written.done) next = null;
        heartbeat({ partition: task.partition, pages, rows, attempt: activityInfo().attempt });
        // the call's last page is committed; the activity has not completed
        const last = next === null || pages >= maxPages || deps.now().getTime() - started >= deps.maxSecondsPerCall * 1000;
        if (last) crashPoint('written', task.stream);
        return next;
      }
    },

    /**
     * Splits a time window the stream is reading (between two of its page activities) into `parts` (default 2) equal
     * pieces of what it has left, when the stream has slots idle and nothing else to read: the windows that now cover it, the first the
     * one its cursor continues in (Destination.splitWindow).
     */
    async splitWindow(task: PartitionTask & { parts?: number }): Promise<{ partitions: string[] }> {
      const stream = getStream(task.stream);
      const windows = partitionsOf(stream).windows;
      if (!windows) throw new Error(`stream ${stream.name} is not read in time windows`);
      const partitions = await destination(task.target).splitWindow({
        stream,
        mode: task.mode,
        object: task.object,
        runId: task.runId,
        partition: task.partition,
        minWindowSeconds: windows.minSplitSeconds,
        parts: task.parts,
      });
      return { partitions };
    },

    /** Publishes the run: the staging table replaces the target (full refresh) or the watermark advances. */
    async finishStream(task: StreamTask): Promise<FinishResult> {
      const stream = getStream(task.stream);
      const dest = destination(task.target);
      const fin = await dest.finish({ stream, mode: task.mode, object: task.object, runId: task.runId, markDeleted: task.markDeleted });
      return { ...fin, tableRows: await dest.tableRowCount(task.object) };
    },

    /**
     * After a stream was cancelled (run in a non-cancellable scope): drops its full-refresh staging table and marks
     * the run's state cancelled. The target table keeps the last completed run's rows.
     */
    async cancelStream(task: StreamTask): Promise<{ stagingDropped: boolean }> {
      const stream = getStream(task.stream);
      return destination(task.target).cancelRun({ stream, mode: task.mode, object: task.object, runId: task.runId });
    },

    /** A stream that failed: its run marked failed and, for a full refresh, its staging table dropped. */
    async failStream(task: StreamTask): Promise<{ stagingDropped: boolean }> {
      const stream = getStream(task.stream);
      return destination(task.target).failRun({ stream, mode: task.mode, object: task.object, runId: task.runId });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * The most partitions one `prepareStream` result carries (~25 KB of keys): the workflow asks for the next ones
 * when it has started these, so a stream of tens of thousands of lists never sends them in one payload.
 */
export const PARTITIONS_PER_PREPARE = 500;

/**
 * How often a page activity heartbeats while a request is in flight: a third of its heartbeat timeout (30 s), so a
 * request that hangs (a server that never answers, a body that never ends) is ended by the client's own timeouts,
 * which name the problem, rather than by Temporal's heartbeat timeout, which names none and leaves the request
 * running beside the retry; and a cancel reaches the activity while it waits.
 */
export const HEARTBEAT_WHILE_WAITING_MS = 10_000;

async function beating<T>(work: Promise<T>, everyMs: number, beat: () => void): Promise<T> {
  const timer = setInterval(beat, everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * How much of a run's time windows is read, from their committed watermarks (streams/windows.ts windowCoverage);
 * undefined for a stream that is not read in windows (its progress is its partitions done of all).
 */
export function coverageOf(
  partitions: Record<string, { done: boolean; watermark: string | null }>,
  now: Date,
): { coveredMs: number; totalMs: number } | undefined {
  const windows = Object.entries(partitions).filter(([key]) => isWindowKey(key));
  if (windows.length === 0) return undefined;
  let coveredMs = 0;
  let totalMs = 0;
  for (const [key, p] of windows) {
    const c = windowCoverage(parseWindowKey(key)!, p.watermark, p.done, now);
    coveredMs += c.coveredMs;
    totalMs += c.totalMs;
  }
  return { coveredMs, totalMs };
}

/** Klaviyo answered 404 (classified once, lib/klaviyo/errors.ts): a parent or resource deleted since it was listed. */
function isNotFound(err: unknown): boolean {
  return err instanceof SyncError && err.type === KlaviyoErrorType.NotFound;
}

function asArray(data: JsonApiResource[] | JsonApiResource | null): JsonApiResource[] {
  if (data === null || data === undefined) return [];
  return Array.isArray(data) ? data : [data];
}

/**
 * A cursor saved under an earlier base URL (the connection's base_url changed, e.g. a sandbox on another port)
 * continues against the configured one: the key only ever goes to the configured origin.
 */
function rebase(saved: string, baseUrl: string): string {
  const s = new URL(saved);
  const b = new URL(baseUrl);
  return s.origin === b.origin ? saved : `${b.origin}${s.pathname}${s.search}`;
}

/** Where a first incremental run starts without `start_date`: the stream's lookback before now, or null for the beginning. */
function lookback(stream: StreamDef, now: Date): string | null {
  const days = stream.cursor?.defaultLookbackDays;
  if (days === null) return null;
  return new Date(now.getTime() - (days ?? 30) * 86_400_000).toISOString();
}

/** A windowed stream's first window starts at its lookback: windows need a start, so its lookback is a number of days. */
function windowsStart(stream: StreamDef, now: Date): string {
  const from = lookback(stream, now);
  if (from === null) throw new Error(`stream ${stream.name} is read in time windows, which need a default lookback in days`);
  return from;
}
