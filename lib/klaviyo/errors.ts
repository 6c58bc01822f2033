/**
 * Klaviyo responses and transport errors in the classes of lib/errors.ts (user-fixable, protocol,
 * rate-limited, transient): the class decides whether and when the activity is retried (the worker's interceptor
 * maps it to a Temporal failure), and the message is what an operator reads in the UI, so each one names the fix.
 *
 * Nothing here sees the API key; the client scrubs bodies and transport messages before they get here.
 */
import { ProtocolError, RateLimitedError, TransientError, UserFixableError, type SyncError } from '../errors';
import { RETRY_POLICY } from '../retry-policy';

export const KlaviyoErrorType = {
  RateLimited: 'KlaviyoRateLimited',
  ServerError: 'KlaviyoServerError',
  NetworkError: 'KlaviyoNetworkError',
  BadRequest: 'KlaviyoBadRequest',
  AuthError: 'KlaviyoAuthError',
  PermissionError: 'KlaviyoPermissionError',
  NotFound: 'KlaviyoNotFound',
  ClientError: 'KlaviyoClientError',
  UnexpectedResponse: 'KlaviyoUnexpectedResponse',
  CrossOriginRefused: 'KlaviyoCrossOriginRefused',
  ThrottledTooLong: 'KlaviyoThrottledTooLong',
  PagingLoop: 'KlaviyoPagingLoop',
} as const;
export type KlaviyoErrorType = (typeof KlaviyoErrorType)[keyof typeof KlaviyoErrorType];

/** One item of Klaviyo's `{"errors": [...]}` body (spec `ClientError` / `ServerError`, plus observed `status`). */
export interface KlaviyoErrorItem {
  id?: string;
  status?: number;
  code?: string;
  title?: string;
  detail?: string;
  source?: { pointer?: string; parameter?: string };
}

/** Which request failed: enough to find it, nothing secret. */
export interface RequestContext {
  operation: string;
  url: URL;
  /** scopes the operation needs, for the 403 message */
  scopes?: readonly string[];
  /** the connection whose secrets hold the key, for the 401 message */
  connection: string;
}

export interface ResponseFacts {
  status: number;
  /** the `Retry-After` header, if any */
  retryAfter?: string;
  /** the parsed body (or its text when it was not JSON) */
  body: unknown;
  /** a redirect's `Location` header (scrubbed), never followed */
  location?: string;
}

/** What every Klaviyo failure carries in `details[0]`, for code that handles failures without parsing messages. */
export interface KlaviyoFailureDetails {
  operation: string;
  host: string;
  path: string;
  status?: number;
  code?: string;
  detail?: string;
  parameter?: string;
  retryAfterSeconds?: number;
}

export const MAX_RETRY_AFTER_SECONDS = RETRY_POLICY.maximumRetryAfterSeconds;

export function firstErrorItem(body: unknown): KlaviyoErrorItem | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || !errors[0] || typeof errors[0] !== 'object') return undefined;
  return errors[0] as KlaviyoErrorItem;
}

/**
 * Seconds to wait after a 429: `Retry-After` (integer seconds), else the body's "Expected available in N second(s)",
 * else 1; at least 1 (Klaviyo says "0 seconds" near a window's end) and at most 60, so a wild value cannot park a
 * sync for hours.
 */
export function retryAfterSeconds(retryAfter: string | undefined, detail: string | undefined): number {
  const fromHeader = retryAfter !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(retryAfter) ? Number(retryAfter) : NaN;
  const fromDetail = Number(/available in (\d+(?:\.\d+)?) seconds?/i.exec(detail ?? '')?.[1] ?? NaN);
  const seconds = Number.isFinite(fromHeader) ? fromHeader : Number.isFinite(fromDetail) ? fromDetail : 1;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(seconds)));
}

/**
 * The wait a 429 states, in seconds, uncapped: `Retry-After` (integer seconds), else the body's "Expected available
 * in N second(s)"; undefined when it states none, and the client backs off instead.
 */
export function statedRetryAfterSeconds(retryAfter: string | undefined, detail: string | undefined): number | undefined {
  const fromHeader = retryAfter !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(retryAfter) ? Number(retryAfter) : NaN;
  const fromDetail = Number(/available in (\d+(?:\.\d+)?) seconds?/i.exec(detail ?? '')?.[1] ?? NaN);
  return Number.isFinite(fromHeader) ? fromHeader : Number.isFinite(fromDetail) ? fromDetail : undefined;
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function where(url: URL): string {
  return `GET ${url.host}${url.pathname}`;
}

function baseDetails(ctx: RequestContext): KlaviyoFailureDetails {
  return { operation: ctx.operation, host: ctx.url.host, path: ctx.url.pathname };
}

function quoted(text: string | undefined): string {
  return text ? `"${text}"` : 'no detail given';
}

/** The failure for a non-2xx response. */
export function failureForResponse(res: ResponseFacts, ctx: RequestContext): SyncError {
  const item = firstErrorItem(res.body);
  const text = typeof res.body === 'string' && res.body ? res.body.slice(0, 200) : undefined;
  const detail = item?.detail ?? item?.title ?? text;
  const details: KlaviyoFailureDetails = {
    ...baseDetails(ctx),
    status: res.status,
    code: item?.code,
    detail,
    parameter: item?.source?.parameter,
  };
  const req = where(ctx.url);
  const op = ctx.operation;

  if (res.status === 429) {
    const stated = statedRetryAfterSeconds(res.retryAfter, detail);
    if (stated === undefined) {
      // Klaviyo always says how long (Retry-After, and the detail's "Expected available in N seconds"); an answer
      // that does not is backed off like any transient failure (1 s, 2 s, 4 s, ... up to 60 s), not hammered.
      return new RateLimitedError(
        `Klaviyo throttled ${req} (${op}) without saying for how long (no Retry-After): ${quoted(detail)}; backing ` +
          `off before retrying, and if this persists another client is sharing the account's quota, so slow it ` +
          `down or use the sling rate-limit mode.`,
        undefined,
        { type: KlaviyoErrorType.RateLimited, details },
      );
    }
    if (stated > MAX_RETRY_AFTER_SECONDS) {
      // Klaviyo's windows are 1 s (burst) and 60 s (steady): a longer wait is not one of its rate limits (a proxy, a
      // daily quota, a block), and neither asking again in a minute nor parking the run for hours is right.
      const at = new Date(Date.now() + stated * 1000).toISOString();
      return new UserFixableError(
        `Klaviyo throttled ${req} (${op}) and asked to wait ${duration(stated)} (Retry-After ${stated}), longer ` +
          `than its rate-limit windows (1 s burst, 60 s steady) and than this sync waits (${MAX_RETRY_AFTER_SECONDS} s): ` +
          `the stream fails now rather than sit parked; run it again after ${at}, and check whether another ` +
          `integration or a proxy in front of the API is using up or blocking the account's quota.`,
        { type: KlaviyoErrorType.ThrottledTooLong, details: { ...details, retryAfterSeconds: stated } },
      );
    }
    const seconds = retryAfterSeconds(res.retryAfter, detail);
    return new RateLimitedError(
      `Klaviyo throttled ${req} (${op}): ${quoted(detail)}; retrying in ${seconds} s, and if this persists ` +
        `another client is sharing the account's quota, so slow it down or use the sling rate-limit mode.`,
      seconds,
      { type: KlaviyoErrorType.RateLimited, details: { ...details, retryAfterSeconds: seconds } },
    );
  }
  if (res.status >= 500) {
    return new TransientError(
      `Klaviyo answered ${res.status} to ${req} (${op}): ${quoted(detail)}; this is retried, and if it persists ` +
        `check https://status.klaviyo.com.`,
      { type: KlaviyoErrorType.ServerError, details },
    );
  }
  if (res.status === 400) {
    const param = item?.source?.parameter;
    return new UserFixableError(
      `Klaviyo rejected ${req} (${op}) as a bad request: ${quoted(detail)}` +
        (param ? ` (parameter ${param})` : '') +
        `; fix ${param ? 'that parameter' : 'the request'} in the stream definition or the source options.`,
      { type: KlaviyoErrorType.BadRequest, details },
    );
  }
  if (res.status === 401) {
    return new UserFixableError(
      `Klaviyo rejected the API key (${item?.code ?? 'authentication_failed'}): check secrets.api_key of ` +
        `connection ${ctx.connection}; a private key starts with pk_ (${req}).`,
      { type: KlaviyoErrorType.AuthError, details },
    );
  }
  if (res.status === 403) {
    const needs = ctx.scopes?.length
      ? `the scope${ctx.scopes.length > 1 ? 's' : ''} ${ctx.scopes.join(' and ')}`
      : `the read scope of ${op}`;
    return new UserFixableError(
      `Klaviyo denied ${req} (${op}, ${item?.code ?? 'permission_denied'}): ${quoted(detail)}; the API key needs ` +
        `${needs}, so grant ${ctx.scopes && ctx.scopes.length > 1 ? 'them' : 'it'} to the private key in Klaviyo ` +
        `(Settings > API keys) or leave this stream out.`,
      { type: KlaviyoErrorType.PermissionError, details },
    );
  }
  if (res.status === 404) {
    return new UserFixableError(
      `Klaviyo found nothing at ${req} (${op}): ${quoted(detail)}; what it belongs to (a list, segment, ` +
        `campaign, flow, flow step or coupon) was probably deleted during the run, so skip it.`,
      { type: KlaviyoErrorType.NotFound, details },
    );
  }
  if (res.status >= 400) {
    return new UserFixableError(
      `Klaviyo answered ${res.status} to ${req} (${op}): ${quoted(detail)}; the request itself is wrong, so ` +
        `fix the stream definition rather than retrying.`,
      { type: KlaviyoErrorType.ClientError, details },
    );
  }
  if (res.status >= 300 && res.status < 400) {
    return new ProtocolError(
      `Klaviyo answered ${res.status} to ${req} (${op}), a redirect to ${res.location ? JSON.stringify(res.location.slice(0, 200)) : 'nowhere given'}, ` +
        `which is not followed: the API key goes only to the configured origin ${ctx.url.origin}. Point the base ` +
        `URL at the Klaviyo API itself (https://a.klaviyo.com), not at a redirect or proxy.`,
      { type: KlaviyoErrorType.UnexpectedResponse, details: { ...details, detail: res.location?.slice(0, 200) } },
    );
  }
  return new ProtocolError(
    `Klaviyo answered ${res.status} to ${req} (${op}), which is not a JSON:API page; check that the base URL ` +
      `points at the Klaviyo API (https://a.klaviyo.com), not at a redirect or proxy page.`,
    { type: KlaviyoErrorType.UnexpectedResponse, details },
  );
}

/**
 * A 2xx whose body is not a JSON:API document (not JSON, no `data`, a resource without a string id): the same
 * request gives the same answer, so it fails at once, naming what came back.
 */
export function failureForInvalidBody(status: number, problem: string, ctx: RequestContext): SyncError {
  return new ProtocolError(
    `Klaviyo answered ${status} to ${where(ctx.url)} (${ctx.operation}) with ${problem}; this is not retried: check ` +
      `that the base URL points at the Klaviyo API (https://a.klaviyo.com) and not at a proxy or captive page, and ` +
      `if it does, report the response to Klaviyo.`,
    { type: KlaviyoErrorType.UnexpectedResponse, details: { ...baseDetails(ctx), status, detail: problem } },
  );
}

/** What a transport error is, in words an operator can act on. */
function describeTransportError(err: unknown): { code: string; message: string } {
  const e = (err ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? e.message : String(err);
  return { code, message };
}

/**
 * Connection resets, refused connections, DNS failures and connect/headers/body timeouts: all transient from where
 * we stand. `message` must already be scrubbed of secrets; the cause is rebuilt from code and message only, so no
 * undici object (which may reference the request and its headers) travels with the failure.
 */
export function failureForNetworkError(err: unknown, ctx: RequestContext, scrub: (s: string) => string): SyncError {
  const { code, message } = describeTransportError(err);
  const safeMessage = scrub(message);
  const cause = Object.assign(new Error(safeMessage), { name: code });
  return new TransientError(
    `Could not complete ${where(ctx.url)} (${ctx.operation}): ${code} ${safeMessage}; this is retried, and if it ` +
      `persists check this worker's network path to ${ctx.url.host}.`,
    { type: KlaviyoErrorType.NetworkError, cause, details: { ...baseDetails(ctx), code, detail: safeMessage } },
  );
}

/** The key goes only to the configured origin: a `links.next` elsewhere is refused before anything is sent. */
export function crossOriginFailure(target: URL, baseOrigin: string, operation: string): SyncError {
  return new ProtocolError(
    `Refused to send the Klaviyo API key to ${target.origin} for ${operation}: only the configured base URL's ` +
      `origin ${baseOrigin} receives it; a next link on another origin means a misbehaving proxy or server, so ` +
      `check the base URL.`,
    { type: KlaviyoErrorType.CrossOriginRefused, details: { operation, host: target.host, path: target.pathname } },
  );
}
