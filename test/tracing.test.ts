/**
 * Traces (worker/tracing.ts): a real OTLP/HTTP receiver in this test, a worker process with `--otlp`, and
 * `klaviyo-sync run` with OTEL_EXPORTER_OTLP_ENDPOINT, replicating through the real dev server, the sandbox over HTTP
 * and Postgres. The client's `StartWorkflow:replicate` span, the workflows' spans (replicate, its stream children, a
 * stream's partition children) and the activities' spans arrive as one trace; no span, event or resource carries the
 * API key or the database password.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type net from 'node:net';
import { Worker } from '@temporalio/worker';
import { cli, startWorkerProcess } from './helpers/process';
import { API_KEY, startStack, type Stack } from './helpers/stack';
import { redactUrl, tracingConfig } from '../worker/tracing';

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: KeyValue[];
}
interface OtlpRequest {
  resourceSpans: Array<{
    resource: { attributes: KeyValue[] };
    scopeSpans: Array<{ spans: OtlpSpan[] }>;
  }>;
}
interface Span extends OtlpSpan {
  service: string;
  attrs: Record<string, unknown>;
}

/** An OTLP/HTTP receiver: takes POST /v1/traces (JSON, as @opentelemetry/exporter-trace-otlp-http sends it). */
async function startReceiver(): Promise<{ url: string; bodies: string[]; spans: () => Span[]; close: () => Promise<void> }> {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/json/.test(req.headers['content-type'] ?? '')) {
        res.writeHead(404).end();
        return;
      }
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const value = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    spans: () =>
      bodies.flatMap((b) =>
        (JSON.parse(b) as OtlpRequest).resourceSpans.flatMap((rs) => {
          const service = String(value(rs.resource.attributes.find((a) => a.key === 'service.name')?.value ?? {}));
          return rs.scopeSpans.flatMap((ss) =>
            ss.spans.map((s) => ({ ...s, service, attrs: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, value(a.value)])) })),
          );
        }),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

const YAML = `
source: KLAVIYO
target: PG
streams:
  lists:
    object: traces.lists
  list_profiles:
    object: traces.list_profiles
  profiles:
    object: traces.profiles
    mode: incremental
    source_options:
      start_date: 2015-01-01
`;

void test('a run traced end to end: the client, the workflows and the activities share one trace, without secrets', async () => {
  const receiver = await startReceiver();
  // batches wait a minute: what arrives, the worker and the CLI flushed as they stopped
  const env = { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: 'default', OTEL_BSP_SCHEDULE_DELAY: '60000' };
  const worker = await startWorkerProcess(['--otlp', receiver.url], { env }).catch(async (err: unknown) => {
    await receiver.close();
    throw err;
  });
  try {
    assert.match(worker.stdout(), new RegExp(`traces: ${receiver.url}/v1/traces \\(--otlp, service klaviyo-sync-worker\\)`));
    const file = path.join(stack.tmp, 'traced.yaml');
    fs.writeFileSync(file, YAML);
    const t0 = Date.now();
    const run = await cli(['run', file, '--workflow-id', 'traced-run'], {
      env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    });
    assert.equal(run.code, 0, run.stderr);
    console.log(`run: ${Date.now() - t0} ms`);
    // the CLI flushed its span as it exited; the worker holds its own until it stops
    const client = receiver.spans();
    assert.deepEqual([...new Set(client.map((s) => s.service))], ['klaviyo-sync'], 'only the CLI has sent spans yet');
    assert.ok(client.some((s) => s.name === 'StartWorkflow:replicate'));
  } finally {
    // SIGTERM: the worker flushes its batch of spans as it stops
    await worker.stop(15_000);
  }
  await receiver.close();
  assert.match(worker.stdout(), /klaviyo-sync worker stopped/);

  const spans = receiver.spans();
  const names = [...new Set(spans.map((s) => s.name))].sort();
  console.log(`${spans.length} spans: ${names.join(', ')}`);

  const start = spans.find((s) => s.name === 'StartWorkflow:replicate');
  assert.ok(start, `the client's StartWorkflow:replicate span (${names.join(', ')})`);
  assert.equal(start.service, 'klaviyo-sync', "the CLI's service name");
  assert.equal(start.attrs.temporalWorkflowId, 'traced-run');
  assert.equal(start.parentSpanId || undefined, undefined, "the client's span starts the trace");
  const trace = spans.filter((s) => s.traceId === start.traceId);
  const named = (name: string) => trace.filter((s) => s.name === name);

  const replicate = named('RunWorkflow:replicate');
  assert.ok(replicate.length >= 1, `RunWorkflow:replicate in the client's trace (${names.join(', ')})`);
  assert.ok(
    replicate.some((s) => s.parentSpanId === start.spanId),
    "the workflow's span is the client's span's child",
  );
  assert.ok(
    replicate.every((s) => s.service === 'klaviyo-sync-worker'),
    "workflow spans carry the worker's service name",
  );
  for (const name of ['StartChildWorkflow:syncStream', 'RunWorkflow:syncStream']) {
    assert.ok(named(name).length >= 3, `${name} for the three streams in the trace (${names.join(', ')})`);
  }
  // list_profiles' stream workflow runs a child per list: grandchildren of replicate, in the same trace
  for (const name of ['StartChildWorkflow:syncPartition', 'RunWorkflow:syncPartition']) {
    assert.ok(named(name).length >= 1, `${name} in the trace (${names.join(', ')})`);
  }
  // a child's run continues its parent's StartChildWorkflow span
  for (const type of ['syncStream', 'syncPartition']) {
    const childStarts = new Set(named(`StartChildWorkflow:${type}`).map((s) => s.spanId));
    assert.ok(
      named(`RunWorkflow:${type}`).every((s) => childStarts.has(s.parentSpanId ?? '')),
      `${type}'s parent span`,
    );
  }

  const activities = trace.filter((s) => s.name.startsWith('RunActivity:'));
  assert.ok(activities.length >= 3, `activity spans in the trace (${names.join(', ')})`);
  const startsOf = new Map(trace.filter((s) => s.name.startsWith('StartActivity:')).map((s) => [s.spanId, s.name]));
  for (const a of activities) {
    assert.equal(startsOf.get(a.parentSpanId ?? ''), a.name.replace('RunActivity:', 'StartActivity:'), `${a.name}'s parent`);
    assert.equal(a.attrs.temporalWorkflowId !== undefined, true, `${a.name} names its workflow`);
  }
  // the page activities' own attributes: the stream, the pages and rows they committed
  const pages = activities.filter((a) => a.attrs['klaviyo_sync.stream'] !== undefined);
  assert.ok(pages.length > 0, 'page activity spans have klaviyo_sync.* attributes');
  const streams = new Set(pages.map((a) => a.attrs['klaviyo_sync.stream']));
  for (const s of ['lists', 'profiles']) assert.ok(streams.has(s), `a page span of ${s}`);
  assert.ok(pages.every((a) => Number(a.attrs['klaviyo_sync.pages']) >= 1 && Number(a.attrs['klaviyo_sync.rows']) >= 0));

  // no secret anywhere in what was exported: span and event attributes, resources, names
  const password = new URL(stack.env.PG!).password;
  assert.ok(password.length > 0);
  for (const body of receiver.bodies) {
    assert.ok(!body.includes(API_KEY), 'the API key is in no exported span');
    assert.ok(!body.includes(password), 'the database password is in no exported span');
  }
});

void test("a traced run's histories replay through the workflow code without the tracing interceptors", async () => {
  // the run of the first test: its replicate and stream workflows, recorded by a tracing worker
  const client = stack.temporal.env.client;
  const ids = ['traced-run', 'traced-run/lists', 'traced-run/list_profiles', 'traced-run/profiles'];
  const histories = await Promise.all(
    ids.map(async (workflowId) => ({ workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() })),
  );
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowsPath: require.resolve('../workflows') }, histories)) {
    assert.equal(r.error, undefined, `${r.workflowId}: ${r.error?.message}`);
    replayed++;
  }
  assert.equal(replayed, ids.length);
});

void test('run --with-worker traces the client and its own worker into one trace, under OTEL_SERVICE_NAME', async () => {
  const receiver = await startReceiver();
  try {
    const file = path.join(stack.tmp, 'traced-with-worker.yaml');
    fs.writeFileSync(file, 'source: KLAVIYO\ntarget: PG\nstreams:\n  lists:\n    object: traces_ww.lists\n');
    const run = await cli(['run', file, '--with-worker', '--workflow-id', 'traced-with-worker'], {
      env: {
        ...stack.env,
        TEMPORAL_ADDRESS: stack.temporal.address,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_SERVICE_NAME: 'sync-test',
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      },
    });
    assert.equal(run.code, 0, run.stderr);
  } finally {
    await receiver.close();
  }
  const spans = receiver.spans();
  const start = spans.find((s) => s.name === 'StartWorkflow:replicate');
  assert.ok(start, 'the client span');
  const trace = spans.filter((s) => s.traceId === start.traceId);
  for (const name of ['RunWorkflow:replicate', 'RunWorkflow:syncStream', 'RunActivity:syncPages']) {
    assert.ok(
      trace.some((s) => s.name === name),
      `${name} in the client's trace`,
    );
  }
  assert.deepEqual([...new Set(spans.map((s) => s.service))], ['sync-test']);
  for (const body of receiver.bodies) assert.ok(!body.includes(API_KEY));
});

void test('tracing is configured by --otlp, else the standard OTLP variables, and is off by default', () => {
  assert.equal(tracingConfig({}), undefined);
  assert.deepEqual(tracingConfig({}, 'http://collector:4318'), {
    url: 'http://collector:4318/v1/traces',
    from: '--otlp',
    serviceName: 'klaviyo-sync-worker',
  });
  assert.equal(
    tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318/base/' })?.url,
    'https://otel.example:4318/base/v1/traces',
  );
  const both = tracingConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/custom/traces',
    OTEL_SERVICE_NAME: 'sync-eu',
  });
  assert.deepEqual(both, { url: 'http://b:4318/custom/traces', from: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', serviceName: 'sync-eu' });
  assert.equal(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.throws(() => tracingConfig({}, 'collector:4318'), /--otlp must be an http\(s\) URL of an OTLP\/HTTP receiver/);
  assert.equal(redactUrl('https://user:s3cret@otel.example/v1/traces'), 'https://otel.example/v1/traces');
});

void test('a bad --otlp fails naming the form, and never echoes a password', async () => {
  const r = await cli(['worker', '--otlp', 'ftp://user:hunter2@collector'], {
    env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address },
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--otlp must be an http\(s\) URL of an OTLP\/HTTP receiver, e\.g\. http:\/\/localhost:4318/);
  assert.doesNotMatch(r.stderr, /hunter2/);
});
