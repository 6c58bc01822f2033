/**
 * `npm run bench`: the connector end to end, every piece real and local: a Temporal dev server, the sandbox
 * Klaviyo as a process over HTTP, an embedded Postgres and SQLite, and N `klaviyo-sync worker` processes; the
 * bench starts `replicate` as a user would and waits for it. Modes:
 *
 * - `limits` (default): documented rate limits (or `scale:N`) and Klaviyo-like latency, events + profiles from a
 *   start_date before the account's history: per stream requests, req/min against the steady limit, rows, rows/s,
 *   429s, wall time; worker CPU and peak RSS; Temporal actions per 1,000 rows and the longest history;
 * - `fast`: limits and latency off, events only, into Postgres then SQLite: rows/s and the split of a page's time
 *   between HTTP, JSON, the database and Temporal/other;
 * - `sling`: the worker paced as Sling paces (3 requests/s) for a bounded time: its rows/s, and documented/sling;
 * - `all`: the three. `--short` (CI): preset small, scaled limits, short durations, results in a temporary dir.
 *
 * Prints a table per mode, the targets as PASS/MISS lines (figures, not assertions), and writes
 * bench/results/<mode>-<preset>-<timestamp>.json with the machine's facts. Exits 1 only when something broke (a
 * replication failed). Every process it started is stopped on exit and on Ctrl-C.
 *
 *   npm run bench -- [--mode limits|fast|sling|all (default: limits; --short: all)] [--preset large|medium|small|tiny] [--workers 1|3]
 *     [--rate-limits documented|scale:N] [--latency klaviyo|off|base=..] [--streams events,profiles]
 *     [--sling-seconds 60] [--max-minutes 60] [--seed 42] [--out DIR] [--short]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { STREAMS } from '../streams/streams';
import type { StreamName } from '../streams/types';
import { capabilities } from './connector/capabilities';
import { cleanupAll, cleanupOnSignals, interrupted } from './connector/cleanup';
import { runFast } from './connector/fast-mode';
import { describeWorkerLaunch } from './connector/workers';
import { runLimits } from './connector/limits-mode';
import { machineFacts } from './connector/machine';
import { formatFast, formatLimits, formatSling } from './connector/report';
import { startServices } from './connector/services';
import { runSling } from './connector/sling-mode';
import { documentedEventsPerS, formatChecks, targetChecks, type Results } from './connector/targets';

const MODES = ['limits', 'fast', 'sling', 'all'] as const;
type Mode = (typeof MODES)[number];

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string' },
    preset: { type: 'string' },
    seed: { type: 'string', default: '42' },
    'rate-limits': { type: 'string' },
    latency: { type: 'string', default: 'klaviyo' },
    streams: { type: 'string', default: 'events,profiles' },
    workers: { type: 'string', default: '1' },
    'sling-seconds': { type: 'string' },
    'max-minutes': { type: 'string', default: '60' },
    out: { type: 'string' },
    short: { type: 'boolean', default: false },
  },
});

function usage(why: string): never {
  console.error(
    `bench: ${why}\nusage: npm run bench -- [--mode limits|fast|sling|all] [--preset large|medium|small|tiny] [--workers N] ` +
      '[--rate-limits documented|scale:N] [--latency klaviyo|off|...] [--streams events,profiles] [--sling-seconds S] ' +
      '[--max-minutes M] [--seed N] [--out DIR] [--short]',
  );
  process.exit(2);
}

const short = args.short!;
// CI's short run goes through every mode
const mode = (args.mode ?? (short ? 'all' : 'limits')) as Mode;
if (!MODES.includes(mode)) usage(`--mode must be one of ${MODES.join(', ')}`);
const preset = args.preset ?? (short ? 'small' : 'large');
if (!['large', 'medium', 'small', 'tiny'].includes(preset)) usage('--preset must be large, medium, small or tiny');
// a tenth of the documented quota, so that even a small account's few requests meet the limits
const rateLimits = args['rate-limits'] ?? (short ? 'scale:0.1' : 'documented');
if (!/^(documented|scale:\d*\.?\d+)$/.test(rateLimits)) usage('--rate-limits must be documented or scale:N');
const workers = Number(args.workers);
if (!Number.isInteger(workers) || workers < 1) usage('--workers must be a whole number ≥ 1');
const slingSeconds = Number(args['sling-seconds'] ?? (short ? 15 : 60));
const maxMinutes = Number(args['max-minutes']);
if (!(slingSeconds > 0) || !(maxMinutes > 0)) usage('--sling-seconds and --max-minutes must be > 0');
const known = new Set(STREAMS.map((s) => s.name));
const streams = args.streams!.split(',').map((s) => s.trim()) as StreamName[];
const unknown = streams.filter((s) => !known.has(s));
if (unknown.length || streams.length === 0) usage(`unknown streams ${unknown.join(', ')}; streams are ${[...known].join(', ')}`);
// --short writes where CI leaves the tree clean
const outDir = args.out ?? (short ? path.join(os.tmpdir(), 'klaviyo-sync-bench') : path.join(__dirname, 'results'));

async function main(): Promise<number> {
  cleanupOnSignals();
  const started = performance.now();
  const startedAt = new Date();
  const machine = machineFacts();
  const caps = await capabilities();
  const latency = (wanted: string) => (caps.sandboxLatency ? wanted : undefined);
  const fastWorkerRates = caps.workerRateModes.includes('off') ? 'off' : 'documented';
  console.log(
    `klaviyo-sync bench: mode ${mode}${short ? ' (short)' : ''}, preset ${preset}, ${workers} worker${workers > 1 ? 's' : ''}; ` +
      `${machine.cores} cores (${machine.cpuModel}), ${machine.ramGb} GB, node ${machine.node}, load ${machine.loadAverage}; ` +
      `commit ${machine.commit.slice(0, 9)}${machine.dirty ? ' (dirty)' : ''} on ${machine.branch}`,
  );
  if (!caps.sandboxLatency) console.log('  (this sandbox has no --latency: it answers as fast as it can in every mode)');
  console.log(`  workers launched as README deploys them: ${describeWorkerLaunch(process.env)}`);

  const results: Results = {};
  let failure: string | undefined;
  try {
    const services = await startServices();
    console.log(
      `  Temporal ${services.temporal.address}, Postgres, tmp ${services.tmp} up in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
    const run = (m: Exclude<Mode, 'all'>) => mode === m || mode === 'all';
    if (run('limits')) {
      results.limits = await runLimits(services, {
        preset,
        seed: args.seed!,
        rateLimits,
        latency: latency(args.latency!),
        streams,
        workers,
        maxMinutes,
      });
      console.log(`${formatLimits(results.limits)}\n`);
    }
    if (run('fast')) {
      results.fast = await runFast(services, {
        preset,
        seed: args.seed!,
        latency: latency('off'),
        workers,
        workerRateLimits: fastWorkerRates,
        maxMinutes,
      });
      console.log(`${formatFast(results.fast)}\n`);
    }
    if (run('sling')) {
      results.sling = await runSling(services, {
        preset,
        seed: args.seed!,
        rateLimits,
        latency: latency(args.latency!),
        streams,
        workers,
        seconds: slingSeconds,
      });
      console.log(`${formatSling(results.sling, documentedEventsPerS(results))}\n`);
    }
  } catch (err) {
    if (interrupted()) return 130;
    failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
    for (let e: any = err; e?.cause; e = e.cause) failure += `\ncaused by: ${e.cause?.message ?? String(e.cause)}`;
    console.error(`bench: failed: ${failure}`);
  } finally {
    await cleanupAll();
  }

  const checks = targetChecks(results);
  console.log(formatChecks(checks));
  const durationS = (performance.now() - started) / 1000;
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${mode}-${preset}-${stamp}.json`);
  const record = {
    startedAt: startedAt.toISOString(),
    durationS,
    argv: process.argv.slice(2),
    options: { mode, short, preset, seed: args.seed, rateLimits, latency: args.latency, streams, workers, slingSeconds, maxMinutes },
    machine: { ...machine, loadAverageAtEnd: Math.round(os.loadavg()[0] * 100) / 100 },
    capabilities: caps,
    results,
    targets: checks,
    ...(failure ? { failure } : {}),
  };
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(
    `\n${failure ? 'FAILED after' : 'done in'} ${durationS.toFixed(1)} s; results in ${file.startsWith(process.cwd()) ? path.relative(process.cwd(), file) : file}`,
  );
  return failure ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.stack : String(err)}`);
    await cleanupAll();
    process.exit(1);
  },
);
