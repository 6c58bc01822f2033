/**
 * Determinism gate: recorded histories of real runs (test/histories/, made by `npm run record-histories`) replay
 * through the current workflow code. A change that would break running workflows fails here. The set covers every
 * workflow type and every way a run ends (completed, continued as new, failed, cancelled), and keeps histories of
 * earlier workflow code (`v1--*`, from before bounded progress; `v2--*`, from before partitions were paged at once;
 * `v3--*`, from before time windows were split while read; `v4--*`, from before calls were shortened while a run
 * ramps up or slots are idle),
 * which the current code replays through its patches. They replay through a tracing worker's workflow code too (the
 * OpenTelemetry workflow interceptors, worker/tracing.ts): a worker on which traces were turned on takes over runs
 * that began without them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { WORKFLOW_TRACING_MODULE } from '../worker/tracing';

const DIR = path.join(__dirname, 'histories');

function recorded() {
  const index = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8')) as Record<string, { workflowId: string }>;
  return Object.keys(index).map((f) => ({
    workflowId: index[f].workflowId,
    history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'))),
  }));
}

void test('recorded histories replay through the current workflow code', async () => {
  const index = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8')) as Record<
    string,
    { workflowId: string; workflowType: string }
  >;
  const files = Object.keys(index);
  const types = new Set(Object.values(index).map((h) => h.workflowType));
  assert.ok(files.length >= 3, `expected recorded histories in ${DIR}, found ${files.length}`);
  for (const t of ['replicate', 'syncStream', 'syncPartition', 'rateBudget']) assert.ok(types.has(t), `a ${t} history is recorded`);

  const json = new Map(
    files.map((f) => [f, JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as { events: Array<{ eventType: string }> }]),
  );
  // how each run ended, read from its last event
  const shapes = new Set(
    files.map((f) => {
      const events = json.get(f)!.events;
      return `${index[f].workflowType} ${events[events.length - 1].eventType.replace(/^EVENT_TYPE_WORKFLOW_EXECUTION_/, '')}`;
    }),
  );
  for (const shape of [
    'replicate COMPLETED',
    'replicate FAILED',
    'replicate CANCELED',
    'syncStream COMPLETED',
    'syncStream CONTINUED_AS_NEW',
    'syncStream FAILED',
    'syncStream CANCELED',
    'syncPartition COMPLETED',
    'syncPartition CONTINUED_AS_NEW',
    'syncPartition CANCELED',
    'rateBudget CONTINUED_AS_NEW',
  ]) {
    assert.ok(shapes.has(shape), `a ${shape} history is recorded (have: ${[...shapes].join(', ')})`);
  }
  for (const v of ['v1--', 'v2--', 'v3--', 'v4--'])
    assert.ok(
      files.some((f) => f.startsWith(v)),
      `histories of the earlier workflow code (${v}) are kept`,
    );

  const histories = files.map((f) => ({ workflowId: index[f].workflowId, history: historyFromJSON(json.get(f)) }));
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowsPath: require.resolve('../workflows') }, histories)) {
    assert.equal(r.error, undefined, `${r.workflowId}: ${r.error?.message}`);
    replayed++;
  }
  assert.equal(replayed, files.length);
});

void test('recorded histories replay through the workflow code with the tracing interceptors, exporting nothing', async () => {
  const histories = recorded();
  const exported: ReadableSpan[] = [];
  const processor: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void exported.push(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  let replayed = 0;
  for await (const r of Worker.runReplayHistories(
    {
      workflowsPath: require.resolve('../workflows'),
      interceptors: { workflowModules: [require.resolve(WORKFLOW_TRACING_MODULE)] },
      sinks: { exporter: makeWorkflowExporter(processor, new Resource({ 'service.name': 'replay' })) },
    },
    histories,
  )) {
    assert.equal(r.error, undefined, `${r.workflowId}: ${r.error?.message}`);
    replayed++;
  }
  assert.equal(replayed, histories.length);
  // a replay's spans are not exported again (the sink is not called while replaying)
  assert.equal(exported.length, 0);
});
