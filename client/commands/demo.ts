/**
 * `klaviyo-sync demo` (`npm run demo`): the whole product on one machine in one command.
 * - a local Temporal dev server with its Web UI (reused if one answers; otherwise started, detached, with its
 *   state in .data/temporal.db so a restarted server resumes its runs);
 * - the sandbox Klaviyo in this process, its account kept across runs in .data/demo-sandbox.json (seed, anchor,
 *   the clock moves it made), and moved once more per run so that each later run has real incremental work;
 * - a worker in this process, and the replication demo/replication.yaml into .data/klaviyo.db, followed live.
 * Ctrl-C stops the worker between pages: every written page is committed with its cursor, and the next
 * `npm run demo` joins the same workflow and resumes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { startSandbox, type RunningSandbox } from '@klaviyo-sync/sandbox';
import { PROJECT_ROOT } from '../temporal-cli';
import { startDevServer, temporalAnswers } from '../dev-server';
import { SEARCH_ATTRIBUTES } from '../../workflows/shared';
import { runReplication } from './run';
import { rateLimitMode as rateLimitModeOf } from './worker';
import { formatSummary } from './summary';

/** the demo's state: Temporal's db, the sandbox account, the SQLite target (KLAVIYO_SYNC_DATA moves it, for tests) */
const DATA = process.env.KLAVIYO_SYNC_DATA ? path.resolve(process.env.KLAVIYO_SYNC_DATA) : path.join(PROJECT_ROOT, '.data');
const STATE_FILE = path.join(DATA, 'demo-sandbox.json');
const DEMO_KEY = 'pk_demo_sandbox_key';

interface DemoState {
  seed: number;
  size: 'tiny' | 'small' | 'medium' | 'large';
  anchor: string;
  /** instants of the clock moves made so far, replayed on start so the account is the one the database saw */
  advances: string[];
}

export interface DemoOptions {
  size: DemoState['size'];
  port: string;
  uiPort: string;
  sandboxPort: string;
  advance: boolean;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the demo: local Temporal + Web UI, the sandbox Klaviyo, a worker, all 22 streams into .data/klaviyo.db')
    .option('--size <size>', 'sandbox account size on the first run: tiny, small, medium, large', 'small')
    .option('--port <port>', 'Temporal dev server port', '7233')
    .option('--ui-port <port>', 'Temporal Web UI port', '8233')
    .option('--sandbox-port <port>', 'sandbox Klaviyo port (0: any free port)', '4010')
    .option('--no-advance', 'do not move the sandbox clock before a later run')
    .action(async (opts: DemoOptions) => {
      await runDemo(opts);
    });
}

function loadState(size: DemoState['size']): DemoState {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as DemoState;
  } catch {
    const anchor = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000).toISOString();
    return { seed: 42, size, anchor, advances: [] };
  }
}

async function ensureTemporal(opts: DemoOptions): Promise<{ address: string; uiUrl: string; started: boolean }> {
  const fromEnv = process.env.TEMPORAL_ADDRESS;
  const address = fromEnv ?? `127.0.0.1:${opts.port}`;
  const uiUrl = process.env.TEMPORAL_UI_URL ?? `http://localhost:${opts.uiPort}`;
  if (await temporalAnswers(address)) return { address, uiUrl, started: false };
  if (fromEnv)
    throw new Error(
      `no Temporal server answers at TEMPORAL_ADDRESS=${fromEnv}: start it, or unset TEMPORAL_ADDRESS to let the demo start a local one`,
    );
  const server = await startDevServer({
    port: Number(opts.port),
    uiPort: Number(opts.uiPort),
    dbFilename: path.join(DATA, 'temporal.db'),
    searchAttributes: Object.entries(SEARCH_ATTRIBUTES).map(([k, t]) => `${k}=${t}`),
    detachedLog: path.join(DATA, 'temporal.log'),
  });
  // it outlives the demo, so the Web UI stays up: `kill $(cat .data/temporal.pid)` stops it
  fs.writeFileSync(path.join(DATA, 'temporal.pid'), `${server.child.pid}\n`);
  return { address, uiUrl, started: true };
}

async function startDemoSandbox(state: DemoState, opts: DemoOptions): Promise<RunningSandbox> {
  const common = { seed: state.seed, size: state.size, anchor: new Date(state.anchor), apiKeys: [DEMO_KEY], rateLimits: 'documented' };
  let sandbox: RunningSandbox;
  try {
    sandbox = await startSandbox({ ...common, port: Number(opts.sandboxPort) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' && !/in use/i.test(String(err))) throw err;
    sandbox = await startSandbox({ ...common, port: 0 });
  }
  for (const at of state.advances) sandbox.advance({ at: new Date(at) });
  return sandbox;
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  fs.mkdirSync(DATA, { recursive: true });
  const state = loadState(opts.size);
  const temporal = await ensureTemporal(opts);
  process.stderr.write(
    `Temporal ${temporal.started ? 'started' : 'reused'} at ${temporal.address} (Web UI ${temporal.uiUrl}; state in ${path.join(DATA, 'temporal.db')})\n`,
  );

  const sandbox = await startDemoSandbox(state, opts);
  const firstRun = !fs.existsSync(path.join(DATA, 'klaviyo.db'));
  if (!firstRun && opts.advance) {
    const at = new Date();
    const moved = sandbox.advance({ at });
    state.advances.push(at.toISOString());
    process.stderr.write(
      `sandbox clock moved: ${moved.profilesUpdated} profiles and ${moved.templatesUpdated} templates updated, ` +
        `${moved.eventsAppended} events appended, ${moved.catalogItemsDeleted} catalog items deleted\n`,
    );
  }
  fs.writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
  process.stderr.write(`sandbox Klaviyo at ${sandbox.url} (seed ${state.seed}, size ${state.size})\n`);

  // The worker in this process resolves these by name; they never enter Temporal. Given as arguments: this process's
  // environment is left as it is.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporal.address,
    KLAVIYO: JSON.stringify({ type: 'api', spec: 'klaviyo', base_url: sandbox.url, secrets: { api_key: DEMO_KEY } }),
    DEMO_SQLITE: `sqlite://${path.join(DATA, 'klaviyo.db')}`,
  };
  // the demo's worker paces requests at the documented limits (the default) unless KLAVIYO_SYNC_RATE_LIMITS says otherwise
  const rateLimitMode = rateLimitModeOf(undefined, process.env).mode;

  const workflowId = 'klaviyo-sync-demo';
  let onSigint = () => {};
  const interrupted = new Promise<void>((resolve) => {
    onSigint = () => {
      process.stderr.write('\nstopping the worker; every written page is committed: run `npm run demo` again to resume\n');
      resolve();
    };
  });
  process.once('SIGINT', onSigint);
  try {
    const summary = await runReplication(path.join(PROJECT_ROOT, 'demo', 'replication.yaml'), {
      name: 'demo',
      workflowId,
      // the worker of this process polls a task queue of its own (see inProcessTaskQueue): a standalone worker,
      // with another environment, never takes the demo's tasks
      withWorker: true,
      interrupt: interrupted,
      env,
      rateLimitMode,
    });
    if (summary) process.stdout.write(formatSummary(summary));
    process.stdout.write(
      `\nWeb UI: ${temporal.uiUrl}/namespaces/default/workflows/${workflowId}\n` +
        `Data:   ${path.join(DATA, 'klaviyo.db')} (e.g. sqlite3 ${path.relative(process.cwd(), path.join(DATA, 'klaviyo.db'))} 'select count(*) from klaviyo__profiles')\n` +
        `Temporal keeps running for the Web UI; stop it with: kill $(cat ${path.relative(process.cwd(), path.join(DATA, 'temporal.pid'))})\n` +
        'Run `npm run demo` again for an incremental sync.\n',
    );
  } finally {
    process.off('SIGINT', onSigint);
    await sandbox.close();
  }
}
