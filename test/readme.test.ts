/**
 * What README.md states about the code, checked against the code: the figures it gives must be the defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { defaultDeps, PARTITIONS_PER_PREPARE } from '../activities';
import { MAX_CONCURRENT_ACTIVITIES } from '../worker';
import { streamsMarkdown } from '../client/commands/discover';
import { WORKER_HEAP } from '../worker/heap-thread';
import { PAGES_IN_MEMORY } from '../lib/pages-in-memory';
import { DEFAULT_CLI_SERVICE, DEFAULT_WORKER_SERVICE, WORKFLOW_TRACING_MODULE } from '../worker/tracing';

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

void test('README gives the page budget of an activity call that the worker uses', () => {
  const m = /An activity pages for up to (\d+) pages or (\d+) s/.exec(README);
  assert.ok(m, 'README states the budget of a page activity');
  const deps = defaultDeps({});
  assert.deepEqual({ pages: Number(m[1]), seconds: Number(m[2]) }, { pages: deps.maxPagesPerCall, seconds: deps.maxSecondsPerCall });
});

void test('every `npm run` script README names exists', () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  const named = [...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
  assert.ok(named.length > 0);
  for (const script of named) assert.ok(script in scripts, `README names npm run ${script}`);
});

void test('README gives the batch of partitions a prepare hands the stream workflow', () => {
  const m = /receives them at most (\d+) at a time/.exec(README);
  assert.ok(m, 'README states the batch');
  assert.equal(Number(m[1]), PARTITIONS_PER_PREPARE);
});

void test('pointers in the code lead to what the repo holds: README headings and anchors, vendored spec paths', () => {
  const root = path.join(__dirname, '..');
  const headings = [...README.matchAll(/^#+ (.+)$/gm)].map((m) => m[1].trim());
  const anchors = new Set(
    headings.map((h) =>
      h
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  for (const [, anchor] of README.matchAll(/\]\(#([^)]+)\)/g))
    assert.ok(anchors.has(anchor), `README links to #${anchor}, a heading it has`);

  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') walk(path.join(dir, e.name));
      else if (e.isFile() && /\.(ts|js)$/.test(e.name) && !(dir === 'test' && e.name === 'readme.test.ts'))
        sources.push(path.join(dir, e.name));
    }
  };
  walk('.');
  let named = 0;
  for (const file of sources) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    for (const [, heading] of text.matchAll(/README, "([^"]+)"/g)) {
      named++;
      assert.ok(headings.includes(heading), `${file} points to the README heading "${heading}", which README.md has`);
    }
    // the spec is vendored in spec/klaviyo/; the field notes are not in the repo, so code cites their sources instead
    assert.doesNotMatch(text, /shared\/klaviyo|FIELD-NOTES/, `${file} points outside the repo`);
  }
  assert.ok(named > 0, 'some message points to a README heading');
});

void test('README gives the worker’s activity slots', () => {
  const slots = /A worker runs up to (\d+) activities at once/.exec(README);
  assert.ok(slots, 'README states the activity slots');
  assert.equal(Number(slots[1]), MAX_CONCURRENT_ACTIVITIES);
});

void test('README gives the worker’s heap thread and the pages it holds in memory', () => {
  const heap = /it runs in a thread of an old generation of (\d+) MB \(and a young one of (\d+) MB\)/.exec(README);
  assert.ok(heap, 'README states the worker thread’s heap');
  assert.deepEqual([Number(heap[1]), Number(heap[2])], [WORKER_HEAP.oldMb, WORKER_HEAP.youngMb]);
  const pages = /`KLAVIYO_SYNC_PAGES_IN_MEMORY` \(default (\d+)\)/.exec(README);
  assert.ok(pages, 'README states the bound on pages in memory');
  assert.equal(Number(pages[1]), PAGES_IN_MEMORY);
});

void test("README's stream table is discover's: every stream, its modes, key, cursor, parent, partitioning and rate tier", () => {
  const m = /<!-- streams -->\n([\s\S]*?)<!-- \/streams -->/.exec(README);
  assert.ok(m, 'README has the stream table between <!-- streams --> markers');
  assert.equal(m[1], streamsMarkdown(), 'README stream table: replace it with streamsMarkdown() of client/commands/discover.ts');
});

void test("README's Traces section gives the service names and the variables the code reads", () => {
  const section = /### Traces\n([\s\S]*?)\n## /.exec(README)?.[1];
  assert.ok(section, 'README has a Traces section');
  assert.ok(
    section.includes(
      `default \`${DEFAULT_WORKER_SERVICE}\` for \`klaviyo-sync worker\`, \`${DEFAULT_CLI_SERVICE}\` for the other commands`,
    ),
    'README gives the default service names',
  );
  const code = fs.readFileSync(path.join(__dirname, '..', 'worker', 'tracing.ts'), 'utf8');
  for (const v of ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME', 'OTEL_SDK_DISABLED']) {
    assert.ok(section.includes(`\`${v}`), `README names ${v}`);
    assert.ok(code.includes(`env.${v}`), `worker/tracing.ts reads ${v}`);
  }
  assert.ok(section.includes('`@temporalio/interceptors-opentelemetry`'));
  assert.ok(WORKFLOW_TRACING_MODULE.startsWith('@temporalio/interceptors-opentelemetry/'));
});
