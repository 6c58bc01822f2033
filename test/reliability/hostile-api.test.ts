/**
 * Hostile or broken API answers (issue #10, item 6). The sandbox spoils the answers of one stream (`templates`, 45
 * of them: five pages of 10, incremental, one listing) with each kind of its `mangle` table (sandbox/http/faults.ts)
 * after the scope probe and two good pages, while a replication with a `klaviyo-sync worker` process reads it and
 * three good streams (profiles in time windows, tags, metrics) into Postgres or SQLite (the short form runs each kind
 * once, the targets in turn; the long form each into both, and its persistent checks with more requests):
 *
 * - kinds that spoil every answer from then on (not JSON, an HTML page, `data` missing or of the wrong type, a record
 *   without `id`, numeric ids, a body over the client's size limit, a `links.next` to the page itself, round a loop,
 *   relative or on another origin, a redirect to another origin, a 429 asking to wait 99999 s) must fail the stream
 *   with a message naming the problem, within RUN_BOUND_MS;
 * - kinds a retry gets past (an HTML 502, a 429 without `Retry-After`, a body that never ends, a server that never
 *   answers), served twice and then no more, must be retried and the stream complete exact; and persistently, each
 *   request through the client the page activity uses must end within the client's bound (the worker's request
 *   timeout, here 2 s, plus a margin) as a retryable failure naming the problem, so a persistent one fails the stream
 *   after the retry policy's page attempts (30: at most 30 × the request bound + 1,443 s of backoff);
 * - a record with a 10 MB attribute is a page Klaviyo could send: stored exactly;
 * - (long form) a server that never answers, against a worker with the default 60 s request timeout, twice the page
 *   activity's heartbeat timeout: the attempt must fail with the client's timeout naming it, not a heartbeat timeout.
 *
 * Every case counts: hostile = the kinds tried; hangs = runs or requests past their bound; keyLeaks = requests that
 * reached the second listener (another port, or another host name on it: where `links.next` and redirects point)
 * carrying the key, plus failure messages holding it; rowsLost / rowsDuplicated = the good streams' tables against
 * the sandbox's truth (count and ids checksum), and the hostile stream's committed rows against the sandbox's
 * (every id once, every value as the sandbox has it, and all of them where the stream completed).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { Agent } from 'undici';
import { Destination } from '../../lib/db/destination';
import { createRateLimiter } from '../../lib/klaviyo/ratelimit';
import { KlaviyoClient } from '../../lib/klaviyo/client';
import { SyncError } from '../../lib/errors';
import { firstPageUrl } from '../../lib/klaviyo/urls';
import { getStream } from '../../streams/streams';
import type { StreamName } from '../../streams/types';
import { startWorkerProcess, type RunningProcess } from '../helpers/process';
import { API_KEY, sandboxResources, startStack, targetOf, truth, type Stack } from '../helpers/stack';
import { recordFigures, SHORT } from './figures';
import { causes, checkTable, failedActivityAttempts } from './measure';

const SUITE = 'hostile-api';
/** the worker's request timeout (KLAVIYO_SYNC_HTTP_TIMEOUT_MS): headers, and then the whole body */
const TIMEOUT_MS = 2_000;
/** a request through the client must end within this */
const REQUEST_BOUND_MS = TIMEOUT_MS + 1_500;
/** a replication of the four streams with one hostile must end (fail or complete) within this */
const RUN_BOUND_MS = 60_000;
const HOSTILE: StreamName = 'templates';
const GOOD: StreamName[] = ['profiles', 'tags', 'metrics'];
/** the scope probe of templates:read, then two good pages (20 templates) before the first spoiled answer */
const SKIP = 3;
const GOOD_PAGE_ROWS = 20;

type Expect = 'fails' | 'recovers' | 'stored';

interface Kind {
  name: string;
  /** the `mangle` fault, without its path and skip; `origin: true` is the second listener's origin */
  mangle: Record<string, unknown> & { kind: string };
  expect: Expect;
  /** the stream's failure (fails), or each persistent request's failure (recovers), must match */
  message: RegExp;
  /** rows of the hostile stream committed before it fails (default: the two good pages) */
  committed?: number;
  /** a second origin: another port on 127.0.0.1, or another host (localhost) on that port */
  elsewhere?: 'port' | 'host';
}

/** The kinds tried: the table the sandbox's mangle serves, with what each must come to. */
const KINDS: Kind[] = [
  {
    name: 'invalid JSON',
    mangle: { kind: 'invalid-json' },
    expect: 'fails',
    message: /an application\/vnd\.api\+json body that is not JSON/,
  },
  {
    name: 'HTML page with 200',
    mangle: { kind: 'html-200' },
    expect: 'fails',
    message: /a text\/html body that is not JSON \(it begins "<!DOCTYPE html>/,
  },
  {
    name: 'HTML page with 502',
    mangle: { kind: 'html-502' },
    expect: 'recovers',
    message: /Klaviyo answered 502 .*"<!DOCTYPE html>.*this is retried/s,
  },
  { name: '`data` missing', mangle: { kind: 'no-data' }, expect: 'fails', message: /JSON without `data`/ },
  {
    name: '`data` a string',
    mangle: { kind: 'data-not-array' },
    expect: 'fails',
    message: /data = the string "profiles" where a JSON:API page has an object/,
  },
  {
    name: 'record without id',
    mangle: { kind: 'record-without-id' },
    expect: 'fails',
    message: /data\[0\]\.id = nothing where a JSON:API page has a string/,
  },
  {
    name: 'numeric ids',
    mangle: { kind: 'numeric-id' },
    expect: 'fails',
    message: /data\[0\]\.id = the number 1 where a JSON:API page has a string/,
  },
  { name: '10 MB attribute', mangle: { kind: 'huge-attribute', bytes: 10 * 1024 * 1024, count: 1 }, expect: 'stored', message: /^$/ },
  {
    name: '40 MB attribute',
    mangle: { kind: 'huge-attribute', bytes: 40 * 1024 * 1024 },
    expect: 'fails',
    message: /a body of 40\.0 MB \(Content-Length\), more than the 32\.0 MB/,
  },
  {
    name: 'links.next to itself',
    mangle: { kind: 'self-next' },
    expect: 'fails',
    message: /links\.next for stream templates points back at the page itself/,
  },
  {
    name: 'links.next loop of 2',
    mangle: { kind: 'loop-next', period: 2 },
    committed: 30,
    expect: 'fails',
    message: /points back at a page already read/,
  },
  {
    name: 'links.next loop of 3',
    mangle: { kind: 'loop-next', period: 3 },
    committed: 40,
    expect: 'fails',
    message: /points back at a page already read/,
  },
  {
    name: 'links.next relative',
    mangle: { kind: 'relative-next' },
    expect: 'fails',
    message: /links\.next = the string "\/api\/templates.* where a JSON:API page has an absolute URL/,
  },
  {
    name: 'links.next to another port',
    mangle: { kind: 'foreign-next' },
    elsewhere: 'port',
    expect: 'fails',
    message: /Refused to send the Klaviyo API key to http:\/\/127\.0\.0\.1:\d+ for get_templates/,
  },
  {
    name: 'links.next to another host',
    mangle: { kind: 'foreign-next' },
    elsewhere: 'host',
    expect: 'fails',
    message: /Refused to send the Klaviyo API key to http:\/\/localhost:\d+ for get_templates/,
  },
  {
    name: 'redirect 301 elsewhere',
    mangle: { kind: 'redirect-301' },
    elsewhere: 'port',
    expect: 'fails',
    message: /answered 301 .*a redirect to "http:\/\/127\.0\.0\.1:\d+\/api\/templates.*which is not followed/,
  },
  {
    name: 'redirect 302 elsewhere',
    mangle: { kind: 'redirect-302' },
    elsewhere: 'host',
    expect: 'fails',
    message: /answered 302 .*a redirect to "http:\/\/localhost:\d+\/api\/templates.*which is not followed/,
  },
  {
    name: 'redirect 307 elsewhere',
    mangle: { kind: 'redirect-307' },
    elsewhere: 'port',
    expect: 'fails',
    message: /answered 307 .*a redirect to "http:\/\/127\.0\.0\.1:\d+\/api\/templates.*which is not followed/,
  },
  {
    name: '429 without Retry-After',
    mangle: { kind: 'retry-after-none' },
    expect: 'recovers',
    message: /throttled .* without saying for how long \(no Retry-After\)/,
  },
  {
    name: '429 with Retry-After 99999',
    mangle: { kind: 'retry-after-huge', seconds: 99_999 },
    expect: 'fails',
    message: /asked to wait 27\.8 h \(Retry-After 99999\).*run it again after/,
  },
  {
    name: 'body that never ends',
    mangle: { kind: 'endless-body', ms: 200 },
    expect: 'recovers',
    message: /BODY_DEADLINE the body did not end within 2 s of the headers/,
  },
  { name: 'never answers', mangle: { kind: 'never-answer' }, expect: 'recovers', message: /UND_ERR_HEADERS_TIMEOUT/ },
];

let stack: Stack;
let worker: RunningProcess;
/** the second listener: every request it receives, with its Authorization header */
let foreign: { server: http.Server; port: number; requests: { url: string; authorization?: string }[] };

before(async () => {
  stack = await startStack(['--templates', '45']);
  const requests: { url: string; authorization?: string }[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'application/vnd.api+json' });
    res.end('{"data":[]}');
  });
  // every address (IPv4 and IPv6), so a request to `localhost` arrives whichever it resolves to
  await new Promise<void>((resolve) => server.listen(0, resolve));
  foreign = { server, port: (server.address() as net.AddressInfo).port, requests };
  worker = await startWorkerProcess(['--rate-limits', 'off'], {
    env: {
      ...stack.env,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      KLAVIYO_SYNC_HTTP_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
});
after(async () => {
  await worker?.stop(10_000);
  foreign?.server.closeAllConnections();
  await new Promise((resolve) => (foreign ? foreign.server.close(resolve) : resolve(undefined)));
  await stack?.stop();
});

function originOf(kind: Kind): string | undefined {
  if (!kind.elsewhere) return undefined;
  return kind.elsewhere === 'port' ? `http://127.0.0.1:${foreign.port}` : `http://localhost:${foreign.port}`;
}

function mangleFor(kind: Kind, skip: number, count?: number): Record<string, unknown> {
  const origin = originOf(kind);
  return {
    mangle: {
      ...kind.mangle,
      path: `/api/${HOSTILE}`,
      skip,
      ...(origin ? { origin } : {}),
      ...(count !== undefined ? { count } : {}),
    },
  };
}

/** Requests the second listener received since `from`, and how many of them carried the key. */
function foreignSince(from: number): { requests: number; withKey: number } {
  const got = foreign.requests.slice(from);
  return { requests: got.length, withKey: got.filter((r) => r.authorization?.includes(API_KEY)).length };
}

const yamlFor = (target: 'PG' | 'LITE', schema: string) => `source: KLAVIYO
target: ${target}
defaults:
  mode: full-refresh
  object: ${schema}.{stream_name}
streams:
  ${HOSTILE}:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  profiles:
    mode: incremental
    source_options:
      start_date: 2015-01-01
  tags:
  metrics:
`;

/** Replicates the four streams; the result, or the failure, and whether it ended within RUN_BOUND_MS. */
async function replicate(
  target: 'PG' | 'LITE',
  schema: string,
  boundMs = RUN_BOUND_MS,
): Promise<{ error?: unknown; ms: number; hung: boolean }> {
  const started = Date.now();
  const handle = await stack.temporal.env.client.workflow.start('replicate', {
    taskQueue: 'klaviyo-sync',
    workflowId: `hostile-${schema}`,
    args: [{ name: `hostile-${schema}`, yaml: yamlFor(target, schema) }],
  });
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), boundMs)));
  try {
    const r = await Promise.race([handle.result(), bound]);
    if (r === 'hung') {
      await handle.terminate('reliability: past its bound').catch(() => undefined);
      return { ms: Date.now() - started, hung: true };
    }
    return { ms: Date.now() - started, hung: false };
  } catch (error) {
    return { error, ms: Date.now() - started, hung: false };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The hostile stream's committed rows against the sandbox's resources: ids twice or unknown to the sandbox
 * (duplicated), values that differ from the sandbox's (lost), and, where the stream completed, ids missing (lost).
 */
async function checkHostile(
  dest: Destination,
  schema: string,
  complete: boolean,
): Promise<{ rows: number; rowsLost: number; rowsDuplicated: number; blobBytes: number }> {
  const def = getStream(HOSTILE);
  const rows = await dest.snapshot({ schema, table: HOSTILE }, def.primaryKey).catch(() => [] as Record<string, unknown>[]);
  const source = await sandboxResources(stack, `/api/${HOSTILE}`);
  const seen = new Set<string>();
  let rowsLost = 0;
  let rowsDuplicated = 0;
  let blobBytes = 0;
  for (const row of rows) {
    const id = String(row.id);
    const want = source.get(id) as { attributes: Record<string, unknown> } | undefined;
    if (seen.has(id) || !want) {
      rowsDuplicated++;
      continue;
    }
    seen.add(id);
    if (typeof row.hostile_blob === 'string') blobBytes = Math.max(blobBytes, row.hostile_blob.length);
    // every value the sandbox serves for it, as stored (text, and datetimes as instants)
    const differs = ['name', 'editor_type', 'html', 'text', 'created', 'updated'].some((k) => {
      const a = want.attributes[k];
      const b = row[k];
      if (a === undefined || a === null) return b !== undefined && b !== null;
      if (k === 'created' || k === 'updated') return (b instanceof Date ? b.getTime() : Date.parse(String(b))) !== Date.parse(String(a));
      return String(b) !== String(a);
    });
    if (differs) rowsLost++;
  }
  if (complete) rowsLost += [...source.keys()].filter((id) => !seen.has(id)).length;
  return { rows: rows.length, rowsLost, rowsDuplicated, blobBytes };
}

// Every kind, once, into Postgres and SQLite in turn; the long form runs each into both.
let caseNo = 0;
for (const kind of KINDS) {
  for (const target of SHORT ? ([caseNo % 2 === 0 ? 'PG' : 'LITE'] as const) : (['PG', 'LITE'] as const)) {
    const n = caseNo++;
    void test(`${kind.name}, end to end into ${target === 'PG' ? 'Postgres' : 'SQLite'}: ${kind.expect}`, async () => {
      const schema = `h${n}`;
      // a kind a retry gets past is served twice, then the stream reads on
      await faultsServed(kind.mangle.kind); // counted from here
      await stack.sandbox.admin('faults', mangleFor(kind, SKIP, kind.expect === 'recovers' ? 2 : undefined));
      const leaksFrom = foreign.requests.length;
      const run = await replicate(target, schema);
      await stack.sandbox.admin('faults', {});
      const served = await faultsServed(kind.mangle.kind);
      const dest = new Destination(targetOf(stack, target));
      const t = await truth(stack);
      const good = await Promise.all(GOOD.map((s) => checkTable(dest, s, { schema, table: s }, t[s])));
      const hostile = await checkHostile(dest, schema, kind.expect !== 'fails');
      const message = run.error ? causes(run.error) : '';
      const elsewhere = foreignSince(leaksFrom);
      const keyInMessage = message.includes(API_KEY) ? 1 : 0;
      recordFigures({
        suite: SUITE,
        case: `${kind.name} (${target === 'PG' ? 'Postgres' : 'SQLite'})`,
        hostile: 1,
        rowsLost: good.reduce((a, c) => a + c.rowsLost, 0) + hostile.rowsLost,
        rowsDuplicated: good.reduce((a, c) => a + c.rowsDuplicated, 0) + hostile.rowsDuplicated,
        hangs: run.hung ? 1 : 0,
        keyLeaks: elsewhere.withKey + keyInMessage,
        details: {
          outcome: run.hung ? 'hung' : run.error ? 'failed' : 'completed',
          seconds: Math.round(run.ms / 100) / 10,
          spoiledAnswers: served,
          hostileRows: hostile.rows,
          goodRows: good.reduce((a, c) => a + c.rows, 0),
          requestsElsewhere: elsewhere.requests,
          ...(kind.expect === 'stored' ? { blobBytes: hostile.blobBytes } : {}),
          ...(message ? { error: message.slice(0, 300) } : {}),
        },
      });
      if (run.hung) console.log(`worker output:\n${worker.output().slice(-4000)}`);
      assert.equal(run.hung, false, `${kind.name}: the replication did not end within ${RUN_BOUND_MS / 1000} s`);
      assert.ok(served > 0, `the sandbox served the spoiled answer`);
      assert.equal(elsewhere.withKey, 0, 'no request with the key reached another origin');
      assert.equal(elsewhere.requests, 0, 'no request at all reached another origin');
      assert.equal(keyInMessage, 0, 'the failure does not hold the key');
      assert.deepEqual(
        good.filter((c) => c.rowsLost + c.rowsDuplicated > 0),
        [],
        'the good streams are exact',
      );
      assert.deepEqual([hostile.rowsLost, hostile.rowsDuplicated], [0, 0], `${HOSTILE}: committed rows as the sandbox has them`);
      if (kind.expect === 'fails') {
        assert.ok(run.error, `${kind.name} fails the replication`);
        assert.match(message, new RegExp(`streams failed: ${HOSTILE}:`), 'only the hostile stream failed');
        assert.doesNotMatch(message, /streams failed: .*(profiles|tags|metrics):/);
        assert.match(message, kind.message);
        // the good pages before the spoiled one are kept (a loop's pages are good ones until it comes round)
        assert.equal(hostile.rows, kind.committed ?? GOOD_PAGE_ROWS, 'the good pages before the spoiled one are kept');
      } else {
        assert.ifError(run.error);
        assert.equal(hostile.rows, t[HOSTILE].count, `${HOSTILE} complete`);
        if (kind.expect === 'stored') assert.equal(hostile.blobBytes, kind.mangle.bytes, 'the 10 MB attribute stored whole');
      }
    });
  }
}

async function faultsServed(kind: string): Promise<number> {
  const stats = (await (await fetch(`${stack.sandbox.baseUrl}/__sandbox/stats`)).json()) as { faultsInjected: Record<string, number> };
  const key = `mangle:${kind}`;
  const now = stats.faultsInjected[key] ?? 0;
  const before = servedSoFar.get(key) ?? 0;
  servedSoFar.set(key, now);
  return now - before;
}
const servedSoFar = new Map<string, number>();

// Persistently, the kinds a retry gets past: every request through the client the worker's page activity uses (its
// dispatcher's and the body deadline's timeouts as the worker has them) ends within REQUEST_BOUND_MS as a retryable
// failure naming the problem, so the page attempts end, each within that bound.
for (const kind of KINDS.filter((k) => k.expect === 'recovers')) {
  void test(`${kind.name}, persistent: each request ends within ${REQUEST_BOUND_MS / 1000} s, retryable, naming it`, async () => {
    const attempts = SHORT ? 2 : 4;
    await stack.sandbox.admin('faults', mangleFor(kind, 0));
    const dispatcher = new Agent({ headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, connectTimeout: TIMEOUT_MS });
    const client = new KlaviyoClient({
      baseUrl: stack.sandbox.baseUrl,
      apiKey: API_KEY,
      limiter: createRateLimiter(),
      dispatcher,
      bodyDeadlineMs: TIMEOUT_MS,
    });
    const url = firstPageUrl(stack.sandbox.baseUrl, getStream(HOSTILE), { now: new Date() });
    let hangs = 0;
    let named = 0;
    let retryable = 0;
    let keyLeaks = 0;
    let longest = 0;
    try {
      for (let i = 0; i < attempts; i++) {
        const started = Date.now();
        const outcome = await Promise.race([
          client.getPage(url, { operation: getStream(HOSTILE).operation }).then(
            () => 'answered' as const,
            (e: unknown) => e,
          ),
          new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), REQUEST_BOUND_MS * 3).unref()),
        ]);
        const ms = Date.now() - started;
        longest = Math.max(longest, ms);
        if (outcome === 'hung' || ms > REQUEST_BOUND_MS) hangs++;
        if (outcome instanceof SyncError) {
          if (kind.message.test(outcome.message)) named++;
          if (!outcome.nonRetryable) retryable++;
          if (outcome.message.includes(API_KEY) || JSON.stringify(outcome.details ?? {}).includes(API_KEY)) keyLeaks++;
        }
      }
    } finally {
      await stack.sandbox.admin('faults', {});
      await dispatcher.destroy();
    }
    recordFigures({
      suite: SUITE,
      case: `${kind.name}, persistent (client)`,
      hostile: 1,
      hangs,
      keyLeaks,
      details: { requests: attempts, named, retryable, longestMs: longest, boundMs: REQUEST_BOUND_MS },
    });
    assert.equal(hangs, 0, `every request ended within ${REQUEST_BOUND_MS} ms (longest ${longest} ms)`);
    assert.equal(named, attempts, 'every failure names the problem');
    assert.equal(retryable, attempts, 'every failure is retried');
    assert.equal(keyLeaks, 0);
  });
}

// The long form also runs a server that never answers against a worker with the default request timeout (60 s),
// twice the page activity's heartbeat timeout (30 s): the activity heartbeats while it waits, so the attempt ends with
// the client's own failure, naming the problem, rather than a heartbeat timeout that names none.
if (!SHORT) {
  void test('never answers, default 60 s timeout: the attempt fails naming it, not by heartbeat timeout', async () => {
    await worker.stop(10_000);
    worker = await startWorkerProcess(['--rate-limits', 'off'], {
      env: { ...stack.env, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: 'default' },
    });
    const kind = KINDS.find((k) => k.mangle.kind === 'never-answer')!;
    const schema = 'hdefault';
    // the first page of the stream's first call (after the scope probe): no page committed in that call, so the
    // attempt fails rather than returning its pages
    await faultsServed(kind.mangle.kind); // counted from here
    await stack.sandbox.admin('faults', mangleFor(kind, 1, 1));
    const bound = 180_000;
    const run = await replicate('PG', schema, bound);
    await stack.sandbox.admin('faults', {});
    const served = await faultsServed(kind.mangle.kind);
    const dest = new Destination(targetOf(stack, 'PG'));
    const t = await truth(stack);
    const good = await Promise.all(GOOD.map((st) => checkTable(dest, st, { schema, table: st }, t[st])));
    const hostile = await checkHostile(dest, schema, true);
    const attempts = await failedActivityAttempts(stack.temporal.env.client, `hostile-${schema}`);
    const named = attempts.failures.filter((m) => /UND_ERR_HEADERS_TIMEOUT/.test(m)).length;
    const byHeartbeat = attempts.failures.filter((m) => /heartbeat/i.test(m)).length;
    recordFigures({
      suite: SUITE,
      case: 'never answers, default 60 s timeout (Postgres)',
      hostile: 1,
      rowsLost: good.reduce((a, c) => a + c.rowsLost, 0) + hostile.rowsLost,
      rowsDuplicated: good.reduce((a, c) => a + c.rowsDuplicated, 0) + hostile.rowsDuplicated,
      hangs: run.hung ? 1 : 0,
      details: {
        seconds: Math.round(run.ms / 100) / 10,
        spoiledAnswers: served,
        failedAttempts: attempts.failedAttempts,
        failures: attempts.failures.join(' | ').slice(0, 300),
        ...(run.error ? { error: causes(run.error).slice(0, 300) } : {}),
      },
    });
    assert.equal(run.hung, false, `the replication ended within ${bound / 1000} s`);
    assert.ifError(run.error);
    assert.equal(served, 1);
    assert.equal(hostile.rows, t[HOSTILE].count);
    assert.deepEqual(
      good.filter((c) => c.rowsLost + c.rowsDuplicated > 0),
      [],
    );
    assert.deepEqual([hostile.rowsLost, hostile.rowsDuplicated], [0, 0]);
    assert.ok(named >= 1, `an attempt failed naming the timeout: ${attempts.failures.join(' | ')}`);
    assert.equal(byHeartbeat, 0, `no attempt ended by heartbeat timeout: ${attempts.failures.join(' | ')}`);
  });
}
