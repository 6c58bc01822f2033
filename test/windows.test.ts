/**
 * Time windows (streams/windows.ts) and the watermark over a run of them (lib/db/watermark.ts), pure; then what the
 * state table does with them (SQLite, in process): prepareStream plans the windows of an incremental run from
 * start_date or the watermark, a new run takes over the unfinished windows of a terminated one, and finish collapses
 * a run's windows into the stream's one row.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createActivities } from '../activities';
import { closeAll } from '../lib/db/connect';
import { Destination } from '../lib/db/destination';
import { windowsWatermark } from '../lib/db/watermark';
import { firstPageUrl } from '../lib/klaviyo/urls';
import { getStream } from '../streams/streams';
import { parseWindowKey, splitWindows, takeOverWindows, windowKey, type Window } from '../streams/windows';
import type { StreamTask } from '../workflows/types';

const LIMITS = { maxWindows: 32, minWindowSeconds: 3600 };
const NOW = new Date('2025-06-01T12:00:00.500Z');

void describe('splitWindows', () => {
  void it('cuts [from, now) into equal windows, at most maxWindows, the last open-ended', () => {
    const w = splitWindows('2024-06-01T12:00:00Z', NOW, LIMITS);
    assert.equal(w.length, 32);
    assert.equal(w[0].start, '2024-06-01T12:00:00Z');
    assert.equal(w[31].end, null, 'the last window is open: rows that arrive during the run are read');
    for (let i = 0; i + 1 < w.length; i++) assert.equal(w[i].end, w[i + 1].start, `window ${i} ends where ${i + 1} starts: no gap`);
    const lengths = w.slice(0, -1).map((x) => Date.parse(x.end!) - Date.parse(x.start));
    assert.ok(Math.max(...lengths) - Math.min(...lengths) <= 1000, 'equal lengths, to the second');
    assert.ok(
      w.every((x) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(x.start)),
      'whole seconds, Z',
    );
  });

  void it('no window shorter than minWindowSeconds: an hourly run is one open window, five hours five', () => {
    assert.deepEqual(splitWindows('2025-06-01T11:00:00Z', NOW, LIMITS), [{ start: '2025-06-01T11:00:00Z', end: null }]);
    assert.equal(splitWindows('2025-06-01T07:00:00Z', NOW, LIMITS).length, 5);
    assert.deepEqual(splitWindows('2025-07-01T00:00:00Z', NOW, LIMITS), [{ start: '2025-07-01T00:00:00Z', end: null }], 'from after now');
  });

  void it('keys state their bounds and read back', () => {
    for (const w of splitWindows('2025-01-01T00:00:00.999Z', NOW, LIMITS)) assert.deepEqual(parseWindowKey(windowKey(w)), w);
    assert.equal(windowKey({ start: '2024-01-01T00:00:00Z', end: '2024-02-01T00:00:00Z' }), '2024-01-01T00:00:00Z..2024-02-01T00:00:00Z');
    assert.equal(parseWindowKey(''), null);
    for (const bad of ['x..', '2024-02-01T00:00:00Z..2024-01-01T00:00:00Z', '2024-01-01T00:00:00.5Z..', '2024-01-01'])
      assert.throws(() => parseWindowKey(bad), /not a time window/, bad);
  });
});

void describe('takeOverWindows', () => {
  const w = (start: string, end: string | null): Window => ({ start, end });
  void it('drops done windows, narrows the others to their watermark, keeps the open one open', () => {
    const taken = takeOverWindows(
      [
        { window: w('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z'), watermark: '2025-01-31T10:00:00.000Z', done: true },
        { window: w('2025-02-01T00:00:00Z', '2025-03-01T00:00:00Z'), watermark: '2025-02-10T05:06:07.890Z', done: false },
        { window: w('2025-03-01T00:00:00Z', '2025-04-01T00:00:00Z'), watermark: null, done: false },
        { window: w('2025-04-01T00:00:00Z', null), watermark: '2025-05-01T00:00:00.000Z', done: false },
      ],
      NOW,
      LIMITS,
    );
    assert.deepEqual(taken, [
      w('2025-02-10T05:06:07Z', '2025-03-01T00:00:00Z'),
      w('2025-03-01T00:00:00Z', '2025-04-01T00:00:00Z'),
      w('2025-05-01T00:00:00Z', null),
    ]);
  });

  void it('a done open window: what arrived since its watermark is split anew up to now', () => {
    const taken = takeOverWindows(
      [
        { window: w('2025-01-01T00:00:00Z', '2025-05-01T00:00:00Z'), watermark: null, done: false },
        { window: w('2025-05-01T00:00:00Z', null), watermark: '2025-06-01T09:00:00.000Z', done: true },
      ],
      NOW,
      LIMITS,
    );
    assert.deepEqual(taken, [
      w('2025-01-01T00:00:00Z', '2025-05-01T00:00:00Z'),
      w('2025-06-01T09:00:00Z', '2025-06-01T10:00:00Z'),
      w('2025-06-01T10:00:00Z', '2025-06-01T11:00:00Z'),
      w('2025-06-01T11:00:00Z', null),
    ]);
  });
});

void describe('windowsWatermark: the gap-free prefix', () => {
  const s = (start: string, watermark: string | null, done: boolean) => ({ start, watermark, done });
  void it('counts windows up to and including the first unfinished one', () => {
    const windows = [
      s('2025-03-01T00:00:00Z', '2025-03-30T00:00:00.000Z', false),
      s('2025-01-01T00:00:00Z', '2025-01-31T00:00:00.000Z', true),
      s('2025-02-01T00:00:00Z', '2025-02-10T00:00:00.000Z', false),
    ];
    assert.equal(windowsWatermark(null, windows), '2025-02-10T00:00:00.000Z', 'not the later window beyond the gap');
    assert.equal(
      windowsWatermark(null, [s('2025-01-01T00:00:00Z', null, false), s('2025-02-01T00:00:00Z', '2025-02-02T00:00:00.000Z', true)]),
      null,
    );
    assert.equal(
      windowsWatermark('2024-12-01T00:00:00.000Z', [s('2025-01-01T00:00:00Z', null, false)]),
      '2024-12-01T00:00:00.000Z',
      'the base stays',
    );
  });
  void it('all done: the highest; empty windows count as read', () => {
    const windows = [
      s('2025-01-01T00:00:00Z', '2025-01-31T00:00:00.000Z', true),
      s('2025-02-01T00:00:00Z', null, true),
      s('2025-03-01T00:00:00Z', '2025-03-02T00:00:00.000Z', true),
    ];
    assert.equal(windowsWatermark('2024-01-01T00:00:00.000Z', windows), '2025-03-02T00:00:00.000Z');
  });
});

void describe('a window request', () => {
  void it('events: and(greater-or-equal(datetime,start),less-than(datetime,end)), sorted by datetime', () => {
    const url = new URL(
      firstPageUrl('http://k', getStream('events'), { since: '2025-01-01T00:00:00Z', until: '2025-02-01T00:00:00Z', now: NOW }),
    );
    assert.equal(
      url.searchParams.get('filter'),
      'and(greater-or-equal(datetime,2025-01-01T00:00:00Z),less-than(datetime,2025-02-01T00:00:00Z))',
    );
    assert.equal(url.searchParams.get('sort'), 'datetime');
  });
});

void describe('windows in the state table', () => {
  let tmp: string;
  let dest: Destination;
  let activities: ReturnType<typeof createActivities>;
  let now = new Date('2025-06-01T12:00:00Z');
  const events = getStream('events');
  const object = { schema: 'klaviyo', table: 'events' };
  const task = (runId: string): StreamTask => ({
    replicationId: 'windows-test',
    replicationName: 'windows-test',
    runId,
    source: 'KLAVIYO',
    target: 'LITE',
    stream: 'events',
    mode: 'incremental',
    object,
    startDate: '2025-05-01T12:00:00Z',
  });
  const run = (runId: string) => ({ stream: events, mode: 'incremental' as const, object, runId });
  const event = (id: string, datetime: string) => ({ type: 'event', id, attributes: { datetime, timestamp: Date.parse(datetime) / 1000 } });

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-windows-'));
    const filename = path.join(tmp, 'klaviyo.db');
    dest = new Destination({ kind: 'sqlite', filename }, { now: () => now });
    activities = createActivities({ env: { LITE: `sqlite://${filename}` }, cwd: tmp, now: () => now });
  });
  after(async () => {
    await closeAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  void it('a first run splits start_date..now; a retried prepare reads the same windows back', async () => {
    const prep = await activities.prepareStream(task('run-1'));
    assert.equal(prep.total, 32, '31 days in 32 windows');
    assert.equal(prep.partitions[0].key.split('..')[0], '2025-05-01T12:00:00Z');
    assert.ok(prep.partitions[31].key.endsWith('..'), 'the last is open');
    now = new Date(now.getTime() + 60_000);
    const again = await activities.prepareStream(task('run-1'));
    assert.deepEqual(
      again.partitions.map((p) => p.key),
      prep.partitions.map((p) => p.key),
      'the keys are recorded, not computed again',
    );
  });

  void it('a new run after a terminated one takes over its unfinished windows; finish collapses into one row', async () => {
    const keys = await dest.runPartitions(run('run-1'));
    // run-1 (terminated): window 0 done, window 1 half read, the rest untouched
    const [w0, w1] = keys.map((k) => parseWindowKey(k)!);
    await dest.writePage({ ...run('run-1'), partition: keys[0], resources: [event('a', w0.start)], nextUrl: null, done: true });
    const mid = new Date(Date.parse(w1.start) + 3_600_000).toISOString();
    await dest.writePage({ ...run('run-1'), partition: keys[1], resources: [event('b', mid)], nextUrl: 'http://k/next', done: false });
    assert.equal(await dest.readWatermark(object), mid.replace('Z', '').slice(0, 19) + '.000Z', 'the gap-free prefix: window 1');

    const prep = await activities.prepareStream(task('run-2'));
    const taken = prep.partitions.map((p) => p.key);
    assert.equal(taken[0], `${mid.slice(0, 19)}Z..${w1.end}`, 'window 1 narrowed to its watermark');
    assert.deepEqual(taken.slice(1), keys.slice(2), 'the others as they were; window 0 dropped');
    assert.deepEqual(await dest.runPartitions(run('run-1')), [], "run-1's windows are gone from the state table");

    // the open window reads a row written during the run
    const late = new Date(now.getTime() - 1000).toISOString();
    for (const key of taken) {
      const resources = key === taken[taken.length - 1] ? [event('c', late)] : [];
      await dest.writePage({ ...run('run-2'), partition: key, resources, nextUrl: null, done: true });
    }
    const fin = await dest.finish(run('run-2'));
    assert.equal(fin.watermark, late);
    assert.deepEqual(await dest.runPartitions(run('run-2')), [''], "one row, partition ''");
    assert.equal(await dest.readWatermark(object), late);
    assert.deepEqual(await dest.finish(run('run-2')), fin, 'finish again: the same');

    // the next run starts from that watermark: one window (less than an hour ago)
    now = new Date(now.getTime() + 10 * 60_000);
    const next = await activities.prepareStream(task('run-3'));
    assert.deepEqual(
      next.partitions.map((p) => p.key),
      [`${late.slice(0, 19)}Z..`],
    );
  });
});
