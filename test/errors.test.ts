/**
 * The one classification of failures (lib/errors.ts, lib/db/errors.ts) and the one retry policy
 * (lib/retry-policy.ts): which errors fail at once with the fix, which wait Retry-After, which back off and
 * for how long; the checks of a page's shape and of paging loops; and database errors as a real Postgres and a
 * real SQLite raise them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ApplicationFailure } from '@temporalio/common';
import { classify, ProtocolError, RateLimitedError, TransientError, UserFixableError, withRetries } from '../lib/errors';
import { toApplicationFailure } from '../worker/failures';
import { classifyDatabaseError } from '../lib/db/errors';
import { Destination } from '../lib/db/destination';
import { closeAll } from '../lib/db/connect';
import { documentProblem } from '../lib/klaviyo/client';
import { failureForInvalidBody, failureForResponse } from '../lib/klaviyo/errors';
import { PagingGuard } from '../lib/klaviyo/paging';
import { scopesOf } from '../lib/klaviyo/scopes';
import { ConfigError } from '../config/replication';
import { getStream } from '../streams/streams';
import { backoffSeconds, nextRetrySeconds, RETRY_POLICY, temporalRetryPolicy } from '../lib/retry-policy';
import { startPostgres, type TestPostgres } from './helpers/postgres';

/** Shaped as pg's DatabaseError: the SQLSTATE in `code`, with `severity` and `routine`. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { name: 'error', code, severity: 'ERROR', routine: 'test' });
}

function failureOf(err: unknown, ctx = { database: 'PG' }): ApplicationFailure {
  const f = toApplicationFailure(err, ctx);
  assert.ok(f instanceof ApplicationFailure, `not mapped: ${String(err)}`);
  return f;
}

const ctx = { operation: 'get_tags', url: new URL('https://a.klaviyo.com/api/tags'), connection: 'KLAVIYO' };

void describe('the retry policy', () => {
  void test('backs off 1, 2, 4, ... s up to 60 s: 15 s over the 5 check attempts, 1,443 s over the 30 page attempts', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(backoffSeconds), [1, 2, 4, 8, 16, 32, 60, 60]);
    const total = (attempts: number) => Array.from({ length: attempts - 1 }, (_, i) => backoffSeconds(i + 1)).reduce((a, b) => a + b, 0);
    assert.equal(RETRY_POLICY.checkAttempts, 5);
    assert.equal(total(RETRY_POLICY.checkAttempts), 15);
    assert.equal(RETRY_POLICY.pageAttempts, 30);
    assert.equal(total(RETRY_POLICY.pageAttempts), 1443);
  });

  void test('only transient and rate-limited failures get a next attempt; a 429 waits its Retry-After (capped at 60 s)', () => {
    assert.equal(nextRetrySeconds('user-fixable', 1, 5), null);
    assert.equal(nextRetrySeconds('protocol', 1, 5), null);
    assert.equal(nextRetrySeconds('transient', 3, 5), 4);
    assert.equal(nextRetrySeconds('transient', 5, 5), null);
    assert.equal(nextRetrySeconds('rate-limited', 1, 5, 7), 7);
    assert.equal(nextRetrySeconds('rate-limited', 1, 5, 3600), 60);
  });

  void test('the Temporal policies are built from the same numbers', () => {
    assert.deepEqual(
      { ...temporalRetryPolicy(5), nonRetryableErrorTypes: undefined },
      { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 5, nonRetryableErrorTypes: undefined },
    );
    assert.ok(temporalRetryPolicy(30).nonRetryableErrorTypes.includes('DatabaseUserError'));
  });
});

void describe('mapping to Temporal failures', () => {
  void test('user-fixable and protocol: non-retryable; rate-limited: benign with nextRetryDelay; transient: retryable', () => {
    const user = failureOf(new UserFixableError('fix it', { type: 'X' }));
    assert.deepEqual([user.type, user.nonRetryable, user.message], ['X', true, 'fix it']);
    assert.equal(failureOf(new ProtocolError('odd', { type: 'P' })).nonRetryable, true);
    const slow = failureOf(new RateLimitedError('wait', 7, { type: 'R', details: { retryAfterSeconds: 7 } }));
    assert.deepEqual(
      [slow.nonRetryable, slow.nextRetryDelay, slow.category, slow.details],
      [false, '7s', 'BENIGN', [{ retryAfterSeconds: 7 }]],
    );
    assert.equal(failureOf(new TransientError('again', { type: 'T' })).nonRetryable, false);
  });

  void test('our own config errors are user-fixable by name; unknown errors and Temporal failures pass unchanged', () => {
    assert.equal(failureOf(new ConfigError('replication.yaml', ['bad mode'])).nonRetryable, true);
    const plain = new TypeError('a bug');
    assert.equal(toApplicationFailure(plain), plain);
    const already = ApplicationFailure.retryable('x', 'Y');
    assert.equal(toApplicationFailure(already), already);
  });

  void test('Klaviyo answers: 5xx transient, 429 rate-limited, 4xx user-fixable, a 2xx that is not a page protocol', () => {
    assert.ok(failureForResponse({ status: 503, body: undefined }, ctx) instanceof TransientError);
    assert.ok(failureForResponse({ status: 429, retryAfter: '2', body: undefined }, ctx) instanceof RateLimitedError);
    assert.ok(failureForResponse({ status: 401, body: undefined }, ctx) instanceof UserFixableError);
    const body = failureForInvalidBody(200, 'a body that is not JSON', ctx);
    assert.ok(body instanceof ProtocolError);
    assert.equal(failureOf(body).nonRetryable, true);
  });
});

void describe('in-process retries (the CLI pre-checks)', () => {
  const sleeps: number[] = [];
  const sleep = async (ms: number) => void sleeps.push(ms);

  void test('three 503s, then success: waits 1, 2 and 4 s', async () => {
    sleeps.length = 0;
    let calls = 0;
    const result = await withRetries(
      async () => {
        if (++calls <= 3) throw failureForResponse({ status: 503, body: undefined }, ctx);
        return 'ok';
      },
      { sleep },
    );
    assert.equal(result, 'ok');
    assert.deepEqual(sleeps, [1000, 2000, 4000]);
  });

  void test('a 429 waits its Retry-After; a user-fixable failure is thrown at once; a lasting outage after 5 attempts', async () => {
    sleeps.length = 0;
    let calls = 0;
    await withRetries(
      async () => {
        if (++calls === 1) throw failureForResponse({ status: 429, retryAfter: '7', body: undefined }, ctx);
      },
      { sleep },
    );
    assert.deepEqual(sleeps, [7000]);

    sleeps.length = 0;
    calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw failureForResponse({ status: 403, body: undefined }, ctx);
        },
        { sleep },
      ),
      UserFixableError,
    );
    assert.equal(calls, 1);

    calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw failureForResponse({ status: 500, body: undefined }, ctx);
        },
        { sleep },
      ),
      TransientError,
    );
    assert.equal(calls, 5);
  });
});

void describe('what a page may look like', () => {
  void test('a numeric id, a relative links.next and a body that is not JSON are named with the value', () => {
    assert.equal(
      documentProblem({ data: [{ type: 'tag', id: 'a' }], links: { next: 'https://a.klaviyo.com/api/tags?page%5Bcursor%5D=x' } }),
      undefined,
    );
    assert.equal(
      documentProblem({
        data: [
          { type: 'tag', id: 'a' },
          { type: 'tag', id: 42 },
        ],
      }),
      'data[1].id = the number 42 where a JSON:API page has a string',
    );
    assert.equal(
      documentProblem({ data: [], links: { next: '/api/tags?page%5Bcursor%5D=x' } }),
      'links.next = the string "/api/tags?page%5Bcursor%5D=x" where a JSON:API page has an absolute URL',
    );
    assert.match(String(documentProblem('<html><body>Sign in')), /^a body that is not JSON \(it begins "<html><body>Sign in"\)$/);
    assert.equal(documentProblem({ errors: [] }), 'JSON without `data`');
  });

  void test('a links.next back to the page itself, or to a page already read, ends paging naming the URL', () => {
    const a = 'https://a.klaviyo.com/api/tags';
    const b = 'https://a.klaviyo.com/api/tags?page%5Bcursor%5D=b';
    const c = 'https://a.klaviyo.com/api/tags?page%5Bcursor%5D=c';
    const fine = new PagingGuard('tags', '');
    assert.equal(fine.follow(a, b), b);
    assert.equal(fine.follow(b, c), c);
    assert.equal(fine.follow(c, null), null);

    assert.throws(
      () => new PagingGuard('tags', '').follow(a, a),
      (e: unknown) => {
        assert.ok(e instanceof ProtocolError);
        assert.match(e.message, /links\.next for stream tags points back at the page itself: https:\/\/a\.klaviyo\.com\/api\/tags;/);
        return true;
      },
    );
    const loop = new PagingGuard('list_profiles', 'L1');
    loop.follow(a, b);
    assert.throws(
      () => loop.follow(b, a),
      /partition L1 points back at a page already read \(2 pages into this call\): https:\/\/a\.klaviyo\.com\/api\/tags;/,
    );
  });

  void test("a membership stream needs its parent's scopes and profiles'", () => {
    assert.deepEqual(scopesOf(getStream('segment_profiles')).sort(), ['profiles:read', 'segments:read']);
    assert.deepEqual(scopesOf(getStream('tags')), ['tags:read']);
  });
});

void describe('database errors by SQLSTATE and SQLite code', () => {
  void test("connection trouble is transient; a bad password, privileges, dependent views, type changes and too many columns are the user's", () => {
    const kind = (err: unknown) => classify(err, { database: 'PG' })?.kind;
    for (const code of ['08006', '08001', '57P01', '57P03', '40P01', '53300']) assert.equal(kind(pgError(code, 'x')), 'transient', code);
    for (const code of ['28P01', '28000', '42501', '42P01', '2BP01', '54011', '42804', '22P02', '3D000'])
      assert.equal(kind(pgError(code, 'x')), 'user-fixable', code);
    assert.equal(kind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), 'transient');
    assert.equal(kind(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })), 'transient');
    assert.equal(kind(Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' })), 'user-fixable');
    assert.equal(kind(new Error('Connection terminated unexpectedly')), 'transient');
    assert.equal(kind(new Error('something else')), undefined);

    const password = classify(pgError('28P01', 'password authentication failed for user "sync"'), { database: 'PG' });
    assert.equal(
      password?.message,
      'database PG answered 28P01: password authentication failed for user "sync"; check the user and password of connection PG, and pg_hba.conf on the server',
    );
  });

  void test('a sentence wrapping the driver error (the swap) is kept as the message', () => {
    const inner = pgError('2BP01', 'cannot drop table klaviyo.tags because other objects depend on it');
    const outer = new Error('stream tags: could not replace klaviyo.tags (drop them or sync the stream incrementally): ' + inner.message, {
      cause: inner,
    });
    const e = classifyDatabaseError(outer, { database: 'PG' });
    assert.ok(e instanceof UserFixableError);
    assert.equal(e.message, outer.message);
  });

  void test("a real SQLite: a read-only file is the user's to fix", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-errors-'));
    try {
      const file = path.join(dir, 'ro.db');
      new Database(file).exec('CREATE TABLE t (id text)');
      const ro = new Database(file, { readonly: true });
      let caught: unknown;
      try {
        ro.exec("INSERT INTO t VALUES ('a')");
      } catch (err) {
        caught = err;
      }
      ro.close();
      const e = classify(caught, { database: 'LITE' });
      assert.ok(e instanceof UserFixableError, String(caught));
      assert.match(e.message, /SQLITE_READONLY.*make the file of connection LITE and its directory writable/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('database errors from a real Postgres', () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await closeAll();
    await pg?.stop();
  });

  const tags = getStream('tags');
  const run = (table: string, runId: string) => ({
    stream: tags,
    mode: 'incremental' as const,
    object: { schema: 'errors', table },
    runId,
  });
  const tag = (id: string, attributes: Record<string, unknown>) => ({ type: 'tag', id, attributes: { name: id, ...attributes } });

  void test('an attribute whose type changes fails as user-fixable, naming the value and what to do', async () => {
    const dest = new Destination({ kind: 'postgres', url: pg.url });
    await dest.prepare({ ...run('typed', 'r1') });
    await dest.writePage({
      ...run('typed', 'r1'),
      partition: '',
      resources: [tag('a', { score: 1.5 })],
      nextUrl: 'https://a.klaviyo.com/api/tags?page%5Bcursor%5D=2',
      done: false,
    });
    const err = await dest
      .writePage({ ...run('typed', 'r1'), partition: '', resources: [tag('b', { score: 'high' })], nextUrl: null, done: true })
      .then(
        () => assert.fail('expected the write to fail'),
        (e: unknown) => e,
      );
    const e = classify(err, { database: 'PG' });
    assert.ok(e instanceof UserFixableError, String(err));
    assert.match(
      e.message,
      /22P02: invalid input syntax for type double precision: "high"; Klaviyo sent a value that does not fit .* alter that column to text or jsonb/,
    );
    assert.doesNotMatch(e.message, /INSERT INTO/, 'the statement is left out');
  });

  void test('more attributes than Postgres allows columns fails as user-fixable, naming the limit', async () => {
    const dest = new Destination({ kind: 'postgres', url: pg.url });
    await dest.prepare({ ...run('wide', 'r1') });
    const many = Object.fromEntries(Array.from({ length: 1650 }, (_, i) => [`p${i}`, i]));
    const err = await dest.writePage({ ...run('wide', 'r1'), partition: '', resources: [tag('a', many)], nextUrl: null, done: true }).then(
      () => assert.fail('expected the write to fail'),
      (e: unknown) => e,
    );
    const e = classify(err, { database: 'PG' });
    assert.ok(e instanceof UserFixableError, String(err));
    assert.match(e.message, /54011: tables can have at most 1600 columns; Postgres allows at most 1,600 columns per table/);
  });
});
