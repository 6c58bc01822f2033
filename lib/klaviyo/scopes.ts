/**
 * Does the API key have every scope the selected streams need? One cheap request per distinct scope, each on a
 * top-level stream that needs that scope alone, so a 403 names exactly the missing scope. A membership stream needs
 * its parent's scopes and profiles' (its operation reads both). A scope only a child stream needs (coupon codes')
 * is probed on that stream's listing for a parent that does not exist: Klaviyo checks the key's scopes before it
 * looks the parent up, so a 403 means the scope is missing and the 404 that the key has it.
 *
 * The one pre-check of a replication: the CLI runs it before starting the workflow (retrying in process with the one
 * policy), the workflow's `checkSource` activity runs it before any table is touched (Temporal retries it with the
 * same numbers), and `conns test` runs the per-scope probe for every stream.
 */
import { STREAMS, getStream } from '../../streams/streams';
import { parentOf, partitionsOf } from '../../streams/partitions';
import type { StreamDef, StreamName } from '../../streams/types';
import { SyncError, UserFixableError } from '../errors';
import type { KlaviyoClient } from './client';
import { KlaviyoErrorType } from './errors';
import { firstPageUrl } from './urls';
import { systemNow, type Now } from '../clock';

export interface ScopeProbe {
  scope: string;
  /** a stream that needs this scope alone, so a 403 on it means exactly this scope is missing */
  stream: StreamDef;
  /**
   * for a child stream, the parent id its probe lists (one that does not exist, so its 404 means the scope is
   * there); absent for a top-level stream, whose first page is the probe
   */
  absentParentId?: string;
}

/** The parent id a child stream's probe asks for: no Klaviyo id looks like it. */
export const ABSENT_PARENT_ID = 'klaviyo-sync-scope-probe';

/**
 * Every scope the streams need, in stream-table order, each with the stream whose first page tests it: a top-level
 * stream where one needs that scope alone, else a child stream that does (whose own scopes are all it adds to its
 * parent's).
 */
export function scopeProbes(streams: readonly StreamDef[] = STREAMS): ScopeProbe[] {
  const scopes = [...new Set(streams.flatMap((s) => s.scopes))];
  const needsOnly = (s: StreamDef, scope: string) => s.scopes.length === 1 && s.scopes[0] === scope;
  return scopes.map((scope) => {
    const stream = STREAMS.find((s) => !parentOf(s) && needsOnly(s, scope));
    if (stream) return { scope, stream };
    const child = STREAMS.find((s) => parentOf(s) && needsOnly(s, scope));
    if (!child) throw new Error(`no stream needs only ${scope}, so the scope cannot be checked on its own`);
    return { scope, stream: child, absentParentId: ABSENT_PARENT_ID };
  });
}

/** The scopes a stream's run needs: its own, and for a child stream its parent's (the parent's ids are read first). */
export function scopesOf(stream: StreamDef): string[] {
  const parent = parentOf(stream);
  return [...new Set([...(parent ? getStream(parent.stream).scopes : []), ...stream.scopes])];
}

/**
 * The stream's first request, with its first partition's filter (campaigns need a channel) or, for a child stream,
 * the absent parent's id, and 1 row per page.
 */
export function probeUrl(baseUrl: string, probe: Pick<ScopeProbe, 'stream' | 'absentParentId'>, now: Date = systemNow()): string {
  const { stream, absentParentId } = probe;
  const smallest: StreamDef = stream.pageSize === undefined ? stream : { ...stream, pageSize: 1 };
  const first = absentParentId ?? partitionsOf(stream).fixedKeys?.[0];
  return firstPageUrl(baseUrl, smallest, { ...(first !== undefined ? partitionsOf(stream).request(first) : {}), now });
}

export type ScopeStatus = 'ok' | 'missing';

/**
 * One probe: `ok`, or `missing` on a 403. Anything else (a bad key, throttling, an outage) is thrown as the
 * client classified it, for the caller's retry policy.
 */
export async function probeScope(
  client: KlaviyoClient,
  baseUrl: string,
  probe: ScopeProbe,
  signal?: AbortSignal,
  now: Now = systemNow,
): Promise<ScopeStatus> {
  try {
    await client.getPage(probeUrl(baseUrl, probe, now()), { operation: probe.stream.operation, signal });
    return 'ok';
  } catch (err) {
    if (err instanceof SyncError && err.type === KlaviyoErrorType.PermissionError) return 'missing';
    // past the scope check: the key has the scope, and the parent asked for is (as meant) not there
    if (probe.absentParentId && err instanceof SyncError && err.type === KlaviyoErrorType.NotFound) return 'ok';
    throw err;
  }
}

export interface KeyCheckOptions {
  /** the connection named in the message */
  connection: string;
  baseUrl: string;
  /** wraps each probe: the CLI passes `withRetries`, an activity nothing (Temporal retries the activity) */
  retry?: <T>(fn: () => Promise<T>) => Promise<T>;
  signal?: AbortSignal;
  /** the clock of the probes' URLs (default: the system's) */
  now?: Now;
  /** scopes an earlier attempt of the same check found present: not probed again */
  passed?: ReadonlySet<string>;
  /** told each scope found present, so a retried check can pass it as `passed` */
  onPassed?: (scope: string) => void;
}

/**
 * Probes every distinct scope the selected streams need; throws a user-fixable error naming each missing scope and
 * the streams that need it, or the first failure that is not a 403 (a bad key fails on the first probe, before the
 * others are sent).
 */
export async function checkStreamScopes(client: KlaviyoClient, streams: readonly StreamName[], opts: KeyCheckOptions): Promise<void> {
  const selected = streams.map(getStream);
  const needed = new Set(selected.flatMap(scopesOf));
  const probes = scopeProbes().filter((p) => needed.has(p.scope));
  if (probes.length === 0) return;
  const retry = opts.retry ?? (<T>(fn: () => Promise<T>) => fn());
  const run = async (p: ScopeProbe): Promise<ScopeStatus> => {
    if (opts.passed?.has(p.scope)) return 'ok';
    const status = await retry(() => probeScope(client, opts.baseUrl, p, opts.signal, opts.now));
    if (status === 'ok') opts.onPassed?.(p.scope);
    return status;
  };
  const first = await run(probes[0]);
  // every probe ends before a failure is thrown, so each one that passed is told to onPassed (the next attempt
  // then probes only the rest)
  const settled = await Promise.allSettled(probes.slice(1).map(run));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const statuses = [first, ...settled.map((r) => (r as PromiseFulfilledResult<ScopeStatus>).value)];
  const missing = probes.filter((_, i) => statuses[i] === 'missing').map((p) => p.scope);
  if (missing.length === 0) return;
  const them = missing.length > 1 ? 'them' : 'it';
  const blocked = selected.filter((s) => scopesOf(s).some((sc) => missing.includes(sc))).map((s) => s.name);
  throw new UserFixableError(
    `the API key of connection ${opts.connection} lacks ${missing.join(', ')}, which ${blocked.join(', ')} ` +
      `need${blocked.length > 1 ? '' : 's'}: grant ${them} to the private key in Klaviyo (Settings > API keys), or ` +
      `disable ${blocked.length > 1 ? 'those streams' : 'that stream'} in the replication; nothing was written.`,
    { type: KlaviyoErrorType.PermissionError, details: { connection: opts.connection, missing, streams: blocked } },
  );
}
