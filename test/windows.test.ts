/**
 * Time windows (streams/windows.ts) and the watermark over a run of them (lib/db/watermark.ts), pure; then what the
 * state table does with them (SQLite, in process): prepareStream plans the windows of an incremental run from
 * start_date or the watermark, a new run takes over the unfinished windows of a terminated one, a window being read
 * splits in two without a row read twice, and finish collapses a run's windows into the stream's one row.
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
import { partitionsOf } from '../streams/partitions';
import {
  parseWindowKey,
  pastWindow,
  splitRange,
  splitWindow,
  splitWindows,
  takeOverWindows,
  windowKey,
  type Window,
} from '../streams/windows';
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

void describe('splitRange', () => {
  void it("cuts a backfill's [from, to) like splitWindows, the last window closed at to: nothing after it is read", () => {
    const w = splitRange('2024-03-01T00:00:00Z', '2024-04-01T00:00:00Z', LIMITS);
    assert.equal(w.length, 32);
    assert.equal(w[0].start, '2024-03-01T00:00:00Z');
    assert.equal(w[31].end, '2024-04-01T00:00:00Z');
    for (let i = 0; i + 1 < w.length; i++) assert.equal(w[i].end, w[i + 1].start, `window ${i} ends where ${i + 1} starts: no gap`);
    assert.deepEqual(splitRange('2024-03-01T00:00:00Z', '2024-03-01T00:30:00Z', LIMITS), [
      { start: '2024-03-01T00:00:00Z', end: '2024-03-01T00:30:00Z' },
    ]);
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

void describe('splitWindow', () => {
  void it("splits finer than the planned windows (the table's minSplitSeconds): a window's last 2 hours fill 8 idle slots", () => {
    const events = partitionsOf(getStream('events')).windows!;
    assert.ok(events.minSplitSeconds < events.minWindowSeconds);
    const pieces = splitWindow(w('2025-06-01T08:00:00Z', '2025-06-01T10:00:00Z'), null, NOW, events.minSplitSeconds, 8)!;
    assert.equal(pieces.length, 8);
    assert.deepEqual(pieces[1], { start: '2025-06-01T08:15:00Z', end: '2025-06-01T08:30:00Z' });
    assert.equal(splitWindow(w('2025-06-01T08:00:00Z', '2025-06-01T10:00:00Z'), null, NOW, events.minWindowSeconds, 8)!.length, 2);
  });

  const w = (start: string, end: string | null): Window => ({ start, end });
  void it('cuts what is left (from the watermark) in the middle; the first half keeps the start', () => {
    assert.deepEqual(splitWindow(w('2025-01-01T00:00:00Z', '2025-01-11T00:00:00Z'), null, NOW, 3600), [
      w('2025-01-01T00:00:00Z', '2025-01-06T00:00:00Z'),
      w('2025-01-06T00:00:00Z', '2025-01-11T00:00:00Z'),
    ]);
    assert.deepEqual(
      splitWindow(w('2025-01-01T00:00:00Z', '2025-01-11T00:00:00Z'), '2025-01-09T00:00:00.750Z', NOW, 3600),
      [w('2025-01-01T00:00:00Z', '2025-01-10T00:00:00Z'), w('2025-01-10T00:00:00Z', '2025-01-11T00:00:00Z')],
      'the rows below the watermark are read: the middle of the rest',
    );
  });

  void it('the open window splits at the middle of [watermark, now) and stays open', () => {
    assert.deepEqual(splitWindow(w('2025-05-01T00:00:00Z', null), '2025-05-31T12:00:00.000Z', NOW, 3600), [
      w('2025-05-01T00:00:00Z', '2025-06-01T00:00:00Z'),
      w('2025-06-01T00:00:00Z', null),
    ]);
  });

  void it('nothing shorter than two minimal windows is split; the halves are whole seconds', () => {
    assert.equal(splitWindow(w('2025-01-01T00:00:00Z', '2025-01-01T01:59:59Z'), null, NOW, 3600), null);
    assert.equal(splitWindow(w('2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z'), '2025-01-01T22:30:00Z', NOW, 3600), null);
    assert.equal(splitWindow(w('2025-06-01T10:30:00Z', null), null, NOW, 3600), null, 'an open window 90 minutes before now');
    const [a, b] = splitWindow(w('2025-01-01T00:00:00Z', '2025-01-01T02:00:01Z'), null, NOW, 3600)!;
    assert.equal(a.end, '2025-01-01T01:00:00Z');
    assert.equal(b.start, a.end);
  });

  void it('into N equal pieces of what is left, fewer where a piece would be shorter than a minimal window', () => {
    assert.deepEqual(splitWindow(w('2025-01-01T00:00:00Z', '2025-01-10T00:00:00Z'), '2025-01-04T00:00:00Z', NOW, 3600, 3), [
      w('2025-01-01T00:00:00Z', '2025-01-06T00:00:00Z'),
      w('2025-01-06T00:00:00Z', '2025-01-08T00:00:00Z'),
      w('2025-01-08T00:00:00Z', '2025-01-10T00:00:00Z'),
    ]);
    const four = splitWindow(w('2025-01-01T00:00:00Z', '2025-01-01T04:30:00Z'), null, NOW, 3600, 8)!;
    assert.equal(four.length, 4, '4.5 hours in pieces of at least an hour');
    assert.deepEqual(
      four.map((x) => x.start),
      ['2025-01-01T00:00:00Z', '2025-01-01T01:07:30Z', '2025-01-01T02:15:00Z', '2025-01-01T03:22:30Z'],
    );
    assert.equal(four[3].end, '2025-01-01T04:30:00Z');
    const open = splitWindow(w('2025-05-01T00:00:00Z', null), '2025-05-31T00:00:00.000Z', NOW, 3600, 3)!;
    assert.equal(open.length, 3);
    assert.equal(open[2].end, null, 'the last piece of the open window stays open');
    for (let i = 1; i < open.length; i++) assert.equal(open[i].start, open[i - 1].end, 'no gap, no overlap');
    const ten = w('2025-01-01T00:00:00Z', '2025-01-11T00:00:00Z');
    assert.deepEqual(
      splitWindow(ten, null, NOW, 3600, Number.NaN),
      splitWindow(ten, null, NOW, 3600),
      'a part count that is no number: halves',
    );
    assert.deepEqual(splitWindow(ten, null, NOW, 3600, 1), splitWindow(ten, null, NOW, 3600), 'fewer than 2 parts: halves');
  });

  void it('pastWindow: a cursor value at or after the end belongs to the next window; the open window has none', () => {
    const x = w('2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z');
    assert.equal(pastWindow(x, '2025-01-01T23:59:59.999Z'), false);
    assert.equal(pastWindow(x, '2025-01-02T00:00:00.000Z'), true);
    assert.equal(pastWindow(x, '2025-01-02T00:00:00+00:00'), true);
    assert.equal(pastWindow(w('2025-01-01T00:00:00Z', null), '2030-01-01T00:00:00Z'), false);
    assert.equal(pastWindow(x, null), false);
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

  void it('a window split while being read: the first half keeps its cursor and ends at the middle, the second reads on; nothing twice', async () => {
    now = new Date('2025-07-01T00:00:00Z');
    const t = { ...task('run-s'), object: { schema: 'klaviyo', table: 'events_split' }, startDate: '2025-06-01T00:00:00Z' };
    const r = { ...run('run-s'), object: t.object };
    const prep = await activities.prepareStream(t);
    const key = prep.partitions[0].key;
    const w = parseWindowKey(key)!;
    const at = (ms: number) => new Date(Date.parse(w.start) + ms).toISOString();
    // one page read: its rows up to an hour in, the listing goes on (up to the old end)
    await dest.writePage({
      ...r,
      partition: key,
      resources: [event('e1', at(0)), event('e2', at(3_600_000))],
      nextUrl: 'http://k/p2',
      done: false,
    });
    const split = await activities.splitWindow({ ...t, partition: key });
    const [first, second] = split.partitions.map((k) => parseWindowKey(k)!);
    assert.equal(first.start, w.start);
    assert.equal(second.end, w.end);
    assert.equal(first.end, second.start);
    const middle = Date.parse(first.end!);
    assert.equal(middle, (Date.parse(at(3_600_000)) + Date.parse(w.end!)) / 2, 'the middle of what was left');
    const state = await dest.progress({ ...r, partition: split.partitions[0] });
    assert.equal(state.nextUrl, 'http://k/p2', 'the first half continues where the window was');
    assert.equal(state.rows, 2);
    assert.deepEqual(await activities.splitWindow({ ...t, partition: key }), split, 'a retry after the commit: the same halves');
    await assert.rejects(
      dest.writePage({ ...r, partition: key, resources: [], nextUrl: null, done: true }),
      /holds no such time window \(it was split or replaced\)/,
      'a late writer of the window split is refused',
    );

    // the first half's next page crosses the middle: the rows from it on are the second half's, and the half ends
    const crossing = await dest.writePage({
      ...r,
      partition: split.partitions[0],
      resources: [event('e3', new Date(middle - 1000).toISOString()), event('e4', new Date(middle).toISOString())],
      nextUrl: 'http://k/p3',
      done: false,
    });
    assert.deepEqual([crossing.rows, crossing.done], [1, true]);
    await dest.writePage({
      ...r,
      partition: split.partitions[1],
      resources: [event('e4', new Date(middle).toISOString())],
      nextUrl: null,
      done: true,
    });
    for (const k of (await dest.runPartitions(r)).filter((k) => !split.partitions.includes(k))) {
      await dest.writePage({ ...r, partition: k, resources: [], nextUrl: null, done: true });
    }
    const fin = await dest.finish(r);
    assert.equal(fin.rows, 4, 'each event counted once');
    assert.deepEqual((await dest.snapshot(t.object, ['id'])).map((x) => x.id).sort(), ['e1', 'e2', 'e3', 'e4']);
    await assert.rejects(
      activities.splitWindow({ ...t, partition: '' }),
      /only a time window of an incremental run or a backfill can be split/,
    );
  });

  void it('a window split into three: every later piece an unread row, a retry gets the same three, each event once', async () => {
    now = new Date('2025-07-01T00:00:00Z');
    const t = { ...task('run-3'), object: { schema: 'klaviyo', table: 'events_split3' }, startDate: '2025-06-01T00:00:00Z' };
    const r = { ...run('run-3'), object: t.object };
    const prep = await activities.prepareStream(t);
    const key = prep.partitions[0].key;
    const w = parseWindowKey(key)!;
    const at = (ms: number) => new Date(Date.parse(w.start) + ms).toISOString();
    await dest.writePage({ ...r, partition: key, resources: [event('e1', at(0))], nextUrl: 'http://k/p2', done: false });
    const split = await activities.splitWindow({ ...t, partition: key, parts: 3 });
    assert.equal(split.partitions.length, 3);
    const pieces = split.partitions.map((k) => parseWindowKey(k)!);
    assert.equal(pieces[0].start, w.start);
    assert.equal(pieces[2].end, w.end);
    assert.deepEqual(await activities.splitWindow({ ...t, partition: key, parts: 3 }), split, 'a retry after the commit: the same pieces');
    const first = await dest.progress({ ...r, partition: split.partitions[0] });
    assert.equal(first.nextUrl, 'http://k/p2', 'the first piece continues where the window was');
    for (const k of split.partitions.slice(1)) {
      const p = await dest.progress({ ...r, partition: k });
      assert.deepEqual([p.nextUrl, p.rows, p.done], [null, 0, false], `${k} starts unread`);
    }
    // each later piece's rows land once: one event at each piece's start
    const starts = pieces.map((p) => p.start);
    await dest.writePage({
      ...r,
      partition: split.partitions[0],
      resources: starts.map((s, i) => event(`s${i}`, s)),
      nextUrl: null,
      done: true,
    });
    for (const [i, k] of split.partitions.slice(1).entries()) {
      await dest.writePage({ ...r, partition: k, resources: [event(`s${i + 1}`, starts[i + 1])], nextUrl: null, done: true });
    }
    for (const k of (await dest.runPartitions(r)).filter((k) => !split.partitions.includes(k))) {
      await dest.writePage({ ...r, partition: k, resources: [], nextUrl: null, done: true });
    }
    const fin = await dest.finish(r);
    assert.equal(fin.rows, 4, 'e1 and one event per piece, each counted once');
    assert.deepEqual((await dest.snapshot(t.object, ['id'])).map((x) => x.id).sort(), ['e1', 's0', 's1', 's2']);
  });

  void it('the last 90 minutes: planned as one window, split while read into 8 pieces of minSplitSeconds or more', async () => {
    now = new Date('2025-07-01T00:00:00Z');
    const t = { ...task('run-4'), object: { schema: 'klaviyo', table: 'events_split8' }, startDate: '2025-06-30T22:30:00Z' };
    const prep = await activities.prepareStream(t);
    assert.equal(prep.partitions.length, 1, 'under two planned windows: one');
    const split = await activities.splitWindow({ ...t, partition: prep.partitions[0].key, parts: 8 });
    assert.equal(split.partitions.length, 8);
    const min = partitionsOf(getStream('events')).windows!.minSplitSeconds * 1000;
    for (const k of split.partitions.slice(0, -1)) {
      const p = parseWindowKey(k)!;
      assert.ok(Date.parse(p.end!) - Date.parse(p.start) >= min, `${k}: at least minSplitSeconds`);
    }
  });
});
