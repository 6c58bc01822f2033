/**
 * Fault injection for /api/ requests: a share of requests answers with an error status, has its socket reset, or
 * is delayed; `failNext` fails the next N requests deterministically. Draws come from a seeded PRNG, so the same
 * seed and the same request sequence give the same faults.
 *
 * `mangle` spoils the 200 answers of one path prefix (or all) the way a broken server or proxy would, one kind of the
 * table `SPOILERS` below: a body rewritten (not JSON, `data` missing or not an array, a record without `id`, a huge
 * attribute, numeric ids, a `links.next` that points at the page itself, is relative, leads to another origin, or
 * (`loop-next`) leads back to the first spoiled page after `period` pages), an answer replaced (an HTML page with
 * 200 or 502, a redirect to another origin, a 429 without `Retry-After` or with a huge one), or no proper answer at
 * all (`endless-body`: headers, then a byte every `ms` forever; `never-answer`: the connection accepted and left
 * silent). `skip` lets that many matching answers pass first, `count` (default: no end) spoils only that many.
 *
 * CLI form: `500=0.02,503=0.02,reset=0.01,slow=0.05:1500,429=0.02,mangle=self-next:/api/tags`.
 * JSON form (POST /__sandbox/faults): `{"500":0.02,"reset":0.01,"slow":{"p":0.05,"ms":1500},"failNext":{"count":3,"status":503},
 * "mangle":{"kind":"self-next","path":"/api/tags","skip":1}}`; `{}` clears everything. Kinds with options:
 * `{"kind":"foreign-next","origin":"http://127.0.0.1:9"}` (also `redirect-301`, `redirect-302`, `redirect-307`),
 * `{"kind":"huge-attribute","bytes":10485760}`, `{"kind":"retry-after-huge","seconds":99999}`,
 * `{"kind":"endless-body","ms":500}`.
 */

import { Rng } from '../account/prng';

/** What a spoiled answer becomes: a new body for the 200, another answer, or none (a trickle, or silence). */
export type Spoiled =
  | { kind: 'body'; body: Buffer }
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: string; contentType: string }
  | { kind: 'trickle'; head: string; everyMs: number }
  | { kind: 'silent' };

interface SpoilContext {
  mangle: Mangle;
  /** the absolute URL of the request, which a self-pointing `links.next` repeats */
  requestUrl: string;
  /** the 200 answer's body as the sandbox built it */
  body: Buffer;
}

type Doc = { data?: unknown; links?: Record<string, unknown> };

/** A kind that rewrites the JSON document of the 200 answer. */
function rewrite(edit: (doc: Doc, ctx: SpoilContext) => unknown): (ctx: SpoilContext) => Spoiled {
  return (ctx) => {
    const doc = JSON.parse(ctx.body.toString('utf8')) as Doc;
    const out = edit(doc, ctx) ?? doc;
    return { kind: 'body', body: Buffer.from(JSON.stringify(out)) };
  };
}

/** The first resource of a page (or its single resource), to spoil one record. */
function firstResource(doc: Doc): Record<string, unknown> | undefined {
  const r = Array.isArray(doc.data) ? (doc.data[0] as unknown) : doc.data;
  return r && typeof r === 'object' ? (r as Record<string, unknown>) : undefined;
}

/** The same page and query on the configured other origin. */
function elsewhere(ctx: SpoilContext, url: string): string {
  const u = new URL(url);
  return `${ctx.mangle.origin}${u.pathname}${u.search}`;
}

function htmlPage(status: number, title: string): (ctx: SpoilContext) => Spoiled {
  return () => ({
    kind: 'answer',
    status,
    headers: {},
    contentType: 'text/html; charset=utf-8',
    body: `<!DOCTYPE html>\n<html><head><title>${status} ${title}</title></head><body><h1>${title}</h1><p>The server is temporarily unable to service your request.</p></body></html>\n`,
  });
}

function redirect(status: number): (ctx: SpoilContext) => Spoiled {
  return (ctx) => ({
    kind: 'answer',
    status,
    headers: { location: elsewhere(ctx, ctx.requestUrl) },
    contentType: 'text/html; charset=utf-8',
    body: `<html><body>Moved to <a href="${elsewhere(ctx, ctx.requestUrl)}">here</a></body></html>`,
  });
}

function throttled(retryAfter: (m: Mangle) => number | null): (ctx: SpoilContext) => Spoiled {
  return ({ mangle }) => {
    const seconds = retryAfter(mangle);
    const headers: Record<string, string> = seconds === null ? {} : { 'retry-after': String(seconds) };
    return {
      kind: 'answer',
      status: 429,
      headers,
      contentType: 'application/vnd.api+json',
      body: JSON.stringify({
        errors: [
          {
            id: 'sandbox-spoiled-429',
            status: 429,
            code: 'throttled',
            title: 'Request was throttled.',
            detail: seconds === null ? 'Request was throttled.' : `Request was throttled. Expected available in ${seconds} seconds.`,
            source: { pointer: '/data/' },
          },
        ],
      }),
    };
  };
}

/** Every kind of spoiled answer: what it needs besides path and skip, and what the answer becomes. */
const SPOILERS = {
  'invalid-json': {
    spoil: ({ body }: SpoilContext): Spoiled => ({
      kind: 'body',
      body: Buffer.concat([body.subarray(0, Math.floor(body.length / 2)), Buffer.from('<html>')]),
    }),
  },
  'self-next': { spoil: rewrite((doc, ctx) => void (doc.links = { ...doc.links, next: ctx.requestUrl })) },
  'relative-next': {
    // the next page's link made relative; on a last page, the page's own link, so there is always one to follow
    spoil: rewrite((doc, ctx) => {
      const next = doc.links?.next;
      const u = new URL(typeof next === 'string' ? next : ctx.requestUrl);
      doc.links = { ...doc.links, next: `${u.pathname}${u.search}` };
    }),
  },
  'numeric-id': {
    spoil: rewrite((doc) => {
      let n = 1;
      const renumber = (r: unknown) => {
        if (r && typeof r === 'object') (r as { id: unknown }).id = n++;
      };
      if (Array.isArray(doc.data)) doc.data.forEach(renumber);
      else renumber(doc.data);
    }),
  },
  'loop-next': {
    // pages follow their own links until the period-th, whose link leads back to the first: a loop of `period` pages
    spoil: rewrite((doc, { mangle: m, requestUrl }) => {
      if (!m.loop || m.loop.first === requestUrl) m.loop = { first: requestUrl, served: 0 };
      if (++m.loop.served >= m.period!) doc.links = { ...doc.links, next: m.loop.first };
    }),
  },
  'foreign-next': {
    needsOrigin: true,
    // the next page's link (or, on a last page, the page's own) moved to another origin
    spoil: rewrite((doc, ctx) => {
      const next = doc.links?.next;
      doc.links = { ...doc.links, next: elsewhere(ctx, typeof next === 'string' ? next : ctx.requestUrl) };
    }),
  },
  'no-data': { spoil: rewrite((doc) => void delete doc.data) },
  'data-not-array': { spoil: rewrite((doc) => void (doc.data = 'profiles')) },
  'record-without-id': { spoil: rewrite((doc) => void delete firstResource(doc)?.id) },
  'huge-attribute': {
    // one attribute of the first record `bytes` long (default 10 MB): a page a server could really send
    spoil: rewrite((doc, { mangle }) => {
      const r = firstResource(doc);
      if (r) r.attributes = { ...(r.attributes as object), hostile_blob: 'x'.repeat(mangle.bytes ?? 10 * 1024 * 1024) };
    }),
  },
  'html-200': { spoil: htmlPage(200, 'Service Unavailable') },
  'html-502': { spoil: htmlPage(502, 'Bad Gateway') },
  'redirect-301': { needsOrigin: true, spoil: redirect(301) },
  'redirect-302': { needsOrigin: true, spoil: redirect(302) },
  'redirect-307': { needsOrigin: true, spoil: redirect(307) },
  'retry-after-none': { spoil: throttled(() => null) },
  'retry-after-huge': { spoil: throttled((m) => m.seconds ?? 99_999) },
  'endless-body': {
    spoil: ({ mangle }: SpoilContext): Spoiled => ({ kind: 'trickle', head: '{"data":[', everyMs: mangle.ms ?? 500 }),
  },
  'never-answer': { spoil: (): Spoiled => ({ kind: 'silent' }) },
} satisfies Record<string, { needsOrigin?: boolean; spoil: (ctx: SpoilContext) => Spoiled }>;

export type MangleKind = keyof typeof SPOILERS;
export const MANGLE_KINDS = Object.keys(SPOILERS) as MangleKind[];

export interface Mangle {
  kind: MangleKind;
  /** only answers to paths starting with this are spoiled; null: every /api/ answer */
  path: string | null;
  /** this many matching answers pass unspoiled first (e.g. a connector's pre-check) */
  skip: number;
  /** this many answers are spoiled, then none (counted down); undefined: no end */
  count?: number;
  /** loop-next: the loop's length in pages (default 6) */
  period?: number;
  /** loop-next, as it runs: the first spoiled request's URL and the pages served since it */
  loop?: { first: string; served: number };
  /** foreign-next and redirect-*: the other origin, e.g. `http://127.0.0.1:9` */
  origin?: string;
  /** huge-attribute: the attribute's length (default 10 MB) */
  bytes?: number;
  /** retry-after-huge: the `Retry-After` in seconds (default 99999) */
  seconds?: number;
  /** endless-body: ms between bytes (default 500) */
  ms?: number;
}

export interface FaultConfig {
  /** HTTP status (4xx/5xx) -> share of requests */
  statuses: Record<number, number>;
  reset: number;
  slow: { p: number; ms: number } | null;
  failNext: { count: number; status: number | 'reset' } | null;
  mangle: Mangle | null;
}

export type Fault = { kind: 'status'; status: number } | { kind: 'reset' };

export function emptyFaults(): FaultConfig {
  return { statuses: {}, reset: 0, slow: null, failNext: null, mangle: null };
}

function share(name: string, value: unknown): number {
  const p = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1))
    throw new Error(`fault '${name}' needs a share between 0 and 1, got ${JSON.stringify(value)}`);
  return p;
}

function faultStatus(name: string): number {
  const status = Number(name);
  if (!/^[45]\d\d$/.test(name)) throw new Error(`unknown fault '${name}': use an HTTP status 400-599, reset, slow, failNext or mangle`);
  return status;
}

const MANGLE_SHAPE = '{"kind":"self-next","path":"/api/tags","skip":0}';

function wholeNumber(name: string, value: unknown, least: number): number | undefined {
  if (value === undefined) return undefined;
  if (!(Number.isInteger(value) && (value as number) >= least))
    throw new Error(`fault "mangle" takes a ${name} of ${least} or more, got ${JSON.stringify(value)}`);
  return value as number;
}

function mangleOf(kind: unknown, path: unknown, options: Record<string, unknown> = {}): Mangle {
  if (typeof kind !== 'string' || !Object.hasOwn(SPOILERS, kind)) {
    throw new Error(`fault "mangle" needs a kind, one of ${MANGLE_KINDS.join(', ')}; got ${JSON.stringify(kind)}`);
  }
  if (path !== undefined && path !== null && !(typeof path === 'string' && path.startsWith('/api/'))) {
    throw new Error(`fault "mangle" takes a path starting with /api/, got ${JSON.stringify(path)}`);
  }
  const known = new Set(['kind', 'path', 'skip', 'count', 'period', 'origin', 'bytes', 'seconds', 'ms']);
  const unknown = Object.keys(options).find((k) => !known.has(k));
  if (unknown) throw new Error(`fault "mangle" has no option ${JSON.stringify(unknown)}: it looks like ${MANGLE_SHAPE}`);
  const mangle: Mangle = {
    kind: kind as MangleKind,
    path: (path as string | undefined) ?? null,
    skip: wholeNumber('skip count', options.skip, 0) ?? 0,
  };
  const count = wholeNumber('count', options.count, 0);
  if (count !== undefined) mangle.count = count;
  if (kind === 'loop-next') mangle.period = wholeNumber('period', options.period, 1) ?? 6;
  if ('needsOrigin' in SPOILERS[kind as MangleKind]) {
    const origin = options.origin;
    if (!(typeof origin === 'string' && URL.canParse(origin) && new URL(origin).origin === origin.replace(/\/$/, ''))) {
      throw new Error(`fault "mangle" of kind ${kind} needs an origin, e.g. "http://127.0.0.1:9"; got ${JSON.stringify(origin)}`);
    }
    mangle.origin = new URL(origin).origin;
  }
  if (kind === 'huge-attribute') mangle.bytes = wholeNumber('bytes', options.bytes, 1) ?? 10 * 1024 * 1024;
  if (kind === 'retry-after-huge') mangle.seconds = wholeNumber('seconds', options.seconds, 0) ?? 99_999;
  if (kind === 'endless-body') mangle.ms = wholeNumber('ms', options.ms, 1) ?? 500;
  return mangle;
}

function checkTotal(config: FaultConfig): FaultConfig {
  const total = Object.values(config.statuses).reduce((a, b) => a + b, config.reset);
  if (total > 1) throw new Error(`fault shares add up to ${total}, more than 1`);
  return config;
}

/** Parses the CLI form `500=0.02,reset=0.01,slow=0.05:1500`. */
export function parseFaultSpec(text: string): FaultConfig {
  const config = emptyFaults();
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, value] = part.split('=', 2);
    if (value === undefined) throw new Error(`fault '${part}' has no '=': write e.g. 503=0.02 or slow=0.05:1500`);
    if (name === 'reset') config.reset = share(name, value);
    else if (name === 'slow') {
      const [p, ms] = value.split(':');
      const delay = Number(ms);
      if (!(Number.isInteger(delay) && delay >= 0))
        throw new Error(`fault 'slow=${value}' needs a delay in ms: write slow=<share>:<ms>, e.g. slow=0.05:1500`);
      config.slow = { p: share(name, p), ms: delay };
    } else if (name === 'mangle') {
      const colon = value.indexOf(':');
      config.mangle = colon < 0 ? mangleOf(value, undefined) : mangleOf(value.slice(0, colon), value.slice(colon + 1));
    } else config.statuses[faultStatus(name)] = share(name, value);
  }
  return checkTotal(config);
}

/** Parses the JSON form of POST /__sandbox/faults. */
export function parseFaultJson(body: unknown): FaultConfig {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new Error('the faults body must be a JSON object, e.g. {"503":0.05} or {} to clear');
  const config = emptyFaults();
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (name === 'reset') config.reset = share(name, value);
    else if (name === 'slow') {
      const v = value as { p?: unknown; ms?: unknown } | null;
      if (typeof v !== 'object' || v === null || !Number.isInteger(v.ms) || (v.ms as number) < 0) {
        throw new Error('fault "slow" must look like {"p":0.05,"ms":1500}');
      }
      config.slow = { p: share(name, v.p), ms: v.ms as number };
    } else if (name === 'failNext') {
      const v = value as { count?: unknown; status?: unknown } | null;
      const count = v?.count;
      const status = v?.status ?? 503;
      if (
        !Number.isInteger(count) ||
        (count as number) < 0 ||
        (status !== 'reset' && !(typeof status === 'number' && /^[45]\d\d$/.test(String(status))))
      ) {
        throw new Error('fault "failNext" must look like {"count":3,"status":503} (status 400-599 or "reset")');
      }
      config.failNext = { count: count as number, status: status as number | 'reset' };
    } else if (name === 'mangle') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error(`fault "mangle" must look like ${MANGLE_SHAPE}`);
      const v = value as Record<string, unknown>;
      config.mangle = mangleOf(v.kind, v.path, v);
    } else config.statuses[faultStatus(name)] = share(name, value);
  }
  return checkTotal(config);
}

/** The JSON form of a config, as GET /__sandbox/faults shows it. */
export function faultsToJson(config: FaultConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config.statuses };
  if (config.reset) out.reset = config.reset;
  if (config.slow) out.slow = config.slow;
  if (config.failNext && config.failNext.count > 0) out.failNext = config.failNext;
  if (config.mangle) out.mangle = config.mangle;
  return out;
}

/**
 * A 200 answer as the configured mangle spoils it, or null when it does not apply to `rawPath` (or its skip or count
 * says not this one). `requestUrl` is the absolute URL of the request, which a self-pointing `links.next` repeats.
 */
export function spoilAnswer(config: FaultConfig, rawPath: string, requestUrl: string, body: Buffer): Spoiled | null {
  const m = config.mangle;
  if (!m || (m.path !== null && !rawPath.startsWith(m.path))) return null;
  if (m.skip > 0) {
    m.skip--;
    return null;
  }
  if (m.count !== undefined) {
    if (m.count <= 0) return null;
    m.count--;
  }
  return SPOILERS[m.kind].spoil({ mangle: m, requestUrl, body });
}

/** The body of a 200 answer as the configured mangle spoils it (for kinds that rewrite the body), else unchanged. */
export function mangleBody(config: FaultConfig, rawPath: string, requestUrl: string, body: Buffer): Buffer {
  const spoiled = spoilAnswer(config, rawPath, requestUrl, body);
  return spoiled?.kind === 'body' ? spoiled.body : body;
}

/** The account's seeded generator (mulberry32): small, fast, and good enough to decide which requests fail. */
function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.float();
}

export class FaultInjector {
  private config: FaultConfig = emptyFaults();
  private random: () => number;

  constructor(private readonly seed: number) {
    this.random = prng(seed);
  }

  get current(): FaultConfig {
    return this.config;
  }

  /** Replaces the configuration and restarts the random sequence, so a test run is repeatable. */
  set(config: FaultConfig): void {
    this.config = config;
    this.random = prng(this.seed);
  }

  /** For one /api/ request: the delay to add and the fault to answer with, if any. */
  draw(): { delayMs: number; fault: Fault | null } {
    const c = this.config;
    if (c.failNext && c.failNext.count > 0) {
      c.failNext.count--;
      const status = c.failNext.status;
      return { delayMs: 0, fault: status === 'reset' ? { kind: 'reset' } : { kind: 'status', status } };
    }
    const delayMs = c.slow && this.random() < c.slow.p ? c.slow.ms : 0;
    let r = this.random();
    if (r < c.reset) return { delayMs, fault: { kind: 'reset' } };
    r -= c.reset;
    for (const [status, p] of Object.entries(c.statuses)) {
      if (r < p) return { delayMs, fault: { kind: 'status', status: Number(status) } };
      r -= p;
    }
    return { delayMs, fault: null };
  }
}
