/**
 * Records histories for the replay test, on a real dev server that suggests continue-as-new after 30 events (tiny
 * sandbox, SQLite), so every workflow shape is covered:
 * - `record`: every stream, one page per activity: replicate, streams (plain, partitioned by label, fanned out),
 *   partitions, and runs that ended in continue-as-new;
 * - `record-failed`: a stream failing on a 400 (non-retryable): the stream and the replication fail;
 * - `record-cancel`: a slowed replication cancelled mid-load: replicate, streams and partitions end Canceled
 *   after their cleanup;
 * - the account's rate budget (`rateBudget`), leased by the worker through all of them, continued as new.
 * Histories recorded from earlier workflow code (`v1--*`: before bounded progress; `v2--*`: before partitions ran at
 * once; `v3--*`: before time windows were split while read; `v4--*`: before calls were shortened while a run ramps up or slots
 * are idle) are kept: the current code must still replay them.
 * Before a change that needs a patch, rename the current ones to the next `vN--` (and add them to index.json) so
 * they stay.
 * Run it with `npm run record-histories` after a workflow change (and patch old runs where needed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { requireTemporalCli } from '../client/temporal-cli';
import { ALL_STREAMS_YAML, MEMBERSHIPS_YAML, replicateWith, stackWorker, startStack, type Stack } from '../test/helpers/stack';

const DIR = path.join(__dirname, '..', 'test', 'histories');

const faults = (stack: Stack, body: unknown) => stack.sandbox.admin('faults', body);

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const stack = await startStack(
    ['--profiles', '1500', '--lists', '12'],
    ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=30'],
  );
  const client = stack.temporal.env.client;
  try {
    // 1. everything, completed, with continue-as-new along the way
    await replicateWith(stack, ALL_STREAMS_YAML('LITE'), 'record', undefined, 1);

    // 2. a stream that fails: its first request after start answers 400
    {
      const worker = await stackWorker(stack);
      await worker.runUntil(async () => {
        const handle = await client.workflow.start('replicate', {
          taskQueue: 'klaviyo-sync',
          workflowId: 'record-failed',
          args: [{ name: 'record-failed', yaml: MEMBERSHIPS_YAML }],
        });
        await until(
          'record-failed/lists started',
          async () =>
            (await client.workflow
              .getHandle('record-failed/lists')
              .describe()
              .catch(() => undefined)) !== undefined,
        );
        await faults(stack, { failNext: { count: 1, status: 400 } });
        await handle.result().catch(() => undefined);
      });
      await faults(stack, {});
    }

    // 3. cancelled while the membership streams load
    {
      await faults(stack, { slow: { p: 1, ms: 300 } });
      const worker = await stackWorker(stack, stack.env, 2);
      await worker.runUntil(async () => {
        const handle = await client.workflow.start('replicate', {
          taskQueue: 'klaviyo-sync',
          workflowId: 'record-cancel',
          args: [{ name: 'record-cancel', yaml: MEMBERSHIPS_YAML }],
        });
        await until('record-cancel partitions running', async () => {
          const d = await client.workflow
            .getHandle('record-cancel/list_profiles')
            .describe()
            .catch(() => undefined);
          return (d?.raw.pendingChildren?.length ?? 0) > 0;
        });
        await new Promise((r) => setTimeout(r, 300));
        await handle.cancel();
        await handle.result().catch(() => undefined);
      });
      await faults(stack, {});
    }

    const runs: WorkflowExecutionInfo[] = [];
    for await (const wf of client.workflow.list()) runs.push(wf);
    const pick = (pred: (wf: WorkflowExecutionInfo) => boolean, label: string): WorkflowExecutionInfo => {
      const wf = runs.find(pred);
      if (!wf) throw new Error(`no run for ${label} among ${runs.map((r) => `${r.workflowId} ${r.status.name}`).join(', ')}`);
      return wf;
    };
    const is = (id: string, status: string) => (wf: WorkflowExecutionInfo) => wf.workflowId === id && wf.status.name === status;
    const wanted: Array<[string, WorkflowExecutionInfo]> = [
      ['completed', pick(is('record', 'COMPLETED'), 'record')],
      ['completed', pick(is('record/events', 'COMPLETED'), 'record/events')],
      ['continued', pick(is('record/events', 'CONTINUED_AS_NEW'), 'record/events continued')],
      ['completed', pick(is('record/campaigns', 'COMPLETED'), 'record/campaigns')],
      ['completed', pick(is('record/list_profiles', 'COMPLETED'), 'record/list_profiles')],
      [
        'completed',
        pick(
          (wf) => wf.type === 'syncPartition' && wf.workflowId.startsWith('record/list_profiles/') && wf.status.name === 'COMPLETED',
          'a partition',
        ),
      ],
      ['failed', pick(is('record-failed', 'FAILED'), 'record-failed')],
      [
        'failed',
        pick(
          (wf) => wf.type === 'syncStream' && wf.workflowId.startsWith('record-failed/') && wf.status.name === 'FAILED',
          'a failed stream',
        ),
      ],
      ['cancelled', pick(is('record-cancel', 'CANCELLED'), 'record-cancel')],
      ['cancelled', pick(is('record-cancel/list_profiles', 'CANCELLED'), 'record-cancel/list_profiles')],
    ];
    // where the timing gave them: a fan-out that continued as new, a partition that did, a partition cancelled
    const optional: Array<[string, (wf: WorkflowExecutionInfo) => boolean]> = [
      ['continued', is('record/list_profiles', 'CONTINUED_AS_NEW')],
      ['continued', (wf) => wf.type === 'syncPartition' && wf.status.name === 'CONTINUED_AS_NEW'],
      ['cancelled', (wf) => wf.type === 'syncPartition' && wf.workflowId.startsWith('record-cancel/') && wf.status.name === 'CANCELLED'],
      // the account's rate budget, which the workers' leases continue as new
      ['continued', (wf) => wf.type === 'rateBudget' && wf.status.name === 'CONTINUED_AS_NEW'],
    ];
    for (const [ending, pred] of optional) {
      const wf = runs.find(pred);
      if (wf) wanted.push([ending, wf]);
      else process.stdout.write(`(no ${ending} run of that kind this time)\n`);
    }

    fs.mkdirSync(DIR, { recursive: true });
    const indexFile = path.join(DIR, 'index.json');
    const previous = fs.existsSync(indexFile) ? (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as Record<string, unknown>) : {};
    const index: Record<string, unknown> = {};
    // earlier code's histories stay: running workflows of that code must keep replaying
    const earlier = (file: string) => /^v\d+--/.test(file);
    for (const [file, entry] of Object.entries(previous)) if (earlier(file)) index[file] = entry;
    for (const f of fs.readdirSync(DIR)) if (f.endsWith('.json') && f !== 'index.json' && !earlier(f)) fs.rmSync(path.join(DIR, f));
    for (const [ending, wf] of wanted) {
      // the CLI's JSON is the format `historyFromJSON` (and the Web UI's download) uses
      const json = execFileSync(
        requireTemporalCli(),
        ['workflow', 'show', '--workflow-id', wf.workflowId, '--run-id', wf.runId, '--output', 'json', '--address', stack.temporal.address],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      const file = path.join(DIR, `${wf.type}--${wf.workflowId.replace(/[^A-Za-z0-9_-]+/g, '_')}--${ending}.json`);
      fs.writeFileSync(file, json);
      index[path.basename(file)] = { workflowId: wf.workflowId, workflowType: wf.type, ending };
      process.stdout.write(`recorded ${path.basename(file)} (${wf.historyLength} events)\n`);
    }
    // replay needs each history's real workflow id (child ids derive from it)
    fs.writeFileSync(indexFile, `${JSON.stringify(index, null, 2)}\n`);
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
