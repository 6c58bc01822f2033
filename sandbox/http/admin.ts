/**
 * The sandbox's own endpoints under /__sandbox/ (no API key, no faults, no rate limits):
 *   GET  /__sandbox/health        {ok, version, revision, accountVersion}
 *   GET  /__sandbox/truth         per stream {count, checksum}, what a complete sync must hold
 *   POST /__sandbox/advance       {scale?, at?, deletes?} -> account.advance(): the account changes, returns the summary
 *   GET  /__sandbox/faults        the fault configuration; POST sets it (`{}` clears)
 *   GET  /__sandbox/rate-limits   {mode}; POST {mode: "documented" | "off" | "scale:N"} switches it
 *   GET  /__sandbox/latency       {spec, base, row, jitter}; POST {spec: "off" | "klaviyo" | "base=..,row=..,jitter=.."}
 *                                 or {base?, row?, jitter?} (on top of klaviyo's) switches it
 *   GET  /__sandbox/stats         per operation: counts per status, bytes, rows, first and last request; 429s (stats.ts)
 */
import type { IncomingMessage } from 'node:http';
import type { Account } from '../account/types';
import { ApiError, invalid, methodNotAllowed, notFound } from './errors';
import { faultsToJson, parseFaultJson, type FaultInjector } from './faults';
import { formatLatency, parseLatencyJson, type Latency, type LatencyModel } from './latency';
import { REVISION } from './operations';
import { formatRateLimitMode, parseRateLimitMode, type RateLimiter } from './ratelimit';
import type { RequestStats } from './stats';
import { version as packageVersion } from '../package.json';

export interface AdminContext {
  account: Account;
  rateLimiter: RateLimiter;
  faults: FaultInjector;
  latency: Latency;
  stats: RequestStats;
}

function latencyJson(model: LatencyModel): Record<string, unknown> {
  return { spec: formatLatency(model), ...model };
}

const MAX_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > MAX_BODY) throw invalid(undefined, `The request body is larger than ${MAX_BODY} bytes.`);
  }
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid(undefined, 'The request body is not valid JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(undefined, 'The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function asInvalid(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    throw err instanceof ApiError ? err : invalid(undefined, err instanceof Error ? err.message : String(err));
  }
}

function advanceOptions(body: Record<string, unknown>): { at?: Date; scale?: number; deletes?: boolean } {
  const options: { at?: Date; scale?: number; deletes?: boolean } = {};
  if (body.deletes !== undefined) {
    if (typeof body.deletes !== 'boolean') throw invalid(undefined, '"deletes" must be true or false, e.g. {"deletes": true}.');
    options.deletes = body.deletes;
  }
  if (body.scale !== undefined) {
    if (typeof body.scale !== 'number' || !(body.scale > 0))
      throw invalid(undefined, '"scale" must be a positive number, e.g. {"scale": 2}.');
    options.scale = body.scale;
  }
  if (body.at !== undefined) {
    const at = typeof body.at === 'string' ? new Date(body.at) : new Date(NaN);
    if (Number.isNaN(at.getTime())) throw invalid(undefined, '"at" must be an ISO 8601 datetime, e.g. {"at": "2025-01-01T00:00:00Z"}.');
    options.at = at;
  }
  return options;
}

/** The JSON answer to one /__sandbox/ request, or a thrown ApiError. */
export async function adminAnswer(ctx: AdminContext, method: string, path: string, req: IncomingMessage): Promise<unknown> {
  const route = path.replace(/\/+$/, '');
  const get = method === 'GET';
  const post = method === 'POST';
  const refuse = (allow: string) => methodNotAllowed(method, allow, route);
  switch (route) {
    case '/__sandbox/health':
      if (!get) throw refuse('GET');
      return { ok: true, version: packageVersion, revision: REVISION, accountVersion: ctx.account.version };
    case '/__sandbox/truth':
      if (!get) throw refuse('GET');
      return ctx.account.truth();
    case '/__sandbox/stats':
      if (!get) throw refuse('GET');
      return ctx.stats;
    case '/__sandbox/advance': {
      if (!post) throw refuse('POST');
      const options = advanceOptions(await readJson(req));
      try {
        return ctx.account.advance(options);
      } catch (err) {
        // The account refuses (RangeError) an `at` before its clock: watermarks must never move backwards.
        if (err instanceof RangeError) throw invalid(undefined, err.message);
        throw err;
      }
    }
    case '/__sandbox/faults':
      if (post) {
        const body = await readJson(req);
        asInvalid(() => ctx.faults.set(parseFaultJson(body)));
      } else if (!get) throw refuse('GET, POST');
      return faultsToJson(ctx.faults.current);
    case '/__sandbox/rate-limits':
      if (post) {
        const body = await readJson(req);
        if (typeof body.mode !== 'string') throw invalid(undefined, 'Send {"mode": "documented" | "off" | "scale:N"}.');
        const mode = body.mode;
        asInvalid(() => ctx.rateLimiter.setMode(parseRateLimitMode(mode)));
      } else if (!get) throw refuse('GET, POST');
      return { mode: formatRateLimitMode(ctx.rateLimiter.mode) };
    case '/__sandbox/latency':
      if (post) {
        const body = await readJson(req);
        asInvalid(() => ctx.latency.set(parseLatencyJson(body)));
      } else if (!get) throw refuse('GET, POST');
      return latencyJson(ctx.latency.current);
    default:
      throw notFound(
        `No sandbox endpoint at ${path}. Endpoints: GET health, truth, stats, faults, rate-limits, latency; POST advance, faults, rate-limits, latency (all under /__sandbox/).`,
      );
  }
}
