/** The printed tables of each mode. */
import { timeSplit, type FastResult, type TimeSplit } from './fast-mode';
import type { StreamFigures } from './figures';
import type { LimitsResult } from './limits-mode';
import type { SlingResult } from './sling-mode';
import { IN_FLIGHT_BUCKET_MS, type ActionGroup } from './temporal-actions';
import type { WorkerFigures } from './workers';

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fixed = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));

/** Rows of cells as aligned columns: the first left-aligned, the rest right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

function streamTable(streams: StreamFigures[]): string {
  return table(
    ['stream', 'requests', 'req/min', 'steady/min', '% steady', 'rows', 'rows/s', '429s', '429 %', 'wall s', 'table = truth'],
    streams.map((s) => [
      s.stream,
      int(s.requests),
      int(s.requestsPerMin),
      s.steadyPerMin === null ? 'off' : int(s.steadyPerMin),
      fixed(s.steadyPct),
      int(s.rows),
      int(s.rowsPerS),
      int(s.rateLimited),
      fixed(s.rateLimitedPct, 2),
      fixed(s.wallS),
      s.tableRows === null || s.truthRows === null ? 'n/a' : s.tableRows === s.truthRows ? 'yes' : `NO (${s.tableRows} vs ${s.truthRows})`,
    ]),
  );
}

export function workerLines(workers: WorkerFigures[]): string {
  return workers
    .map(
      (w) =>
        `  ${w.name} (pid ${w.pid}): CPU ${fixed(w.runCpuS)} s during the run (${fixed(w.cpuS)} s since start), ` +
        `peak RSS ${int(w.peakRssMb)} MB (VmHWM; max sampled during the run ${int(w.maxSampledRssMb)} MB)` +
        (w.rateBudget ? `\n    rate budget: ${w.rateBudget.replace(/; fleet-stats .*/, '')}` : ''),
    )
    .join('\n');
}

/** Actions per 1,000 rows of each group; shared groups (replicate, rate-budget) per 1,000 rows of the whole run. */
export function actionsTable(groups: ActionGroup[], rowsOf: (group: string) => number | undefined, totalRows: number): string {
  const total = groups.reduce((n, g) => n + g.actions, 0);
  return table(
    [
      'workflows',
      'ids',
      'runs',
      'wf tasks',
      'activities',
      'retries',
      'signals',
      'timers',
      'children',
      'updates',
      'max history',
      'actions',
      'per 1k rows',
    ],
    [
      ...groups.map((g) => {
        const rows = rowsOf(g.group) ?? totalRows;
        return [
          g.group,
          int(g.workflowIds),
          int(g.runs),
          int(g.workflowTasks),
          int(g.activities),
          int(g.activityRetries),
          int(g.signals),
          int(g.timers),
          int(g.children),
          int(g.updates),
          int(g.maxHistory),
          int(g.actions),
          fixed(rows ? (1000 * g.actions) / rows : NaN, 2),
        ];
      }),
      ['all', '', '', '', '', '', '', '', '', '', '', int(total), fixed(totalRows ? (1000 * total) / totalRows : NaN, 2)],
    ],
  );
}

export const ACTIONS_DEFINITION =
  '  actions = runs started (incl. children and continue-as-new) + activities scheduled + activity retries + signals + timers + updates + search-attribute upserts (heartbeats leave no history: not counted)';

/** Requests per bucket as the sandbox saw them arrive: the ramp, the plateau and the tail behind one rate. */
export function timelineLines(streams: StreamFigures[]): string[] {
  const shown = streams.filter((s) => s.timeline?.length && s.timelineBucketMs > 0);
  if (shown.length === 0) return [];
  const per = shown[0].timelineBucketMs / 1000;
  return [
    `  requests per ${per} s as they arrived (the steady limit allows ${shown
      .filter((s) => s.steadyPerMin !== null)
      .map((s) => `${s.stream} ${int((s.steadyPerMin! * per) / 60)}`)
      .join(', ')} per ${per} s):`,
    ...shown.map((s) => `  ${s.stream.padEnd(8)} ${s.timeline.join(' ')}`),
  ];
}

/** Each stream's mean activities in flight per bucket (from its histories). */
export function inFlightLines(groups: ActionGroup[]): string[] {
  const shown = groups.filter((g) => g.group !== 'replicate' && g.group !== 'rate-budget' && g.activitiesInFlight?.length);
  if (shown.length === 0) return [];
  return [
    `  activities in flight, mean per ${IN_FLIGHT_BUCKET_MS / 1000} s (from the histories):`,
    ...shown.map((g) => `  ${g.group.padEnd(8)} ${g.activitiesInFlight.join(' ')}`),
  ];
}

export function formatLimits(r: LimitsResult): string {
  const o = r.options;
  const rowsOf = (g: string) => r.streams.find((s) => s.stream === g)?.rows;
  return [
    `limits: preset ${o.preset}, sandbox --rate-limits ${o.rateLimits}, latency ${o.latency ?? 'none (this sandbox has no --latency)'}, ` +
      `${o.workers} worker${o.workers > 1 ? 's' : ''} (KLAVIYO_SYNC_RATE_LIMITS=${r.workerRateLimits}), streams ${o.streams.join(', ')} → Postgres; ` +
      `${int(r.rows)} rows in ${fixed(r.wallS)} s`,
    streamTable(r.streams),
    ...(r.streams.some((s) => s.steadyPerMin !== null && s.wallS < 120)
      ? [
          '  (a stream of under 2 minutes can exceed its steady rate: Klaviyo counts it in fixed 60 s windows, the first one allowed in full)',
        ]
      : []),
    ...timelineLines(r.streams),
    ...inFlightLines(r.actions),
    '  time per page in ms (share of the stream wall time; definitions under fast):',
    splitTable(r.streams.map((s) => [s.stream, timeSplit(s.wallS * 1000, s.pages, s.timing)])),
    workerLines(r.workers),
    `  sandbox CPU ${fixed(r.sandboxCpuS)} s`,
    '  Temporal:',
    actionsTable(r.actions, rowsOf, r.rows),
    ACTIONS_DEFINITION,
  ].join('\n');
}

function splitRow(label: string, s: TimeSplit | null): string[] {
  if (!s) return [label, 'no timing reported', '', '', '', '', '', '', ''];
  const base = Math.max(s.wallMs, s.timing.activityMs);
  const pct = (ms: number) => `${((100 * ms) / base).toFixed(0)}%`;
  const perPage = (ms: number) => `${(ms / s.pages).toFixed(1)}`;
  const cell = (ms: number) => `${perPage(ms)} (${pct(ms)})`;
  return [
    label,
    int(s.pages),
    cell(s.timing.httpMs),
    cell(s.timing.jsonMs),
    cell(s.timing.dbMs),
    cell(s.temporalOtherMs),
    cell(s.timing.waitMs),
    cell(s.inActivityOtherMs),
    cell(s.betweenActivitiesMs),
  ];
}

function splitTable(rows: Array<[string, TimeSplit | null]>): string {
  return table(
    ['', 'pages', 'http', 'json', 'db', 'temporal/other', '= wait', '+ in activity', '+ between activities'],
    rows.map(([label, split]) => splitRow(label, split)),
  );
}

export function formatFast(r: FastResult): string {
  const o = r.options;
  const runs = r.runs;
  const label = (t: string) => (t === 'PG' ? 'Postgres' : 'SQLite');
  const lines = [
    `fast: preset ${o.preset}, sandbox limits off, latency ${o.latency ?? 'none (this sandbox has no --latency)'}, ${o.workers} worker${o.workers > 1 ? 's' : ''} ` +
      `(KLAVIYO_SYNC_RATE_LIMITS=${o.workerRateLimits}), events only`,
    table(
      ['target', 'rows', 'wall s', 'rows/s e2e', 'stream wall s', 'requests', 'table = truth', 'worker CPU s', 'peak RSS MB'],
      runs.map((x) => [
        label(x.target),
        int(x.rows),
        fixed(x.wallS),
        int(x.rowsPerS),
        fixed(x.stream.wallS),
        int(x.stream.requests),
        x.stream.tableRows === x.stream.truthRows ? 'yes' : `NO (${x.stream.tableRows} vs ${x.stream.truthRows})`,
        fixed(x.workers.reduce((n, w) => n + w.runCpuS, 0)),
        int(Math.max(...x.workers.map((w) => w.peakRssMb))),
      ]),
    ),
    '  time per page in ms (share of the stream wall time):',
    splitTable(runs.map((x) => [label(x.target), x.split])),
    '  http: limiter grant to body read; json: JSON.parse + JSON:API check; db: writePage (page + cursor, one transaction);',
    '  temporal/other = stream wall time − (http + json + db): the limiter wait, the rest of each page activity (cursor',
    '  read, heartbeats) and the time between page activities (Temporal scheduling, workflow tasks, prepare, finish).',
  ];
  const overlapped = runs.filter((x) => x.split && x.split.overlap > 1.05);
  if (overlapped.length) {
    lines.push(
      `  page-activity chains overlapped (Σ activity time = ${overlapped.map((x) => `${x.split!.overlap.toFixed(1)}×`).join(', ')} wall): shares are of Σ activity time`,
    );
  }
  for (const x of runs) {
    lines.push(
      `  Temporal (${label(x.target)}):`,
      actionsTable(x.actions, (g) => (g === 'events' ? x.rows : undefined), x.rows),
    );
  }
  lines.push(ACTIONS_DEFINITION);
  return lines.join('\n');
}

export function formatSling(r: SlingResult, documentedEventsPerS: number | undefined): string {
  const o = r.options;
  const events = r.streams.find((s) => s.stream === 'events');
  const ratio = documentedEventsPerS !== undefined && events ? documentedEventsPerS / events.rowsPerS : undefined;
  return [
    `sling: preset ${o.preset}, sandbox --rate-limits ${o.rateLimits}, latency ${o.latency ?? 'none'}, ${o.workers} worker${o.workers > 1 ? 's' : ''} ` +
      `(KLAVIYO_SYNC_RATE_LIMITS=sling), streams ${o.streams.join(', ')}; ` +
      (r.completed ? `finished in ${fixed(r.seconds)} s` : `measured for ${fixed(r.seconds)} s, then terminated`),
    table(
      ['stream', 'requests', 'answered 200', '429s', 'rows/s'],
      r.streams.map((s) => [s.stream, int(s.requests), int(s.ok), int(s.rateLimited), int(s.rowsPerS)]),
    ),
    workerLines(r.workers),
    ratio === undefined
      ? '  documented/sling for events: n/a (needs the limits mode in the same bench: --mode all)'
      : `  documented/sling for events: ${int(documentedEventsPerS!)} / ${int(events!.rowsPerS)} rows/s = ${ratio.toFixed(1)}×`,
  ].join('\n');
}
