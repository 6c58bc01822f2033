/**
 * No workflow history grows with the data. On a dev server that terminates any run past 100 history events
 * (`limit.historyCount.error=100`) and suggests continue-as-new at 30, a replication needing many more page
 * activities than that (one page per activity: 30 pages of events, 40 lists fanned out, 10 pages of profiles)
 * completes with tables exact against the sandbox, and no run of any workflow (replicate, syncStream,
 * syncPartition) comes near the limit.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Destination } from '../lib/db/destination';
import { checksumOf, replicateWith, startStack, tableIds, targetOf, truth, type Stack } from './helpers/stack';

const HISTORY_ERROR = 100;

let stack: Stack;

before(async () => {
  stack = await startStack(
    ['--events', '6000', '--lists', '40', '--profiles', '2000'],
    [
      '--dynamic-config-value',
      `limit.historyCount.error=${HISTORY_ERROR}`,
      '--dynamic-config-value',
      'limit.historyCount.warn=80',
      '--dynamic-config-value',
      'limit.historyCount.suggestContinueAsNew=30',
    ],
  );
});
after(async () => {
  await stack?.stop();
});

interface RunInfo {
  workflowId: string;
  type: string;
  status: string;
  historyLength: number;
}

async function allRuns(): Promise<RunInfo[]> {
  const out: RunInfo[] = [];
  for await (const wf of stack.temporal.env.client.workflow.list()) {
    out.push({ workflowId: wf.workflowId, type: wf.type, status: wf.status.name, historyLength: wf.historyLength });
  }
  return out;
}

void test(
  `a replication of ~100 page activities completes under limit.historyCount.error=${HISTORY_ERROR}; every run stays bounded`,
  { timeout: 300_000 },
  async () => {
    const yaml = `
source: KLAVIYO
target: PG
defaults:
  object: klaviyo.{stream_name}
streams:
  events:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  list_profiles:
    mode: full-refresh
`;
    // one page per activity: each page is an activity (3+ events) in some workflow
    let failure: unknown;
    const summary = await replicateWith(stack, yaml, 'hb', undefined, 1).catch((err: unknown) => {
      failure = err;
      return undefined;
    });
    const runs = await allRuns();
    const largest = [...runs].sort((a, b) => b.historyLength - a.historyLength).slice(0, 5);
    const replication = runs.find((r) => r.workflowId === 'hb');
    process.stdout.write(
      `# ${runs.length} workflow runs; replicate: ${replication?.historyLength} events (${replication?.status}); ` +
        `largest histories: ${largest.map((r) => `${r.workflowId} (${r.type}, ${r.status}) ${r.historyLength}`).join('; ')}\n`,
    );
    assert.equal(
      failure,
      undefined,
      `the replication failed: ${String((failure as Error | undefined)?.message)}; runs: ${JSON.stringify(runs.filter((r) => r.status !== 'COMPLETED' && r.status !== 'CONTINUED_AS_NEW'))}`,
    );
    assert.ok(summary!.streams.every((s) => s.status === 'completed'));
    assert.deepEqual(
      runs.filter((r) => r.status === 'TERMINATED'),
      [],
      'no run was terminated',
    );
    assert.ok(largest[0].historyLength < HISTORY_ERROR, `largest history ${largest[0].historyLength}`);

    const dest = new Destination(targetOf(stack, 'PG'));
    const t = await truth(stack);
    for (const s of ['events', 'profiles', 'list_profiles'] as const) {
      assert.deepEqual(checksumOf(await tableIds(dest, s)), t[s], `${s}: exact`);
      assert.equal(summary!.streams.find((x) => x.stream === s)!.rows, t[s].count, `${s}: rows of the summary`);
    }
    // the work really needed far more events than one run may hold
    const pages = summary!.streams.reduce((n, s) => n + s.pages, 0);
    assert.ok(pages * 3 > HISTORY_ERROR, `${pages} page activities`);
    assert.ok(runs.filter((r) => r.status === 'CONTINUED_AS_NEW').length > 0, 'some workflows continued as new');
  },
);
