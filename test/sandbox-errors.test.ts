/**
 * The sandbox's error answers, each checked for exact status, error code and `source.parameter`, and for a body
 * that validates against the spec's ClientError: bad keys and scopes, bad filters, the campaigns channel filter,
 * bad page sizes and cursors, bad revisions, rate limits (429 + Retry-After; RateLimit-* on normal answers), and
 * malformed query strings, which must never produce a 500.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { LIMITED_KEY, LIMITED_KEY_SANDBOX, startSandbox, TEST_KEY, type SandboxProcess } from './helpers/sandbox';
import { klaviyoGet, validateResponse, type KlaviyoGetOptions, type KlaviyoResponse } from './helpers/spec';

const KEY = TEST_KEY;
/** The 400 code the sandbox gives every invalid request parameter (filter, sort, page, cursor, revision). */
const INVALID = 'invalid';

let sb: SandboxProcess;

function q(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');
}

interface Expected {
  status: number;
  code: string;
  parameter?: string;
  /** text the detail must contain (case-insensitive), to prove it names the problem */
  detail?: RegExp;
}

/** Asserts one JSON:API error answer: status, first error's code and source.parameter, and the ClientError schema. */
function assertError(res: KlaviyoResponse, operationId: string, want: Expected, what: string): void {
  assert.equal(res.status, want.status, `${what}: status ${res.status}, body ${res.text.slice(0, 500)}`);
  assert.match(String(res.headers['content-type']), /^application\/vnd\.api\+json/, `${what}: content-type`);
  const errors = validateResponse(operationId, res.status, res.body);
  assert.deepEqual(errors, [], `${what}: the error body does not match ClientError:\n${errors.join('\n')}`);
  const e = res.body.errors[0];
  assert.ok(e, `${what}: errors[] is empty`);
  assert.equal(e.code, want.code, `${what}: code (detail: ${e.detail})`);
  assert.equal(e.status, want.status, `${what}: errors[0].status`);
  if (want.parameter !== undefined) assert.equal(e.source?.parameter, want.parameter, `${what}: source.parameter (detail: ${e.detail})`);
  if (want.detail) assert.match(e.detail, want.detail, `${what}: detail`);
}

async function expectError(
  operationId: string,
  pathAndQuery: string,
  want: Expected,
  opts: Partial<KlaviyoGetOptions> = {},
): Promise<void> {
  const res = await klaviyoGet(sb.baseUrl, pathAndQuery, { key: KEY, ...opts });
  assertError(res, operationId, want, `GET ${pathAndQuery}`);
}

before(async () => {
  sb = await startSandbox(LIMITED_KEY_SANDBOX);
});
after(async () => {
  await sb?.stop();
});

void describe('authentication and scopes', () => {
  void test('no Authorization header: 401 not_authenticated', async () => {
    await expectError('get_profiles', '/api/profiles', { status: 401, code: 'not_authenticated' }, { key: null });
  });
  void test('an unknown private key: 401 authentication_failed', async () => {
    await expectError(
      'get_profiles',
      '/api/profiles',
      { status: 401, code: 'authentication_failed' },
      { key: 'pk_0123456789abcdef0123456789abcdef' },
    );
  });
  void test('a 6-character public key: 401 authentication_failed asking for a private key', async () => {
    await expectError(
      'get_profiles',
      '/api/profiles',
      { status: 401, code: 'authentication_failed', detail: /private/i },
      { key: 'AbC123' },
    );
  });
  void test('a key without the scope: 403 permission_denied naming the scope', async () => {
    const ok = await klaviyoGet(sb.baseUrl, '/api/profiles', { key: LIMITED_KEY });
    assert.equal(ok.status, 200, `profiles:read key on /api/profiles: ${ok.text.slice(0, 300)}`);
    await expectError('get_lists', '/api/lists', { status: 403, code: 'permission_denied', detail: /lists:read/ }, { key: LIMITED_KEY });
    await expectError('get_events', '/api/events', { status: 403, code: 'permission_denied', detail: /events:read/ }, { key: LIMITED_KEY });
  });
});

void describe('filters', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['unknown field', '/api/profiles', `equals(nickname,'x')`, /nickname/],
    ['operator not allowed on the field', '/api/profiles', `contains(email,'x')`, /contains/],
    ['unknown operator', '/api/profiles', `resembles(email,'x')`, /resembles/],
    ['quoted datetime', '/api/profiles', `greater-than(updated,'2024-01-01T00:00:00Z')`, /datetime|date/i],
    ['future datetime', '/api/profiles', `greater-than(updated,2999-01-01T00:00:00Z)`, /future/i],
    ['unparseable: unbalanced', '/api/profiles', `equals(email,'x'`, /./],
    ['unparseable: trailing junk', '/api/profiles', `equals(email,'x'))`, /./],
    ['unparseable: unterminated string', '/api/profiles', `equals(email,'x)`, /./],
    ['unparseable: not a datetime', '/api/events', `greater-than(datetime,yesterday)`, /./],
    ['empty', '/api/profiles', '', /./],
    ['field allowed elsewhere only', '/api/tags', `equals(email,'x')`, /email/],
  ];
  for (const [name, path, filter, detail] of cases) {
    void test(`${name}: ${filter || '(empty)'} -> 400 on filter`, async () => {
      const op = path === '/api/events' ? 'get_events' : path === '/api/tags' ? 'get_tags' : 'get_profiles';
      await expectError(op, `${path}?${q({ filter })}`, { status: 400, code: INVALID, parameter: 'filter', detail });
    });
  }
  void test('campaigns without a channel filter: 400 saying a channel filter is required', async () => {
    await expectError('get_campaigns', '/api/campaigns', { status: 400, code: INVALID, parameter: 'filter', detail: /channel/i });
    await expectError('get_campaigns', `/api/campaigns?${q({ filter: 'equals(archived,true)' })}`, {
      status: 400,
      code: INVALID,
      parameter: 'filter',
      detail: /channel/i,
    });
  });
});

void describe('sort, page[size], page[cursor], include', () => {
  void test('bad sort values: 400 on sort', async () => {
    for (const [op, path] of [
      ['get_profiles', '/api/profiles?sort=nickname'],
      ['get_profiles', '/api/profiles?sort=--updated'],
      ['get_metrics', '/api/metrics?sort=name'],
      ['get_events', '/api/events?sort=created'],
    ]) {
      await expectError(op, path, { status: 400, code: INVALID, parameter: 'sort' });
    }
  });
  void test('page[size] 0, 101, abc, -1, 1.5 on profiles: 400 on page[size]', async () => {
    for (const size of ['0', '101', 'abc', '-1', '1.5', '']) {
      await expectError('get_profiles', `/api/profiles?page[size]=${size}`, { status: 400, code: INVALID, parameter: 'page[size]' });
    }
  });
  void test('page[size] over the operation maximum (flows 51, memberships 101): 400', async () => {
    await expectError('get_flows', '/api/flows?page[size]=51', { status: 400, code: INVALID, parameter: 'page[size]' });
    const lists = await klaviyoGet(sb.baseUrl, '/api/lists', { key: KEY });
    const listId = lists.body.data[0].id as string;
    await expectError('get_profiles_for_list', `/api/lists/${listId}/profiles?page[size]=101`, {
      status: 400,
      code: INVALID,
      parameter: 'page[size]',
    });
  });
  void test('page[size] where the operation has none (lists, events, tags): 400', async () => {
    await expectError('get_lists', '/api/lists?page[size]=5', { status: 400, code: INVALID, parameter: 'page[size]' });
    await expectError('get_events', '/api/events?page[size]=50', { status: 400, code: INVALID, parameter: 'page[size]' });
    await expectError('get_tags', '/api/tags?page[size]=10', { status: 400, code: INVALID, parameter: 'page[size]' });
  });
  void test('bad cursors: garbage, tampered, and a cursor of another sort: 400 on page[cursor]', async () => {
    await expectError('get_profiles', '/api/profiles?page[cursor]=bogus', { status: 400, code: INVALID, parameter: 'page[cursor]' });
    const first = await klaviyoGet(sb.baseUrl, '/api/profiles?page[size]=2', { key: KEY });
    const cursor = new URL(first.body.links.next as string).searchParams.get('page[cursor]')!;
    const flipped = cursor.slice(0, -3) + (cursor.at(-3) === 'A' ? 'B' : 'A') + cursor.slice(-2);
    await expectError('get_profiles', `/api/profiles?page[size]=2&page[cursor]=${encodeURIComponent(flipped)}`, {
      status: 400,
      code: INVALID,
      parameter: 'page[cursor]',
    });
    await expectError('get_profiles', `/api/profiles?page[size]=2&sort=-email&page[cursor]=${encodeURIComponent(cursor)}`, {
      status: 400,
      code: INVALID,
      parameter: 'page[cursor]',
    });
  });
  void test('unknown include, additional-fields or fields value: 400 naming the parameter', async () => {
    await expectError('get_profiles', '/api/profiles?include=metric', { status: 400, code: INVALID, parameter: 'include' });
    await expectError('get_profiles', '/api/profiles?additional-fields[profile]=shoe_size', {
      status: 400,
      code: INVALID,
      parameter: 'additional-fields[profile]',
    });
    await expectError('get_templates', '/api/templates?include=tags', { status: 400, code: INVALID, parameter: 'include' });
  });
});

void describe('revision header', () => {
  void test('missing revision: 400', async () => {
    await expectError('get_profiles', '/api/profiles', { status: 400, code: INVALID, detail: /revision/i }, { revision: null });
  });
  void test('malformed or unknown revision: 400; 2025-07-15.pre is served', async () => {
    for (const revision of ['banana', '2025-13-45', '1999-01-01', '2099-01-01']) {
      await expectError('get_profiles', '/api/profiles', { status: 400, code: INVALID, detail: /revision/i }, { revision });
    }
    const pre = await klaviyoGet(sb.baseUrl, '/api/profiles', { key: KEY, revision: '2025-07-15.pre' });
    assert.equal(pre.status, 200, `revision 2025-07-15.pre: ${pre.text.slice(0, 300)}`);
  });
});

void describe('not found, wrong method', () => {
  void test('unknown path, unknown profile, unknown list: 404 not_found', async () => {
    await expectError('get_profiles', '/api/nothing-here', { status: 404, code: 'not_found' });
    await expectError('get_profile', '/api/profiles/01NOSUCHPROFILE0000000000X', { status: 404, code: 'not_found' });
    await expectError('get_profiles_for_list', '/api/lists/NOPE00/profiles', { status: 404, code: 'not_found' });
  });
  void test('POST on a GET operation: 405', async () => {
    const res = await request(`${sb.baseUrl}/api/profiles`, {
      method: 'POST',
      headers: { authorization: `Klaviyo-API-Key ${KEY}`, revision: '2025-07-15', 'content-type': 'application/vnd.api+json' },
      body: '{}',
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 405, text);
    assert.deepEqual(validateResponse('get_profiles', 405, JSON.parse(text)), [], 'a 405 body is a ClientError too');
  });
});

void describe('malformed query strings never give 500', () => {
  // [path, true when the request is certainly invalid (must be 4xx); otherwise any non-5xx answer is acceptable]
  const raw: Array<[string, boolean]> = [
    ['/api/profiles?filter=%', true],
    ['/api/profiles?filter=%E0%A4%A', true],
    ['/api/profiles?page[size]=10&page[size]=20', true],
    ['/api/profiles?page%5Bsize%5D=abc', true],
    ['/api/profiles?page[size]=99999999999999999999999', true],
    ['/api/profiles?page[cursor]=%00', true],
    ['/api/profiles?page[cursor]=' + 'A'.repeat(5000), true],
    [`/api/profiles?filter=${'and('.repeat(4000)}`, true],
    ['/api/profiles?filter=equals(email,%22unterminated)', true],
    ['/api/events?filter=greater-than(datetime,2024-02-30T00:00:00Z)', true],
    ['/api/events?filter=greater-than(datetime,9999-99-99T99:99:99Z)', true],
    ['/api/profiles?%%%=1', false],
    ['/api/profiles?sort=updated&sort=-updated', false],
    ['/api/profiles?filter=equals(email,%27a%27)&filter=equals(email,%27b%27)', false],
    [`/api/profiles?filter=${encodeURIComponent(`and(${Array.from({ length: 2000 }, () => "equals(email,'x')").join(',')})`)}`, false],
    [`/api/profiles?filter=${encodeURIComponent("equals(email,'\u0000\uffff')")}`, false],
    ['/api/profiles?fields[profile]=', false],
    ['/api/profiles?include=', false],
    ['/api/profiles?page[size]=1e2', false],
    ['/api/campaigns?filter=equals(messages.channel,%27fax%27)', false],
    ['/api/catalog-items?filter=any(ids,[])', false],
    ['/api/catalog-items?filter=any(ids,%27notalist%27)', false],
  ];
  for (const [path, invalid] of raw) {
    const shown = path.length > 90 ? `${path.slice(0, 87)}...` : path;
    void test(`${shown} -> ${invalid ? '4xx' : 'not 5xx'}, body per spec`, async () => {
      const res = await klaviyoGet(sb.baseUrl, path, { key: KEY });
      const what = `GET ${path.slice(0, 200)}: status ${res.status}, body ${res.text.slice(0, 300)}`;
      assert.ok(res.status < 500, what);
      if (invalid) assert.ok(res.status >= 400, what);
      const op = path.startsWith('/api/events')
        ? 'get_events'
        : path.startsWith('/api/campaigns')
          ? 'get_campaigns'
          : path.startsWith('/api/catalog')
            ? 'get_catalog_items'
            : 'get_profiles';
      assert.deepEqual(validateResponse(op, res.status, res.body), [], what);
      if (res.status >= 400) assert.ok(res.body.errors[0]?.code, `${what}: no error code`);
    });
  }
  void test('the server survived all of that', async () => {
    const res = await klaviyoGet(sb.baseUrl, '/api/profiles', { key: KEY });
    assert.equal(res.status, 200);
  });
});

void describe('rate limits (--rate-limits documented)', () => {
  let limited: SandboxProcess;
  before(async () => {
    limited = await startSandbox(['--size', 'tiny', '--seed', '7', '--api-key', KEY, '--rate-limits', 'documented']);
  });
  after(async () => {
    await limited?.stop();
  });

  void test('tags (3/s burst): RateLimit-* headers, then 429 throttled with Retry-After, then served again', async () => {
    const responses: KlaviyoResponse[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await klaviyoGet(limited.baseUrl, '/api/tags', { key: KEY });
      responses.push(res);
      if (res.status === 429) break;
    }
    const ok = responses.filter((r) => r.status === 200);
    const throttled = responses.at(-1)!;
    assert.equal(
      throttled.status,
      429,
      `20 quick requests to /api/tags (3/s) were never throttled: ${responses.map((r) => r.status).join(',')}`,
    );
    assert.ok(ok.length >= 1 && ok.length <= 3, `${ok.length} requests passed before the 429; the burst is 3/s`);
    ok.forEach((r, i) => {
      assert.equal(r.headers['ratelimit-limit'], '3, 3;w=1, 60;w=60', `response ${i + 1}: RateLimit-Limit`);
      assert.match(String(r.headers['ratelimit-remaining']), /^\d+$/, `response ${i + 1}: RateLimit-Remaining`);
      assert.match(String(r.headers['ratelimit-reset']), /^\d+$/, `response ${i + 1}: RateLimit-Reset`);
    });
    const remaining = ok.map((r) => Number(r.headers['ratelimit-remaining']));
    assert.deepEqual(
      remaining,
      [...remaining].sort((a, b) => b - a),
      `RateLimit-Remaining should fall: ${remaining.join(',')}`,
    );

    assertError(
      throttled,
      'get_tags',
      { status: 429, code: 'throttled', detail: /^Request was throttled\. Expected available in \d+ seconds?\.$/ },
      '429 on /api/tags',
    );
    assert.equal(throttled.body.errors[0].title, 'Request was throttled.');
    const retryAfter = String(throttled.headers['retry-after']);
    assert.match(retryAfter, /^\d+$/, 'Retry-After is integer seconds');
    assert.ok(Number(retryAfter) <= 60, `Retry-After ${retryAfter} s`);
    assert.equal(throttled.headers['ratelimit-limit'], undefined, 'Klaviyo sends no RateLimit-* headers on a 429');

    const other = await klaviyoGet(limited.baseUrl, '/api/profiles', { key: KEY });
    assert.equal(other.status, 200, 'limits are per operation: profiles still served while tags are throttled');

    await new Promise((r) => setTimeout(r, (Number(retryAfter) || 1) * 1000 + 100));
    const again = await klaviyoGet(limited.baseUrl, '/api/tags', { key: KEY });
    assert.equal(again.status, 200, `after Retry-After ${retryAfter} s: ${again.text.slice(0, 300)}`);
  });

  void test('POST /__sandbox/rate-limits {mode:"off"} lifts the limits at runtime', async () => {
    const res = await request(`${limited.baseUrl}/__sandbox/rate-limits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'off' }),
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, text);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await klaviyoGet(limited.baseUrl, '/api/tags', { key: KEY })).status);
    assert.deepEqual(statuses, Array(12).fill(200), 'with limits off, 12 quick requests to /api/tags');
  });
});
