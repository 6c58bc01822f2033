/**
 * `startSandbox`: a local HTTP server that behaves like Klaviyo's API (revision 2025-07-15) over a deterministic
 * synthetic account. The account (sandbox/account/) owns the data; sandbox/http/ owns the protocol.
 */
import type { AddressInfo } from 'node:net';
import { createAccount, SIZE_PRESETS } from './account';
import type { Account, AdvanceSummary, SizeOptions } from './account/types';
import { parseApiKey, type ApiKey } from './http/auth';
import { emptyFaults, parseFaultSpec, type FaultConfig } from './http/faults';
import { LATENCY_OFF, parseLatencySpec, type LatencyModel } from './http/latency';
import { parseRateLimitMode, type RateLimitMode } from './http/ratelimit';
import { createSandboxServer } from './http/server';

export type SizePreset = keyof typeof SIZE_PRESETS;
export const SIZE_PRESET_NAMES = Object.keys(SIZE_PRESETS) as SizePreset[];

export interface SandboxOptions {
  /** default 4010; 0 picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** keys as `KEY` (all scopes) or `KEY=scope1,scope2`, or parsed; default `pk_sandbox` with all scopes */
  apiKeys?: Array<string | ApiKey>;
  /** default 42 */
  seed?: number;
  /** default `small` */
  size?: SizePreset;
  /** per-stream counts overriding the preset */
  counts?: Partial<SizeOptions>;
  /** the instant the synthetic history ends at; default now, to the second */
  anchor?: Date;
  /** `documented` (default), `off` or `scale:N`, or parsed */
  rateLimits?: string | RateLimitMode;
  /** e.g. `500=0.02,reset=0.01,slow=0.05:1500`, or parsed; default none */
  faults?: string | FaultConfig;
  /**
   * how slowly it answers: `off` (default), `klaviyo` (150 ms + 0.75 ms per row, ±25%) or
   * `base=<ms>,row=<ms>,jitter=<fraction>` (each on top of `klaviyo`'s), or parsed
   */
  latency?: string | LatencyModel;
  /**
   * the day Klaviyo's revision lifecycle is judged on: revisions older than two years by then are retired (410);
   * default today. The sandbox always serves its own revision, 2025-07-15.
   */
  revisionsAsOf?: Date;
  /** a line per request: true writes to stderr, a function receives the lines */
  log?: boolean | ((line: string) => void);
  /** where unexpected server errors are reported; default stderr */
  logError?: (line: string) => void;
}

export interface RunningSandbox {
  /** e.g. `http://127.0.0.1:4010` */
  url: string;
  port: number;
  account: Account;
  /** the API keys in force */
  apiKeys: ApiKey[];
  rateLimits: RateLimitMode;
  /** the latency model in force (POST /__sandbox/latency changes it) */
  readonly latency: LatencyModel;
  /**
   * Moves the account's clock to `at` (default now), as `POST /__sandbox/advance` does: profiles and templates
   * updated, events appended, catalog items deleted; with `deletes`, profiles (their events and memberships with them)
   * and templates deleted too; says how many of each.
   */
  advance(options?: { at?: Date; scale?: number; deletes?: boolean }): AdvanceSummary;
  close(): Promise<void>;
}

export const DEFAULT_API_KEY = 'pk_sandbox';
export const DEFAULT_PORT = 4010;
export { LATENCY_KLAVIYO, LATENCY_OFF, formatLatency, parseLatencySpec, type LatencyModel } from './http/latency';
/** What the reporting API answers, computed in process: for tests that check report syncs exactly (sandbox/README.md, "Reports"). */
export { REPORTS, reportDocument, reportRows, parseReportRequest, type ReportQuery, type ReportResult } from './http/reports';

const writeStderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function sizesFor(size: SizePreset = 'small', counts: Partial<SizeOptions> = {}): SizeOptions {
  const preset = SIZE_PRESETS[size];
  if (!preset) throw new Error(`unknown size '${size}': use one of ${SIZE_PRESET_NAMES.join(', ')}`);
  return { ...preset, ...counts };
}

export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const seed = options.seed ?? 42;
  const anchor = options.anchor ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const apiKeys = (options.apiKeys?.length ? options.apiKeys : [DEFAULT_API_KEY]).map((k) => (typeof k === 'string' ? parseApiKey(k) : k));
  const rateLimits =
    typeof options.rateLimits === 'string' ? parseRateLimitMode(options.rateLimits) : (options.rateLimits ?? { kind: 'documented' });
  const faults = typeof options.faults === 'string' ? parseFaultSpec(options.faults) : (options.faults ?? emptyFaults());
  const latency = typeof options.latency === 'string' ? parseLatencySpec(options.latency) : (options.latency ?? LATENCY_OFF);
  const account = createAccount({ seed, sizes: sizesFor(options.size, options.counts), anchor });
  const log = options.log === true ? writeStderr : options.log || undefined;

  const sandbox = createSandboxServer({
    account,
    apiKeys,
    rateLimits,
    faults,
    latency,
    revisionsAsOf: options.revisionsAsOf,
    seed,
    log,
    logError: options.logError ?? writeStderr,
  });
  const { server } = sandbox;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  sandbox.setDefaultBase(url);
  return {
    url,
    port,
    account,
    apiKeys,
    rateLimits,
    get latency() {
      return sandbox.latency.current;
    },
    advance: (opts) => account.advance(opts),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
