/**
 * The Temporal CLI commands the README gives, run as real processes exactly as written there: `klaviyo-sync render`
 * makes the input, `temporal workflow start|query|result|list|cancel|describe` drive a replication on a real dev
 * server (started with klaviyo-sync's search attributes, found through TEMPORAL_ADDRESS as a user's shell would),
 * executed by `klaviyo-sync worker` as a child process against the sandbox Klaviyo over HTTP and a SQLite file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startDevServer, type DevServer } from '../client/dev-server';
import { requireTemporalCli } from '../client/temporal-cli';
import { SEARCH_ATTRIBUTES } from '../workflows/shared';
import type { PartitionRunProgress, ReplicationProgress, StreamRunProgress } from '../workflows/progress';
import { CLI, startSandbox, TINY_SANDBOX, type SandboxProcess } from './helpers/sandbox';
import { runProcess, startWorkerProcess, type RunningProcess } from './helpers/process';
import { checksumOf, FOUR_STREAMS_YAML, MEMBERSHIPS_YAML } from './helpers/stack';

const REPLICATION_YAML = FOUR_STREAMS_YAML;

let temporalCli: string;
let server: DevServer;
let sandbox: SandboxProcess;
let worker: RunningProcess;
let tmp: string;
let sqliteFile: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  temporalCli = requireTemporalCli();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-temporal-cli-'));
  sqliteFile = path.join(tmp, 'klaviyo.db');
  [server, sandbox] = await Promise.all([
    startDevServer({ searchAttributes: Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => `${name}=${type}`) }),
    // 1,500 profiles: about 13 pages of list memberships, enough to cancel a slowed run in the middle of one
    startSandbox([...TINY_SANDBOX, '--profiles', '1500']),
  ]);
  // HOME: no ~/.sling/env.yaml nor Temporal CLI profile of this machine takes part
  env = {
    PATH: process.env.PATH,
    HOME: tmp,
    TEMPORAL_ADDRESS: server.address,
    KLAVIYO: sandbox.connection(),
    LITE: `sqlite://${sqliteFile}`,
  };
  worker = await startWorker();
});

after(async () => {
  await worker?.stop(10_000);
  await Promise.allSettled([sandbox?.stop(), server?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** `klaviyo-sync worker`, with the default rate limits (documented: sling's 3 requests/s would make this test slow). */
function startWorker(): Promise<RunningProcess> {
  return startWorkerProcess([], { cwd: tmp, env });
}

const run = (command: string, args: string[]) => runProcess(command, args, { cwd: tmp, env });

/** A `temporal` command that must succeed; like the README's, it names no server: the CLI reads TEMPORAL_ADDRESS. */
async function temporal(...args: string[]): Promise<string> {
  const r = await run(temporalCli, args);
  assert.equal(r.code, 0, `temporal ${args.join(' ')} exited with ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `klaviyo-sync render <name>.yaml -o <name>.json`; returns the JSON file's name. */
async function render(yamlFile: string, yamlText: string): Promise<string> {
  fs.writeFileSync(path.join(tmp, yamlFile), yamlText);
  const jsonFile = yamlFile.replace(/\.yaml$/, '.json');
  const r = await run(process.execPath, [CLI, 'render', yamlFile, '-o', jsonFile]);
  assert.equal(r.code, 0, r.stderr);
  return jsonFile;
}

/** `temporal workflow query --name progress` prints `QueryResult  <the progress as one line of JSON>`. */
async function queryProgress<T = ReplicationProgress>(workflowId: string): Promise<T> {
  const r = await run(temporalCli, ['workflow', 'query', '--workflow-id', workflowId, '--name', 'progress']);
  if (r.code !== 0) throw new Error(`temporal workflow query ${workflowId} exited with ${r.code}:\n${r.stderr}${r.stdout}`);
  const m = /^\s*QueryResult\s+(\{.*\})\s*$/m.exec(r.stdout);
  assert.ok(m, `no QueryResult line in:\n${r.stdout}`);
  return JSON.parse(m[1]) as T;
}

/** The `Status` of `temporal workflow describe`'s Results section: COMPLETED, FAILED, CANCELED, ... */
async function describeStatus(workflowId: string): Promise<string> {
  const out = await temporal('workflow', 'describe', '--workflow-id', workflowId);
  const m = /^\s*Status\s+([A-Z_]+)\s*$/m.exec(out);
  assert.ok(m, `no Status in:\n${out}`);
  return m[1];
}

/** `temporal workflow list --query ...` as workflow id -> status (its table: Status, WorkflowId, Type, StartTime). */
async function listWorkflows(query: string): Promise<Map<string, string>> {
  const out = await temporal('workflow', 'list', '--query', query);
  const rows = out
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '');
  return new Map(rows.map((line) => line.trim().split(/\s+/)).map(([status, id]) => [id, status]));
}

/** Lists until `done` holds: visibility is updated shortly after the workflows themselves. */
async function listUntil(query: string, done: (listed: Map<string, string>) => boolean): Promise<Map<string, string>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listed = await listWorkflows(query);
    if (done(listed) || Date.now() > deadline) return listed;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const truth = () => sandbox.truth();

/** Rows of a SQLite table (`klaviyo.list_profiles` is the table `klaviyo__list_profiles`), or undefined if it is missing. */
function sqliteRows(table: string): Array<Record<string, unknown>> | undefined {
  const db = new Database(sqliteFile, { readonly: true });
  try {
    const exists = db.prepare(`select 1 from sqlite_master where type = 'table' and name = ?`).get(table);
    return exists ? (db.prepare(`select * from "${table}"`).all() as Array<Record<string, unknown>>) : undefined;
  } finally {
    db.close();
  }
}

/** Membership ids as the sandbox's truth counts them: `<list id>:<profile id>`. */
function membershipIds(table: string): string[] {
  return (sqliteRows(table) ?? []).map((r) => `${String(r.list_id)}:${String(r.profile_id)}`).sort();
}

void test(
  'render, workflow start, query, result and list: a replication started with the Temporal CLI lands exactly, findable by its search attributes',
  { timeout: 90_000 },
  async () => {
    const inputFile = await render('replication.yaml', REPLICATION_YAML);
    const input = JSON.parse(fs.readFileSync(path.join(tmp, inputFile), 'utf8')) as {
      name: string;
      config: { streams: Record<string, unknown> };
    };
    assert.equal(input.name, 'replication', 'the replication is named after its file');
    assert.deepEqual(Object.keys(input.config.streams), ['profiles', 'lists', 'list_profiles', 'events']);

    const started = await temporal(
      'workflow',
      'start',
      '--type',
      'replicate',
      '--task-queue',
      'klaviyo-sync',
      '--workflow-id',
      'cli-demo',
      '--input-file',
      inputFile,
    );
    assert.match(started, /WorkflowId\s+cli-demo\n/);

    // `workflow result` waits for the end
    const result = await temporal('workflow', 'result', '--workflow-id', 'cli-demo');
    assert.match(result, /Status\s+COMPLETED\n/, result);
    assert.equal(await describeStatus('cli-demo'), 'COMPLETED');

    const want = await truth();
    const progress = await queryProgress('cli-demo');
    assert.equal(progress.replicationId, 'cli-demo');
    assert.equal(progress.name, 'replication');
    assert.equal(progress.status, 'completed');
    assert.equal(`${progress.source} → ${progress.target}`, 'KLAVIYO → LITE');
    assert.deepEqual(
      progress.streams.map((s) => [s.stream, s.mode, s.object, s.status, s.rows, s.tableRows]),
      [
        ['profiles', 'incremental', 'klaviyo.profiles', 'completed', want.profiles.count, want.profiles.count],
        ['lists', 'full-refresh', 'klaviyo.lists', 'completed', want.lists.count, want.lists.count],
        ['list_profiles', 'full-refresh', 'klaviyo.list_profiles', 'completed', want.list_profiles.count, want.list_profiles.count],
        ['events', 'incremental', 'klaviyo.events', 'completed', want.events.count, want.events.count],
      ],
    );
    assert.deepEqual(checksumOf(membershipIds('klaviyo__list_profiles')), want.list_profiles, "list_profiles in SQLite are the sandbox's");

    // the replication, a child per stream, and a child per list for the memberships
    const listIds = (sqliteRows('klaviyo__lists') ?? []).map((r) => String(r.id));
    assert.equal(listIds.length, want.lists.count);
    const expected = new Map([
      ['cli-demo', 'Completed'],
      ...['profiles', 'lists', 'list_profiles', 'events'].map((s) => [`cli-demo/${s}`, 'Completed'] as const),
      ...listIds.map((id) => [`cli-demo/list_profiles/${id}`, 'Completed'] as const),
    ]);
    const byReplication = await listUntil(`KlaviyoReplication='replication'`, (l) => l.size >= expected.size);
    assert.deepEqual(new Map([...byReplication].sort()), new Map([...expected].sort()));

    const byStream = await listUntil(`KlaviyoStream='profiles'`, (l) => l.size >= 1);
    assert.deepEqual([...byStream], [['cli-demo/profiles', 'Completed']]);
  },
);

void test(
  'workflow cancel: a slowed replication ends Canceled, its streams Canceled, staging dropped, and the full-refresh table it was loading keeps its previous rows',
  { timeout: 90_000 },
  async () => {
    // the table a completed run left, which a swap would replace
    const previous = membershipIds('klaviyo__list_profiles');
    assert.deepEqual(checksumOf(previous), (await truth()).list_profiles, 'the first test left list_profiles complete');
    // memberships change in the sandbox, so a swapped-in table would differ from the previous one
    await sandbox.admin('advance');
    assert.notDeepEqual((await truth()).list_profiles, checksumOf(previous), 'advance changed the memberships');
    await sandbox.admin('faults', { slow: { p: 1, ms: 1000 } });

    const inputFile = await render('memberships.yaml', MEMBERSHIPS_YAML);
    await temporal(
      'workflow',
      'start',
      '--type',
      'replicate',
      '--task-queue',
      'klaviyo-sync',
      '--workflow-id',
      'cli-cancel',
      '--input-file',
      inputFile,
    );

    // cancel once list_profiles has written a page (into its staging table) and has pages left: the replication's
    // progress gives stream statuses, the stream's own workflow its partitions running, and each of those its pages
    const deadline = Date.now() + 45_000;
    for (;;) {
      const progress = await queryProgress('cli-cancel');
      const memberships = progress.streams?.find((s) => s.stream === 'list_profiles');
      if (memberships?.status === 'running') {
        const stream = await queryProgress<StreamRunProgress>('cli-cancel/list_profiles').catch(() => undefined);
        const partitions = await Promise.all(
          (stream?.running ?? []).map((id) => queryProgress<PartitionRunProgress>(id).catch(() => undefined)),
        );
        if (stream && stream.partitionsDone < stream.partitions && stream.pages + partitions.reduce((n, x) => n + (x?.pages ?? 0), 0) > 0)
          break;
      }
      assert.ok(Date.now() < deadline, `list_profiles wrote no page within 45 s: ${JSON.stringify(progress)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await temporal('workflow', 'cancel', '--workflow-id', 'cli-cancel');
    // `workflow result` waits for the end (and exits 1 for anything but a completion)
    await run(temporalCli, ['workflow', 'result', '--workflow-id', 'cli-cancel']);
    await sandbox.admin('faults', {});

    assert.equal(await describeStatus('cli-cancel'), 'CANCELED');
    const children = await listUntil(`KlaviyoReplication='memberships'`, (l) =>
      ['lists', 'list_profiles', 'segment_profiles'].every((s) => l.has(`cli-cancel/${s}`)),
    );
    assert.equal(children.get('cli-cancel/lists'), 'Completed');
    assert.equal(children.get('cli-cancel/list_profiles'), 'Canceled');
    assert.equal(children.get('cli-cancel/segment_profiles'), 'Canceled');

    const partitions = await listWorkflows(`KlaviyoStream='list_profiles'`);
    assert.deepEqual(
      [...partitions].filter(([id, status]) => id.startsWith('cli-cancel/') && status === 'Terminated'),
      [],
      'no partition was terminated',
    );

    assert.deepEqual(membershipIds('klaviyo__list_profiles'), previous, "list_profiles still holds the previous run's rows");
    // the cancelled run had written pages into staging (checked above); its cleanup dropped the table
    assert.equal(sqliteRows('klaviyo__list_profiles__staging'), undefined, "the cancelled run's staging table is dropped");
    assert.equal(sqliteRows('klaviyo__segment_profiles__staging'), undefined, 'no staging table of segment_profiles is left');
    // segment_profiles had no previous table: there is none, or an empty one
    assert.equal((sqliteRows('klaviyo__segment_profiles') ?? []).length, 0, 'segment_profiles has no rows from the cancelled run');
  },
);
