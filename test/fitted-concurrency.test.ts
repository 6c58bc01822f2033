/**
 * FittedConcurrency on its own: the in-flight limit a stream keeps from its page activities' waits for tokens, in a
 * closed loop where a rate limit of R requests/s serves activities that work W s each (Little's law: with n in
 * flight, each waits max(0, n/R − W)).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FITTED_MIN, FittedConcurrency } from '../workflows/fitted-concurrency';

const MAX = 48;

/** `results` activity results at the current limit, each n/R s long when the rate binds; the limits seen */
function run(f: FittedConcurrency, ratePerS: number, workS: number, results: number): number[] {
  const seen: number[] = [];
  for (let i = 0; i < results; i++) {
    const n = f.limit;
    const activityS = Math.max(workS, n / ratePerS);
    f.observe({ waitMs: (activityS - workS) * 1000, httpMs: workS * 1000, jsonMs: 0, dbMs: 0, activityMs: activityS * 1000 }, n);
    seen.push(f.limit);
  }
  return seen;
}

void describe('FittedConcurrency', () => {
  void it('a stream that never waits for tokens keeps its maximum', () => {
    const f = new FittedConcurrency(MAX);
    assert.deepEqual(new Set(run(f, 1000, 0.5, 200)), new Set([MAX]));
  });

  void it('a stream held by its rate comes down to what the rate keeps busy, with headroom, and stays saturated', () => {
    // profiles: 700/min, ~0.5 s of work per page: 5.8 activities busy
    const f = new FittedConcurrency(MAX);
    const seen = run(f, 700 / 60, 0.5, 300);
    const last = seen.slice(-50);
    const busy = (700 / 60) * 0.5;
    for (const n of last) {
      assert.ok(n >= busy, `${n} in flight keeps the ${busy.toFixed(1)} the rate allows busy`);
      assert.ok(n <= 2 * busy + 3, `${n} in flight: not many more than ${busy.toFixed(1)} busy`);
    }
    assert.ok(Math.max(...last) - Math.min(...last) <= 3, `settled: ${last.join(' ')}`);
  });

  void it('after a long wait (a steady window spent) it falls to the minimum, then grows back within a few dozen results', () => {
    const f = new FittedConcurrency(MAX);
    for (let i = 0; i < 30; i++) f.observe({ waitMs: 20_000, httpMs: 300, jsonMs: 0, dbMs: 200, activityMs: 20_500 }, MAX);
    assert.equal(f.limit, FITTED_MIN);
    const back = run(f, 1000, 0.5, 60);
    const at = back.indexOf(MAX);
    assert.ok(at >= 0 && at < 40, `back to ${MAX} after ${at + 1} results: ${back.join(' ')}`);
  });

  void it('results without timing (recorded before it existed) change nothing; a small wait does not shrink it', () => {
    const f = new FittedConcurrency(MAX);
    f.observe(undefined, MAX);
    f.observe({ waitMs: 0, httpMs: 0, jsonMs: 0, dbMs: 0, activityMs: 0 }, MAX);
    assert.equal(f.limit, MAX);
    for (let i = 0; i < 100; i++) f.observe({ waitMs: 60, httpMs: 300, jsonMs: 2, dbMs: 100, activityMs: 470 }, 10);
    assert.equal(f.limit, MAX, 'a lease round trip of waiting, with few in flight for lack of work: still the maximum');
  });
});
