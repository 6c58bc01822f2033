/**
 * The sandbox's HTTP server (node:http, keep-alive). For /api/ requests, in Klaviyo's order: injected faults,
 * method, route, API key and scopes, revision header, query parsing, rate limit, then the operation itself; the
 * latency model's delay (latency.ts) comes last, between building the answer and sending it, errors included.
 * /__sandbox/ requests go to admin.ts and answer at once. Any unexpected exception answers a JSON:API 500 and is logged, so bad input
 * can never take the server down.
 */
import http from 'node:http';
import type { Account } from '../account/types';
import { adminAnswer } from './admin';
import { answer } from './api';
import { authenticate, checkRevision, maskKey, type ApiKey } from './auth';
import { ApiError, injectedFault, invalid, methodNotAllowed, notFound, serverError } from './errors';
import { FaultInjector, spoilAnswer, type FaultConfig } from './faults';
import { Latency, type LatencyModel } from './latency';
import { RangeCache } from './listing';
import { OPERATIONS, route, type Operation } from './operations';
import { parseQuery } from './query';
import { RateLimiter, type RateLimitMode, type RateTier } from './ratelimit';
import { answerReport, REPORTS, reportRoute, type ReportOperation } from './reports';
import { RequestStats } from './stats';

export interface SandboxServerOptions {
  account: Account;
  apiKeys: readonly ApiKey[];
  rateLimits: RateLimitMode;
  faults: FaultConfig;
  latency: LatencyModel;
  /** the day the revision lifecycle is judged on (which revisions are retired); default today */
  revisionsAsOf?: Date;
  /** seeds the fault and latency draws */
  seed: number;
  /** one line per request when set */
  log?: (line: string) => void;
  /** where unexpected exceptions are reported */
  logError: (line: string) => void;
}

export interface SandboxServer {
  server: http.Server;
  rateLimiter: RateLimiter;
  faults: FaultInjector;
  latency: Latency;
  stats: RequestStats;
  /** the base URL for links when a request has no usable Host header; set once listening */
  setDefaultBase(base: string): void;
}

const JSON_API = 'application/vnd.api+json';
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The tier a request counts against: the first conditional tier whose condition it meets, else the documented one. */
function tierOf(operation: Operation, params: ReadonlyMap<string, string>): RateTier {
  for (const tier of operation.tiers.slice(1)) {
    const [name, value] = tier.name.split('=');
    const sent = params.get(name)?.split(',') ?? [];
    // The spec writes `include=list` / `include=segment` where the include values are `lists` / `segments`.
    if (sent.includes(value) || sent.includes(`${value}s`)) return tier;
  }
  return operation.tiers[0];
}

/** A report request's body is a few hundred bytes; a megabyte is refused rather than buffered. */
const MAX_BODY = 1 << 20;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY
        ? reject(new ApiError(413, 'request_too_large', 'Request entity too large.', `The request body exceeds ${MAX_BODY} bytes.`))
        : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createSandboxServer(options: SandboxServerOptions): SandboxServer {
  const { account, log, logError } = options;
  const keys = new Map(options.apiKeys.map((k) => [k.key, k]));
  const rateLimiter = new RateLimiter(options.rateLimits);
  const faults = new FaultInjector(options.seed);
  faults.set(options.faults);
  const latency = new Latency(options.seed, options.latency);
  const stats = new RequestStats();
  const ranges = new RangeCache();
  let defaultBase = 'http://127.0.0.1';
  // A key never reaches the log, even when a client puts it in the URL by mistake.
  const redact = (text: string): string => options.apiKeys.reduce((t, k) => t.split(k.key).join(maskKey(k.key)), text);

  /** What one request was answered with, for the stats and the log. */
  interface Outcome {
    opId: string;
    /** 0: the connection was reset */
    status: number;
    bytes: number;
    rows: number;
    delayMs: number;
  }

  function send(
    res: http.ServerResponse,
    outcome: Outcome,
    status: number,
    body: string | Buffer,
    headers: Record<string, string>,
    contentType = JSON_API,
  ): void {
    const bytes = Buffer.byteLength(body);
    // A length rather than chunked encoding: one write, and clients know the size of a 200 KB page up front.
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(bytes), ...headers });
    res.end(body);
    outcome.status = status;
    outcome.bytes = bytes;
  }

  function sendError(res: http.ServerResponse, outcome: Outcome, err: ApiError, contentType = JSON_API): void {
    send(res, outcome, err.status, err.body(), err.headers, contentType);
  }

  async function handleApi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    outcome: Outcome,
    rawPath: string,
    rawQuery: string,
  ): Promise<void> {
    const { delayMs, fault } = faults.draw();
    if (delayMs > 0) {
      stats.recordFault('slow');
      await sleep(delayMs);
    }
    const found = route(rawPath);
    const report = found ? null : reportRoute(rawPath);
    outcome.opId = found?.operation.id ?? report?.id ?? 'unknown';
    if (fault?.kind === 'reset') {
      stats.recordFault('reset');
      req.socket.destroy();
      return;
    }
    if (fault) {
      stats.recordFault(String(fault.status));
      outcome.delayMs = await latency.wait(0);
      sendError(res, outcome, injectedFault(fault.status));
      return;
    }
    if (report) return handleReport(req, res, outcome, report, rawQuery);
    if (req.method !== 'GET') throw methodNotAllowed(req.method ?? '?', 'GET', rawPath);
    if (!found)
      throw notFound(
        `No API endpoint at ${rawPath}. The sandbox serves the ${OPERATIONS.length} GET operations and ${REPORTS.length} reporting POSTs of revision 2025-07-15 (e.g. /api/profiles).`,
      );
    const { operation } = found;
    const apiKey = authenticate(req.headers.authorization, keys, operation);
    const revisionError = checkRevision(req.headers.revision, options.revisionsAsOf ?? new Date());
    if (revisionError) throw revisionError;

    let pathId: string | null = null;
    if (found.id !== null) {
      try {
        pathId = decodeURIComponent(found.id);
      } catch {
        throw notFound(`The id in ${rawPath} has a malformed percent-escape.`);
      }
    }
    const query = parseQuery(rawQuery);
    const decision = rateLimiter.take(apiKey, operation.id, tierOf(operation, query.params));
    if (!decision.ok) throw decision.error;

    const host = req.headers.host;
    const base = host && HOST.test(host) ? `http://${host}` : defaultBase;
    const { body, rows } = answer({ account, operation, pathId, query, base, now: Date.now(), ranges });
    const requestUrl = `${base}${rawPath}${rawQuery ? `?${rawQuery}` : ''}`;
    const spoiled = spoilAnswer(faults.current, rawPath, requestUrl, body);
    if (spoiled) stats.recordFault(`mangle:${faults.current.mangle!.kind}`);
    outcome.rows = rows;
    outcome.delayMs = await latency.wait(rows);
    if (!spoiled || spoiled.kind === 'body') send(res, outcome, 200, spoiled?.body ?? body, decision.headers);
    else if (spoiled.kind === 'answer') send(res, outcome, spoiled.status, spoiled.body, spoiled.headers, spoiled.contentType);
    else if (spoiled.kind === 'trickle') await trickle(req, res, outcome, spoiled.head, spoiled.everyMs);
    else await silence(req);
  }

  /** A reporting API POST: the same order as a GET (auth, revision, query, rate limit), then the body. */
  async function handleReport(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    outcome: Outcome,
    report: ReportOperation,
    rawQuery: string,
  ): Promise<void> {
    if (req.method !== 'POST') throw methodNotAllowed(req.method ?? '?', 'POST', report.spec.path);
    const apiKey = authenticate(req.headers.authorization, keys, report);
    const revisionError = checkRevision(req.headers.revision, options.revisionsAsOf ?? new Date());
    if (revisionError) throw revisionError;
    const query = parseQuery(rawQuery);
    const body = await readBody(req);
    const decision = rateLimiter.take(apiKey, report.id, report.tiers[0]);
    if (!decision.ok) throw decision.error;
    const { body: answerBody, rows } = answerReport({
      account,
      report,
      params: query.params,
      contentType: req.headers['content-type'],
      body,
      now: Date.now(),
    });
    outcome.rows = rows;
    outcome.delayMs = await latency.wait(rows);
    send(res, outcome, 200, answerBody, decision.headers);
  }

  /** Headers and the start of a body, then one byte every `everyMs` until the client goes away. */
  async function trickle(req: http.IncomingMessage, res: http.ServerResponse, outcome: Outcome, head: string, everyMs: number) {
    res.writeHead(200, { 'content-type': JSON_API });
    res.write(head);
    outcome.status = 200;
    outcome.bytes = head.length;
    while (!res.destroyed && !req.socket.destroyed) {
      await sleep(everyMs);
      if (res.destroyed || req.socket.destroyed) break;
      res.write(' ');
      outcome.bytes++;
    }
  }

  /** The request was read and nothing is ever sent: returns when the client gives up. */
  function silence(req: http.IncomingMessage): Promise<void> {
    return new Promise((resolve) => {
      if (req.socket.destroyed) return resolve();
      req.socket.once('close', () => resolve());
    });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const arrivedAt = Date.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const outcome: Outcome = { opId: 'unknown', status: 0, bytes: 0, rows: 0, delayMs: 0 };
    const isAdmin = rawPath === '/__sandbox' || rawPath.startsWith('/__sandbox/');
    try {
      if (isAdmin) {
        outcome.opId = 'sandbox';
        const body = await adminAnswer({ account, rateLimiter, faults, latency, stats }, req.method ?? 'GET', rawPath, req);
        send(res, outcome, 200, JSON.stringify(body), {}, 'application/json');
      } else if (rawPath.startsWith('/api/')) {
        await handleApi(req, res, outcome, rawPath, rawQuery);
      } else {
        throw notFound(`Nothing at ${rawPath}: the API is under /api/ and the sandbox's own endpoints under /__sandbox/.`);
      }
    } catch (err) {
      if (outcome.opId === 'unknown') outcome.opId = route(rawPath)?.operation.id ?? reportRoute(rawPath)?.id ?? 'unknown';
      const apiError = err instanceof ApiError ? err : serverError(500, 'The sandbox failed unexpectedly; see its log.');
      if (!(err instanceof ApiError))
        logError(`sandbox: unexpected error on ${req.method} ${url}: ${err instanceof Error ? err.stack : String(err)}`);
      outcome.status = apiError.status;
      if (res.headersSent) res.destroy();
      else {
        // An API error (400, 401, 403, 404, 429) takes the base delay, as Klaviyo's do; the admin endpoints none.
        if (!isAdmin) outcome.delayMs = await latency.wait(0);
        sendError(res, outcome, apiError, isAdmin ? 'application/json' : JSON_API);
      }
    }
    const { opId, status, bytes, rows, delayMs } = outcome;
    stats.record({ operationId: opId, status, bytes, rows, delayMs, arrivedAt });
    if (log)
      log(
        `${req.method} ${redact(url.length > 300 ? `${url.slice(0, 300)}…` : url)} ${status || 'reset'} ${(performance.now() - started).toFixed(1)}ms`,
      );
  }

  // Long filters and cursors make long URLs; Node's 16 KB default would refuse some valid Klaviyo requests.
  const server = http.createServer({ keepAlive: true, maxHeaderSize: 64 * 1024 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logError(`sandbox: failed to answer ${req.method} ${req.url}: ${err instanceof Error ? err.stack : String(err)}`);
      res.destroy();
    });
  });
  // Requests Node cannot even parse still get a JSON:API answer rather than a bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const error = tooLarge
      ? new ApiError(
          431,
          'request_too_large',
          'Request header fields too large.',
          'The request line and headers exceed 64 KB; shorten the filter.',
        )
      : invalid(undefined, `The HTTP request is malformed (${err.code ?? 'parse error'}).`);
    const body = error.body();
    socket.end(
      `HTTP/1.1 ${error.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: ${JSON_API}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 31_000;
  return {
    server,
    rateLimiter,
    faults,
    latency,
    stats,
    setDefaultBase: (base) => {
      defaultBase = base;
    },
  };
}
