/**
 * The page check a worker runs on every 2xx body (lib/klaviyo/client.ts): an in-place check that allocates nothing
 * accepts a page, and zod names the problem of one it does not. The fast check must never accept what the schema
 * rejects, and should accept what it accepts (else every good page pays zod's copy again).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { documentProblem, isUsableDocument, schemaProblem } from '../lib/klaviyo/client';

/** values near the JSON:API shape, so that most branches of both checks are reached */
const scalar = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.constantFrom('', 'a', 'event', 'x y'));
const record = fc.oneof(fc.dictionary(fc.constantFrom('a', 'b', 'email', 'data'), scalar), scalar, fc.array(scalar, { maxLength: 2 }));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const resource = fc.oneof(
  fc.record(
    {
      type: fc.oneof(fc.constantFrom('event', 'profile'), scalar),
      id: fc.oneof(fc.constantFrom('a1', 'b2'), scalar),
      attributes: maybe(record),
      relationships: maybe(record),
    },
    { requiredKeys: [] },
  ),
  scalar,
  fc.array(scalar, { maxLength: 1 }),
);
const next = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    'https://a.klaviyo.com/api/events?page%5Bcursor%5D=x',
    'http://127.0.0.1:9/api/x',
    '/api/x',
    'ftp://a/b',
    'not a url',
    '',
  ),
  scalar,
);
const document = fc.record(
  {
    data: fc.oneof(fc.array(resource, { maxLength: 4 }), resource, fc.constant(null)),
    included: maybe(fc.oneof(fc.array(resource, { maxLength: 3 }), scalar)),
    links: maybe(fc.oneof(fc.record({ next, self: maybe(fc.constant('https://a.klaviyo.com/api/events')) }, { requiredKeys: [] }), scalar)),
  },
  { requiredKeys: ['data'] },
);

void describe('the page check', () => {
  void test('accepts exactly the pages the schema accepts', () => {
    fc.assert(
      fc.property(document, (doc) => {
        const zodOk = schemaProblem(doc) === undefined;
        assert.equal(isUsableDocument(doc), zodOk, JSON.stringify(doc));
        assert.equal(documentProblem(doc) === undefined, zodOk);
      }),
      { numRuns: 3000 },
    );
  });

  void test('a good page of 200 resources is accepted without zod', () => {
    const page = {
      data: Array.from({ length: 200 }, (_, i) => ({
        type: 'event',
        id: `e${i}`,
        attributes: { timestamp: 1, event_properties: { a: [1, 2] } },
        relationships: { profile: { data: { type: 'profile', id: 'p' } } },
      })),
      links: { self: 'https://a.klaviyo.com/api/events', next: 'https://a.klaviyo.com/api/events?page%5Bcursor%5D=x' },
    };
    assert.equal(isUsableDocument(page), true);
    assert.equal(documentProblem(page), undefined);
    // what zod says of a bad one is unchanged
    assert.equal(
      documentProblem({
        data: [
          { type: 'tag', id: 'a' },
          { type: 'tag', id: 42 },
        ],
      }),
      'data[1].id = the number 42 where a JSON:API page has a string',
    );
  });
});
