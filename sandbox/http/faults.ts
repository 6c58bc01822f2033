/**
 * Fault injection for /api/ requests: a share of requests answers with an error status, has its socket reset, or
 * is delayed; `failNext` fails the next N requests deterministically. Draws come from a seeded PRNG, so the same
 * seed and the same request sequence give the same faults.
 *
 * `mangle` spoils the 200 answers of one path prefix (or all) the way a broken server or proxy would: a body that is not
 * JSON, a `links.next` pointing at the page itself or relative, numeric resource ids, or (`loop-next`) a `links.next`
 * that leads back to the first spoiled page after `period` pages, so paging goes round a loop of that many pages.
 *
 * CLI form: `500=0.02,503=0.02,reset=0.01,slow=0.05:1500,429=0.02,mangle=self-next:/api/tags`.
 * JSON form (POST /__sandbox/faults): `{"500":0.02,"reset":0.01,"slow":{"p":0.05,"ms":1500},"failNext":{"count":3,"status":503},
 * "mangle":{"kind":"self-next","path":"/api/tags","skip":1}}`; `{}` clears everything.
 */

export const MANGLE_KINDS = ['invalid-json', 'self-next', 'relative-next', 'numeric-id', 'loop-next'] as const;
export type MangleKind = (typeof MANGLE_KINDS)[number];

export interface Mangle {
  kind: MangleKind;
  /** only answers to paths starting with this are spoiled; null: every /api/ answer */
  path: string | null;
  /** this many matching answers pass unspoiled first (e.g. a connector's pre-check) */
  skip: number;
  /** loop-next: the loop's length in pages (default 6) */
  period?: number;
  /** loop-next, as it runs: the first spoiled request's URL and the pages served since it */
  loop?: { first: string; served: number };
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

function mangleOf(kind: unknown, path: unknown, skip: unknown = 0, period: unknown = undefined): Mangle {
  if (!MANGLE_KINDS.includes(kind as MangleKind)) {
    throw new Error(`fault "mangle" needs a kind, one of ${MANGLE_KINDS.join(', ')}; got ${JSON.stringify(kind)}`);
  }
  if (path !== undefined && path !== null && !(typeof path === 'string' && path.startsWith('/api/'))) {
    throw new Error(`fault "mangle" takes a path starting with /api/, got ${JSON.stringify(path)}`);
  }
  if (!(Number.isInteger(skip) && (skip as number) >= 0))
    throw new Error(`fault "mangle" takes a skip count of 0 or more, got ${JSON.stringify(skip)}`);
  if (period !== undefined && !(Number.isInteger(period) && (period as number) >= 1)) {
    throw new Error(`fault "mangle" takes a period of 1 page or more, got ${JSON.stringify(period)}`);
  }
  const mangle: Mangle = { kind: kind as MangleKind, path: (path as string | undefined) ?? null, skip: skip as number };
  if (kind === 'loop-next') mangle.period = (period as number | undefined) ?? 6;
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
      const v = value as { kind?: unknown; path?: unknown; skip?: unknown; period?: unknown } | null;
      if (typeof v !== 'object' || v === null)
        throw new Error('fault "mangle" must look like {"kind":"self-next","path":"/api/tags","skip":0}');
      config.mangle = mangleOf(v.kind, v.path, v.skip ?? 0, v.period);
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
 * A 200 answer as the configured mangle spoils it, or unchanged when it does not apply to `rawPath`. `requestUrl` is
 * the absolute URL of the request, which a self-pointing `links.next` repeats.
 */
export function mangleBody(config: FaultConfig, rawPath: string, requestUrl: string, body: Buffer): Buffer {
  const m = config.mangle;
  if (!m || (m.path !== null && !rawPath.startsWith(m.path))) return body;
  if (m.skip > 0) {
    m.skip--;
    return body;
  }
  if (m.kind === 'invalid-json') return Buffer.concat([body.subarray(0, Math.floor(body.length / 2)), Buffer.from('<html>')]);
  const doc = JSON.parse(body.toString('utf8')) as { data: unknown; links?: Record<string, unknown> };
  if (m.kind === 'self-next') doc.links = { ...doc.links, next: requestUrl };
  else if (m.kind === 'loop-next') {
    // pages follow their own links until the period-th, whose link leads back to the first: a loop of `period` pages
    if (!m.loop || m.loop.first === requestUrl) m.loop = { first: requestUrl, served: 0 };
    if (++m.loop.served >= m.period!) doc.links = { ...doc.links, next: m.loop.first };
  } else if (m.kind === 'relative-next') {
    // the next page's link made relative; on a last page, the page's own link, so there is always one to follow
    const next = doc.links?.next;
    const u = new URL(typeof next === 'string' ? next : requestUrl);
    doc.links = { ...doc.links, next: `${u.pathname}${u.search}` };
  } else {
    let n = 1;
    const renumber = (r: unknown) => {
      if (r && typeof r === 'object') (r as { id: unknown }).id = n++;
    };
    if (Array.isArray(doc.data)) doc.data.forEach(renumber);
    else renumber(doc.data);
  }
  return Buffer.from(JSON.stringify(doc));
}

/** mulberry32: small, fast, and good enough to decide which requests fail. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
