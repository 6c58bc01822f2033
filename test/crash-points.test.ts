/**
 * The test-only crash points (lib/crash-points.ts): inert without the variable, and a real SIGKILL of the process at
 * the n-th time a named point is reached with its tag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { crashPoint, parseCrashAt } from '../lib/crash-points';

void test('KLAVIYO_SYNC_TEST_CRASH_AT is <point>[@<tag>][:<n>]', () => {
  assert.equal(parseCrashAt(undefined), null);
  assert.equal(parseCrashAt(''), null);
  assert.deepEqual(parseCrashAt('plan'), { point: 'plan', n: 1 });
  assert.deepEqual(parseCrashAt('fetch@get_events:4'), { point: 'fetch', tag: 'get_events', n: 4 });
  assert.deepEqual(parseCrashAt('write@list_profiles'), { point: 'write', tag: 'list_profiles', n: 1 });
  assert.throws(() => parseCrashAt('write@'), /KLAVIYO_SYNC_TEST_CRASH_AT must be/);
  assert.throws(() => parseCrashAt('Write:x'), /KLAVIYO_SYNC_TEST_CRASH_AT must be/);
});

void test('without the variable a crash point does nothing', () => {
  const saved = process.env.KLAVIYO_SYNC_TEST_CRASH_AT;
  delete process.env.KLAVIYO_SYNC_TEST_CRASH_AT;
  try {
    for (let i = 0; i < 3; i++) crashPoint('write', 'events');
  } finally {
    if (saved !== undefined) process.env.KLAVIYO_SYNC_TEST_CRASH_AT = saved;
  }
});

void test('the process is SIGKILLed the n-th time the point is reached with its tag, not before', () => {
  const module = path.join(__dirname, '..', 'lib', 'crash-points.ts');
  const script = `
    const { crashPoint } = require(${JSON.stringify(module)});
    for (let i = 1; i <= 5; i++) {
      crashPoint('write', 'profiles');
      crashPoint('fetch', 'get_events');
      crashPoint('write', 'events');
      process.stdout.write('after ' + i + '\\n');
    }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    env: { ...process.env, KLAVIYO_SYNC_TEST_CRASH_AT: 'write@events:3' },
    encoding: 'utf8',
  });
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.stdout, 'after 1\nafter 2\n');
  assert.match(r.stderr, /klaviyo-sync crash point write@events #3: SIGKILL/);
});
