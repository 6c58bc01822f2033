/**
 * The pre-check probes one scope per request (ten for every stream). A retried check must not throw away the probes
 * that passed: with a fault rate of 20% all ten pass in one attempt only one time in nine, so a check that probed
 * everything again each attempt would fail the replication most of the time, although each probe would pass within
 * its attempts. `checkStreamScopes` tells each passed scope (the checkSource activity heartbeats them) and skips the
 * scopes it is given as passed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Agent } from 'undici';
import { startSandbox } from '../sandbox';
import { KlaviyoClient } from '../lib/klaviyo/client';
import { createRateLimiter } from '../lib/klaviyo/ratelimit';
import { checkStreamScopes, scopeProbes } from '../lib/klaviyo/scopes';
import { STREAM_NAMES } from '../streams/streams';

/** The real client on the sandbox, at the documented limits. */
const sandboxClient = (baseUrl: string, apiKey: string, dispatcher: Agent) =>
  new KlaviyoClient({ baseUrl, apiKey, limiter: createRateLimiter({ mode: 'documented' }), dispatcher, connection: 'KLAVIYO' });

void test('a retried scope check probes only the scopes not yet found present', async () => {
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 3, apiKeys: ['pk_scope_retry'], rateLimits: 'off' });
  const dispatcher = new Agent();
  const admin = async (what: string, body?: unknown) =>
    (await (
      await request(`${sandbox.url}/__sandbox/${what}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
    ).body.json()) as { operations?: Record<string, Record<string, number>> };
  const apiRequests = async () =>
    Object.entries((await admin('stats')).operations ?? {})
      .filter(([op]) => op !== 'sandbox')
      .reduce((a, [, byStatus]) => a + Object.values(byStatus).reduce((x, y) => x + y, 0), 0);
  try {
    const client = sandboxClient(sandbox.url, 'pk_scope_retry', dispatcher);
    // the metrics probe gets an answer that is not JSON; every other scope's probe passes
    await admin('faults', { mangle: { kind: 'invalid-json', path: '/api/metrics' } });
    const passed = new Set<string>();
    const check = () =>
      checkStreamScopes(client, STREAM_NAMES, { connection: 'KLAVIYO', baseUrl: sandbox.url, passed, onPassed: (s) => passed.add(s) });
    await assert.rejects(check());
    assert.equal(passed.size, scopeProbes().length - 1, 'every other probe ran to its end and was told');
    assert.ok(!passed.has('metrics:read'));

    await admin('faults', {});
    const before = await apiRequests();
    await check();
    assert.equal((await apiRequests()) - before, 1, 'the second attempt probes metrics:read only');
    assert.ok(passed.has('metrics:read'));
  } finally {
    await dispatcher.close();
    await sandbox.close();
  }
});

void test("a check of every scope under one cancellation signal (an activity's) adds no more listeners to it than Node allows", async () => {
  const sandbox = await startSandbox({ port: 0, size: 'tiny', seed: 3, apiKeys: ['pk_scope_signal'], rateLimits: 'off' });
  const dispatcher = new Agent();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const client = sandboxClient(sandbox.url, 'pk_scope_signal', dispatcher);
    const cancel = new AbortController();
    const passed = new Set<string>();
    await checkStreamScopes(client, STREAM_NAMES, {
      connection: 'KLAVIYO',
      baseUrl: sandbox.url,
      signal: cancel.signal,
      onPassed: (s) => passed.add(s),
    });
    assert.equal(passed.size, scopeProbes().length, 'every scope probed, at once after the first');
    assert.ok(scopeProbes().length > 10, 'more probes than the 10 listeners an EventTarget takes without a warning');
    // process warnings are emitted on the next tick
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  } finally {
    process.off('warning', onWarning);
    await dispatcher.close();
    await sandbox.close();
  }
});
