/**
 * An events backfill end to end, as a first incremental run does it: a Temporal dev server, the sandbox (`--size
 * medium`: 200,000 events over two years) over HTTP, an embedded Postgres (or SQLite), and a worker of this process
 * (documented rate limits, 20 pages per activity as in production). One replication of `events` from a start_date
 * before the sandbox's history; prints wall time, rows/s, requests and 429s, and checks the table against the
 * sandbox's truth (count and checksum). Exits 1 if it is not exact.
 *
 * `--latency MS` slows every sandbox response by that much (the sandbox's `slow` fault), as Klaviyo's own few hundred
 * milliseconds a page do: locally the sandbox answers in a few, so without it the run measures the machine's cores.
 *
 *   npx tsx bench/events-backfill.bench.ts [--size medium] [--rate-limits off|documented] [--latency 300] [--target PG|LITE]
 */
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { Destination } from '../lib/db/destination';
import type { ReplicationSummary } from '../workflows/types';
import { checksumOf, stackWorker, startStack, tableIds, targetOf, truth } from '../test/helpers/stack';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: 'medium' },
    'rate-limits': { type: 'string', default: 'off' },
    target: { type: 'string', default: 'PG' },
    latency: { type: 'string', default: '0' },
  },
});
const target = args.target === 'LITE' ? 'LITE' : 'PG';

async function main(): Promise<void> {
  const latency = Number(args.latency);
  const faults = latency > 0 ? ['--faults', `slow=1:${latency}`] : [];
  const stack = await startStack(['--size', args.size!, '--rate-limits', args['rate-limits']!, ...faults]);
  try {
    const start = new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10);
    const yaml = `
source: KLAVIYO
target: ${target}
streams:
  events:
    object: klaviyo.events
    mode: incremental
    source_options:
      start_date: ${start}
`;
    const worker = await stackWorker(stack, stack.env, 20);
    const began = Date.now();
    const summary = (await worker.runUntil(
      stack.temporal.env.client.workflow.execute('replicate', {
        taskQueue: 'klaviyo-sync',
        workflowId: 'bench-events',
        args: [{ name: 'bench-events', yaml }],
      }),
    )) as ReplicationSummary;
    const ms = Date.now() - began;
    const events = summary.streams[0];
    const res = await request(`${stack.sandbox.baseUrl}/__sandbox/stats`);
    const stats = (await res.body.json()) as { operations: Record<string, Record<string, number>> };
    const byStatus = stats.operations.get_events ?? {};
    const ids = await tableIds(new Destination(targetOf(stack, target)), 'events');
    const exact = JSON.stringify(checksumOf(ids)) === JSON.stringify((await truth(stack)).events);
    process.stdout.write(
      `events backfill, sandbox ${args.size} (rate limits ${args['rate-limits']}, +${latency} ms a page) into ${target}: ${events.rows} rows, ` +
        `${events.pages} pages in ${(ms / 1000).toFixed(1)} s = ${Math.round(events.rows / (ms / 1000))} rows/s; ` +
        `requests by status ${JSON.stringify(byStatus)}; table ${exact ? 'exact' : 'NOT EXACT'}\n`,
    );
    if (!exact || events.status !== 'completed') process.exitCode = 1;
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
