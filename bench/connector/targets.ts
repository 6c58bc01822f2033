/**
 * Issue #9's targets, checked against the figures: PASS or MISS lines (n/a where the mode that measures one did
 * not run). They are figures, not assertions: a MISS does not fail the bench.
 */
import type { FastResult } from './fast-mode';
import type { LimitsResult } from './limits-mode';
import type { SlingResult } from './sling-mode';
import type { ActionGroup } from './temporal-actions';

export interface TargetCheck {
  target: string;
  figure: string;
  /** null: not measured in this bench run */
  pass: boolean | null;
}

export interface Results {
  limits?: LimitsResult;
  fast?: FastResult;
  sling?: SlingResult;
}

const SHARED_GROUPS = new Set(['replicate', 'rate-budget']);

/** The events stream's own actions plus its share (by rows) of the workflows every stream shares, per 1,000 events. */
export function actionsPer1000Events(groups: ActionGroup[], eventRows: number, totalRows: number): number {
  const own = groups.find((g) => g.group === 'events')?.actions ?? 0;
  const shared = groups.filter((g) => SHARED_GROUPS.has(g.group)).reduce((n, g) => n + g.actions, 0);
  return (1000 * (own + (shared * eventRows) / totalRows)) / eventRows;
}

export function documentedEventsPerS(r: Results): number | undefined {
  return r.limits?.streams.find((s) => s.stream === 'events')?.rowsPerS;
}

export function targetChecks(r: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const limitsStream = (name: string) => r.limits?.streams.find((s) => s.stream === name);
  for (const [stream, steady] of [
    ['events', 3500],
    ['profiles', 700],
  ] as const) {
    const s = limitsStream(stream);
    const label = `${stream} ≥ 90% of ${steady.toLocaleString('en-US')}/min (× the sandbox's scale)`;
    checks.push(
      s && s.steadyPct !== null
        ? {
            target: label,
            figure: `${s.steadyPct.toFixed(1)}% (${Math.round(s.requestsPerMin)} of ${s.steadyPerMin}/min)`,
            pass: s.steadyPct >= 90,
          }
        : { target: label, figure: 'not measured', pass: null },
    );
  }
  if (r.limits) {
    const requests = r.limits.streams.reduce((n, s) => n + s.requests, 0);
    const limited = r.limits.streams.reduce((n, s) => n + s.rateLimited, 0);
    const pct = requests ? (100 * limited) / requests : 0;
    checks.push({ target: '429s < 1% of requests', figure: `${pct.toFixed(2)}% (${limited} of ${requests})`, pass: pct < 1 });
  } else checks.push({ target: '429s < 1% of requests', figure: 'not measured', pass: null });

  const documented = documentedEventsPerS(r);
  const sling = r.sling?.streams.find((s) => s.stream === 'events')?.rowsPerS;
  checks.push(
    documented !== undefined && sling !== undefined
      ? {
          target: 'events ≥ 10× sling',
          figure: `${(documented / sling).toFixed(1)}× (${Math.round(documented)} vs ${Math.round(sling)} rows/s)`,
          pass: documented / sling >= 10,
        }
      : { target: 'events ≥ 10× sling', figure: 'not measured (needs limits and sling)', pass: null },
  );

  const pg = r.fast?.runs.find((x) => x.target === 'PG');
  checks.push(
    pg
      ? {
          target: '≥ 20,000 event rows/s into Postgres (fast)',
          figure: `${Math.round(pg.rowsPerS).toLocaleString('en-US')} rows/s`,
          pass: pg.rowsPerS >= 20_000,
        }
      : { target: '≥ 20,000 event rows/s into Postgres (fast)', figure: 'not measured', pass: null },
  );

  const workers = [...(r.limits?.workers ?? []), ...(r.fast?.runs.flatMap((x) => x.workers) ?? []), ...(r.sling?.workers ?? [])];
  if (workers.length) {
    const peak = Math.max(...workers.map((w) => w.peakRssMb));
    checks.push({
      target: 'worker peak RSS < 300 MB',
      figure: `${Math.round(peak)} MB (VmHWM, largest worker of every mode)`,
      pass: peak < 300,
    });
  } else checks.push({ target: 'worker peak RSS < 300 MB', figure: 'not measured', pass: null });

  const events = limitsStream('events');
  const perThousand =
    r.limits && events
      ? { value: actionsPer1000Events(r.limits.actions, events.rows, r.limits.rows), where: 'limits' }
      : pg
        ? { value: actionsPer1000Events(pg.actions, pg.rows, pg.rows), where: 'fast, Postgres' }
        : undefined;
  checks.push(
    perThousand
      ? {
          target: '≤ 10 Temporal actions per 1,000 events',
          figure: `${perThousand.value.toFixed(2)} (${perThousand.where}: the events workflows + their share by rows of replicate and rate-budget)`,
          pass: perThousand.value <= 10,
        }
      : { target: '≤ 10 Temporal actions per 1,000 events', figure: 'not measured', pass: null },
  );
  return checks;
}

export function formatChecks(checks: TargetCheck[]): string {
  return [
    'targets (figures, not assertions):',
    ...checks.map((c) => `  ${c.pass === null ? 'n/a ' : c.pass ? 'PASS' : 'MISS'}  ${c.target}: ${c.figure}`),
  ].join('\n');
}
