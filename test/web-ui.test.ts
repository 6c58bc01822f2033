/**
 * What a person sees in Temporal's Web UI after a replication, read by a real browser (Debian's Chromium, driven by
 * playwright-core) from a real dev server with its UI and klaviyo-sync's search attributes: the replication with
 * its current details table of streams and rows, its children with their summaries, and the workflows list
 * filtered by KlaviyoReplication and KlaviyoStream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { request } from 'undici';
import type { Worker } from '@temporalio/worker';
import { freePort } from '../client/dev-server';
import { createWorker } from '../worker';
import { closeAll } from '../lib/db/connect';
import { SEARCH_ATTRIBUTES } from '../workflows/shared';
import type { ReplicationSummary } from '../workflows/types';
import { startSandbox, TINY_SANDBOX, type SandboxProcess } from './helpers/sandbox';
import { API_KEY, FOUR_STREAMS_YAML } from './helpers/stack';
import { startTemporal, type TestTemporal } from './helpers/temporal';

/** Debian's package `chromium`, installed by `scripts/install-tools.sh --browser` (npm test's pretest). */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** The UI is a single-page app that loads its data after the page: every wait is for text, generously. */
const UI_TIMEOUT_MS = 30_000;

const NAME = 'ui-demo';
const STREAMS = ['profiles', 'lists', 'list_profiles', 'events'] as const;
const YAML = FOUR_STREAMS_YAML;

let tmp: string;
let temporal: TestTemporal;
let uiUrl: string;
let sandbox: SandboxProcess;
let worker: Worker;
let workerRun: Promise<void>;
let browser: BrowserContext;
let page: Page;
let summary: ReplicationSummary;
let truth: Record<string, { count: number }>;
let listIds: string[];

before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run \`bash scripts/install-tools.sh --browser\` as root (it runs apt-get install chromium)`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-web-ui-'));
  const uiPort = await freePort();
  [temporal, sandbox] = await Promise.all([
    startTemporal({ uiPort, searchAttributes: Object.entries(SEARCH_ATTRIBUTES).map(([key, type]) => `${key}=${type}`) }),
    startSandbox(TINY_SANDBOX),
  ]);
  uiUrl = `http://127.0.0.1:${uiPort}`;
  const env = {
    KLAVIYO: sandbox.connection(),
    LITE: `sqlite://${path.join(tmp, 'klaviyo.db')}`,
  };
  worker = await createWorker({
    connection: temporal.env.nativeConnection,
    deps: { env, rateLimitMode: 'documented', maxPagesPerCall: 5 },
  });
  // it runs while the browser reads: the UI's current details are a query the worker answers
  workerRun = worker.run();

  const replication = temporal.env.client.workflow.execute('replicate', {
    taskQueue: 'klaviyo-sync',
    workflowId: NAME,
    args: [{ name: NAME, yaml: YAML }],
  });
  const workerStopped = workerRun.then(() => {
    throw new Error('the worker stopped before the replication ended');
  });
  summary = (await Promise.race([replication, workerStopped])) as ReplicationSummary;
  truth = await sandbox.truth();
  const lists = await request(`${sandbox.baseUrl}/api/lists`, {
    headers: { authorization: `Klaviyo-API-Key ${API_KEY}`, revision: '2025-07-15' },
  });
  listIds = ((await lists.body.json()) as { data: Array<{ id: string }> }).data.map((l) => l.id);
  // the list pages read visibility, which trails the workflows by a moment
  const children = STREAMS.length + listIds.length;
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    let n = 0;
    for await (const _ of temporal.env.client.workflow.list({ query: `KlaviyoReplication = '${NAME}'` })) n++;
    if (n === children + 1) break;
    await new Promise((r) => setTimeout(r, 250));
  }

  browser = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(UI_TIMEOUT_MS);
});

after(async () => {
  await browser?.close();
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await closeAll();
  await Promise.allSettled([temporal?.teardown(), sandbox?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const workflowUrl = (id: string) => `${uiUrl}/namespaces/default/workflows/${encodeURIComponent(id)}`;
const listUrl = (query: string) => `${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;

void test(
  "the replication's page: completed, its children on the timeline with their summaries, and its current details table of streams and rows",
  { timeout: 60_000 },
  async () => {
    assert.deepEqual(
      summary.streams.map((s) => s.status),
      STREAMS.map(() => 'completed'),
    );
    await page.goto(workflowUrl(NAME));
    await heading(NAME);
    // the status badge: `Completed`, upper-cased by CSS
    await page.getByText('Completed', { exact: true }).first().waitFor();
    await page.getByRole('link', { name: 'replicate', exact: true }).waitFor();
    for (const s of summary.streams) {
      await page.getByText(`${NAME}: ${s.stream} (${s.mode}) → ${s.object}`, { exact: true }).first().waitFor();
    }
    await page.screenshot({ path: path.join(tmp, 'replication-timeline.png'), fullPage: true });

    await page.getByRole('tab', { name: /User Metadata/ }).click();
    // current details are markdown, rendered by the UI in a frame of their own
    const details = page.frameLocator('#user-metadata-current-details');
    await details.getByText(`${NAME}: completed (KLAVIYO → LITE)`).waitFor();
    const table = details.getByRole('table');
    await table.waitFor();
    const rows = await table
      .locator('tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').trim())));
    assert.deepEqual(rows, [
      ['stream', 'mode', 'status', 'rows', 'pages'],
      ...summary.streams.map((s) => [s.stream, s.mode, 'completed', String(truth[s.stream].count), String(s.pages)]),
    ]);
    await page.screenshot({ path: path.join(tmp, 'replication-current-details.png'), fullPage: true });
  },
);

void test(
  "a stream's page: its parent, its summary, its rows as current details, and its page activities with theirs",
  { timeout: 60_000 },
  async () => {
    await page.goto(workflowUrl(`${NAME}/profiles`));
    await heading(`${NAME}/profiles`);
    await page.getByRole('link', { name: NAME, exact: true }).waitFor();
    await page.getByRole('link', { name: 'syncStream', exact: true }).waitFor();
    // profiles page in time windows: each page activity's summary names its window (`profiles [<start>..<end>]`)
    await page
      .getByText(/syncPages • profiles \[[^\]]*\] from page 1/)
      .first()
      .waitFor();

    await page.getByRole('tab', { name: /User Metadata/ }).click();
    // Summary, Details and Current Details: three rendered frames, in that order
    const summaryFrame = page.frameLocator('iframe[title="output"]').first();
    await summaryFrame.getByText(`${NAME}: profiles (incremental) → klaviyo.profiles`, { exact: true }).waitFor();
    // the stream's own rows and pages (live while it runs, final here) are its current details
    const profiles = summary.streams.find((s) => s.stream === 'profiles')!;
    await page
      .frameLocator('#user-metadata-current-details')
      .getByText(`profiles: completed, ${truth.profiles.count} rows, ${profiles.pages} pages`)
      .waitFor();
    await page.screenshot({ path: path.join(tmp, 'stream-summary.png'), fullPage: true });
  },
);

void test(
  'the workflows list: KlaviyoReplication finds the replication and all its children, KlaviyoStream the one stream',
  { timeout: 60_000 },
  async () => {
    const ids = [NAME, ...STREAMS.map((s) => `${NAME}/${s}`), ...listIds.map((id) => `${NAME}/list_profiles/${id}`)];
    await page.goto(listUrl(`KlaviyoReplication="${NAME}"`));
    for (const id of ids) await page.getByRole('link', { name: id, exact: true }).waitFor();
    assert.deepEqual((await listedIds()).sort(), ids.sort());
    await page.screenshot({ path: path.join(tmp, 'list-by-replication.png'), fullPage: true });

    await page.goto(listUrl(`KlaviyoStream="profiles"`));
    await page.getByRole('link', { name: `${NAME}/profiles`, exact: true }).waitFor();
    assert.deepEqual(await listedIds(), [`${NAME}/profiles`]);
  },
);

/** The workflow page's title is its id (the heading's accessible name is its copy button's, `Copy <id>`). */
async function heading(workflowId: string): Promise<void> {
  await page.getByTestId('workflow-id-heading').getByText(workflowId, { exact: true }).waitFor();
}

/** The workflow ids of the list page's rows: links to a workflow's page. */
async function listedIds(): Promise<string[]> {
  const hrefs = await page.locator('a[href*="/workflows/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
  const ids = hrefs
    .map((h) => /\/namespaces\/default\/workflows\/([^/?]+)\/[^/?]+/.exec(h)?.[1])
    .filter((id): id is string => id !== undefined);
  return [...new Set(ids.map(decodeURIComponent))];
}
