/**
 * The sandbox's filter language, parser and checker, against the real operation table: what parses to what, which
 * conditions match which values, and the 400s (on `source.parameter: "filter"`) with details that name the problem.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../sandbox/http/errors';
import { compileFilter, FILTER_LIMITS, parseFilter, type CompiledCondition } from '../sandbox/http/filter';
import { OPERATIONS } from '../sandbox/http/operations';

const NOW = Date.parse('2025-06-01T12:00:00Z');

function fieldsOf(operationId: string) {
  const op = OPERATIONS.find((o) => o.id === operationId);
  assert.ok(op, operationId);
  return op.filterFields;
}

function compile(operationId: string, text: string): CompiledCondition[] {
  return compileFilter(parseFilter(text), fieldsOf(operationId), operationId, NOW).conditions;
}

/** Asserts a 400 on `filter` whose detail matches. */
function rejects(fn: () => unknown, detail: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'invalid');
    assert.deepEqual(err.source, { parameter: 'filter' });
    assert.match(err.detail, detail);
    return true;
  });
}

void describe('parseFilter: syntax', () => {
  void test('a condition with a single-quoted string', () => {
    assert.deepEqual(parseFilter("equals(messages.channel,'email')"), {
      type: 'condition',
      operator: 'equals',
      field: 'messages.channel',
      value: { type: 'string', value: 'email' },
    });
  });

  void test('nested and(...) with whitespace, double quotes, escapes, lists, numbers, booleans and null', () => {
    const tree = parseFilter(
      ` and( equals(name,"Bob \\"B\\" O'Brien") , and(any(id, ['a', "b"]), equals(archived,true)), equals(x, -1.5e2), equals(y,null) ) `,
    );
    assert.deepEqual(tree, {
      type: 'and',
      terms: [
        { type: 'condition', operator: 'equals', field: 'name', value: { type: 'string', value: `Bob "B" O'Brien` } },
        {
          type: 'and',
          terms: [
            {
              type: 'condition',
              operator: 'any',
              field: 'id',
              value: {
                type: 'list',
                items: [
                  { type: 'string', value: 'a' },
                  { type: 'string', value: 'b' },
                ],
              },
            },
            { type: 'condition', operator: 'equals', field: 'archived', value: { type: 'boolean', value: true } },
          ],
        },
        { type: 'condition', operator: 'equals', field: 'x', value: { type: 'number', value: -150 } },
        { type: 'condition', operator: 'equals', field: 'y', value: { type: 'null' } },
      ],
    });
  });

  void test('unquoted datetimes: Z, offsets with and without colon, fractional seconds, date only', () => {
    const ms = (text: string) => {
      const node = parseFilter(`greater-than(updated,${text})`);
      assert.equal(node.type, 'condition');
      assert.equal(node.value?.type, 'datetime', text);
      return node.value.type === 'datetime' ? node.value.ms : NaN;
    };
    assert.equal(ms('2025-01-01T00:00:00Z'), Date.parse('2025-01-01T00:00:00Z'));
    assert.equal(ms('2024-08-01T00:00:00-07:00'), Date.parse('2024-08-01T07:00:00Z'));
    assert.equal(ms('2024-08-01T00:00:00+0530'), Date.parse('2024-07-31T18:30:00Z'));
    assert.equal(ms('2025-01-01T00:00:00.123456Z'), Date.parse('2025-01-01T00:00:00.123Z'));
    assert.equal(ms('2025-01-01T10:20Z'), Date.parse('2025-01-01T10:20:00Z'));
    assert.equal(ms('2025-01-01'), Date.parse('2025-01-01T00:00:00Z'));
  });

  void test('has(field) takes only the field', () => {
    assert.deepEqual(parseFilter('has(profile)'), { type: 'condition', operator: 'has', field: 'profile' });
  });

  void test('a top-level comma list is an implicit and(...), as Airbyte and the Singer tap send it', () => {
    const listed = parseFilter('greater-or-equal(datetime,2025-01-01T00:00:00Z), less-or-equal(datetime,2025-02-01T00:00:00Z)');
    const anded = parseFilter('and(greater-or-equal(datetime,2025-01-01T00:00:00Z),less-or-equal(datetime,2025-02-01T00:00:00Z))');
    assert.deepEqual(listed, anded);
    assert.equal(listed.type, 'and');
    // one expression stays a condition, and an and(...) may be one item of the list
    assert.equal(parseFilter("equals(email,'x')").type, 'condition');
    assert.deepEqual(parseFilter("and(equals(a,'x'),equals(b,'y')),equals(c,'z')"), {
      type: 'and',
      terms: [parseFilter("and(equals(a,'x'),equals(b,'y'))"), parseFilter("equals(c,'z')")],
    });
  });

  const broken: Array<[string, string, RegExp]> = [
    ['empty', '  ', /empty/],
    ['a comma list ending in a comma', "equals(email,'x'),", /expected an operator/],
    [
      'a comma list of more conditions than an and(...) takes',
      Array.from({ length: 101 }, () => "equals(email,'x')").join(','),
      /more than 100 conditions/,
    ],
    ['unbalanced', "equals(email,'x'", /expected '\)'/],
    ['trailing junk', "equals(email,'x'))", /after the end/],
    ['unterminated string', "equals(email,'x)", /unterminated/],
    ['bare word', 'greater-than(datetime,yesterday)', /'yesterday'.*quote strings/],
    ['empty list', 'any(ids,[])', /list is empty/],
    ['nested list', "any(ids,[['a']])", /nested/],
    ['no operator', "(email,'x')", /expected an operator/],
    ['no field', "equals('x')", /field name/],
    ['or is unsupported', "or(equals(a,'x'),equals(b,'y'))", /'or' is not supported.*and/],
    ['impossible date', 'greater-than(datetime,2024-02-30T00:00:00Z)', /not a valid datetime/],
    ['impossible time', 'greater-than(datetime,9999-99-99T99:99:99Z)', /not a valid datetime/],
    ['a + decoded to a space', 'greater-than(updated,2025-01-01T00:00:00 00:00)', /%2B/],
    ['control character', "equals(email,'a\u0000b')", /control character/],
  ];
  for (const [name, text, detail] of broken) {
    void test(`syntax error: ${name}`, () => rejects(() => parseFilter(text), detail));
  }

  void test('hostile nesting and size are refused, not recursed into', () => {
    rejects(() => parseFilter('and('.repeat(4000)), new RegExp(`deeper than ${FILTER_LIMITS.maxDepth}`));
    rejects(
      () => parseFilter(`and(${Array.from({ length: FILTER_LIMITS.maxConditions + 1 }, () => "equals(email,'x')").join(',')})`),
      /more than 100 conditions/,
    );
    assert.doesNotThrow(() =>
      parseFilter(`and(${Array.from({ length: FILTER_LIMITS.maxConditions }, () => "equals(email,'x')").join(',')})`),
    );
  });
});

void describe('compileFilter: fields, operators and value types per operation', () => {
  void test('an unknown field names the field and lists the allowed ones', () => {
    rejects(() => compile('get_profiles', "equals(nickname,'x')"), /'nickname' is not a filterable field.*email.*updated/);
    rejects(() => compile('get_tags', "equals(email,'x')"), /'email'.*Filterable fields: name/);
  });

  void test('an operator the field does not allow names the operator and the allowed ones', () => {
    rejects(() => compile('get_profiles', "contains(email,'x')"), /operator 'contains' is not allowed on 'email'.*any, equals/);
    rejects(() => compile('get_profiles', 'greater-or-equal(updated,2025-01-01T00:00:00Z)'), /greater-than, less-than/);
  });

  void test('an unknown operator is named', () => {
    rejects(() => compile('get_profiles', "resembles(email,'x')"), /'resembles' is not a filter operator/);
  });

  void test('a quoted datetime fails as an invalid filter, like Klaviyo', () => {
    rejects(() => compile('get_profiles', "greater-than(updated,'2024-01-01T00:00:00Z')"), /unquoted datetime/);
  });

  void test('a datetime after the server clock is refused', () => {
    rejects(() => compile('get_events', 'greater-or-equal(datetime,2025-06-01T12:00:01Z)'), /in the future.*clamp/);
    assert.equal(compile('get_events', 'greater-or-equal(datetime,2025-06-01T12:00:00Z)').length, 1);
  });

  void test('value types: strings quoted, booleans bare, lists for any', () => {
    rejects(() => compile('get_profiles', 'equals(email,42)'), /quoted string/);
    rejects(() => compile('get_flows', "equals(archived,'true')"), /boolean; use true or false/);
    rejects(() => compile('get_catalog_items', "any(ids,'notalist')"), /takes a list/);
    rejects(() => compile('get_flows', "starts-with(name,['a','b'])"), /single value, not a list/);
    rejects(() => compile('get_events', "has(profile,'x')"), /takes only the field/);
    rejects(() => compile('get_events', 'greater-than(datetime,true)'), /takes a datetime/);
  });

  void test('a filter on an operation without filters says so', () => {
    rejects(() => compileFilter(parseFilter("equals(id,'x')"), {}, 'GET /api/profiles/{id}', NOW), /does not support filtering/);
  });
});

void describe('compiled conditions: what matches', () => {
  const one = (operationId: string, text: string) => {
    const c = compile(operationId, text);
    assert.equal(c.length, 1);
    return c[0];
  };

  void test('and(...) flattens into a conjunction', () => {
    const c = compile(
      'get_campaigns',
      "and(equals(messages.channel,'email'),and(equals(archived,true),greater-or-equal(created_at,2024-08-01T00:00:00-07:00)))",
    );
    assert.deepEqual(
      c.map((x) => [x.field, x.operator]),
      [
        ['messages.channel', 'equals'],
        ['archived', 'equals'],
        ['created_at', 'greater-or-equal'],
      ],
    );
    assert.equal(c[0].equals, 'email');
    assert.equal(c[1].equals, true);
  });

  void test('equals and any on strings, with the accepted set exposed', () => {
    const eq = one('get_profiles', "equals(email,'a@x.com')");
    assert.equal(eq.test(['a@x.com']), true);
    assert.equal(eq.test(['A@x.com']), false);
    assert.equal(eq.test([null]), false);
    const any = one('get_profiles', "any(id,['p1','p2'])");
    assert.deepEqual([...any.oneOf!], ['p1', 'p2']);
    assert.equal(any.test(['p2']), true);
    assert.equal(any.test(['p3']), false);
    // The spec's own examples use a list with equals (`equals(name,['example'])`).
    assert.equal(one('get_lists', "equals(name,['Newsletter','VIP'])").test(['VIP']), true);
  });

  void test('contains, starts-with, ends-with', () => {
    assert.equal(one('get_flows', "contains(name,'cart')").test(['Abandoned cart reminder']), true);
    assert.equal(one('get_flows', "starts-with(name,'Aband')").test(['Abandoned cart']), true);
    assert.equal(one('get_flows', "starts-with(name,'cart')").test(['Abandoned cart']), false);
    assert.equal(one('get_tags', "ends-with(name,'VIP')").test(['Segment VIP']), true);
  });

  void test('ranges on datetimes compare instants, with the bound exposed for index narrowing', () => {
    const gt = one('get_events', 'greater-than(datetime,2025-01-01T00:00:00Z)');
    assert.deepEqual(gt.bound, { side: 'lower', ms: Date.parse('2025-01-01T00:00:00Z'), inclusive: false });
    assert.equal(gt.test(['2025-01-01T00:00:00+00:00']), false);
    assert.equal(gt.test(['2025-01-01T01:00:01+01:00']), true);
    const le = one('get_events', 'less-or-equal(datetime,2025-01-01T00:00:00Z)');
    assert.deepEqual(le.bound, { side: 'upper', ms: Date.parse('2025-01-01T00:00:00Z'), inclusive: true });
    assert.equal(le.test(['2025-01-01T00:00:00+00:00']), true);
    assert.equal(le.test([null]), false);
  });

  void test("events' integer timestamp takes a datetime or epoch seconds", () => {
    const t = one('get_events', 'greater-or-equal(timestamp,1735689600)');
    assert.equal(t.test([1735689600]), true);
    assert.equal(t.test([1735689599]), false);
    assert.equal(one('get_events', 'less-than(timestamp,2025-01-01T00:00:00Z)').test([1735689599]), true);
  });

  void test('booleans and has(...)', () => {
    const archived = one('get_flows', 'equals(archived,false)');
    assert.equal(archived.test([false]), true);
    assert.equal(archived.test([true]), false);
    const has = one('get_events', 'has(profile)');
    assert.equal(has.test(['01PROFILE']), true);
    assert.equal(has.test([]), false);
    assert.equal(has.test([null]), false);
  });

  void test('any value at a path matches (nested arrays are flattened by the caller)', () => {
    const c = one('get_profiles', "equals(subscriptions.email.marketing.list_suppressions.reason,'USER_SUPPRESSED')");
    assert.equal(c.test(['HARD_BOUNCE', 'USER_SUPPRESSED']), true);
  });
});
