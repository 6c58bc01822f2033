/**
 * How fast the sandbox serves a full sync: starts `klaviyo-sync sandbox --size large --rate-limits off`, then a few
 * concurrent walkers page through every profile (`page[size]=100`, `additional-fields[profile]=subscriptions`), each
 * over its own window of `updated`, and then through every event, each over a window of `datetime`. Prints rows/s,
 * pages/s, page latency p50/p99, CPU per row of server and client, and the server's RSS. The walked ids must match
 * the sandbox's truth (count and checksum), and the target is >= 30,000 profile rows/s; otherwise the process
 * exits 1.
 *
 * The client shares the machine's cores with the server, so it does as little as it must: one bare keep-alive
 * connection per walker (keep-alive-connection.ts), each page's ids and `links.next` found in the raw bytes, and
 * every SPOT_CHECK_EVERY-th page also parsed in full to prove the scan reads the document right.
 *
 *   npm run bench:sandbox -- [--size large|medium|small] [--walkers 4] [--seed 42] [--max-seconds 60]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { IdsChecksum } from '../sandbox/account/checksum';
import { startSandbox, type SandboxProcess } from '../test/helpers/sandbox';
import { KeepAliveConnection } from './keep-alive-connection';

const KEY = 'pk_bench';
const TARGET_PROFILE_ROWS_PER_S = 30_000;
const SPOT_CHECK_EVERY = 25;

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: 'large' },
    walkers: { type: 'string', default: '4' },
    seed: { type: 'string', default: '42' },
    'max-seconds': { type: 'string', default: '60' },
  },
});
const walkers = Number(args.walkers);
const maxMs = Number(args['max-seconds']) * 1000;
if (!['large', 'medium', 'small', 'tiny'].includes(args.size!) || !(walkers >= 1) || !(maxMs > 0)) {
  console.error('usage: npm run bench:sandbox -- [--size large|medium|small|tiny] [--walkers N>=1] [--seed N] [--max-seconds S>0]');
  process.exit(2);
}

interface Page {
  data: Array<{ id: string; attributes: Record<string, any> }>;
  links: { next?: string };
}

interface PhaseResult {
  rows: number;
  ids: IdsChecksum;
  pages: number;
  ms: number;
  serverCpuS: number;
  clientCpuS: number;
  latencies: number[];
  capped: boolean;
}

function rssOf(pid: number): string {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return `RSS ${(kb('VmRSS') / 1024).toFixed(0)} MB (peak ${(kb('VmHWM') / 1024).toFixed(0)} MB)`;
  } catch {
    return 'RSS unknown (no /proc)';
  }
}

const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds the server has used (user + system, from /proc/<pid>/stat). Rows per server CPU second says what one
 * idle core would sustain, which wall-clock rows/s cannot when other work shares this 2-core machine.
 */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return NaN;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : NaN;
}

const HEADERS = { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15', accept: 'application/vnd.api+json' };

/** As many concurrent GETs as it has connections, one per walker. */
class Client {
  private readonly idle: KeepAliveConnection[];

  private constructor(
    connections: KeepAliveConnection[],
    private readonly origin: string,
  ) {
    this.idle = [...connections];
  }

  static async open(origin: string, connections: number): Promise<Client> {
    return new Client(await Promise.all(Array.from({ length: connections }, () => KeepAliveConnection.open(origin))), origin);
  }

  /** The response body's bytes, undecoded: decoding a 200 KB page to a string costs the client more than reading it. */
  async getBytes(pathOrUrl: string): Promise<{ bytes: Buffer; ms: number }> {
    const path = pathOrUrl.startsWith(this.origin) ? pathOrUrl.slice(this.origin.length) : pathOrUrl;
    const connection = this.idle.pop();
    if (!connection) throw new Error('Client.getBytes: more concurrent requests than connections');
    try {
      const t0 = performance.now();
      const res = await connection.get(path, HEADERS);
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.body.toString('utf8', 0, 300)}`);
      return { bytes: res.body, ms };
    } finally {
      this.idle.push(connection);
    }
  }

  async get<T = Page>(pathOrUrl: string): Promise<T> {
    return JSON.parse((await this.getBytes(pathOrUrl)).bytes.toString('utf8')) as T;
  }

  close(): void {
    for (const connection of this.idle) connection.close();
  }
}

interface PageScan {
  ids: string[];
  next: string | undefined;
}

/**
 * The ids of a collection page's resources of `type` and its `links.next`, read from the raw document
 * `{"data":[{"type":...,"id":...},...],"links":{...}}` (no `included`): every resource opens with its type and id,
 * which no relationship of these rows repeats, and the top-level links close the document.
 */
function scanPage(bytes: Buffer, type: string): PageScan {
  const opening = Buffer.from(`{"type":"${type}","id":"`);
  const ids: string[] = [];
  for (let at = bytes.indexOf(opening); at >= 0; at = bytes.indexOf(opening, at)) {
    at += opening.length;
    ids.push(bytes.toString('latin1', at, bytes.indexOf(0x22, at)));
  }
  const links = bytes.lastIndexOf('"links":{');
  const next = (JSON.parse(bytes.toString('utf8', links + '"links":'.length, bytes.length - 1)) as Page['links']).next;
  return { ids, next };
}

/** Parses the whole page and fails unless `scanPage` read the same ids and next link from it. */
function spotCheck(bytes: Buffer, scan: PageScan, url: string): void {
  const page = JSON.parse(bytes.toString('utf8')) as Page;
  const ids = page.data.map((r) => r.id);
  if (ids.join() !== scan.ids.join() || page.links.next !== scan.next) {
    throw new Error(
      `the page scan misread GET ${url}: it found ${scan.ids.length} ids and next ${scan.next}, the document has ${ids.length} and ${page.links.next}`,
    );
  }
}

/**
 * Splits [min, max] of a datetime field into `n` windows whose inner bounds fall on half seconds, between the
 * whole-second values the sandbox prints, so no row sits on a boundary; the outer windows stay open-ended.
 */
function windows(field: string, minMs: number, maxMs: number, n: number, gt: string, lt: string): string[] {
  const bounds: string[] = [];
  for (let i = 1; i < n; i++)
    bounds.push(new Date(Math.floor(minMs / 1000 + ((maxMs - minMs) / 1000) * (i / n)) * 1000 + 500).toISOString());
  return Array.from({ length: n }, (_, i) => {
    const parts = [i > 0 ? `${gt}(${field},${bounds[i - 1]})` : '', i < n - 1 ? `${lt}(${field},${bounds[i]})` : ''].filter(Boolean);
    return parts.length === 0 ? '' : parts.length === 1 ? parts[0] : `and(${parts.join(',')})`;
  });
}

async function extent(client: Client, path: string, field: string, extra: string): Promise<[number, number]> {
  const first = await client.get(`${path}?sort=${field}${extra}`);
  const last = await client.get(`${path}?sort=-${field}${extra}`);
  const at = (p: Page) => Date.parse(p.data[0]?.attributes[field]);
  return [at(first), at(last)];
}

/** Runs one walker per first URL concurrently, following links.next; stops early after `maxMs`. */
async function runPhase(client: Client, type: string, firstUrls: string[], pid: number): Promise<PhaseResult> {
  const result: PhaseResult = {
    rows: 0,
    ids: new IdsChecksum(),
    pages: 0,
    ms: 0,
    serverCpuS: 0,
    clientCpuS: 0,
    latencies: [],
    capped: false,
  };
  const cpu0 = cpuSecondsOf(pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    firstUrls.map(async (first) => {
      let url: string | undefined = first;
      while (url) {
        if (performance.now() - t0 > maxMs) {
          result.capped = true;
          return;
        }
        const { bytes, ms } = await client.getBytes(url);
        const scan = scanPage(bytes, type);
        if (result.pages % SPOT_CHECK_EVERY === 0) spotCheck(bytes, scan, url);
        for (const id of scan.ids) result.ids.add(id);
        result.rows += scan.ids.length;
        result.pages += 1;
        result.latencies.push(ms);
        url = scan.next;
      }
    }),
  );
  result.ms = performance.now() - t0;
  result.serverCpuS = cpuSecondsOf(pid) - cpu0;
  const clientCpu = process.cpuUsage(client0);
  result.clientCpuS = (clientCpu.user + clientCpu.system) / 1e6;
  result.latencies.sort((a, b) => a - b);
  return result;
}

/** Prints the phase's figures; returns its rows/s, and whether the rows walked are the truth (when not capped). */
function report(
  name: string,
  r: PhaseResult,
  truth: { count: number; checksum: string },
  pid: number,
): { rowsPerS: number; matchesTruth: boolean } {
  const rowsPerS = r.rows / (r.ms / 1000);
  const matches = r.rows === truth.count && r.ids.digest() === truth.checksum;
  const verdict = r.capped
    ? ` (stopped at --max-seconds; truth ${truth.count.toLocaleString('en-US')})`
    : matches
      ? ' (= truth: count and ids checksum)'
      : ` (TRUTH SAYS ${truth.count} rows, ids checksum ${truth.checksum}; walked ${r.ids.digest()})`;
  const perRow = (cpuS: number) => `${((cpuS * 1e6) / r.rows).toFixed(1)} µs/row`;
  console.log(
    `${name.padEnd(9)} ${r.rows.toLocaleString('en-US')} rows${verdict} ` +
      `in ${(r.ms / 1000).toFixed(2)} s: ${Math.round(rowsPerS).toLocaleString('en-US')} rows/s, ${(r.pages / (r.ms / 1000)).toFixed(0)} pages/s, ` +
      `page p50 ${percentile(r.latencies, 50).toFixed(1)} ms, p99 ${percentile(r.latencies, 99).toFixed(1)} ms; server ${rssOf(pid)}\n` +
      `          CPU: server ${r.serverCpuS.toFixed(2)} s = ${perRow(r.serverCpuS)} (${Math.round(r.rows / r.serverCpuS).toLocaleString('en-US')} rows per server CPU-second), ` +
      `this client ${r.clientCpuS.toFixed(2)} s = ${perRow(r.clientCpuS)}; load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores`,
  );
  return { rowsPerS, matchesTruth: r.capped || matches };
}

async function main(): Promise<void> {
  const started = performance.now();
  let sb: SandboxProcess | undefined;
  let client: Client | undefined;
  try {
    sb = await startSandbox(['--size', args.size!, '--seed', args.seed!, '--api-key', KEY, '--rate-limits', 'off', '--quiet']);
    const pid = sb.child.pid!;
    console.log(
      `sandbox --size ${args.size} up in ${((performance.now() - started) / 1000).toFixed(1)} s at ${sb.baseUrl}; ${walkers} walkers; server ${rssOf(pid)}`,
    );
    client = await Client.open(sb.baseUrl, walkers);
    const truth = await client.get<Record<string, { count: number; checksum: string }>>('/__sandbox/truth');

    const profileExtra = '&page[size]=100&additional-fields[profile]=subscriptions';
    const [pMin, pMax] = await extent(client, '/api/profiles', 'updated', '&page[size]=1');
    const profileUrls = windows('updated', pMin, pMax, walkers, 'greater-than', 'less-than').map(
      (f) => `/api/profiles?sort=updated${profileExtra}${f ? `&filter=${encodeURIComponent(f)}` : ''}`,
    );
    const profiles = report('profiles', await runPhase(client, 'profile', profileUrls, pid), truth.profiles, pid);

    const [eMin, eMax] = await extent(client, '/api/events', 'datetime', '');
    const eventUrls = windows('datetime', eMin, eMax, walkers, 'greater-or-equal', 'less-than').map(
      (f) => `/api/events?sort=datetime${f ? `&filter=${encodeURIComponent(f)}` : ''}`,
    );
    const events = report('events', await runPhase(client, 'event', eventUrls, pid), truth.events, pid);

    const ok = profiles.rowsPerS >= TARGET_PROFILE_ROWS_PER_S;
    console.log(`target >= ${TARGET_PROFILE_ROWS_PER_S.toLocaleString('en-US')} profile rows/s: ${ok ? 'met' : 'MISSED'}`);
    if (!ok || !profiles.matchesTruth || !events.matchesTruth) process.exitCode = 1;
  } finally {
    client?.close();
    await sb?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
