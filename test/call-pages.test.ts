/**
 * How many pages a partition loop asks its next page activity for (workflows/sync-stream.ts callPages): one while a
 * run ramps up, a few while slots are idle, six while the account's rate budget paces the stream (so that slots
 * freed at a backfill's end are refilled by a split within seconds), and the worker's full budget otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callPages, pacedBy } from '../workflows/sync-stream';

const timing = (waitMs: number) => ({ waitMs, httpMs: 0, jsonMs: 0, dbMs: 0, activityMs: 0 });

void test('pacedBy: a call whose pages waited 20 ms or more each for the rate limiter', () => {
  assert.equal(pacedBy({ pages: 6, timing: timing(6 * 230) }), true, 'the documented limits, once the budget is spent');
  assert.equal(pacedBy({ pages: 20, timing: timing(20 * 0.4) }), false, 'limits off (fast mode)');
  assert.equal(pacedBy({ pages: 5, timing: timing(100) }), true);
  assert.equal(pacedBy({ pages: 5, timing: timing(99) }), false);
  assert.equal(pacedBy({ pages: 0, timing: timing(1000) }), false, 'no page: no evidence');
  assert.equal(pacedBy({ pages: 3 }), false, 'no timing reported');
});

void test('callPages: 1 ramping up, 3 with idle slots, 6 when paced, else the full budget', () => {
  const busy = { splittable: true, queued: 0, inFlight: 48, limit: 48, paced: false };
  assert.equal(callPages({ ...busy, limit: 20, inFlight: 20 }), 1, 'ramping up');
  assert.equal(callPages({ ...busy, inFlight: 40 }), 3, 'idle slots, nothing queued');
  assert.equal(callPages(busy), undefined, 'busy, unpaced: the full budget');
  assert.equal(callPages({ ...busy, paced: true }), 6, 'busy and paced');
  assert.equal(callPages({ ...busy, paced: true, queued: 5 }), 6, 'paced, with windows queued: they may be gone in a second');
  assert.equal(callPages({ ...busy, queued: 5 }), undefined, 'unpaced, windows queued');
  assert.equal(callPages({ ...busy, splittable: false, paced: true }), undefined, 'a partition that cannot split keeps full calls');
});
