/**
 * The worker's Prometheus endpoint (`klaviyo-sync worker --metrics host:port`), scraped during and after a real
 * replication (worker process, Temporal dev server, the sandbox over HTTP with slowed answers, Postgres): the
 * Temporal SDK runtime's metrics and klaviyo-sync's own, with rows and pages per stream equal to what the run wrote.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { ReplicationSummary } from '../workflows/types';
import { cli, startWorkerProcess } from './helpers/process';
import { startStack, type Stack } from './helpers/stack';

let stack: Stack;
before(async () => {
  stack = await startStack(['--events', '3000', '--profiles', '500', '--faults', 'slow=1:30']);
});
after(async () => {
  await stack?.stop();
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `name{labels} value` lines of a scrape whose name is `name` and whose labels include every one of `labels`. */
function samples(text: string, name: string, labels: Record<string, string> = {}): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

const YAML = `
source: KLAVIYO
target: PG
streams:
  events:
    object: metrics.events
    mode: incremental
    source_options:
      start_date: ${new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10)}
  profiles:
    object: metrics.profiles
`;

void test('the metrics endpoint, scraped during a run, shows rows, pages and requests per stream, and the SDK metrics', async () => {
  const port = await freePort();
  const worker = await startWorkerProcess(['--metrics', `127.0.0.1:${port}`], {
    env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: 'default' },
  });
  assert.match(worker.stdout(), new RegExp(`metrics: http://127\\.0\\.0\\.1:${port}/metrics`));
  const scrape = async () => (await (await request(`http://127.0.0.1:${port}/metrics`)).body.text()) as string;
  try {
    const handle = await stack.temporal.env.client.workflow.start('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId: 'metrics-run',
      args: [{ name: 'metrics', yaml: YAML }],
    });
    // during the run: rows appear before it ends
    let during = 0;
    const deadline = Date.now() + 60_000;
    while (during === 0) {
      assert.ok(Date.now() < deadline, 'no rows in the metrics while the run went on');
      during = sum(samples(await scrape(), 'klaviyo_sync_rows_total', { stream: 'events' }));
      if (during === 0) await sleep(200);
    }
    const summary = (await handle.result()) as ReplicationSummary;
    const events = summary.streams.find((s) => s.stream === 'events')!;
    assert.ok(during < events.rows || events.durationMs < 2000, `scraped ${during} of ${events.rows} rows while running`);

    const text = await scrape();
    for (const s of summary.streams) {
      assert.equal(sum(samples(text, 'klaviyo_sync_rows_total', { stream: s.stream })), s.rows, `${s.stream}: rows`);
      assert.equal(sum(samples(text, 'klaviyo_sync_pages_total', { stream: s.stream })), s.pages, `${s.stream}: pages`);
    }
    const requests = sum(samples(text, 'klaviyo_sync_requests_total', { operation: 'get_events', outcome: 'ok' }));
    assert.ok(requests >= events.pages, `${requests} get_events requests counted for ${events.pages} pages`);
    assert.ok(samples(text, 'klaviyo_sync_write_ms_count', { stream: 'events' }).length > 0, 'write latency histogram');
    assert.ok(samples(text, 'klaviyo_sync_limiter_wait_ms_count', { stream: 'profiles' }).length > 0, 'limiter wait histogram');
    // the SDK runtime's own, from the same endpoint
    assert.ok(sum(samples(text, 'temporal_activity_execution_latency_count')) > 0, 'the SDK runtime metrics are there');
    assert.match(text, /task_queue="klaviyo-sync"/);
  } finally {
    await worker.stop(10_000);
  }
});

void test('a bad --metrics address fails naming the form', async () => {
  const r = await cli(['worker', '--metrics', 'nine-four-six-four'], { env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--metrics must be host:port, e\.g\. 0\.0\.0\.0:9464/);
});
