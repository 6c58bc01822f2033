/**
 * `klaviyo-sync schedule create|list|delete` as real processes against a real Temporal dev server, checked through
 * the server's own description of each schedule; and the `temporal schedule create` command line the README gives
 * as the equivalent, run with the real Temporal CLI, must describe the same schedule.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { requireTemporalCli } from '../client/temporal-cli';
import { runProcess } from './helpers/process';
import { CLI } from './helpers/sandbox';
import { startTemporal, type TestTemporal } from './helpers/temporal';

const YAML_TEXT = `source: KLAVIYO
target: MY_PG
streams:
  '*':
  profiles: { mode: incremental }
`;

let temporal: TestTemporal;
let client: Client;
let tmp: string;
let file: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-schedule-'));
  file = path.join(tmp, 'nightly.yaml');
  fs.writeFileSync(file, YAML_TEXT);
  temporal = await startTemporal();
  client = temporal.env.client;
  // connections are resolved (not contacted) before a schedule is created, so placeholders do
  env = {
    PATH: process.env.PATH,
    HOME: tmp,
    TEMPORAL_ADDRESS: temporal.address,
    KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', secrets: { api_key: 'pk_schedule_test_key' } }),
    MY_PG: 'postgresql://sync:secret@db.example:5432/warehouse',
  };
});
after(async () => {
  await temporal?.teardown();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const run = (command: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  runProcess(command, args, { cwd: tmp, env: { ...env, ...extraEnv } });

const cli = (args: string[], extraEnv?: NodeJS.ProcessEnv) => run(process.execPath, [CLI, ...args], extraEnv);

async function exists(scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).describe();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/** `[every, offset]` in ms: the server leaves a zero offset out, the Temporal CLI sends it. */
function intervals(d: ScheduleDescription): Array<[number, number]> | undefined {
  return d.spec.intervals?.map((i) => [i.every, i.offset ?? 0]);
}

/** What makes two schedules the same: when they fire, what they start, how runs may overlap, what they are called. */
function essence(d: ScheduleDescription) {
  return {
    intervals: intervals(d),
    calendars: d.spec.calendars,
    overlap: d.policies.overlap,
    catchupWindow: d.policies.catchupWindow,
    workflowType: d.action.workflowType,
    taskQueue: d.action.taskQueue,
    workflowId: d.action.workflowId,
    args: d.action.args,
    staticSummary: d.action.staticSummary,
    memo: d.memo,
    paused: d.state.paused,
  };
}

void test('schedule create --every 1h: a schedule that starts replicate with the YAML, never overlapping', async () => {
  const created = await cli(['schedule', 'create', file, '--every', '1h']);
  assert.equal(created.code, 0, created.stderr);
  assert.match(
    created.stdout,
    new RegExp(
      `^created schedule klaviyo-sync-nightly on ${temporal.address} \\(namespace default\\): replication nightly, every 1h, next run \\d{4}-\\d\\d-\\d\\dT\\d\\d:00:00\\.000Z\\n$`,
    ),
  );

  const d = await client.schedule.getHandle('klaviyo-sync-nightly').describe();
  assert.deepEqual(intervals(d), [[3_600_000, 0]]);
  assert.equal(d.policies.overlap, ScheduleOverlapPolicy.SKIP);
  assert.equal(d.action.type, 'startWorkflow');
  assert.equal(d.action.workflowType, 'replicate');
  assert.equal(d.action.taskQueue, 'klaviyo-sync');
  assert.equal(d.action.workflowId, 'klaviyo-sync-nightly');
  assert.deepEqual(d.action.args, [{ name: 'nightly', config: parse(YAML_TEXT) }]);
  assert.equal(d.action.staticSummary, 'klaviyo-sync replication nightly: KLAVIYO to MY_PG');
  assert.deepEqual(d.memo, { replication: 'nightly', file, schedule: 'every 1h' });
  const next = d.info.nextActionTimes[0].getTime();
  assert.ok(next > Date.now() && next <= Date.now() + 3_600_000, 'the next run is within the hour');
});

void test('schedule create refuses an existing id, bad options, a bad config or connection, before creating anything', async () => {
  const bad = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(bad, 'source: KLAVIYO\ntarget: MY_PG\nstreams:\n  nope:\n');
  const [again, neither, both, badEvery, badCron, badYaml, noConnection, help] = await Promise.all([
    cli(['schedule', 'create', file, '--every', '2h']),
    cli(['schedule', 'create', file, '--id', 'neither']),
    cli(['schedule', 'create', file, '--id', 'both', '--every', '1h', '--cron', '0 3 * * *']),
    cli(['schedule', 'create', file, '--id', 'bad-every', '--every', 'hourly']),
    cli(['schedule', 'create', file, '--id', 'bad-cron', '--cron', '0 25 * * *']),
    cli(['schedule', 'create', bad, '--every', '1h']),
    cli(['schedule', 'create', file, '--id', 'no-connection', '--every', '1h'], { MY_PG: '' }),
    cli(['schedule', 'create', '--help']),
  ]);
  assert.deepEqual(
    [again, neither, both, badEvery, badCron, badYaml, noConnection].map((r) => r.code),
    [1, 1, 1, 1, 1, 1, 1],
  );
  assert.equal(
    again.stderr,
    `klaviyo-sync: schedule klaviyo-sync-nightly already exists on ${temporal.address} (namespace default): delete it first ` +
      '(klaviyo-sync schedule delete klaviyo-sync-nightly) or give another --id\n',
  );
  assert.equal(neither.stderr, "klaviyo-sync: say when to run: --every 1h (an interval) or --cron '0 3 * * *' (UTC)\n");
  assert.equal(both.stderr, "klaviyo-sync: give either --every (e.g. 1h) or --cron (e.g. '0 3 * * *'), not both\n");
  assert.equal(
    badEvery.stderr,
    'klaviyo-sync: --every "hourly" is not a duration: use a number and a unit (d, h, m, s), e.g. 30m, 6h, 1d or 1h30m\n',
  );
  assert.match(badCron.stderr, /^klaviyo-sync: Temporal refused the schedule's cron '0 25 \* \* \*': .*hour.*; fix --cron\n$/i);
  assert.match(badYaml.stderr, /^klaviyo-sync: .*bad\.yaml has a problem:\n {2}streams\.nope: unknown stream "nope"/);
  assert.match(noConnection.stderr, /^klaviyo-sync: connection MY_PG not found: /);
  for (const id of ['neither', 'both', 'bad-every', 'bad-cron', 'klaviyo-sync-bad', 'no-connection']) {
    assert.equal(await exists(id), false, `schedule ${id} was created`);
  }
  const d = await client.schedule.getHandle('klaviyo-sync-nightly').describe();
  assert.deepEqual(intervals(d), [[3_600_000, 0]], 'the existing schedule is left as it was');
  for (const flag of ['--every <duration>', '--cron <expr>', '--id <id>']) assert.ok(help.stdout.includes(flag), help.stdout);
});

void test('schedule create --cron, then list shows id, spec, next run and the last run with its status', async () => {
  const cron = await cli(['schedule', 'create', file, '--cron', '30 3 * * *', '--id', 'nightly-cron', '--name', 'nightly_cron']);
  assert.equal(cron.code, 0, cron.stderr);
  const d = await client.schedule.getHandle('nightly-cron').describe();
  assert.equal(d.spec.calendars?.length, 1);
  assert.deepEqual(d.spec.calendars![0].hour, [{ start: 3, end: 3, step: 1 }]);
  assert.deepEqual(d.spec.calendars![0].minute, [{ start: 30, end: 30, step: 1 }]);
  assert.equal(d.action.workflowId, 'klaviyo-sync-nightly_cron');
  assert.deepEqual(d.action.args, [{ name: 'nightly_cron', config: parse(YAML_TEXT) }]);

  // no worker polls the queue, so the triggered run stays running
  await client.schedule.getHandle('klaviyo-sync-nightly').trigger();
  // listing reads the visibility store, which catches up with creates and actions shortly after
  for (let i = 0; ; i++) {
    const listed = new Map<string, number>();
    for await (const s of client.schedule.list()) listed.set(s.scheduleId, s.info.recentActions.length);
    if (listed.get('klaviyo-sync-nightly') === 1 && listed.has('nightly-cron')) break;
    assert.ok(i < 100, `the schedules did not show up in the list: ${JSON.stringify([...listed])}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const list = await cli(['schedule', 'list']);
  assert.equal(list.code, 0, list.stderr);
  const rows = list.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0], ['ID', 'SPEC', 'NEXT RUN', 'LAST RESULT']);
  const byId = new Map(rows.slice(1).map((r) => [r[0], r]));
  assert.deepEqual([...byId.keys()], ['klaviyo-sync-nightly', 'nightly-cron']);
  const [, spec, next, last] = byId.get('klaviyo-sync-nightly')!;
  assert.equal(spec, 'every 1h');
  assert.match(next, /^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
  assert.match(last, /^running \(klaviyo-sync-nightly-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, started \d{4}-.*Z\)$/);
  const [, cronSpec, cronNext, cronLast] = byId.get('nightly-cron')!;
  assert.equal(cronSpec, "cron '30 3 * * *'");
  assert.match(cronNext, /^\d{4}-\d\d-\d\dT03:30:00\.000Z$/);
  assert.equal(cronLast, 'never run');
});

void test('the temporal CLI command line creates the same schedule as schedule create', async () => {
  // the README's steps: `klaviyo-sync render nightly.yaml -o nightly.json`, then `--input-file nightly.json`
  const inputFile = path.join(tmp, 'nightly.json');
  const rendered = await cli(['render', file, '-o', inputFile]);
  assert.equal(rendered.code, 0, rendered.stderr);
  const temporalCli = await run(requireTemporalCli(), [
    'schedule',
    'create',
    '--address',
    temporal.address,
    '--schedule-id',
    'from-temporal-cli',
    '--interval',
    '1h',
    '--overlap-policy',
    'Skip',
    '--type',
    'replicate',
    '--task-queue',
    'klaviyo-sync',
    '--workflow-id',
    'klaviyo-sync-nightly',
    '--input-file',
    inputFile,
    '--static-summary',
    'klaviyo-sync replication nightly: KLAVIYO to MY_PG',
    '--schedule-memo',
    'replication="nightly"',
    '--schedule-memo',
    'schedule="every 1h"',
    '--schedule-memo',
    `file=${JSON.stringify(file)}`,
  ]);
  assert.equal(temporalCli.code, 0, temporalCli.stderr);
  const [ours, theirs] = await Promise.all(
    ['klaviyo-sync-nightly', 'from-temporal-cli'].map((id) => client.schedule.getHandle(id).describe()),
  );
  assert.deepEqual(essence(theirs), essence(ours));
});

void test('schedule delete removes a schedule, and says so when there is none', async () => {
  const deleted = await cli(['schedule', 'delete', 'nightly-cron']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, 'deleted schedule nightly-cron\n');
  assert.equal(await exists('nightly-cron'), false);

  const again = await cli(['schedule', 'delete', 'nightly-cron']);
  assert.equal(again.code, 1);
  assert.equal(
    again.stderr,
    `klaviyo-sync: there is no schedule nightly-cron on ${temporal.address} (namespace default): see the ids with klaviyo-sync schedule list\n`,
  );
  assert.equal(await exists('klaviyo-sync-nightly'), true, 'other schedules stay');
});
