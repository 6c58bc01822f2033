/**
 * `klaviyo-sync sandbox`: runs the local Klaviyo API until SIGTERM or SIGINT. Prints exactly one line
 * `Klaviyo sandbox listening on http://<host>:<port>` first (tests parse it), then the keys and sizes unless --quiet.
 * Bad flags print one sentence and exit with code 2.
 */
import { Command, InvalidArgumentError, Option, type CommanderError } from 'commander';
import type { SizeOptions } from './account/types';
import { maskKey, parseApiKey, type ApiKey } from './http/auth';
import { parseFaultSpec } from './http/faults';
import { formatLatency, parseLatencySpec } from './http/latency';
import { CAMPAIGNS_PAGE_SIZE, COUPONS_PAGE_SIZE, COUPON_CODES_PAGE_SIZE, OPERATIONS, REVISION } from './http/operations';
import { REPORTS } from './http/reports';
import { formatRateLimitMode, parseRateLimitMode } from './http/ratelimit';
import { DEFAULT_API_KEY, DEFAULT_PORT, SIZE_PRESET_NAMES, startSandbox, type SizePreset } from './index';

const COUNT_FLAGS: Array<[flag: string, key: keyof SizeOptions, what: string]> = [
  ['profiles', 'profiles', 'profiles'],
  ['lists', 'lists', 'lists'],
  ['segments', 'segments', 'segments'],
  ['campaigns', 'campaigns', 'campaigns per channel (email, sms, mobile_push)'],
  ['flows', 'flows', 'flows'],
  ['templates', 'templates', 'templates'],
  ['events', 'events', 'events'],
  ['metrics', 'metrics', 'metrics'],
  ['tags', 'tags', 'tags'],
  ['catalog-items', 'catalogItems', 'catalog items'],
];

function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    return Number(value);
  };
}

function wrap<T>(parse: (value: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError(`${err instanceof Error ? err.message : String(err)}.`);
    }
  };
}

function collectKey(value: string, previous: ApiKey[]): ApiKey[] {
  return [...previous, wrap(parseApiKey)(value)];
}

function anchorOf(value: string): Date {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('Expected an ISO 8601 datetime such as 2025-06-01T00:00:00Z.');
  return d;
}

interface SandboxFlags {
  port: number;
  host: string;
  apiKey: ApiKey[];
  seed: number;
  size: SizePreset;
  anchor?: Date;
  revisionsAsOf?: Date;
  rateLimits: string;
  faults?: string;
  latency: string;
  log?: boolean;
  quiet?: boolean;
  [count: string]: unknown;
}

function describeKeys(keys: ApiKey[]): string {
  return keys
    .map((k) => `${k.key === DEFAULT_API_KEY ? k.key : maskKey(k.key)} (${k.scopes ? k.scopes.join(', ') : 'all scopes'})`)
    .join('; ');
}

function describeSizes(sizes: SizeOptions): string {
  return COUNT_FLAGS.map(([, key, what]) => `${sizes[key]} ${what.replace(/ \(.*\)$/, '')}`).join(', ');
}

export function registerSandboxCommand(program: Command): void {
  const cmd = program
    .command('sandbox')
    .summary('run a local Klaviyo API (revision ' + REVISION + ') over a synthetic account')
    .description(
      [
        `Serves the ${OPERATIONS.length} read operations and ${REPORTS.length} reporting queries (POST /api/*-reports) of Klaviyo's API, revision ${REVISION}, from a deterministic synthetic account. JSON:API documents, filters, sorts, cursor pagination, API keys and scopes, rate limits and injected faults behave like Klaviyo's, so a connector that works against the sandbox works against Klaviyo.`,
        `Page sizes: profiles and list/segment members take page[size] (default 20, max 100), flows, a flow's actions and an action's messages too (50, max 50), forms (20, max 100); lists, segments and templates serve 10 per page, events and metrics 200, tags 50, tag groups 25, catalog items, variants and categories 100, campaigns ${CAMPAIGNS_PAGE_SIZE}, coupons ${COUPONS_PAGE_SIZE} and a coupon's codes ${COUPON_CODES_PAGE_SIZE}.`,
        'Sandbox endpoints (no API key): GET /__sandbox/health, /__sandbox/truth, /__sandbox/stats, /__sandbox/faults, /__sandbox/rate-limits, /__sandbox/latency; POST /__sandbox/advance {scale?, at?, deletes?}, /__sandbox/faults {...}, /__sandbox/rate-limits {mode}, /__sandbox/latency {spec}.',
        'Latency: --latency klaviyo answers each request after about 150 ms plus 0.75 ms per resource (an events page of 200 in ~300 ms), ±25%, so benchmarks on localhost see the delays of a real API; off (the default) answers at once.',
      ].join('\n\n'),
    )
    .option('--port <n>', 'port to listen on; 0 picks a free one', integer(0, 65535), DEFAULT_PORT)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .addOption(
      new Option(
        '--api-key <key>',
        'a private key the sandbox accepts, repeatable: KEY has every scope, KEY=scope1,scope2 only those (e.g. pk_ro=profiles:read)',
      )
        .argParser(collectKey)
        .default([], DEFAULT_API_KEY),
    )
    .option('--seed <n>', 'seed of the synthetic account: same seed, sizes and anchor give the same data', integer(0, 2 ** 31 - 1), 42)
    .option('--size <preset>', `account size preset: ${SIZE_PRESET_NAMES.join(', ')}`, 'small')
    .option('--anchor <iso>', 'the instant the synthetic history ends at (default: now)', anchorOf)
    .option(
      '--revisions-as-of <date>',
      'the day the revision lifecycle is judged on: revisions two years old by then answer 410, as Klaviyo retires them (default: today)',
      anchorOf,
    )
    .option(
      '--rate-limits <mode>',
      "documented (Klaviyo's per-operation limits), off, or scale:N to multiply every limit by N",
      'documented',
    )
    .option('--faults <spec>', 'inject faults into a share of /api/ requests, e.g. 500=0.02,503=0.02,reset=0.01,slow=0.05:1500,429=0.02')
    .option(
      '--latency <spec>',
      'how slowly to answer: off, klaviyo (150 ms + 0.75 ms per row, ±25%) or base=<ms>,row=<ms>,jitter=<fraction>, each on top of klaviyo',
      'off',
    )
    .option('--log', 'print a line per request to stderr (API keys are never printed)')
    .option('--quiet', 'print only the "listening on" line');
  for (const [flag, , what] of COUNT_FLAGS)
    cmd.option(`--${flag} <n>`, `number of ${what}, overriding the size preset`, integer(0, 50_000_000));

  cmd
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(`klaviyo-sync sandbox: ${text.replace(/^error: /, '')}`) })
    // Commander's own parse errors (unknown option, bad argument) are bad flags too: exit 2 like ours.
    .exitOverride((err: CommanderError) => process.exit(err.code.startsWith('sandbox.') || err.exitCode === 0 ? err.exitCode : 2))
    .action(async (flags: SandboxFlags) => {
      const fail = (message: string, exitCode = 2): never =>
        cmd.error(message, { exitCode, code: exitCode === 2 ? 'sandbox.invalidOption' : 'sandbox.cannotListen' });
      if (!SIZE_PRESET_NAMES.includes(flags.size)) fail(`--size must be one of ${SIZE_PRESET_NAMES.join(', ')}, not '${flags.size}'.`);
      let rateLimits;
      try {
        rateLimits = parseRateLimitMode(flags.rateLimits);
      } catch (err) {
        fail(`--rate-limits: ${(err as Error).message}.`);
      }
      let faults;
      try {
        faults = flags.faults === undefined ? undefined : parseFaultSpec(flags.faults);
      } catch (err) {
        fail(`--faults: ${(err as Error).message}.`);
      }
      let latency;
      try {
        latency = parseLatencySpec(flags.latency);
      } catch (err) {
        fail(`--latency: ${(err as Error).message}.`);
      }
      const counts: Partial<SizeOptions> = {};
      for (const [flag, key] of COUNT_FLAGS) {
        const attribute = flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
        if (flags[attribute] !== undefined) counts[key] = flags[attribute] as number;
      }

      let sandbox;
      try {
        sandbox = await startSandbox({
          port: flags.port,
          host: flags.host,
          apiKeys: flags.apiKey,
          seed: flags.seed,
          size: flags.size,
          counts,
          anchor: flags.anchor,
          revisionsAsOf: flags.revisionsAsOf,
          rateLimits,
          faults,
          latency,
          log: flags.log === true,
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE')
          fail(`port ${flags.port} on ${flags.host} is already in use; pick another with --port (0 picks a free one).`, 1);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') fail(`cannot listen on --host ${flags.host}: no such local address.`, 1);
        throw err;
      }
      let banner = `Klaviyo sandbox listening on ${sandbox.url}\n`;
      if (!flags.quiet) {
        const { sizes } = sandbox.account.options;
        banner +=
          `  keys: ${describeKeys(sandbox.apiKeys)}\n` +
          `  account: size ${flags.size}, seed ${flags.seed}, anchor ${sandbox.account.options.anchor.toISOString()}: ${describeSizes(sizes)}; ` +
          `rate limits ${formatRateLimitMode(sandbox.rateLimits)}; latency ${formatLatency(sandbox.latency)}${flags.faults ? `; faults ${flags.faults}` : ''}\n`;
      }
      process.stdout.write(banner);
      const stop = (): void => {
        sandbox.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
