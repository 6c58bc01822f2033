/**
 * End to end into MySQL/MariaDB: the `replicate` workflow on a real Temporal dev server copies every stream of the
 * sandbox Klaviyo (over HTTP) into a real MariaDB (test/helpers/mysql.ts), exactly; a second run after the sandbox's
 * clock moves picks up what changed and drops what was deleted. The MySQL password never enters a workflow history.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Destination } from '../lib/db/destination';
import { closeAll } from '../lib/db/connect';
import { STREAM_NAMES } from '../streams/streams';
import { createWorker } from '../worker';
import type { ReplicationSummary } from '../workflows/types';
// helpers/stack also installs the Temporal runtime with warnings and errors only
import { ALL_STREAMS_YAML, checksumOf, tableIds } from './helpers/stack';
import { listResources, startSandbox, TINY_SANDBOX, type SandboxProcess } from './helpers/sandbox';
import { startTemporal, type TestTemporal } from './helpers/temporal';
import { startMysql, type TestMysql } from './helpers/mysql';
import { cli } from './helpers/process';

let temporal: TestTemporal;
let sandbox: SandboxProcess;
let my: TestMysql;

before(async () => {
  const started = await Promise.allSettled([startTemporal(), startSandbox(TINY_SANDBOX), startMysql()] as const);
  const [t, s, m] = started;
  if (t.status === 'fulfilled') temporal = t.value;
  if (s.status === 'fulfilled') sandbox = s.value;
  if (m.status === 'fulfilled') my = m.value;
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
});

after(async () => {
  await closeAll();
  await Promise.allSettled([temporal?.teardown(), sandbox?.stop(), my?.stop()]);
});

async function replicate(workflowId: string): Promise<ReplicationSummary> {
  const worker = await createWorker({
    connection: temporal.env.nativeConnection,
    taskQueue: 'klaviyo-sync',
    deps: { env: { ...process.env, KLAVIYO: sandbox.connection(), MY: my.url }, rateLimitMode: 'documented', maxPagesPerCall: 5 },
  });
  return (await worker.runUntil(
    temporal.env.client.workflow.execute('replicate', {
      taskQueue: 'klaviyo-sync',
      workflowId,
      args: [{ name: workflowId, yaml: ALL_STREAMS_YAML('MY') }],
    }),
  )) as ReplicationSummary;
}

async function assertExact(dest: Destination): Promise<void> {
  const truth = (await sandbox.truth()) as Record<string, { count: number; checksum: string }>;
  for (const s of STREAM_NAMES) {
    const ids = await tableIds(dest, s);
    assert.deepEqual(checksumOf(ids), truth[s], `${s}: table ids differ from the sandbox's`);
    assert.equal(new Set(ids).size, ids.length, `${s}: duplicate rows`);
  }
}

/** Values too: every profile's and template's current attributes as the API serves them. */
async function assertValues(dest: Destination): Promise<void> {
  for (const [stream, path] of [
    ['profiles', '/api/profiles?page[size]=100'],
    ['templates', '/api/templates'],
  ] as const) {
    const api = await listResources(sandbox.baseUrl, path);
    const rows = await dest.snapshot({ schema: 'klaviyo', table: stream }, ['id']);
    assert.equal(rows.length, api.size, `${stream}: row count`);
    for (const row of rows) {
      const r = api.get(String(row.id));
      assert.ok(r, `${stream} ${row.id} is not in the sandbox`);
      for (const attr of ['updated', 'name', 'email', 'first_name', 'html', 'location', 'properties']) {
        if (!(attr in r.attributes)) continue;
        const want = r.attributes[attr];
        const got = row[attr];
        if (attr === 'updated') assert.equal(new Date(String(got)).getTime(), new Date(want).getTime(), `${stream} ${row.id}.${attr}`);
        else assert.deepEqual(got ?? null, want ?? null, `${stream} ${row.id}.${attr}`);
      }
    }
  }
}

/** Every history of the workflow id's family (the replication, its streams and partitions), as JSON. */
async function histories(prefix: string): Promise<string> {
  let text = '';
  for await (const wf of temporal.env.client.workflow.list({ query: `WorkflowId STARTS_WITH '${prefix}'` })) {
    const history = await temporal.env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    text += JSON.stringify(history, (_k, v: unknown) =>
      v instanceof Uint8Array ? `${Buffer.from(v).toString('utf8')} ${Buffer.from(v).toString('base64')}` : v,
    );
  }
  return text;
}

void test('all 22 streams land in MySQL exactly, then an incremental run after /__sandbox/advance picks up changes and deletions', async () => {
  const dest = new Destination({ kind: 'mysql', url: my.url });
  const first = await replicate('e2e-mysql-1');
  assert.equal(first.streams.length, 22);
  assert.ok(
    first.streams.every((s) => s.status === 'completed'),
    JSON.stringify(first.streams.filter((s) => s.status !== 'completed')),
  );
  await assertExact(dest);
  await assertValues(dest);

  const before = (await sandbox.truth()) as Record<string, { count: number }>;
  await sandbox.admin('advance');
  const later = (await sandbox.truth()) as Record<string, { count: number }>;
  assert.ok(later.events.count > before.events.count, 'advance appended events');
  assert.ok(later.catalog_items.count < before.catalog_items.count, 'advance deleted catalog items');

  const second = await replicate('e2e-mysql-2');
  assert.ok(second.streams.every((s) => s.status === 'completed'));
  await assertExact(dest);
  await assertValues(dest);
  const events = second.streams.find((s) => s.stream === 'events')!;
  const appended = later.events.count - before.events.count;
  assert.ok(events.rows >= appended && events.rows <= appended + 5, `events re-read ${events.rows} for ${appended} appended`);

  const text = await histories('e2e-mysql-');
  assert.ok(text.length > 10_000, 'the histories were read');
  for (const form of [my.password, encodeURIComponent(my.password), Buffer.from(my.password).toString('base64').slice(0, 12)]) {
    assert.ok(!text.includes(form), 'the MySQL password is in no workflow history');
  }
});

void test('a wrong MySQL password: the replication fails naming the fix, and neither the failure, the histories nor conns test show it', async () => {
  const wrong = `Wr0ng-${my.password.slice(0, 6)}-pw`;
  const bad = new URL(my.url);
  bad.password = wrong;
  const worker = await createWorker({
    connection: temporal.env.nativeConnection,
    taskQueue: 'klaviyo-sync-bad',
    deps: { env: { ...process.env, KLAVIYO: sandbox.connection(), MY: bad.toString() }, rateLimitMode: 'documented' },
  });
  let message = '';
  await worker.runUntil(
    temporal.env.client.workflow
      .execute('replicate', {
        taskQueue: 'klaviyo-sync-bad',
        workflowId: 'e2e-mysql-bad',
        args: [{ name: 'e2e-mysql-bad', yaml: ALL_STREAMS_YAML('MY').replace("'*':\n", 'lists:\n') }],
      })
      .then(
        () => assert.fail('the run with a wrong password succeeded'),
        (err: unknown) => {
          for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) message += `${e.message}\n`;
        },
      ),
  );
  assert.match(message, /check the user and password of connection/);
  const conns = await cli(['conns', 'test', 'MY'], { env: { ...process.env, MY: bad.toString() }, killAfterMs: 60_000 });
  assert.notEqual(conns.code, 0);
  assert.match(conns.stdout + conns.stderr, /refused user klaviyo_test: .*check the user and password of connection MY/);
  const everything = message + (await histories('e2e-mysql-bad')) + conns.stdout + conns.stderr;
  for (const form of [wrong, encodeURIComponent(wrong)]) assert.ok(!everything.includes(form), 'the password shows nowhere');
});
