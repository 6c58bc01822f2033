/**
 * The sandbox's latency model (sandbox/http/latency.ts): the spec's parsing, the seeded and bounded jitter, and,
 * against the real `klaviyo-sync sandbox --latency ...` process, that answers wait the base plus the per-row cost
 * (errors the base only, admin endpoints nothing), that concurrent requests overlap instead of queueing, that a
 * keep-alive connection stays open across delayed answers, the /__sandbox/latency endpoint and the traffic figures
 * of /__sandbox/stats.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, request } from 'undici';
import { startSandbox as startInProcess } from '../sandbox';
import { Latency, LATENCY_KLAVIYO, LATENCY_OFF, formatLatency, parseLatencyJson, parseLatencySpec } from '../sandbox/http/latency';
import { runSandboxCli, startSandbox, type SandboxProcess } from './helpers/sandbox';

const KEY = 'pk_latency_test';
const HEADERS = { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15' };

let sb: SandboxProcess;

before(async () => {
  sb = await startSandbox([
    '--size',
    'tiny',
    '--seed',
    '5',
    '--api-key',
    KEY,
    '--rate-limits',
    'off',
    '--latency',
    'base=200,row=0,jitter=0',
  ]);
});
after(async () => {
  await sb?.stop();
});

async function admin(method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await request(`${sb.baseUrl}${p}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: await res.body.json() };
}

/** One API request: its status, its body's bytes and parsed document, and how long it took end to end. */
async function timed(
  p: string,
  headers: Record<string, string> = HEADERS,
): Promise<{ status: number; ms: number; bytes: number; doc: any }> {
  const t0 = performance.now();
  const res = await request(`${sb.baseUrl}${p}`, { headers });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, ms: performance.now() - t0, bytes: bytes.length, doc: JSON.parse(bytes.toString('utf8')) };
}

async function traffic(
  operation: string,
): Promise<{ requests: number; bytes: number; rows: number; delayMs: number; firstAt: string; lastAt: string }> {
  const stats = (await admin('GET', '/__sandbox/stats')).body;
  return stats.traffic[operation] ?? { requests: 0, bytes: 0, rows: 0, delayMs: 0 };
}

const runCli = (args: string[]) => runSandboxCli(['--port', '0', ...args]);

void describe('the latency spec', () => {
  void test('off, klaviyo, and fields on top of klaviyo', () => {
    assert.deepEqual(parseLatencySpec('off'), { base: 0, row: 0, jitter: 0 });
    assert.deepEqual(parseLatencySpec('klaviyo'), { base: 150, row: 0.75, jitter: 0.25 });
    assert.deepEqual(parseLatencySpec('base=150,row=0.75,jitter=0.25'), LATENCY_KLAVIYO);
    assert.deepEqual(parseLatencySpec('base=200'), { base: 200, row: 0.75, jitter: 0.25 });
    assert.deepEqual(parseLatencySpec(' row=2 , jitter=0 '), { base: 150, row: 2, jitter: 0 });
    assert.deepEqual(parseLatencySpec('base=0,row=0,jitter=0'), LATENCY_OFF);
    for (const spec of ['off', 'klaviyo', 'base=200,row=0,jitter=0', 'base=1.5,row=0.1,jitter=1'])
      assert.equal(formatLatency(parseLatencySpec(spec)), spec);
  });

  void test('bad specs say what is wrong in one sentence', () => {
    const cases: Array<[string, RegExp]> = [
      ['fast', /latency 'fast' is not off, klaviyo or base=<ms>,row=<ms>,jitter=<fraction>/],
      ['', /is not off, klaviyo or base=/],
      ['speed=3', /is not off, klaviyo or base=/],
      ['base', /is not off, klaviyo or base=/],
      ['base=-1', /'base' must be a delay in ms from 0 to 60000, got "-1"/],
      ['base=abc', /'base' must be a delay in ms/],
      ['row=2000', /'row' must be a delay per row in ms from 0 to 1000/],
      ['jitter=1.5', /'jitter' must be a fraction from 0 to 1, got "1.5"/],
      ['base=1,base=2', /sets 'base' twice/],
    ];
    for (const [spec, message] of cases) assert.throws(() => parseLatencySpec(spec), message, spec);
  });

  void test('the JSON form: {spec} or fields on top of klaviyo', () => {
    assert.deepEqual(parseLatencyJson({ spec: 'off' }), LATENCY_OFF);
    assert.deepEqual(parseLatencyJson({ base: 20 }), { base: 20, row: 0.75, jitter: 0.25 });
    assert.throws(() => parseLatencyJson({}), /send \{"spec"/);
    assert.throws(() => parseLatencyJson({ bass: 1 }), /send \{"spec"/);
    assert.throws(() => parseLatencyJson({ jitter: 2 }), /'jitter' must be a fraction/);
    assert.throws(() => parseLatencyJson({ base: '10' }), /'base' must be/, 'numbers, not strings, in JSON');
  });
});

void describe('the model', () => {
  void test('base plus row × rows; jitter stays within its fraction and averages out', () => {
    const exact = new Latency(1, { base: 150, row: 0.75, jitter: 0 });
    assert.equal(exact.delayFor(200), 300, 'an events page of 200');
    assert.equal(exact.delayFor(100), 225, 'a profiles page of 100');
    assert.equal(exact.delayFor(0), 150, 'an error');
    assert.equal(new Latency(1).delayFor(200), 0, 'off by default');

    const jittered = new Latency(1, { base: 100, row: 1, jitter: 0.25 });
    const draws = Array.from({ length: 2000 }, () => jittered.delayFor(100));
    assert.ok(
      draws.every((d) => d >= 150 && d < 250),
      `200 ms ± 25%: ${Math.min(...draws)}..${Math.max(...draws)}`,
    );
    assert.ok(Math.min(...draws) < 155 && Math.max(...draws) > 245, 'the draws cover the range');
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(Math.abs(mean - 200) < 5, `mean ${mean}`);
  });

  void test('draws are seeded: same seed, same delays; set() restarts them; another seed differs', () => {
    const model = { base: 100, row: 0, jitter: 0.5 };
    const sequence = (l: Latency) => Array.from({ length: 20 }, () => l.delayFor(0));
    const a = new Latency(7, model);
    const first = sequence(a);
    assert.deepEqual(sequence(new Latency(7, model)), first);
    a.set(model);
    assert.deepEqual(sequence(a), first);
    assert.notDeepEqual(sequence(new Latency(8, model)), first);
  });
});

void describe('answers over HTTP (--latency base=200,row=0,jitter=0)', () => {
  void test('a request takes at least the base; an error too; the admin endpoints answer at once', async () => {
    const ok = await timed('/api/tags');
    assert.equal(ok.status, 200);
    assert.ok(ok.ms >= 200, `200 answered after ${ok.ms.toFixed(1)} ms`);
    const denied = await timed('/api/tags', { revision: '2025-07-15' });
    assert.equal(denied.status, 401);
    assert.ok(denied.ms >= 200, `401 answered after ${denied.ms.toFixed(1)} ms`);
    const t0 = performance.now();
    await admin('GET', '/__sandbox/health');
    assert.ok(performance.now() - t0 < 150, `health took ${(performance.now() - t0).toFixed(1)} ms`);
  });

  void test('20 concurrent requests overlap: together well under 20 × 200 ms', async () => {
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => timed('/api/tags')));
    const wall = performance.now() - t0;
    assert.ok(
      answers.every((a) => a.status === 200 && a.ms >= 200),
      answers.map((a) => `${a.status} ${a.ms.toFixed(0)}`).join(', '),
    );
    assert.ok(wall < 1500, `20 concurrent answers took ${wall.toFixed(0)} ms; serially they would take 4000`);
  });

  void test('a keep-alive connection stays open across delayed answers', async () => {
    const client = new Client(sb.baseUrl, { pipelining: 1 });
    let connects = 0;
    client.on('connect', () => connects++);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.request({ path: '/api/tags', method: 'GET', headers: HEADERS });
        assert.equal(res.statusCode, 200);
        await res.body.text();
      }
    } finally {
      await client.close();
    }
    assert.equal(connects, 1, 'three requests, one connection');
  });
});

void describe('/__sandbox/latency', () => {
  after(async () => {
    await admin('POST', '/__sandbox/latency', { spec: 'base=200,row=0,jitter=0' });
  });

  void test('GET shows the model from --latency; POST switches it; a bad one is refused and changes nothing', async () => {
    assert.deepEqual((await admin('GET', '/__sandbox/latency')).body, { spec: 'base=200,row=0,jitter=0', base: 200, row: 0, jitter: 0 });
    assert.deepEqual((await admin('POST', '/__sandbox/latency', { spec: 'klaviyo' })).body, {
      spec: 'klaviyo',
      base: 150,
      row: 0.75,
      jitter: 0.25,
    });
    assert.deepEqual((await admin('POST', '/__sandbox/latency', { jitter: 0 })).body, {
      spec: 'base=150,row=0.75,jitter=0',
      base: 150,
      row: 0.75,
      jitter: 0,
    });
    const bad = await admin('POST', '/__sandbox/latency', { spec: 'jitter=3' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.errors[0].detail, /'jitter' must be a fraction from 0 to 1/);
    assert.equal((await admin('GET', '/__sandbox/latency')).body.spec, 'base=150,row=0.75,jitter=0');
    assert.equal((await admin('PUT', '/__sandbox/latency')).status, 405);
    assert.deepEqual((await admin('POST', '/__sandbox/latency', { spec: 'off' })).body.spec, 'off');
    const fast = await timed('/api/tags');
    assert.ok(fast.ms < 150, `with latency off, ${fast.ms.toFixed(1)} ms`);
  });

  void test('the per-row cost: a page of 100 profiles waits base + 100 rows, an error the base only', async () => {
    await admin('POST', '/__sandbox/latency', { base: 100, row: 4, jitter: 0 });
    const before = await traffic('get_profiles');
    const big = await timed('/api/profiles?page[size]=100');
    assert.equal(big.doc.data.length, 100);
    assert.ok(big.ms >= 500, `100 rows answered after ${big.ms.toFixed(1)} ms`);
    const small = await timed('/api/profiles?page[size]=1');
    assert.ok(small.ms >= 104 && small.ms < 400, `1 row answered after ${small.ms.toFixed(1)} ms`);
    const refused = await timed('/api/profiles?page[size]=1000');
    assert.equal(refused.status, 400);
    const after = await traffic('get_profiles');
    assert.equal(after.requests - before.requests, 3);
    assert.equal(after.delayMs - before.delayMs, 500 + 104 + 100, 'the delays the server added, exactly');
  });

  void test('jitter over HTTP: bounded, and the same model again gives the same delays', async () => {
    const run = async () => {
      await admin('POST', '/__sandbox/latency', { base: 100, row: 0, jitter: 0.5 });
      const before = await traffic('get_metrics');
      const times: number[] = [];
      for (let i = 0; i < 8; i++) times.push((await timed('/api/metrics')).ms);
      return { times, delay: (await traffic('get_metrics')).delayMs - before.delayMs };
    };
    const a = await run();
    const b = await run();
    for (const t of [...a.times, ...b.times]) assert.ok(t >= 50 && t < 250, `100 ms ± 50% answered after ${t.toFixed(1)} ms`);
    assert.ok(Math.abs(a.delay - b.delay) < 0.3, `seeded: ${a.delay} then ${b.delay} ms in all`);
    assert.ok(Math.abs(a.delay - 800) > 1, `the delays vary: ${a.delay} ms for 8 requests`);
  });
});

void test('GET /__sandbox/stats: bytes, rows, first and last request per operation, 429s', async () => {
  await admin('POST', '/__sandbox/latency', { spec: 'off' });
  const started = Date.now();
  const before = (await admin('GET', '/__sandbox/stats')).body;
  const pages = [await timed('/api/lists'), await timed('/api/lists?page[cursor]=bogus'), await timed('/api/lists')];
  await sb.admin('faults', { failNext: { count: 2, status: 429 } });
  assert.equal((await timed('/api/lists')).status, 429);
  assert.equal((await timed('/api/segments')).status, 429);
  const stats = (await admin('GET', '/__sandbox/stats')).body;
  const lists = stats.traffic.get_lists;
  const listsBefore = before.traffic.get_lists ?? { requests: 0, bytes: 0, rows: 0 };
  assert.equal(lists.requests - listsBefore.requests, 4);
  assert.ok(lists.bytes - listsBefore.bytes > pages[0].bytes + pages[2].bytes, 'the bytes of every answer, errors included');
  assert.equal(
    lists.rows - listsBefore.rows,
    pages[0].doc.data.length + pages[2].doc.data.length,
    'rows of the two pages served (an error serves none)',
  );
  assert.ok(pages[0].doc.data.length > 0);
  // This test is the first to read /api/lists: its first request arrived after `started`, the last one later.
  assert.ok(Date.parse(lists.firstAt) >= started, `${lists.firstAt} vs ${new Date(started).toISOString()}`);
  assert.ok(Date.parse(lists.lastAt) > Date.parse(lists.firstAt) && Date.parse(lists.lastAt) <= Date.now(), lists.lastAt);
  assert.equal(stats.throttled - (before.throttled ?? 0), 2);
  assert.equal(stats.operations.get_segments['429'], 1, 'the counts per status are still there');
  assert.equal(stats.requests - before.requests, 5 + 2, 'five API requests, the POST of the faults and the stats read before');
  assert.ok(Object.hasOwn(stats, 'faultsInjected') && Object.hasOwn(stats, 'since'));
});

void test('--latency: the banner names it; a bad spec is one sentence on stderr and exit code 2', async () => {
  assert.match(sb.output(), /latency base=200,row=0,jitter=0/);
  const cases: Array<[string, RegExp]> = [
    ['fast', /^klaviyo-sync sandbox: --latency: latency 'fast' is not off, klaviyo or base=<ms>,row=<ms>,jitter=<fraction>/],
    ['jitter=2', /--latency: latency 'jitter' must be a fraction from 0 to 1, got "2"\.$/],
    ['base=10,base=20', /sets 'base' twice/],
  ];
  const results = await Promise.all(cases.map(([spec]) => runCli(['--latency', spec])));
  results.forEach((r, i) => {
    assert.equal(r.code, 2, `${cases[i][0]}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), cases[i][1]);
  });
});

void test('startSandbox({ latency }): a spec or a parsed model, off by default; RunningSandbox.latency follows POST', async () => {
  const plain = await startInProcess({ port: 0, size: 'tiny' });
  const spec = await startInProcess({ port: 0, size: 'tiny', latency: 'klaviyo' });
  const parsed = await startInProcess({ port: 0, size: 'tiny', latency: { base: 10, row: 0, jitter: 0 } });
  try {
    assert.deepEqual(plain.latency, LATENCY_OFF);
    assert.deepEqual(spec.latency, LATENCY_KLAVIYO);
    assert.deepEqual(parsed.latency, { base: 10, row: 0, jitter: 0 });
    await request(`${parsed.url}/__sandbox/latency`, { method: 'POST', body: JSON.stringify({ spec: 'base=30' }) }).then((r) =>
      r.body.text(),
    );
    assert.deepEqual(parsed.latency, { base: 30, row: 0.75, jitter: 0.25 });
  } finally {
    await Promise.all([plain.close(), spec.close(), parsed.close()]);
  }
  await assert.rejects(startInProcess({ port: 0, size: 'tiny', latency: 'slow' }), /latency 'slow' is not off, klaviyo/);
});

void test('a report POST waits base + row × its results, as a GET page does; an invalid body the base only', async () => {
  await admin('POST', '/__sandbox/latency', { base: 50, row: 10, jitter: 0 });
  try {
    const post = async (attributes: Record<string, unknown>) => {
      const t0 = performance.now();
      const res = await request(`${sb.baseUrl}/api/segment-series-reports`, {
        method: 'POST',
        headers: { ...HEADERS, 'content-type': 'application/vnd.api+json' },
        body: JSON.stringify({ data: { type: 'segment-series-report', attributes } }),
      });
      const doc = (await res.body.json()) as any;
      return { status: res.statusCode, ms: performance.now() - t0, doc };
    };
    const before = await traffic('query_segment_series');
    const ok = await post({ statistics: ['total_members'], interval: 'weekly', timeframe: { key: 'last_30_days' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.doc));
    const rows = ok.doc.data.attributes.results.length as number;
    assert.ok(rows > 0);
    assert.ok(ok.ms >= 50 + 10 * rows, `${rows} rows answered after ${ok.ms.toFixed(1)} ms`);
    const bad = await post({ statistics: ['opens'], interval: 'weekly', timeframe: { key: 'last_30_days' } });
    assert.equal(bad.status, 400);
    const after = await traffic('query_segment_series');
    assert.equal(after.requests - before.requests, 2);
    assert.equal(after.rows - before.rows, rows);
    assert.equal(after.delayMs - before.delayMs, 50 + 10 * rows + 50, 'the delays the server added, exactly');
  } finally {
    await admin('POST', '/__sandbox/latency', { spec: 'off' });
  }
});
