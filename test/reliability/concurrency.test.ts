/**
 * Concurrency (issue #10, item 10), on the real stack (a Temporal dev server, two sandbox processes, an embedded
 * Postgres, a `klaviyo-sync worker` process, `klaviyo-sync run` processes started at the same instant):
 *
 * - the same replication started twice at once with the same workflow id: the second `run` joins the first (one
 *   workflow run), both exit 0 with the summary, and the tables are exact;
 * - the same replication started twice at once with two workflow ids: one completes exact, the other is refused at
 *   once, naming the workflow that holds the tables (before, both failed with "superseded");
 * - two replications of different streams into one database (one schema) at once: both complete exact;
 * - two accounts (two sandboxes, other seeds and keys) into one schema at once, as `a_<stream>` and `b_<stream>`:
 *   both complete exact, each against its own account's truth.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Destination } from '../../lib/db/destination';
import type { StreamName } from '../../streams/types';
import { cli, startWorkerProcess, type ProcessResult, type RunningProcess } from '../helpers/process';
import { startSandbox, type SandboxProcess, type Truth } from '../helpers/sandbox';
import { runsOf } from '../helpers/temporal';
import { startStack, type Stack } from '../helpers/stack';
import { recordFigures, SHORT } from './figures';
import { checkTable } from './measure';

const SUITE = 'concurrency';
const KEY_B = 'pk_concurrency_account_b_42';
const REPEAT = SHORT ? 1 : 3;
const RUN_MS = 150_000;

let stack: Stack;
let sandboxB: SandboxProcess;
let worker: RunningProcess;
let env: NodeJS.ProcessEnv;

before(async () => {
  // each answer slowed a little, so that runs started together overlap for seconds, not milliseconds
  [stack, sandboxB] = await Promise.all([
    startStack(['--faults', 'slow=1:15']),
    startSandbox(['--size', 'tiny', '--seed', '12', '--api-key', KEY_B, '--rate-limits', 'off', '--faults', 'slow=1:15']),
  ]);
  env = {
    ...stack.env,
    KLAVIYO_B: sandboxB.connection(KEY_B),
    TEMPORAL_ADDRESS: stack.temporal.address,
    TEMPORAL_NAMESPACE: 'default',
  };
  worker = await startWorkerProcess(['--rate-limits', 'documented'], { env });
});

after(async () => {
  await worker?.stop(10_000);
  await Promise.allSettled([stack?.stop(), sandboxB?.stop()]);
});

interface Selection {
  source: 'KLAVIYO' | 'KLAVIYO_B';
  /** `schema.prefix`: tables `<schema>.<prefix><stream>` */
  schema: string;
  prefix?: string;
  streams: StreamName[];
}

const INCREMENTAL = new Set<StreamName>(['profiles', 'events', 'templates']);

function replicationFile(name: string, s: Selection): string {
  const lines = [
    `source: ${s.source}`,
    'target: PG',
    'defaults:',
    '  mode: full-refresh',
    `  object: ${s.schema}.${s.prefix ?? ''}{stream_name}`,
    'streams:',
  ];
  for (const stream of s.streams) {
    lines.push(`  ${stream}:`);
    if (INCREMENTAL.has(stream)) lines.push('    mode: incremental', '    source_options:', '      start_date: 2015-01-01');
  }
  const file = path.join(stack.tmp, `${name}.yaml`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Rows lost and duplicated over the selection's tables, against its account's truth (count and id checksum). */
async function compare(s: Selection): Promise<{ rowsLost: number; rowsDuplicated: number; rows: number }> {
  const dest = new Destination({ kind: 'postgres', url: stack.postgres.url });
  const t = (await (s.source === 'KLAVIYO' ? stack.sandbox : sandboxB).truth()) as Truth;
  const out = { rowsLost: 0, rowsDuplicated: 0, rows: 0 };
  for (const stream of s.streams) {
    const c = await checkTable(dest, stream, { schema: s.schema, table: `${s.prefix ?? ''}${stream}` }, t[stream]);
    out.rowsLost += c.rowsLost;
    out.rowsDuplicated += c.rowsDuplicated;
    out.rows += c.rows;
  }
  return out;
}

/** `klaviyo-sync run` processes started at the same instant; a run past RUN_MS is killed and counted as a hang. */
async function runAtOnce(
  runs: Array<{ file: string; workflowId: string }>,
): Promise<{ results: ProcessResult[]; hangs: number; ms: number }> {
  const started = Date.now();
  const results = await Promise.all(runs.map((r) => cli(['run', r.file, '--workflow-id', r.workflowId], { env, killAfterMs: RUN_MS })));
  return { results, hangs: results.filter((r) => r.code === null).length, ms: Date.now() - started };
}

const SAME: StreamName[] = ['profiles', 'events', 'lists', 'list_profiles', 'campaigns'];

void test(
  'the same replication started twice at once with the same workflow id: the second joins the first',
  { timeout: 400_000 },
  async () => {
    for (let i = 0; i < REPEAT; i++) {
      const sel: Selection = { source: 'KLAVIYO', schema: `sameid${i}`, streams: SAME };
      const file = replicationFile(`sameid${i}`, sel);
      const id = `conc-same-${i}`;
      const { results, hangs, ms } = await runAtOnce([
        { file, workflowId: id },
        { file, workflowId: id },
      ]);
      const runs = await runsOf(stack.temporal.env.client, id);
      const tables = await compare(sel);
      recordFigures({
        suite: SUITE,
        case: 'same id twice at once',
        rowsLost: tables.rowsLost,
        rowsDuplicated: tables.rowsDuplicated,
        hangs,
        details: {
          workflowRuns: runs.length,
          exitCodes: results.map((r) => r.code).join(','),
          rows: tables.rows,
          seconds: Math.round(ms / 1000),
        },
      });
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      assert.ok(
        results.some((r) => /joining the running replication/.test(r.stderr)) || runs.length === 1,
        results.map((r) => r.stderr).join('\n---\n'),
      );
      assert.equal(runs.length, 1, 'one workflow run');
      for (const r of results) assert.match(r.stdout, /profiles/, 'each run prints the summary');
      assert.equal(hangs, 0);
      assert.equal(tables.rowsLost + tables.rowsDuplicated, 0, 'the tables are exact');
    }
  },
);

void test(
  'the same replication started twice at once with two workflow ids: one runs, the other is refused naming it',
  { timeout: 400_000 },
  async () => {
    for (let i = 0; i < REPEAT; i++) {
      const sel: Selection = { source: 'KLAVIYO', schema: `twoids${i}`, streams: SAME };
      const file = replicationFile(`twoids${i}`, sel);
      const ids = [`conc-a-${i}`, `conc-b-${i}`];
      const { results, hangs, ms } = await runAtOnce(ids.map((workflowId) => ({ file, workflowId })));
      const tables = await compare(sel);
      const ok = results.filter((r) => r.code === 0).length;
      const refusal =
        results
          .find((r) => r.code !== 0)
          ?.stderr.trim()
          .split('\n')
          .pop() ?? '';
      recordFigures({
        suite: SUITE,
        case: 'two ids, the same tables, at once',
        rowsLost: tables.rowsLost,
        rowsDuplicated: tables.rowsDuplicated,
        hangs,
        details: {
          completed: ok,
          refusal: refusal.slice(0, 240),
          exitCodes: results.map((r) => r.code).join(','),
          rows: tables.rows,
          seconds: Math.round(ms / 1000),
        },
      });
      assert.equal(ok, 1, `one run completes:\n${results.map((r) => r.stderr).join('\n---\n')}`);
      const winner = results.findIndex((r) => r.code === 0);
      const loser = results[1 - winner];
      assert.match(loser.stderr, new RegExp(`${ids[winner]}`), 'the refusal names the workflow that holds the tables');
      assert.match(loser.stderr, /already|being (written|replicated)/i, loser.stderr);
      assert.doesNotMatch(loser.stderr, /superseded/, loser.stderr);
      // and `status` of the refused run says why at once (it failed before any stream: no summary, no query needed)
      const t0 = Date.now();
      const status = await cli(['status', ids[1 - winner]], { env, killAfterMs: 60_000 });
      const statusMs = Date.now() - t0;
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`failed: .*being written by replication ${ids[winner]}`), status.stdout);
      assert.ok(statusMs < 15_000, `status answered in ${statusMs} ms`);
      assert.equal(hangs, 0);
      assert.equal(tables.rowsLost + tables.rowsDuplicated, 0, 'the tables are exact');
    }
  },
);

void test('two replications of different streams into one schema at once: both complete exact', { timeout: 400_000 }, async () => {
  const a: Selection = { source: 'KLAVIYO', schema: 'shared', streams: ['profiles', 'events', 'templates'] };
  const b: Selection = { source: 'KLAVIYO', schema: 'shared', streams: ['lists', 'list_profiles', 'campaigns', 'tags'] };
  const { results, hangs, ms } = await runAtOnce([
    { file: replicationFile('shared-a', a), workflowId: 'conc-shared-a' },
    { file: replicationFile('shared-b', b), workflowId: 'conc-shared-b' },
  ]);
  const [ta, tb] = [await compare(a), await compare(b)];
  recordFigures({
    suite: SUITE,
    case: 'two replications, one database',
    rowsLost: ta.rowsLost + tb.rowsLost,
    rowsDuplicated: ta.rowsDuplicated + tb.rowsDuplicated,
    hangs,
    details: { exitCodes: results.map((r) => r.code).join(','), rows: ta.rows + tb.rows, seconds: Math.round(ms / 1000) },
  });
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  assert.equal(hangs, 0);
  assert.equal(ta.rowsLost + tb.rowsLost + ta.rowsDuplicated + tb.rowsDuplicated, 0, 'the tables are exact');
});

void test('two accounts into one schema at once (a_<stream>, b_<stream>): both complete exact', { timeout: 400_000 }, async () => {
  const streams: StreamName[] = ['profiles', 'events', 'lists', 'list_profiles'];
  const a: Selection = { source: 'KLAVIYO', schema: 'accounts', prefix: 'a_', streams };
  const b: Selection = { source: 'KLAVIYO_B', schema: 'accounts', prefix: 'b_', streams };
  const { results, hangs, ms } = await runAtOnce([
    { file: replicationFile('account-a', a), workflowId: 'conc-account-a' },
    { file: replicationFile('account-b', b), workflowId: 'conc-account-b' },
  ]);
  const [ta, tb] = [await compare(a), await compare(b)];
  recordFigures({
    suite: SUITE,
    case: 'two accounts, one schema',
    rowsLost: ta.rowsLost + tb.rowsLost,
    rowsDuplicated: ta.rowsDuplicated + tb.rowsDuplicated,
    hangs,
    details: { exitCodes: results.map((r) => r.code).join(','), rows: ta.rows + tb.rows, seconds: Math.round(ms / 1000) },
  });
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  assert.equal(hangs, 0);
  assert.equal(ta.rowsLost + tb.rowsLost + ta.rowsDuplicated + tb.rowsDuplicated, 0, 'the tables are exact');
  // the two accounts differ, so the check above compared each table with its own account
  const [truthA, truthB] = [await stack.sandbox.truth(), await sandboxB.truth()];
  assert.notEqual(truthA.profiles.checksum, truthB.profiles.checksum);
});
