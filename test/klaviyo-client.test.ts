/**
 * The Klaviyo HTTP client (lib/klaviyo/): URL building, the rate limiter on a fake clock, the mapping of
 * responses to Temporal failures, and then the real thing against a sandbox process over HTTP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { inspect } from 'node:util';
import { Agent, request } from 'undici';
import { ApplicationFailure } from '@temporalio/common';
import { getStream, STREAMS } from '../streams/streams';
import { keepsParentRow, parentOf, partitionsOf } from '../streams/partitions';
import type { StreamDef } from '../streams/types';
import { filterDatetime, firstPageUrl } from '../lib/klaviyo/urls';
import { createRateLimiter, DOCUMENTED_CONCURRENCY, processRateLimiter, type Clock, type Release } from '../lib/klaviyo/ratelimit';
import { SyncError } from '../lib/errors';
import { toApplicationFailure } from '../worker/failures';
import {
  failureForNetworkError as classifyNetworkError,
  failureForResponse as classifyResponse,
  retryAfterSeconds,
  type KlaviyoFailureDetails,
  type RequestContext,
} from '../lib/klaviyo/errors';
import { operationsOf, STREAM_OPERATIONS } from '../lib/klaviyo/operations';
import { KlaviyoClient, type JsonApiDocument, type JsonApiResource, type KlaviyoPage } from '../lib/klaviyo/client';
import { idsChecksum } from '../sandbox/account/checksum';
import { LIMITED_KEY, LIMITED_KEY_SANDBOX, startSandbox, TEST_KEY, type SandboxProcess } from './helpers/sandbox';
import { version } from '../package.json';

/** What Temporal sees of a client error: the worker's interceptor maps every classified error like this. */
function asFailure(err: unknown): ApplicationFailure {
  assert.ok(err instanceof SyncError, `not a classified error: ${inspect(err)}`);
  const f = toApplicationFailure(err);
  assert.ok(f instanceof ApplicationFailure);
  return f;
}
const failureForResponse = (...args: Parameters<typeof classifyResponse>) => asFailure(classifyResponse(...args));

const NOW = new Date('2025-06-01T12:00:00.750Z');
const BASE = 'https://a.klaviyo.com';

/** Sleeps resolve only when the test moves time forward, so timing assertions are exact and instant. */
class FakeClock implements Clock {
  private t = 0;
  private timers: Array<{ at: number; fire: () => void }> = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = {
        at: this.t + ms,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** Moves time forward to `to`, firing due timers in order and letting their continuations run. */
  async advanceTo(to: number): Promise<void> {
    await settle();
    for (;;) {
      const due = this.timers.filter((x) => x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fire();
      await settle();
    }
    this.t = to;
    await settle();
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Starts `n` acquisitions and records the fake time each one is admitted at. */
function admissions(clock: FakeClock, acquire: () => Promise<Release>, n: number, hold = false) {
  const times: number[] = [];
  const releases: Release[] = [];
  const all = Promise.all(
    Array.from({ length: n }, async () => {
      const release = await acquire();
      times.push(clock.now());
      if (hold) releases.push(release);
      else release();
    }),
  );
  return { times, releases, all };
}

void describe('firstPageUrl', () => {
  void it('sends a bare path when the stream has no sort, page size, params or filter', () => {
    assert.equal(firstPageUrl(`${BASE}/`, getStream('tags'), { now: NOW }), `${BASE}/api/tags`);
  });

  void it('builds the incremental profiles request with an unquoted, Z-suffixed, whole-second datetime', () => {
    const url = firstPageUrl(BASE, getStream('profiles'), { since: '2025-01-02T03:04:05.678+00:00', now: NOW });
    const u = new URL(url);
    assert.equal(u.pathname, '/api/profiles');
    assert.equal(u.searchParams.get('filter'), 'greater-than(updated,2025-01-02T03:04:05Z)');
    assert.equal(u.searchParams.get('sort'), 'updated');
    assert.equal(u.searchParams.get('page[size]'), '100');
    assert.equal(u.searchParams.get('additional-fields[profile]'), 'subscriptions');
    // brackets, parentheses, commas and colons are percent-encoded; nothing is left for a `+` to turn into a space
    assert.match(url, /filter=greater-than%28updated%2C2025-01-02T03%3A04%3A05Z%29/);
    assert.match(url, /page%5Bsize%5D=100/);
  });

  void it("adds the parameters of the stream's options, a shared one listing both values", () => {
    const profiles = new URL(firstPageUrl(BASE, getStream('profiles'), { options: ['predictive_analytics'], now: NOW }));
    assert.equal(profiles.searchParams.get('additional-fields[profile]'), 'subscriptions,predictive_analytics');
    const events = new URL(firstPageUrl(BASE, getStream('events'), { options: ['metric_name'], now: NOW }));
    assert.equal(events.searchParams.get('include'), 'metric');
    assert.equal(events.searchParams.get('fields[metric]'), 'name');
    assert.equal(new URL(firstPageUrl(BASE, getStream('events'), { now: NOW })).searchParams.get('include'), null);
    const both = new URL(firstPageUrl(BASE, getStream('events'), { options: ['metric_name', 'attributions'], now: NOW }));
    assert.equal(both.searchParams.get('include'), 'metric,attributions');
    assert.throws(() => firstPageUrl(BASE, getStream('events'), { options: ['predictive_analytics'], now: NOW }), /events has no option/);
  });

  void it('converts offsets to UTC and clamps a future watermark to now', () => {
    assert.equal(filterDatetime('2025-03-04T05:06:07.890+02:00', NOW), '2025-03-04T03:06:07Z');
    assert.equal(filterDatetime('2031-01-01T00:00:00Z', NOW), '2025-06-01T12:00:00Z');
    assert.throws(() => filterDatetime('yesterday', NOW), /not an ISO 8601 datetime/);
  });

  void it('sends a partition filter alone, and joins it with the cursor in one flat and(...)', () => {
    const campaigns = getStream('campaigns');
    const email = partitionsOf(campaigns).request('email').partitionFilter!;
    const alone = new URL(firstPageUrl(BASE, campaigns, { partitionFilter: email, now: NOW }));
    assert.equal(alone.searchParams.get('filter'), email);

    const withCursor: StreamDef = {
      ...getStream('templates'),
      partitioning: { kind: 'filters', partitions: [{ label: 'x', filter: "equals(name,'a,b')" }] },
    };
    const one = new URL(firstPageUrl(BASE, withCursor, { partitionFilter: "equals(name,'a,b')", since: '2025-01-01T00:00:00Z', now: NOW }));
    assert.equal(one.searchParams.get('filter'), "and(equals(name,'a,b'),greater-or-equal(updated,2025-01-01T00:00:00Z))");

    const nested = new URL(
      firstPageUrl(BASE, withCursor, {
        partitionFilter: "and(any(id,['1','2']),equals(name,'x'))",
        since: '2025-01-01T00:00:00Z',
        now: NOW,
      }),
    );
    assert.equal(
      nested.searchParams.get('filter'),
      "and(any(id,['1','2']),equals(name,'x'),greater-or-equal(updated,2025-01-01T00:00:00Z))",
    );
  });

  void it('puts the parent id in the path of a membership stream, and insists on one', () => {
    const stream = getStream('list_profiles');
    const u = new URL(firstPageUrl(BASE, stream, { parentId: 'Xy12', now: NOW }));
    assert.equal(u.pathname, '/api/lists/Xy12/profiles');
    assert.equal(u.searchParams.get('page[size]'), '100');
    assert.equal(u.searchParams.get('fields[profile]'), 'joined_group_at');
    assert.throws(() => firstPageUrl(BASE, stream, { now: NOW }), /needs the id of a lists row/);
    assert.throws(() => firstPageUrl(BASE, getStream('lists'), { since: '2025-01-01T00:00:00Z', now: NOW }), /has no cursor/);
  });
});

void describe('rate limiter', () => {
  void it('sling mode: 3 requests per padded second for the whole account, whatever the operation', async () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ mode: 'sling', clock });
    const ops = ['get_tags', 'get_profiles', 'get_events'];
    let i = 0;
    const run = admissions(clock, () => limiter.acquire(ops[i++ % 3]), 7);
    await clock.advanceTo(5000);
    await run.all;
    assert.deepEqual(run.times, [0, 0, 0, 1100, 1100, 1100, 2200]);
  });

  void it('sling mode: at most 3 in flight; a release lets the next one go', async () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ mode: 'sling', clock });
    const run = admissions(clock, () => limiter.acquire('get_events'), 5, true);
    await clock.advanceTo(10_000);
    assert.equal(run.times.length, 3);
    run.releases[0]();
    run.releases[0](); // a second call of the same release frees nothing more
    await clock.advanceTo(10_001);
    assert.deepEqual(run.times, [0, 0, 0, 10_000]);
    run.releases[1]();
    await clock.advanceTo(10_002);
    assert.deepEqual(run.times, [0, 0, 0, 10_000, 10_001]);
    await run.all;
  });

  void it('documented mode: each operation has its own burst and steady windows', async () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ mode: 'documented', clock, concurrency: 100 });
    const tags = admissions(clock, () => limiter.acquire('get_tags'), 61);
    const profiles = admissions(clock, () => limiter.acquire('get_profiles'), 20);
    await clock.advanceTo(0);
    assert.deepEqual(profiles.times, Array(20).fill(0));
    await clock.advanceTo(70_000);
    await tags.all;
    // 3 per 1.1 s, so the 60th goes at 19 × 1.1 s; the 61st waits for the first to leave the 61 s steady window
    assert.deepEqual(tags.times.slice(0, 6), [0, 0, 0, 1100, 1100, 1100]);
    assert.equal(tags.times[59], 20_900);
    assert.equal(tags.times[60], 61_000);
  });

  void it('documented mode: requests waiting out one operation’s steady limit hold none of the slots of another', async () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ mode: 'documented', clock, concurrency: 4 });
    // get_tags allows 3 per burst second: 4 take every tags slot, the 4th waiting for its token
    const tags = admissions(clock, () => limiter.acquire('get_tags'), 4, true);
    await clock.advanceTo(0);
    assert.deepEqual(tags.times, [0, 0, 0]);
    const events = admissions(clock, () => limiter.acquire('get_events'), 4, true);
    await clock.advanceTo(1);
    assert.deepEqual(events.times, [0, 0, 0, 0], 'events go at once, with every get_tags slot taken');
    for (const release of [...tags.releases, ...events.releases]) release();
    await clock.advanceTo(2000);
    await Promise.all([tags.all, events.all]);
    assert.deepEqual(tags.times, [0, 0, 0, 1100]);
  });

  void it('off mode: no pacing past any tier, only the concurrency cap, and a 429 still holds its operation back', async () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ mode: 'off', clock, concurrency: 500 });
    // get_tags is documented at 3/s and 60/min: off admits 400 at once
    const tags = admissions(clock, () => limiter.acquire('get_tags'), 400);
    await clock.advanceTo(0);
    await tags.all;
    assert.deepEqual(tags.times, Array(400).fill(0));

    const capped = createRateLimiter({ mode: 'off', clock });
    const events = admissions(clock, () => capped.acquire('get_events'), DOCUMENTED_CONCURRENCY + 6, true);
    await clock.advanceTo(1);
    assert.equal(events.times.length, DOCUMENTED_CONCURRENCY, 'the documented mode’s concurrency cap');
    for (const release of events.releases) release();

    await limiter.penalize('get_tags', 5);
    const after = admissions(clock, () => limiter.acquire('get_tags'), 1);
    await clock.advanceTo(10_000);
    await after.all;
    assert.deepEqual(after.times, [5001]);
  });

  void it('penalize holds back the throttled operation (documented) or the whole account (sling)', async () => {
    const clock = new FakeClock();
    const documented = createRateLimiter({ mode: 'documented', clock });
    await documented.penalize('get_tags', 5);
    const tags = admissions(clock, () => documented.acquire('get_tags'), 1);
    const events = admissions(clock, () => documented.acquire('get_events'), 1);
    await clock.advanceTo(6000);
    await Promise.all([tags.all, events.all]);
    assert.deepEqual([tags.times, events.times], [[5000], [0]]);

    const sling = createRateLimiter({ mode: 'sling', clock });
    await sling.penalize('get_tags', 2);
    const other = admissions(clock, () => sling.acquire('get_events'), 1);
    await clock.advanceTo(9000);
    await other.all;
    assert.deepEqual(other.times, [8000]);
  });

  void it('an abort rejects a waiting acquire with the signal reason and gives its slot back', async () => {
    const clock = new FakeClock();
    const limiter = createRateLimiter({ mode: 'sling', clock, concurrency: 1 });
    await limiter.penalize('get_tags', 30);
    const controller = new AbortController();
    const waiting = limiter.acquire('get_tags', controller.signal);
    const queued = limiter.acquire('get_tags', controller.signal);
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    await assert.rejects(waiting, (err) => err === reason);
    await assert.rejects(queued, (err) => err === reason);
    const after = admissions(clock, () => limiter.acquire('get_tags'), 1);
    await clock.advanceTo(30_000);
    await after.all;
    assert.deepEqual(after.times, [30_000]);
    await assert.rejects(limiter.acquire('get_tags', AbortSignal.abort(reason)), (err) => err === reason);
  });

  void it('one limiter per account and mode in a process, so short-lived clients share the budget', () => {
    const a = processRateLimiter('account-a', { mode: 'documented' });
    assert.equal(processRateLimiter('account-a', { mode: 'documented' }), a);
    assert.notEqual(processRateLimiter('account-b', { mode: 'documented' }), a);
    assert.notEqual(processRateLimiter('account-a', { mode: 'sling' }), a);
  });

  void it('documented mode refuses an operation it has no tier for, naming the fix', async () => {
    const limiter = createRateLimiter({ mode: 'documented', operations: operationsOf([getStream('tags')]) });
    await assert.rejects(limiter.acquire('get_profile'), /No documented rate limit for Klaviyo operation get_profile/);
  });
});

void describe('error mapping', () => {
  const ctx = (operation: string, path = '/api/tags'): RequestContext => ({
    operation,
    url: new URL(`https://a.klaviyo.com${path}?filter=x`),
    scopes: operationsOf([getStream('list_profiles')])[operation]?.scopes,
    connection: 'KLAVIYO',
  });
  const body = (status: number, code: string, detail: string, parameter?: string) => ({
    errors: [{ id: 'e1', status, code, title: 'T', detail, source: parameter ? { parameter } : { pointer: '/data/' } }],
  });
  const details = (f: ApplicationFailure) => f.details![0] as KlaviyoFailureDetails;

  void it('429: retryable and benign, delayed by Retry-After, else the detail, else 1 s, capped at 60 s', () => {
    const f = failureForResponse(
      { status: 429, retryAfter: '7', body: body(429, 'throttled', 'Request was throttled. Expected available in 2 seconds.') },
      ctx('get_tags'),
    );
    assert.ok(f instanceof ApplicationFailure);
    assert.equal(f.type, 'KlaviyoRateLimited');
    assert.equal(f.nonRetryable, false);
    assert.equal(f.nextRetryDelay, '7s');
    assert.equal(f.category, 'BENIGN');
    assert.equal(details(f).retryAfterSeconds, 7);
    assert.equal(retryAfterSeconds(undefined, 'Request was throttled. Expected available in 2 seconds.'), 2);
    assert.equal(retryAfterSeconds(undefined, 'Request was throttled. Expected available in 1 second.'), 1);
    assert.equal(retryAfterSeconds(undefined, 'Request was throttled. Expected available in 0 seconds.'), 1);
    assert.equal(retryAfterSeconds(undefined, undefined), 1);
    assert.equal(retryAfterSeconds('3600', undefined), 60);
    assert.equal(retryAfterSeconds('Wed, 21 Oct 2025 07:28:00 GMT', 'Expected available in 4 seconds.'), 4);
  });

  void it('5xx: retryable KlaviyoServerError with status, operation and detail', () => {
    const f = failureForResponse({ status: 503, body: body(503, 'service_unavailable', 'Try again later.') }, ctx('get_tags'));
    assert.equal(f.type, 'KlaviyoServerError');
    assert.equal(f.nonRetryable, false);
    assert.match(f.message, /503 to GET a\.klaviyo\.com\/api\/tags \(get_tags\): "Try again later\."/);
    assert.deepEqual(details(f), {
      operation: 'get_tags',
      host: 'a.klaviyo.com',
      path: '/api/tags',
      status: 503,
      code: 'service_unavailable',
      detail: 'Try again later.',
      parameter: undefined,
    });
    const html = failureForResponse({ status: 502, body: '<html>Bad gateway</html>' }, ctx('get_tags'));
    assert.match(html.message, /502 .*"<html>Bad gateway<\/html>"/);
  });

  void it('400, 401, 403, 404 and other 4xx: non-retryable, each naming its fix', () => {
    const bad = failureForResponse(
      { status: 400, body: body(400, 'invalid', "'foo' is not a valid field for the resource 'tag'.", 'filter') },
      ctx('get_tags'),
    );
    assert.equal(bad.type, 'KlaviyoBadRequest');
    assert.equal(bad.nonRetryable, true);
    assert.match(
      bad.message,
      /bad request: "'foo' is not a valid field for the resource 'tag'\." \(parameter filter\); fix that parameter/,
    );

    const auth = failureForResponse(
      { status: 401, body: body(401, 'authentication_failed', 'Incorrect authentication credentials.') },
      ctx('get_tags'),
    );
    assert.equal(auth.type, 'KlaviyoAuthError');
    assert.equal(auth.nonRetryable, true);
    assert.ok(
      auth.message.startsWith(
        'Klaviyo rejected the API key (authentication_failed): check secrets.api_key of connection KLAVIYO; a private key starts with pk_',
      ),
      auth.message,
    );

    const denied = failureForResponse(
      { status: 403, body: body(403, 'permission_denied', 'You do not have permission to perform this action.') },
      ctx('get_profiles_for_list', '/api/lists/L1/profiles'),
    );
    assert.equal(denied.type, 'KlaviyoPermissionError');
    assert.equal(denied.nonRetryable, true);
    assert.match(
      denied.message,
      /"You do not have permission to perform this action\."; the API key needs the scopes lists:read and profiles:read, so grant them/,
    );

    const gone = failureForResponse(
      { status: 404, body: body(404, 'not_found', 'A list with id L1 does not exist.') },
      ctx('get_profiles_for_list', '/api/lists/L1/profiles'),
    );
    assert.equal(gone.type, 'KlaviyoNotFound');
    assert.equal(gone.nonRetryable, true);
    assert.match(gone.message, /GET a\.klaviyo\.com\/api\/lists\/L1\/profiles .*"A list with id L1 does not exist\."/);

    const other = failureForResponse({ status: 405, body: body(405, 'method_not_allowed', 'Method not allowed.') }, ctx('get_tags'));
    assert.deepEqual([other.type, other.nonRetryable], ['KlaviyoClientError', true]);
  });

  void it('transport errors: retryable KlaviyoNetworkError; its cause carries only a code and a scrubbed message', () => {
    const err = Object.assign(new Error('read ECONNRESET (key pk_secret)'), { code: 'ECONNRESET', request: { headers: 'pk_secret' } });
    const raw = classifyNetworkError(err, ctx('get_tags'), (s) => s.replace('pk_secret', '[redacted]'));
    assert.equal(raw.cause instanceof Error && raw.cause.name, 'ECONNRESET');
    assert.equal('request' in (raw.cause as object), false);
    const f = asFailure(raw);
    assert.equal(f.type, 'KlaviyoNetworkError');
    assert.equal(f.nonRetryable, false);
    assert.match(f.message, /ECONNRESET read ECONNRESET \(key \[redacted\]\).*check this worker's network path/);
    // no cause on the Temporal failure: summaries show a failure's innermost message, which must be the one naming the fix
    assert.equal(f.cause, undefined);
    assert.equal((f.details![0] as KlaviyoFailureDetails).code, 'ECONNRESET');
    assert.doesNotMatch(JSON.stringify({ f, details: f.details, cause: String(raw.cause) }), /pk_secret/);
  });

  void it('429 without a stated wait backs off (no nextRetryDelay); a Retry-After past 60 s fails at once, naming it', () => {
    const bare = failureForResponse({ status: 429, body: body(429, 'throttled', 'Request was throttled.') }, ctx('get_tags'));
    assert.deepEqual([bare.type, bare.nonRetryable, bare.nextRetryDelay], ['KlaviyoRateLimited', false, undefined]);
    assert.match(bare.message, /without saying for how long \(no Retry-After\)/);

    const huge = failureForResponse(
      { status: 429, retryAfter: '99999', body: body(429, 'throttled', 'Request was throttled. Expected available in 99999 seconds.') },
      ctx('get_tags'),
    );
    assert.deepEqual([huge.type, huge.nonRetryable], ['KlaviyoThrottledTooLong', true]);
    assert.match(huge.message, /asked to wait 27\.8 h \(Retry-After 99999\).*run it again after \d{4}-/);
    assert.equal(details(huge).retryAfterSeconds, 99999);
    // 60 s, Klaviyo's steady window, is still waited
    const minute = failureForResponse({ status: 429, retryAfter: '60', body: undefined }, ctx('get_tags'));
    assert.deepEqual([minute.type, minute.nextRetryDelay], ['KlaviyoRateLimited', '60s']);
  });

  void it('3xx: a redirect is a non-retryable protocol failure naming where it pointed', () => {
    const f = failureForResponse({ status: 307, body: '<html>moved</html>', location: 'http://127.0.0.1:9/api/tags?x=1' }, ctx('get_tags'));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoUnexpectedResponse', true]);
    assert.match(f.message, /307 .*a redirect to "http:\/\/127\.0\.0\.1:9\/api\/tags\?x=1", which is not followed/);
  });
});

/** A raw TCP peer that misbehaves on purpose: not a fake Klaviyo, just a broken network. */
async function brokenPeer(
  behaviour: 'reset' | 'silent' | 'trickle' | 'flood' | { redirectTo: string; status: number },
): Promise<{ url: string; connections: () => number; received: () => string; close: () => Promise<void> }> {
  let connections = 0;
  let received = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.once('data', () => {
      if (behaviour === 'reset') socket.resetAndDestroy();
      else if (behaviour === 'trickle' || behaviour === 'flood') {
        // headers, then a body that never ends: a byte every 50 ms, or 64 KB chunks as fast as the socket takes them
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/vnd.api+json\r\ntransfer-encoding: chunked\r\n\r\n');
        const chunk = behaviour === 'trickle' ? ' ' : ' '.repeat(65_536);
        const more = () => {
          if (socket.destroyed) return;
          const ok = socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
          if (behaviour === 'trickle') setTimeout(more, 50);
          else if (ok) setImmediate(more);
          else socket.once('drain', more);
        };
        more();
      } else if (typeof behaviour === 'object') {
        socket.end(
          `HTTP/1.1 ${behaviour.status} Moved\r\nlocation: ${behaviour.redirectTo}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    received: () => received,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const SECRET_KEY = 'pk_never_print_this_0123456789';

/** The key appears nowhere in the failure: message, stack, details, cause, or anything `inspect` can reach. */
function assertNoSecret(err: unknown, secret: string): void {
  const f = err as ApplicationFailure;
  const seen = JSON.stringify({
    message: f.message,
    stack: f.stack,
    details: f.details,
    cause: f.cause?.message,
    causeStack: f.cause?.stack,
  });
  assert.ok(!seen.includes(secret), `the key leaked into the failure: ${seen}`);
  assert.ok(!inspect(err, { depth: 10, showHidden: true }).includes(secret), 'the key leaked into the failure object');
}

function assertNoKey(err: unknown): void {
  assertNoSecret(err, SECRET_KEY);
}

void describe('KlaviyoClient on a broken network', () => {
  void it('sends the key, revision, media type and user agent Klaviyo expects, to the URL as given (nothing re-added)', async () => {
    const peer = await brokenPeer('silent');
    try {
      const client = new KlaviyoClient({ baseUrl: `${peer.url}/`, apiKey: SECRET_KEY, limiter: createRateLimiter() });
      const next = `${peer.url}/api/tags?page%5Bcursor%5D=b3Blbg%3D%3D&filter=equals(name,'a%20b')`;
      await assert.rejects(client.getPage(next, { operation: 'get_tags', signal: AbortSignal.timeout(300) }));
      const head = peer.received().toLowerCase();
      assert.ok(head.startsWith(`get /api/tags?page%5bcursor%5d=b3blbg%3d%3d&filter=equals(name,%27a%20b%27) http/1.1\r\n`), head);
      assert.match(head, new RegExp(`\r\nauthorization: klaviyo-api-key ${SECRET_KEY}\r\n`));
      assert.match(head, /\r\nrevision: 2025-07-15\r\n/);
      assert.match(head, /\r\naccept: application\/vnd\.api\+json\r\n/);
      assert.match(head, new RegExp(`\r\nuser-agent: klaviyo-sync/${version.replace(/\./g, '\\.')}\r\n`));
    } finally {
      await peer.close();
    }
  });

  void it('maps a connection reset to a retryable KlaviyoNetworkError without the key', async () => {
    const peer = await brokenPeer('reset');
    try {
      const client = new KlaviyoClient({ baseUrl: peer.url, apiKey: SECRET_KEY, limiter: createRateLimiter() });
      const err = await client.getPage(`${peer.url}/api/tags`, { operation: 'get_tags' }).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => asFailure(e),
      );
      assert.equal(err.type, 'KlaviyoNetworkError');
      assert.equal(err.nonRetryable, false);
      assert.match(err.message, /GET 127\.0\.0\.1:\d+\/api\/tags \(get_tags\)/);
      assertNoKey(err);
    } finally {
      await peer.close();
    }
  });

  void it('times out a server that never answers, and honours an abort while waiting for headers', async () => {
    const peer = await brokenPeer('silent');
    const dispatcher = new Agent({ headersTimeout: 300 });
    try {
      const client = new KlaviyoClient({ baseUrl: peer.url, apiKey: SECRET_KEY, limiter: createRateLimiter(), dispatcher });
      await assert.rejects(client.getPage(`${peer.url}/api/tags`, { operation: 'get_tags' }), (raw: unknown) => {
        const e = asFailure(raw);
        assert.equal(e.type, 'KlaviyoNetworkError');
        assert.match(e.message, /UND_ERR_HEADERS_TIMEOUT/);
        assertNoKey(e);
        return true;
      });

      const patient = new KlaviyoClient({ baseUrl: peer.url, apiKey: SECRET_KEY, limiter: createRateLimiter() });
      const reason = new Error('activity cancelled');
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(reason), 100);
      await assert.rejects(
        patient.getPage(`${peer.url}/api/tags`, { operation: 'get_tags', signal: controller.signal }),
        (e) => e === reason,
      );
      assert.ok(Date.now() - started < 5000);
    } finally {
      await dispatcher.close();
      await peer.close();
    }
  });

  void it('reads a body only after beforeBody, and decodes a character split between chunks whole', async () => {
    const body = Buffer.from(
      JSON.stringify({ data: [{ type: 'tag', id: 't1', attributes: { name: 'café ☃ 😀' } }], links: { next: null } }),
    );
    const split = body.indexOf(Buffer.from('é')) + 1;
    let headersSent = false;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.api+json' });
      res.flushHeaders();
      headersSent = true;
      // the body in pieces that cut é, ☃ and 😀 in half
      const cuts = [0, split, body.indexOf(Buffer.from('☃')) + 2, body.indexOf(Buffer.from('😀')) + 3, body.length];
      let i = 0;
      const more = () => {
        if (i === cuts.length - 1) return void res.end();
        res.write(body.subarray(cuts[i], cuts[i + 1]));
        i++;
        setTimeout(more, 20);
      };
      setTimeout(more, 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const client = new KlaviyoClient({ baseUrl: url, apiKey: SECRET_KEY, limiter: createRateLimiter() });
      const seen: boolean[] = [];
      const page = await client.getPage(`${url}/api/tags`, {
        operation: 'get_tags',
        beforeBody: async () => {
          seen.push(headersSent);
          await new Promise((r) => setTimeout(r, 100));
        },
      });
      assert.deepEqual(seen, [true], 'beforeBody ran once, after the headers');
      assert.equal((page.document.data as JsonApiResource[])[0].attributes.name, 'café ☃ 😀');

      // a beforeBody that fails ends the page with its error and frees the connection
      await assert.rejects(
        client.getPage(`${url}/api/tags`, { operation: 'get_tags', beforeBody: () => Promise.reject(new Error('no place')) }),
        (err: unknown) => err instanceof Error && err.message === 'no place',
      );
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  void it('refuses a URL on another origin before connecting, naming both origins and not the key', async () => {
    const peer = await brokenPeer('silent');
    try {
      const client = new KlaviyoClient({ baseUrl: peer.url, apiKey: SECRET_KEY, limiter: createRateLimiter() });
      const elsewhere = peer.url.replace('127.0.0.1', 'localhost');
      await assert.rejects(client.getPage(`${elsewhere}/api/tags?page%5Bcursor%5D=abc`, { operation: 'get_tags' }), (raw: unknown) => {
        const e = asFailure(raw);
        assert.equal(e.type, 'KlaviyoCrossOriginRefused');
        assert.equal(e.nonRetryable, true);
        assert.ok(e.message.includes(elsewhere) && e.message.includes(peer.url), e.message);
        assertNoKey(e);
        return true;
      });
      assert.equal(peer.connections(), 0);
    } finally {
      await peer.close();
    }
  });

  void it('bounds a body that never ends: a trickle by the body deadline (retryable), a flood by the size limit (not)', async () => {
    for (const [behaviour, type, nonRetryable, pattern] of [
      ['trickle', 'KlaviyoNetworkError', false, /BODY_DEADLINE the body did not end within 0\.5 s of the headers/],
      ['flood', 'KlaviyoUnexpectedResponse', true, /a body of more than 1\.0 MB/],
    ] as const) {
      const peer = await brokenPeer(behaviour);
      try {
        const client = new KlaviyoClient({
          baseUrl: peer.url,
          apiKey: SECRET_KEY,
          limiter: createRateLimiter(),
          bodyDeadlineMs: 500,
          maxBodyBytes: 1024 * 1024,
        });
        const started = Date.now();
        const e = await failure(client.getPage(`${peer.url}/api/tags`, { operation: 'get_tags' }));
        assert.ok(Date.now() - started < 3000, `${behaviour} ended in ${Date.now() - started} ms`);
        assert.deepEqual([e.type, e.nonRetryable], [type, nonRetryable], e.message);
        assert.match(e.message, pattern);
        assertNoKey(e);
      } finally {
        await peer.close();
      }
    }
  });

  void it('refuses a body whose Content-Length is over the limit without reading it', async () => {
    const open = new Set<net.Socket>();
    const huge = net.createServer((socket) => {
      open.add(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 999999999\r\n\r\n{'));
    });
    await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(huge.address() as net.AddressInfo).port}`;
    try {
      const client = new KlaviyoClient({ baseUrl: url, apiKey: SECRET_KEY, limiter: createRateLimiter() });
      const e = await failure(client.getPage(`${url}/api/tags`, { operation: 'get_tags' }));
      assert.deepEqual([e.type, e.nonRetryable], ['KlaviyoUnexpectedResponse', true]);
      assert.match(e.message, /a body of 953\.7 MB \(Content-Length\), more than the 32\.0 MB a page may be/);
    } finally {
      for (const sock of open) sock.destroy();
      await new Promise((resolve) => huge.close(resolve));
    }
  });

  void it('never follows a redirect: the other origin receives nothing, and the failure names where it pointed', async () => {
    const other = await brokenPeer('silent');
    for (const status of [301, 302, 307, 308]) {
      const peer = await brokenPeer({ redirectTo: `${other.url}/api/tags?page%5Bcursor%5D=x`, status });
      try {
        const client = new KlaviyoClient({ baseUrl: peer.url, apiKey: SECRET_KEY, limiter: createRateLimiter() });
        const e = await failure(client.getPage(`${peer.url}/api/tags`, { operation: 'get_tags' }));
        assert.deepEqual([e.type, e.nonRetryable], ['KlaviyoUnexpectedResponse', true]);
        assert.ok(e.message.includes(`a redirect to "${other.url}/api/tags`), e.message);
        assertNoKey(e);
      } finally {
        await peer.close();
      }
    }
    assert.equal(other.connections(), 0);
    await other.close();
  });

  void it('keeps the key out of what inspect() shows of the client itself', () => {
    const client = new KlaviyoClient({ baseUrl: BASE, apiKey: SECRET_KEY, limiter: createRateLimiter() });
    assert.ok(!inspect(client, { depth: 5, showHidden: true }).includes(SECRET_KEY));
  });

  void it('rejects a malformed key up front without echoing it', () => {
    assert.throws(
      () => new KlaviyoClient({ baseUrl: BASE, apiKey: `${SECRET_KEY}\n`, limiter: createRateLimiter() }),
      (raw: unknown) => {
        const e = asFailure(raw);
        assert.deepEqual([e.type, e.nonRetryable], ['KlaviyoAuthError', true]);
        assertNoKey(e);
        return true;
      },
    );
  });
});

/**
 * The client against a real sandbox process. `pk_limited` holds only profiles:read, for the 403.
 */
const KEY = TEST_KEY;
const WRONG_KEY = 'pk_wrong_0123456789abcdef0123456789';

/** Tiers far above the sandbox's (limits off): these tests are about the protocol, not pacing. */
const UNPACED = Object.fromEntries(
  Object.entries(STREAM_OPERATIONS).map(([op, facts]) => [op, { ...facts, rateLimit: { burst: 10_000, steady: 1_000_000 } }]),
);

async function sandboxJson(sb: SandboxProcess, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const res = await request(`${sb.baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, `${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => assert.fail('expected the request to fail'),
    (e: unknown) => e,
  );
  return asFailure(err);
}

function rowsOf(doc: JsonApiDocument): JsonApiResource[] {
  assert.ok(Array.isArray(doc.data), 'a collection page');
  return doc.data;
}

/** Reads a listing to its end through links.next, exactly as given. */
async function walk(client: KlaviyoClient, firstUrl: string, operation: string): Promise<JsonApiResource[]> {
  const rows: JsonApiResource[] = [];
  let url: string | null | undefined = firstUrl;
  for (let pages = 0; url; pages++) {
    assert.ok(pages < 1000, `${operation}: links.next loops`);
    const page: KlaviyoPage = await client.getPage(url, { operation });
    assert.equal(page.status, 200);
    rows.push(...rowsOf(page.document));
    url = page.document.links?.next;
  }
  return rows;
}

/** Every stream through firstPageUrl (partitions, parents, params) and links.next, as truth would count it. */
async function readAccount(client: KlaviyoClient, baseUrl: string): Promise<Record<string, { count: number; checksum: string }>> {
  const seen: Record<string, string[]> = {};
  // each stream's resources, whose ids (the parent's rows its filter keeps) partition its child streams
  const resources: Record<string, JsonApiResource[]> = {};
  for (const stream of STREAMS) {
    const ids: string[] = [];
    const parts = partitionsOf(stream);
    const parent = parentOf(stream);
    const parentKeys = (p: NonNullable<typeof parent>) =>
      (resources[p.stream] ?? assert.fail(`${stream.name} before its parent`))
        .filter((r) => keepsParentRow(p.parentRows, r.attributes?.[p.parentRows?.field ?? '']))
        .map((r) => r.id);
    // a stream read in time windows is, as a full refresh reads it, the one unbounded listing ''
    const keys = parts.fixedKeys ?? (parent ? parentKeys(parent) : parts.windows ? [''] : []);
    resources[stream.name] = [];
    for (const key of keys) {
      const { parentId, partitionFilter } = parts.request(key);
      const url = firstPageUrl(baseUrl, stream, { parentId, partitionFilter, since: null, now: new Date() });
      for (const row of await walk(client, url, stream.operation)) {
        ids.push(parentId ? `${parentId}:${row.id}` : row.id);
        resources[stream.name].push(row);
      }
    }
    seen[stream.name] = ids;
  }
  return Object.fromEntries(
    Object.entries(seen).map(([name, ids]) => {
      assert.equal(new Set(ids).size, ids.length, `${name}: ids seen twice`);
      return [name, { count: ids.length, checksum: idsChecksum(ids) }];
    }),
  );
}

void describe('KlaviyoClient against the sandbox', () => {
  let sb: SandboxProcess;
  let client: KlaviyoClient;
  before(async () => {
    sb = await startSandbox(LIMITED_KEY_SANDBOX);
    client = new KlaviyoClient({
      baseUrl: sb.baseUrl,
      apiKey: KEY,
      limiter: createRateLimiter({ mode: 'documented', operations: UNPACED }),
    });
  });
  after(async () => {
    await sb?.stop();
  });

  void it('reads every stream to its end through links.next, exactly as /__sandbox/truth says', async () => {
    const truth = await sandboxJson(sb, 'GET', '/__sandbox/truth');
    assert.deepEqual(await readAccount(client, sb.baseUrl), truth);
  });

  void it('resumes from a watermark, and a watermark in the future is clamped instead of answered with a 400', async () => {
    const events = getStream('events');
    const all = await walk(client, firstPageUrl(sb.baseUrl, events, { now: new Date() }), events.operation);
    const datetimes = all.map((r) => String(r.attributes.datetime)).sort();
    const middle = datetimes[Math.floor(datetimes.length / 2)];
    const since = await walk(client, firstPageUrl(sb.baseUrl, events, { since: middle, now: new Date() }), events.operation);
    assert.ok(since.length > 0 && since.length < all.length, `${since.length} of ${all.length} events since ${middle}`);
    for (const r of since) assert.ok(Date.parse(String(r.attributes.datetime)) >= Math.floor(Date.parse(middle) / 1000) * 1000);

    const future = new Date(Date.now() + 86_400_000).toISOString();
    const page = await client.getPage(firstPageUrl(sb.baseUrl, events, { since: future, now: new Date() }), {
      operation: events.operation,
    });
    assert.equal(page.status, 200);
    // the clamp is what saved it: the same watermark sent as is gets the 400 Klaviyo gives future filter values
    const unclamped = `${sb.baseUrl}/api/events?${new URLSearchParams({ filter: `greater-or-equal(datetime,${future.replace(/\.\d+Z$/, 'Z')})` })}`;
    const f = await failure(client.getPage(unclamped, { operation: events.operation }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoBadRequest', true]);
  });

  void it('401: a wrong key is a non-retryable KlaviyoAuthError that names the fix and not the key', async () => {
    const wrong = new KlaviyoClient({ baseUrl: sb.baseUrl, apiKey: WRONG_KEY, limiter: createRateLimiter() });
    const f = await failure(wrong.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags' }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoAuthError', true]);
    assert.match(
      f.message,
      /^Klaviyo rejected the API key \(authentication_failed\): check secrets\.api_key of connection KLAVIYO; a private key starts with pk_ \(GET 127\.0\.0\.1:\d+\/api\/tags\)\.$/,
    );
    assertNoSecret(f, WRONG_KEY);
  });

  void it('403: a key without the scope is a non-retryable KlaviyoPermissionError naming the scope', async () => {
    const limited = new KlaviyoClient({ baseUrl: sb.baseUrl, apiKey: LIMITED_KEY, limiter: createRateLimiter() });
    const f = await failure(limited.getPage(firstPageUrl(sb.baseUrl, getStream('lists'), { now: new Date() }), { operation: 'get_lists' }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoPermissionError', true]);
    assert.match(
      f.message,
      /GET 127\.0\.0\.1:\d+\/api\/lists \(get_lists, permission_denied\): ".*"; the API key needs the scope lists:read, so grant it/,
    );
    assertNoSecret(f, LIMITED_KEY);
  });

  void it('400: a bad filter is a non-retryable KlaviyoBadRequest quoting Klaviyo and the parameter', async () => {
    const url = firstPageUrl(sb.baseUrl, getStream('tags'), { partitionFilter: "equals(nickname,'x')", now: new Date() });
    const f = await failure(client.getPage(url, { operation: 'get_tags' }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoBadRequest', true]);
    const d = f.details![0] as KlaviyoFailureDetails;
    assert.equal(d.parameter, 'filter');
    assert.ok(d.detail && f.message.includes(`"${d.detail}" (parameter filter)`), f.message);
    assert.match(d.detail, /nickname/);
    assertNoSecret(f, KEY);
  });

  void it('429: a retryable KlaviyoRateLimited delayed by Retry-After, and the limiter holds the next request back', async () => {
    const limiter = createRateLimiter({ mode: 'documented', operations: UNPACED });
    const paced = new KlaviyoClient({ baseUrl: sb.baseUrl, apiKey: KEY, limiter });
    await sandboxJson(sb, 'POST', '/__sandbox/faults', { failNext: { count: 1, status: 429 } });
    const url = `${sb.baseUrl}/api/tags`;
    const f = await failure(paced.getPage(url, { operation: 'get_tags' }));
    assert.deepEqual([f.type, f.nonRetryable, f.category], ['KlaviyoRateLimited', false, 'BENIGN']);
    const seconds = (f.details![0] as KlaviyoFailureDetails).retryAfterSeconds!;
    assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After ${seconds}`);
    assert.equal(f.nextRetryDelay, `${seconds}s`);
    const started = Date.now();
    const page = await paced.getPage(url, { operation: 'get_tags' });
    assert.equal(page.status, 200);
    assert.ok(Date.now() - started >= seconds * 1000 - 50, `the next request went after ${Date.now() - started} ms`);
  });

  void it('429 asking for 99999 s: fails at once naming it, and does not hold the operation back for the next request', async () => {
    const limiter = createRateLimiter({ mode: 'documented', operations: UNPACED });
    const paced = new KlaviyoClient({ baseUrl: sb.baseUrl, apiKey: KEY, limiter });
    await sandboxJson(sb, 'POST', '/__sandbox/faults', { mangle: { kind: 'retry-after-huge', path: '/api/tags', count: 1 } });
    const url = `${sb.baseUrl}/api/tags`;
    const f = await failure(paced.getPage(url, { operation: 'get_tags' }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoThrottledTooLong', true]);
    assert.match(f.message, /asked to wait 27\.8 h \(Retry-After 99999\)/);
    const started = Date.now();
    assert.equal((await paced.getPage(url, { operation: 'get_tags' })).status, 200);
    assert.ok(Date.now() - started < 1000, `the next request went after ${Date.now() - started} ms`);
    await sandboxJson(sb, 'POST', '/__sandbox/faults', {});
  });

  void it('503: retryable KlaviyoServerErrors while the fault lasts, then the page', async () => {
    await sandboxJson(sb, 'POST', '/__sandbox/faults', { failNext: { count: 2, status: 503 } });
    const url = `${sb.baseUrl}/api/tags`;
    for (let i = 0; i < 2; i++) {
      const f = await failure(client.getPage(url, { operation: 'get_tags' }));
      assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoServerError', false]);
      assert.match(f.message, /^Klaviyo answered 503 to GET 127\.0\.0\.1:\d+\/api\/tags \(get_tags\)/);
      assert.equal((f.details![0] as KlaviyoFailureDetails).status, 503);
    }
    assert.equal((await client.getPage(url, { operation: 'get_tags' })).status, 200);
  });

  void it('refuses a links.next moved to another origin, and sends nothing there', async () => {
    const first = await client.getPage(firstPageUrl(sb.baseUrl, getStream('profiles'), { now: new Date() }), { operation: 'get_profiles' });
    const next = first.document.links?.next;
    assert.ok(next, 'profiles has a second page');
    const moved = next.replace('127.0.0.1', 'localhost');
    const f = await failure(client.getPage(moved, { operation: 'get_profiles' }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoCrossOriginRefused', true]);
    assert.ok(f.message.includes(new URL(moved).origin) && f.message.includes(sb.baseUrl), f.message);
    assertNoSecret(f, KEY);
  });

  void it('refuses a page whose links.next is on another origin when it is read, so that link is never saved', async () => {
    const other = await brokenPeer('silent');
    await sandboxJson(sb, 'POST', '/__sandbox/faults', { mangle: { kind: 'foreign-next', path: '/api/profiles', origin: other.url } });
    try {
      const f = await failure(
        client.getPage(firstPageUrl(sb.baseUrl, getStream('profiles'), { now: new Date() }), { operation: 'get_profiles' }),
      );
      assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoCrossOriginRefused', true]);
      assert.ok(f.message.includes(other.url), f.message);
      assert.equal(other.connections(), 0);
    } finally {
      await sandboxJson(sb, 'POST', '/__sandbox/faults', {});
      await other.close();
    }
  });

  void it('a reset connection is a retryable KlaviyoNetworkError', async () => {
    await sandboxJson(sb, 'POST', '/__sandbox/faults', { failNext: { count: 1, status: 'reset' } });
    const f = await failure(client.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags' }));
    assert.deepEqual([f.type, f.nonRetryable], ['KlaviyoNetworkError', false]);
    assertNoSecret(f, KEY);
    assert.equal((await client.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags' })).status, 200);
  });

  void it('an abort rejects with the signal reason, in flight or while the limiter holds the request back', async () => {
    const reason = new Error('activity cancelled');
    const controller = new AbortController();
    await sandboxJson(sb, 'POST', '/__sandbox/faults', { slow: { p: 1, ms: 5000 } });
    try {
      const started = Date.now();
      setTimeout(() => controller.abort(reason), 200);
      await assert.rejects(
        client.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags', signal: controller.signal }),
        (e) => e === reason,
      );
      assert.ok(Date.now() - started < 2000, `the abort took ${Date.now() - started} ms`);
    } finally {
      await sandboxJson(sb, 'POST', '/__sandbox/faults', {});
    }

    const limiter = createRateLimiter();
    const paced = new KlaviyoClient({ baseUrl: sb.baseUrl, apiKey: KEY, limiter });
    await limiter.penalize('get_tags', 30);
    const waiting = new AbortController();
    setTimeout(() => waiting.abort(reason), 100);
    await assert.rejects(paced.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags', signal: waiting.signal }), (e) => e === reason);
    await assert.rejects(
      paced.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags', signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
  });
});

void describe('documented pacing against the sandbox at --rate-limits documented', () => {
  let sb: SandboxProcess;
  before(async () => {
    sb = await startSandbox(['--size', 'tiny', '--seed', '7', '--api-key', KEY, '--rate-limits', 'documented']);
  });
  after(async () => {
    await sb?.stop();
  });

  void it('60 concurrent requests to /api/tags (3/s, 60/m) all succeed: zero 429s', async () => {
    const client = new KlaviyoClient({ baseUrl: sb.baseUrl, apiKey: KEY, limiter: createRateLimiter({ mode: 'documented' }) });
    const started = Date.now();
    const pages = await Promise.all(Array.from({ length: 60 }, () => client.getPage(`${sb.baseUrl}/api/tags`, { operation: 'get_tags' })));
    const elapsed = Date.now() - started;
    assert.deepEqual(
      pages.map((p) => p.status),
      Array(60).fill(200),
    );
    // 20 bursts of 3, 1.1 s apart: the pacing is what kept Klaviyo's 3/s from answering 429
    assert.ok(elapsed >= 19 * 1100 - 50, `60 requests in ${elapsed} ms`);
    const stats = await sandboxJson(sb, 'GET', '/__sandbox/stats');
    assert.deepEqual(stats.operations.get_tags, { 200: 60 }, JSON.stringify(stats));
    const last = pages.at(-1)!.rateLimit;
    assert.equal(last.limit, 3);
    assert.ok(last.remaining !== null && last.reset !== null, JSON.stringify(last));
  });
});
