/**
 * The overlap every incremental run reads again before its watermark: the cursor's own (data in the stream table)
 * plus `source_options.lookback`. End to end in test/state.test.ts; here the arithmetic and the config.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, buildReplicationPlan } from '../config/replication';
import { resumeFrom } from '../lib/db/watermark';
import { firstPageUrl } from '../lib/klaviyo/urls';
import { getStream } from '../streams/streams';

const now = new Date('2025-06-01T12:00:00Z');
const filterOf = (url: string) => new URL(url).searchParams.get('filter');

void describe('resuming an incremental stream', () => {
  void test("profiles (greater-than, one-second resolution) read the watermark's second again", () => {
    const profiles = getStream('profiles');
    const since = resumeFrom('2025-06-01T10:00:00.000Z', profiles.cursor!, 0, now);
    assert.equal(since, '2025-06-01T09:59:59.000Z');
    assert.equal(filterOf(firstPageUrl('https://a.klaviyo.com', profiles, { since, now })), 'greater-than(updated,2025-06-01T09:59:59Z)');
  });

  void test('events and templates (greater-or-equal) read the watermark itself again, no more', () => {
    for (const name of ['events', 'templates'] as const) {
      const s = getStream(name);
      const since = resumeFrom('2025-06-01T10:00:00.000Z', s.cursor!, 0, now);
      assert.equal(since, '2025-06-01T10:00:00.000Z');
      assert.equal(
        filterOf(firstPageUrl('https://a.klaviyo.com', s, { since, now })),
        `greater-or-equal(${s.cursor!.field},2025-06-01T10:00:00Z)`,
      );
    }
  });

  void test('a lookback widens both; a watermark in the future is capped at now first; none is none', () => {
    assert.equal(resumeFrom('2025-06-01T10:00:00.000Z', getStream('profiles').cursor!, 3600, now), '2025-06-01T08:59:59.000Z');
    assert.equal(resumeFrom('2025-06-01T10:00:00.000Z', getStream('events').cursor!, 90, now), '2025-06-01T09:58:30.000Z');
    assert.equal(resumeFrom('2999-01-01T00:00:00.000Z', getStream('profiles').cursor!, 0, now), '2025-06-01T11:59:59.000Z');
    assert.equal(resumeFrom(null, getStream('profiles').cursor!, 60, now), null);
  });
});

void describe('source_options.lookback', () => {
  const plan = (options: string) =>
    buildReplicationPlan({
      source: 'K',
      target: 'T',
      streams: { profiles: { mode: 'incremental', source_options: JSON.parse(options) }, lists: null },
    });

  void test('takes seconds or a duration, on incremental streams only', () => {
    assert.equal(plan('{"lookback": 120}').streams[0].lookbackSeconds, 120);
    assert.equal(plan('{"lookback": "90s"}').streams[0].lookbackSeconds, 90);
    assert.equal(plan('{"lookback": "15m"}').streams[0].lookbackSeconds, 900);
    assert.equal(plan('{"lookback": "2h"}').streams[0].lookbackSeconds, 7200);
    assert.equal(plan('{"lookback": "1d", "start_date": "2024-01-01"}').streams[0].lookbackSeconds, 86_400);
    assert.equal(plan('{}').streams[0].lookbackSeconds, undefined);
    const inherited = buildReplicationPlan({
      source: 'K',
      target: 'T',
      defaults: { source_options: { lookback: '1h' } },
      streams: { profiles: { mode: 'incremental' }, lists: null },
    });
    assert.equal(inherited.streams[0].lookbackSeconds, 3600);
    assert.equal(inherited.streams[1].lookbackSeconds, undefined, 'a full-refresh stream has nothing to look back from');
  });

  void test('refuses anything else, naming the fix', () => {
    for (const bad of ['-5', '1.5', '"1w"', '"soon"', '"10 m"', 'true']) {
      assert.throws(
        () => plan(`{"lookback": ${bad}}`),
        (err: unknown) =>
          err instanceof ConfigError &&
          /streams\.profiles\.source_options\.lookback: must be a whole number of seconds or a duration such as 30s, 15m, 2h or 1d/.test(
            err.message,
          ),
        `lookback ${bad}`,
      );
    }
  });
});
