/**
 * The one way activities talk to Klaviyo: a GET of one JSON:API page, paced by a RateLimiter, over a pooled
 * keep-alive connection, with every failure thrown as a classified error (errors.ts; the worker maps it to a
 * Temporal failure). A 2xx body is checked against the JSON:API shape we rely on (zod) before anyone uses it.
 *
 * The API key is a secret: it is sent only to the configured base URL's origin (redirects are never followed, and a
 * page whose `links.next` leads elsewhere is refused as it is read), and it never appears in a thrown failure, its
 * details or its cause. A body is read up to MAX_BODY_BYTES and within the request timeout after its headers.
 */
import { crashPoint } from '../crash-points';
import { Agent, request, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { version } from '../../package.json';
import { SyncError, UserFixableError } from '../errors';
import {
  crossOriginFailure,
  failureForInvalidBody,
  failureForNetworkError,
  failureForResponse,
  firstErrorItem,
  KlaviyoErrorType,
  MAX_RETRY_AFTER_SECONDS,
  retryAfterSeconds,
  statedRetryAfterSeconds,
  type RequestContext,
} from './errors';
import { STREAM_OPERATIONS, type OperationTable } from './operations';
import type { RateLimiter } from './ratelimit';

export const KLAVIYO_REVISION = '2025-07-15';
export const USER_AGENT = `klaviyo-sync/${version}`;
export const DEFAULT_CONNECTION = 'KLAVIYO';

const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Klaviyo can take tens of seconds on a large filtered page; beyond a minute something is stuck. Waiting for the
 * answer's headers, then between chunks of its body, and for the whole body after the headers (so a body trickling
 * forever ends too): `$KLAVIYO_SYNC_HTTP_TIMEOUT_MS` (ms) overrides it (the reliability suites' slow and hostile
 * answers use a few seconds rather than a minute). A request therefore ends within connect (10 s) + 2 × this.
 */
export const REQUEST_TIMEOUT_MS = requestTimeoutMs(process.env);

/** `$KLAVIYO_SYNC_HTTP_TIMEOUT_MS` if it is a whole number of ms of 1 or more, else 60 s. */
export function requestTimeoutMs(env: NodeJS.ProcessEnv): number {
  const text = env.KLAVIYO_SYNC_HTTP_TIMEOUT_MS;
  if (text === undefined || text === '') return 60_000;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1)
    throw new Error(`KLAVIYO_SYNC_HTTP_TIMEOUT_MS must be a whole number of ms, not ${JSON.stringify(text)}`);
  return ms;
}
const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/**
 * The largest answer read: a page of 200 events or 100 profiles is a few hundred KB, and a record with a 10 MB
 * attribute still fits; a body past this (a runaway or endless stream) fails the request as a protocol error, so a
 * broken server cannot exhaust the worker's memory.
 */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;
/**
 * twice the documented limiter's 64 in flight per operation: two streams backfilling at once (events and profiles)
 * never queue for a connection (connections open on demand, so an idle pool holds few)
 */
const CONNECTIONS_PER_ORIGIN = 128;

let processAgent: Agent | undefined;

/** One pool per process, so consecutive activities reuse warm TLS connections. */
export function sharedAgent(): Agent {
  processAgent ??= new Agent({
    connectTimeout: CONNECT_TIMEOUT_MS,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connections: CONNECTIONS_PER_ORIGIN,
  });
  return processAgent;
}

export interface KlaviyoClientOptions {
  /** e.g. `https://a.klaviyo.com`, or a sandbox's `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** a private key (`pk_...`) */
  apiKey: string;
  limiter: RateLimiter;
  /** default: the process-wide pooled Agent */
  dispatcher?: Dispatcher;
  /** scopes per operation, named in 403 messages; default: those of the stream table */
  operations?: OperationTable;
  /** the connection whose `secrets.api_key` holds the key, named in 401 messages; default `KLAVIYO` */
  connection?: string;
  /** the largest body read; default MAX_BODY_BYTES */
  maxBodyBytes?: number;
  /**
   * The whole body must arrive within this many ms of the headers (undici's own body timeout is only between
   * chunks, which a body trickling a byte at a time never meets); default REQUEST_TIMEOUT_MS.
   */
  bodyDeadlineMs?: number;
}

export interface GetPageOptions {
  /** Klaviyo operationId (StreamDef.operation): picks the rate limit and names the request in errors */
  operation: string;
  /** Temporal's `cancellationSignal()`: aborts the wait for the limiter and the request itself */
  signal?: AbortSignal;
  /**
   * awaited once the response's headers are in, before its body is read: where a caller bounds the pages it holds
   * in memory (lib/pages-in-memory.ts); the request keeps its slot of the limiter while it waits
   */
  beforeBody?: () => Promise<void>;
}

/** `RateLimit-*` headers of a successful response; null where Klaviyo did not send them. */
export interface RateLimitInfo {
  /** the first number of `RateLimit-Limit` (e.g. `10, 10;w=1, 150;w=60` gives 10) */
  limit: number | null;
  remaining: number | null;
  /** seconds until the steady window resets */
  reset: number | null;
}

export interface JsonApiResource {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  relationships?: Record<string, { data?: unknown; links?: Record<string, string> }>;
  links?: { self?: string };
}

export interface JsonApiDocument {
  data: JsonApiResource[] | JsonApiResource | null;
  included?: JsonApiResource[];
  links?: { self?: string; first?: string | null; last?: string | null; prev?: string | null; next?: string | null };
}

/**
 * Where one `getPage` spent its time, in milliseconds (for the benchmark's split; nothing depends on it):
 * waiting for the rate limiter's slot and window, the request until its body was read, and parsing plus checking
 * the JSON.
 */
export interface FetchTiming {
  waitMs: number;
  httpMs: number;
  jsonMs: number;
}

export interface KlaviyoPage {
  document: JsonApiDocument;
  status: number;
  rateLimit: RateLimitInfo;
  timing: FetchTiming;
}

const REDACTED = '[redacted]';

/** A resource as we use it: a string type and a non-empty string id (a numeric id would be stored as another key). */
const ResourceSchema = z
  .object({
    type: z.string(),
    id: z.string().min(1),
    attributes: z.record(z.string(), z.unknown()).optional(),
    relationships: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

/** `links.next` is followed exactly as given, so it must be an absolute http(s) URL. */
const NextLinkSchema = z
  .string()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { message: 'not an absolute http(s) URL' })
  .nullish();

/** A collection page (`data` an array) or a single resource; `data: null` for an empty to-one answer. */
const documentSchema = (data: unknown) =>
  z
    .object({
      data: Array.isArray(data) ? z.array(ResourceSchema) : data === null ? z.null() : ResourceSchema,
      included: z.array(ResourceSchema).optional(),
      links: z.object({ next: NextLinkSchema }).loose().optional(),
    })
    .loose();

/** The value at a zod issue's path, for naming what Klaviyo sent. */
function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = body;
  for (const key of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  const kind =
    value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `the ${typeof value}`;
  return `${kind} ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`;
}

/** A plain object as JSON.parse makes them (the fast check below accepts nothing more; zod judges the rest). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isOptionalRecord(value: unknown): boolean {
  return value === undefined || isPlainObject(value);
}

function isUsableResource(value: unknown): boolean {
  return (
    isPlainObject(value) &&
    typeof value.type === 'string' &&
    typeof value.id === 'string' &&
    value.id.length > 0 &&
    isOptionalRecord(value.attributes) &&
    isOptionalRecord(value.relationships)
  );
}

/**
 * Whether a parsed body is a usable page, checked in place. It accepts only what `documentSchema` accepts
 * (test/errors.test.ts holds the two together), but allocates nothing: zod's safeParse copies the whole document
 * (every resource and its attributes), which was a third of the memory a page cost a worker (a page of 200 events:
 * ~530 KB of garbage, more than JSON.parse itself), all of it for a result thrown away. zod still names the problem
 * of a page that fails this check.
 */
export function isUsableDocument(body: unknown): boolean {
  if (!isPlainObject(body) || !('data' in body)) return false;
  const { data, included, links } = body;
  if (Array.isArray(data)) {
    for (const r of data) if (!isUsableResource(r)) return false;
  } else if (data !== null && !isUsableResource(data)) return false;
  if (included !== undefined) {
    if (!Array.isArray(included)) return false;
    for (const r of included) if (!isUsableResource(r)) return false;
  }
  if (links !== undefined) {
    if (!isPlainObject(links)) return false;
    const next = links.next;
    if (next !== undefined && next !== null && !(typeof next === 'string' && NextLinkSchema.safeParse(next).success)) return false;
  }
  return true;
}

/** What is wrong with a 2xx body, in words naming the field and the value, or undefined if it is a usable page. */
export function documentProblem(body: unknown, contentType?: string): string | undefined {
  if (typeof body === 'string') {
    const media = contentType?.split(';')[0].trim();
    const type = media ? `${/^[aeiou]/i.test(media) ? 'an' : 'a'} ${media} body` : 'a body';
    return `${type} that is not JSON (it begins ${JSON.stringify(body.slice(0, 80))})`;
  }
  if (typeof body !== 'object' || body === null) return 'an empty body or one that is not JSON';
  if (!('data' in body)) return 'JSON without `data`';
  if (isUsableDocument(body)) return undefined;
  return schemaProblem(body);
}

/** documentProblem as zod alone finds it (the fast check skipped): exported for the test that holds them together. */
export function schemaProblem(body: object): string | undefined {
  const parsed = documentSchema((body as { data: unknown }).data).safeParse(body);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0];
  const path = issue.path
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
    .join('')
    .replace(/^\./, '');
  const expected = path.endsWith('links.next')
    ? 'an absolute URL'
    : issue.code === 'invalid_type'
      ? /^[aeiou]/.test(String(issue.expected))
        ? `an ${String(issue.expected)}`
        : `a ${String(issue.expected)}`
      : issue.message;
  return `${path} = ${shown(valueAt(body, issue.path))} where a JSON:API page has ${expected}`;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function leadingInteger(value: string | undefined): number | null {
  const m = /^\s*(\d+)/.exec(value ?? '');
  return m ? Number(m[1]) : null;
}

export function parseRateLimit(headers: IncomingHttpHeaders): RateLimitInfo {
  return {
    limit: leadingInteger(header(headers, 'ratelimit-limit')),
    remaining: leadingInteger(header(headers, 'ratelimit-remaining')),
    reset: leadingInteger(header(headers, 'ratelimit-reset')),
  };
}

/**
 * `RateLimit-Remaining: 0` with a reset of a second or more: the window is spent (by us, or by another integration
 * on the account, which our own pacing cannot see), so the operation waits until it resets (`RateLimit-Reset` is
 * whole seconds, rounded down: one more). A reset of 0 is the burst window, which our padded windows outwait anyway.
 */
export function spentWindowSeconds(info: RateLimitInfo): number | null {
  return info.remaining === 0 && info.reset !== null && info.reset >= 1 ? info.reset + 1 : null;
}

/**
 * The body's text, or `{ tooLarge }` naming the size when it is (or says it is) over `maxBytes`. Rejects with a
 * transport error (code BODY_DEADLINE, classified transient) when the whole body has not arrived within
 * `deadlineMs`; the socket is destroyed then, so nothing keeps reading.
 */
export async function readBody(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
  deadlineMs: number,
  contentLength?: string,
): Promise<string | { tooLarge: string }> {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  const declared = contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : null;
  if (declared !== null && declared > maxBytes) {
    body.destroy();
    return { tooLarge: `a body of ${mb(declared)} (Content-Length), more than the ${mb(maxBytes)} a page may be` };
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  const timer = setTimeout(() => {
    const err = Object.assign(new Error(`the body did not end within ${deadlineMs / 1000} s of the headers (${bytes} bytes received)`), {
      code: 'BODY_DEADLINE',
    });
    body.destroy(err);
  }, deadlineMs);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        body.destroy();
        return { tooLarge: `a body of more than ${mb(maxBytes)} (still arriving when it was cut off), more than a page may be` };
      }
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class KlaviyoClient {
  private readonly origin: string;
  /** a #private field, so neither `inspect(client)` nor `JSON.stringify(client)` can show it */
  readonly #apiKey: string;
  private readonly limiter: RateLimiter;
  private readonly dispatcher: Dispatcher;
  private readonly operations: OperationTable;
  private readonly connection: string;
  private readonly maxBodyBytes: number;
  private readonly bodyDeadlineMs: number;

  constructor(options: KlaviyoClientOptions) {
    this.connection = options.connection ?? DEFAULT_CONNECTION;
    // A key with whitespace or control characters would make every request fail inside undici; say so once, here.
    if (!/^[\x21-\x7e]+$/.test(options.apiKey)) {
      throw new UserFixableError(
        `The Klaviyo API key is empty or contains spaces or control characters: check secrets.api_key of connection ` +
          `${this.connection}; a private key starts with pk_.`,
        { type: KlaviyoErrorType.AuthError },
      );
    }
    this.origin = new URL(options.baseUrl).origin;
    this.#apiKey = options.apiKey;
    this.limiter = options.limiter;
    this.dispatcher = options.dispatcher ?? sharedAgent();
    this.operations = options.operations ?? STREAM_OPERATIONS;
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.bodyDeadlineMs = options.bodyDeadlineMs ?? REQUEST_TIMEOUT_MS;
  }

  /** GETs one page: `url` is a first-page URL (urls.ts) or a `links.next`, used exactly as given. */
  async getPage(url: string, { operation, signal: given, beforeBody }: GetPageOptions): Promise<KlaviyoPage> {
    const target = new URL(url);
    // A signal of its own, aborted with the caller's: the limiter and undici each listen for its abort, and callers
    // share one signal among many requests at once (an activity's, over every scope probe), past the 10 listeners
    // a signal takes before Node warns of a leak. A dependent signal adds none to the caller's.
    const signal = given && AbortSignal.any([given]);
    if (target.origin !== this.origin) throw crossOriginFailure(target, this.origin, operation);
    const ctx: RequestContext = {
      operation,
      url: target,
      scopes: this.operations[operation]?.scopes,
      connection: this.connection,
    };

    signal?.throwIfAborted();
    const waitStarted = performance.now();
    const release = await this.limiter.acquire(operation, signal);
    const httpStarted = performance.now();
    try {
      let status: number;
      let headers: IncomingHttpHeaders;
      let text: string;
      let notOurs: unknown;
      try {
        const res = await request(target, {
          method: 'GET',
          dispatcher: this.dispatcher,
          signal,
          headers: {
            authorization: `Klaviyo-API-Key ${this.#apiKey}`,
            revision: KLAVIYO_REVISION,
            accept: 'application/vnd.api+json',
            'user-agent': USER_AGENT,
          },
        });
        status = res.statusCode;
        headers = res.headers;
        crashPoint('fetch', operation);
        if (beforeBody) {
          try {
            await beforeBody();
          } catch (err) {
            res.body.destroy();
            // the caller's own failure (its abort among them), not the network's
            notOurs = err;
            throw err;
          }
        }
        const read = await readBody(res.body, this.maxBodyBytes, this.bodyDeadlineMs, header(headers, 'content-length'));
        if (typeof read !== 'string') throw failureForInvalidBody(status, read.tooLarge, ctx);
        text = read;
      } catch (err) {
        if (err instanceof SyncError || err === notOurs) throw err;
        // Temporal's cancellation reason (a CancelledFailure) must propagate as it is.
        if (signal?.aborted) throw signal.reason;
        throw failureForNetworkError(err, ctx, (s) => this.scrub(s));
      }

      const jsonStarted = performance.now();
      const body = this.parseBody(text);
      if (status < 200 || status >= 300) {
        const retryAfter = header(headers, 'retry-after');
        if (status === 429) {
          // the operation waits what Klaviyo asked for (1 s if it did not say); a wait past the cap is not honoured
          // but refused (the stream fails naming it), so it must not hold the operation back for the next run either
          const stated = statedRetryAfterSeconds(retryAfter, firstErrorItem(body)?.detail);
          if (stated === undefined || stated <= MAX_RETRY_AFTER_SECONDS)
            await this.limiter.penalize(operation, retryAfterSeconds(retryAfter, firstErrorItem(body)?.detail));
        }
        const location = header(headers, 'location');
        throw failureForResponse({ status, retryAfter, body, location: location && this.scrub(location) }, ctx);
      }
      const problem = documentProblem(body, header(headers, 'content-type'));
      if (problem) throw failureForInvalidBody(status, problem, ctx);
      // A next page on another origin is refused now, before this page commits it as the cursor to follow.
      const next = (body as JsonApiDocument).links?.next;
      if (next && new URL(next).origin !== this.origin) throw crossOriginFailure(new URL(next), this.origin, operation);
      const timing = { waitMs: httpStarted - waitStarted, httpMs: jsonStarted - httpStarted, jsonMs: performance.now() - jsonStarted };
      const rateLimit = parseRateLimit(headers);
      const spent = spentWindowSeconds(rateLimit);
      // not awaited: the page is good, and the block is for the requests after it
      if (spent !== null) this.limiter.penalize(operation, spent).catch(() => undefined);
      return { document: body as JsonApiDocument, status, rateLimit, timing };
    } finally {
      release();
    }
  }

  /** The parsed body with the key scrubbed from every string (a server may echo headers); its text if not JSON. */
  private parseBody(text: string): unknown {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return text.includes(this.#apiKey) ? this.scrub(text) : text || undefined;
    }
    return text.includes(this.#apiKey) ? this.scrubDeep(parsed) : parsed;
  }

  private scrub(s: string): string {
    return s.split(this.#apiKey).join(REDACTED);
  }

  private scrubDeep(value: unknown): unknown {
    if (typeof value === 'string') return this.scrub(value);
    if (Array.isArray(value)) return value.map((v) => this.scrubDeep(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.scrub(k), this.scrubDeep(v)]));
    }
    return value;
  }
}
