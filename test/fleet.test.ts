/**
 * One rate budget for a fleet: three `klaviyo-sync worker` processes share one account of a sandbox whose documented
 * limits are scaled down to 4% (3 requests/s and 28/min for the profile and membership listings), so a replication
 * needs several of the sandbox's fixed minutes and its streams keep hitting their limits. The three lease their tokens
 * from the account's rate budget workflow: the sandbox answers (almost) no 429, and each operation's requests stay
 * within its limit. Prints the figures: requests, 429s, rate per operation, lease updates and budget history events
 * per 1,000 requests, and the lease round trip each request paid.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Destination } from '../lib/db/destination';
import { closeAll } from '../lib/db/connect';
import { getStream } from '../streams/streams';
import type { ReplicationSummary } from '../workflows/types';
import { RATE_BUDGET_WORKFLOW_PREFIX } from '../workflows/shared';
import { API_KEY, startSandbox, type SandboxProcess } from './helpers/sandbox';
import { startPostgres, type TestPostgres } from './helpers/postgres';
import { startTemporal, type TestTemporal } from './helpers/temporal';
import { startWorkerProcess, type RunningProcess } from './helpers/process';
import { checksumOf, tableIds } from './helpers/stack';

const SCALE = 0.04;
const WORKERS = 3;

let temporal: TestTemporal;
let sandbox: SandboxProcess;
let postgres: TestPostgres;
let workers: RunningProcess[] = [];

before(async () => {
  [temporal, sandbox, postgres] = await Promise.all([
    startTemporal(),
    startSandbox([
      '--size',
      'tiny',
      '--seed',
      '21',
      // 12 profile pages and 37 membership pages: the memberships need two of the sandbox's minutes at 28/min
      '--profiles',
      '1200',
      '--lists',
      '12',
      '--api-key',
      API_KEY,
      '--rate-limits',
      `scale:${SCALE}`,
    ]),
    startPostgres(),
  ]);
});

after(async () => {
  await Promise.allSettled(workers.map((w) => w.stop(10_000)));
  await closeAll();
  await Promise.allSettled([temporal?.teardown(), sandbox?.stop(), postgres?.stop()]);
});

interface Stats {
  requests: number;
  operations: Record<string, Record<string, number>>;
}

const YAML = `source: KLAVIYO
target: PG
defaults:
  mode: full-refresh
  object: klaviyo.{stream_name}
streams:
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  lists:
  list_profiles:
`;

void test(`${WORKERS} worker processes on one account stay within its scaled limits together`, { timeout: 600_000 }, async () => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporal.address,
    KLAVIYO: sandbox.connection(),
    PG: postgres.url,
    KLAVIYO_SYNC_RATE_LIMITS: 'documented',
    // the workers pace to the same 4% of each tier the sandbox enforces
    KLAVIYO_SYNC_RATE_SHARE: String(SCALE),
  };
  workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorkerProcess([], { env })));

  const client = temporal.env.client;
  const started = Date.now();
  const summary = (await client.workflow.execute('replicate', {
    taskQueue: 'klaviyo-sync',
    workflowId: 'fleet',
    args: [{ name: 'fleet', yaml: YAML }],
  })) as ReplicationSummary;
  const seconds = (Date.now() - started) / 1000;
  assert.ok(
    summary.streams.every((s) => s.status === 'completed'),
    JSON.stringify(summary.streams),
  );

  const stats = (await (await request(`${sandbox.baseUrl}/__sandbox/stats`)).body.json()) as Stats;
  const throttled = Object.values(stats.operations).reduce((n, byStatus) => n + (byStatus['429'] ?? 0), 0);

  // every worker took part, and what their limiters did (printed when each stops)
  await Promise.all(workers.map((w) => w.stop(20_000)));
  const fleet = workers.map((w) => {
    const m = /fleet-stats (\{.*\})/.exec(w.stdout());
    assert.ok(m, `a worker printed its rate budget figures:\n${w.output()}`);
    return JSON.parse(m[1]) as { acquires: number; leaseUpdates: number; leaseRttMs: number; fromPool: number; tokensLost: number };
  });
  workers = [];
  const acquires = fleet.reduce((n, f) => n + f.acquires, 0);
  const leaseUpdates = fleet.reduce((n, f) => n + f.leaseUpdates, 0);
  const leaseRttMs = fleet.reduce((n, f) => n + f.leaseRttMs, 0);
  const fromPool = fleet.reduce((n, f) => n + f.fromPool, 0);
  const lost = fleet.reduce((n, f) => n + f.tokensLost, 0);
  let budgetEvents = 0;
  let budgetRuns = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'rateBudget'` })) {
    assert.ok(wf.workflowId.startsWith(RATE_BUDGET_WORKFLOW_PREFIX), wf.workflowId);
    // visibility keeps a running workflow's length at 0 until it closes: describe says it
    budgetEvents +=
      wf.status.name === 'RUNNING'
        ? Number((await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).raw.workflowExecutionInfo?.historyLength ?? 0)
        : wf.historyLength;
    budgetRuns++;
  }

  const lines = [
    `# ${WORKERS} workers, ${seconds.toFixed(1)} s: ${stats.requests} requests to the sandbox, ${throttled} answered 429 ` +
      `(${((100 * throttled) / stats.requests).toFixed(2)}%)`,
  ];
  const minutes = seconds / 60;
  for (const [op, byStatus] of Object.entries(stats.operations)) {
    const n = Object.values(byStatus).reduce((a, b) => a + b, 0);
    const stream = Object.values(['profiles', 'lists', 'list_profiles'] as const).find((s) => getStream(s).operation === op);
    const tier = stream ? getStream(stream).rateLimit : undefined;
    const limit = tier ? `${Math.max(1, Math.round(tier.burst * SCALE))}/s, ${Math.max(1, Math.round(tier.steady * SCALE))}/min` : 'n/a';
    lines.push(`#   ${op}: ${n} requests, ${(n / minutes).toFixed(1)}/min over the run (limit ${limit}); ${JSON.stringify(byStatus)}`);
  }
  lines.push(
    `# lease updates: ${leaseUpdates} for ${acquires} acquires (${((1000 * leaseUpdates) / acquires).toFixed(0)} per 1,000 requests); ` +
      `${fromPool} served from a leased pool; ${lost} tokens leased but unused`,
    `# budget workflow: ${budgetRuns} runs, ${budgetEvents} history events (${((1000 * budgetEvents) / acquires).toFixed(0)} per 1,000 requests)`,
    `# lease round trips: ${(leaseRttMs / Math.max(1, leaseUpdates)).toFixed(1)} ms each, ${(leaseRttMs / acquires).toFixed(1)} ms per acquire on average`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);

  assert.ok(throttled / stats.requests < 0.01, `${throttled} of ${stats.requests} requests answered 429`);
  // the combined rate: no operation sent more than its steady limit in each of the sandbox's minutes the run touched
  const windows = Math.ceil(seconds / 60) + 1;
  for (const s of ['profiles', 'lists', 'list_profiles'] as const) {
    const def = getStream(s);
    const n = Object.values(stats.operations[def.operation] ?? {}).reduce((a, b) => a + b, 0);
    const steady = Math.max(1, Math.round(def.rateLimit.steady * SCALE));
    assert.ok(n <= steady * windows, `${def.operation}: ${n} requests in ${windows} minutes of at most ${steady}`);
  }
  assert.ok(acquires >= stats.requests - throttled, `the workers' limiters saw every request (${acquires} of ${stats.requests})`);
  assert.ok(
    fleet.every((f) => f.acquires > 0),
    `every worker sent requests: ${fleet.map((f) => f.acquires).join(', ')}`,
  );
  // the limit bound: the memberships alone needed more than one minute's steady allowance
  const memberships = Object.values(stats.operations[getStream('list_profiles').operation] ?? {}).reduce((a, b) => a + b, 0);
  assert.ok(memberships > Math.round(getStream('list_profiles').rateLimit.steady * SCALE), `${memberships} membership requests`);
  assert.ok(budgetRuns >= 1 && budgetEvents > 0);

  const dest = new Destination({ kind: 'postgres', url: postgres.url });
  const truth = (await sandbox.truth()) as Record<string, { count: number; checksum: string }>;
  for (const s of ['profiles', 'lists', 'list_profiles'] as const) {
    assert.deepEqual(checksumOf(await tableIds(dest, s)), truth[s], `${s}: exact`);
  }
});
