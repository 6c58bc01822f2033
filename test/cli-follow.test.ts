/**
 * `klaviyo-sync run` follows a replication as a person watches it: while a page activity retries, its line says
 * so with the activity's last failure; and when the Temporal server restarts mid-run (a dev server with a db
 * file keeps its workflows), the follow waits for it and ends with the summary, exit 0, like the workflow.
 * A real CLI process, a real dev server stopped and started again on the same port, the sandbox over HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { freePort, startDevServer, type DevServer } from '../client/dev-server';
import { createWorker } from '../worker';
import { closeAll } from '../lib/db/connect';
import { Destination } from '../lib/db/destination';
import { startSandbox, TINY_SANDBOX, type SandboxProcess } from './helpers/sandbox';
import { startCli } from './helpers/process';
import { checksumOf, tableIds } from './helpers/stack';

let tmp: string;
let port: number;
let dbFile: string;
let server: DevServer | undefined;
let sandbox: SandboxProcess;
let connection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let env: NodeJS.ProcessEnv;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-follow-'));
  port = await freePort();
  dbFile = path.join(tmp, 'temporal.db');
  [server, sandbox] = await Promise.all([
    startDevServer({ port, dbFilename: dbFile }),
    startSandbox([...TINY_SANDBOX, '--profiles', '3000']),
  ]);
  env = {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    KLAVIYO: sandbox.connection(),
    LITE: `sqlite://${path.join(tmp, 'klaviyo.db')}`,
  };
  connection = await NativeConnection.connect({ address: server.address });
  worker = await createWorker({ connection, deps: { env, rateLimitMode: 'documented', maxPagesPerCall: 2 } });
  workerRun = worker.run();
});

after(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun?.catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await closeAll();
  await Promise.allSettled([server?.stop(), sandbox?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const faults = (body: unknown) => sandbox.admin('faults', body);

async function waitFor(ms: number, ok: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

const OUTAGE_MS = 35_000;

const YAML = `source: KLAVIYO
target: LITE
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

void test(
  "run shows a retrying activity's last failure, and follows the replication across a Temporal server restart",
  { timeout: 240_000 },
  async () => {
    const file = path.join(tmp, 'follow.yaml');
    fs.writeFileSync(file, YAML);
    await faults({ slow: { p: 1, ms: 400 } });
    const run = startCli(['run', file, '--workflow-id', 'follow'], { env });
    const stderr = () => run.stderr();

    // 1. rows flow; then every request answers 503 for a while: the page activities retry, and the lines say so
    assert.ok(await waitFor(60_000, () => /: running, [1-9]\d* rows/.test(stderr())), `no rows within 60 s:\n${stderr()}`);
    await faults({ slow: { p: 1, ms: 400 }, 503: 1 });
    const sawRetry = await waitFor(30_000, () => /retrying \(attempt [2-9]\) after: .*503/.test(stderr()));
    await faults({ slow: { p: 1, ms: 400 } });

    // 2. the Temporal server goes away for longer than the client's own gRPC retries last (about 20 s) and comes
    //    back with its workflows, while the replication still has pages to read
    assert.equal(run.child.exitCode, null, `run still follows the replication:\n${stderr()}`);
    await server!.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    server = await startDevServer({ port, dbFilename: dbFile });
    await faults({});

    const { code, stdout } = await run.exited;
    process.stdout.write(
      `# run's progress lines:\n${stderr()
        .split('\n')
        .map((l) => `#   ${l}`)
        .join('\n')}\n`,
    );
    assert.equal(code, 0, `run exits 0 once the replication completed:\n${stderr()}`);
    assert.match(stderr(), /not answering; waiting for it/, 'run said it waits for the server');
    assert.doesNotMatch(stderr(), /UNAVAILABLE/);
    assert.ok(sawRetry, `a line showed the retrying activity's 503:\n${stderr()}`);

    const truth = await sandbox.truth();
    const dest = new Destination({ kind: 'sqlite', filename: path.join(tmp, 'klaviyo.db') });
    for (const s of ['profiles', 'lists', 'list_profiles'] as const) {
      const line = stdout.split('\n').find((l) => l.startsWith(`${s} `));
      assert.match(line ?? '', new RegExp(`completed\\s+${truth[s].count}\\s`), `summary line of ${s}:\n${stdout}`);
      assert.deepEqual(checksumOf(await tableIds(dest, s)), truth[s], `${s}: exact`);
    }
  },
);
