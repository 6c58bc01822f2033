/**
 * What each reliability test broke and what it found, for the suite's one table (scripts/reliability.ts). A test
 * calls `recordFigures` once per case with the counts it measured (never a constant): the line goes to the file
 * named by RELIABILITY_FIGURES (one JSON object a line) and, as a `# reliability` line, to the test's output.
 */
import fs from 'node:fs';

export interface Figures {
  /** processes killed (worker, Temporal, Postgres) and the run survived */
  kills: number;
  /** faults injected into the Klaviyo answers or the database */
  faults: number;
  /** hostile or broken API answers tried */
  hostile: number;
  /** malformed inputs tried (replication files, connection values, CLI arguments) */
  inputs: number;
  /** rows the sandbox has that the table lacks, or that differ from the sandbox's truth */
  rowsLost: number;
  /** rows the table has twice, or that the sandbox does not have */
  rowsDuplicated: number;
  /** cases that did not end within their bound */
  hangs: number;
  /** places a secret was found (history, memo, search attribute, log line, error, request to another origin) */
  keyLeaks: number;
}

export const FIGURE_NAMES: (keyof Figures)[] = ['kills', 'faults', 'hostile', 'inputs', 'rowsLost', 'rowsDuplicated', 'hangs', 'keyLeaks'];

export interface FiguresLine extends Partial<Figures> {
  /** the test (file) that measured it, e.g. "worker-kill" */
  suite: string;
  /** the case, e.g. "mid page write" */
  case: string;
  /** anything else worth printing: retries, pages fetched twice, seconds */
  details?: Record<string, number | string>;
}

/** True when the suite runs in its short form (CI): fewer repetitions, the same kinds of case. */
export const SHORT = process.env.RELIABILITY_SHORT === '1';

export function recordFigures(line: FiguresLine): void {
  const full: FiguresLine = { ...line };
  for (const name of FIGURE_NAMES) full[name] = line[name] ?? 0;
  const text = JSON.stringify(full);
  console.log(`# reliability ${text}`);
  const file = process.env.RELIABILITY_FIGURES;
  if (file) fs.appendFileSync(file, text + '\n');
}

/** Sums the lines per suite, and over all of them. */
export function summarize(lines: FiguresLine[]): { suites: Map<string, Figures & { cases: number }>; total: Figures & { cases: number } } {
  const zero = (): Figures & { cases: number } => ({
    cases: 0,
    kills: 0,
    faults: 0,
    hostile: 0,
    inputs: 0,
    rowsLost: 0,
    rowsDuplicated: 0,
    hangs: 0,
    keyLeaks: 0,
  });
  const suites = new Map<string, Figures & { cases: number }>();
  const total = zero();
  for (const line of lines) {
    let s = suites.get(line.suite);
    if (!s) suites.set(line.suite, (s = zero()));
    for (const t of [s, total]) {
      t.cases++;
      for (const name of FIGURE_NAMES) t[name] += line[name] ?? 0;
    }
  }
  return { suites, total };
}
