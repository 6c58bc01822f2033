/**
 * `npm run reliability`: the reliability suite (test/reliability/*.test.ts) on the real stack, then one table of
 * what it broke and what was lost. `--short` (CI) runs every kind of case with fewer repetitions. Exits non-zero if
 * a test failed or if any row was lost or duplicated, any case hung or any secret leaked.
 *
 *   npm run reliability -- [--short] [--only NAME[,NAME]]   (NAME: a file in test/reliability without .test.ts)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FIGURE_NAMES, summarize, type FiguresLine } from '../test/reliability/figures';

const { values: args } = parseArgs({ options: { short: { type: 'boolean', default: false }, only: { type: 'string' } } });
const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'test', 'reliability');
let files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .sort();
if (args.only) {
  const wanted = new Set(args.only.split(','));
  const unknown = [...wanted].filter((w) => !files.includes(`${w}.test.ts`));
  if (unknown.length > 0) {
    console.error(
      `reliability: no test/reliability/${unknown[0]}.test.ts; the suites are ${files.map((f) => f.replace('.test.ts', '')).join(', ')}`,
    );
    process.exit(2);
  }
  files = files.filter((f) => wanted.has(f.replace('.test.ts', '')));
}
if (files.length === 0) {
  console.error('reliability: no test files in test/reliability');
  process.exit(2);
}

const figuresFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-reliability-')), 'figures.jsonl');
fs.writeFileSync(figuresFile, '');
const started = Date.now();
const run = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files.map((f) => path.join('test', 'reliability', f))],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, RELIABILITY_FIGURES: figuresFile, RELIABILITY_SHORT: args.short ? '1' : '0' },
  },
);

const lines: FiguresLine[] = fs
  .readFileSync(figuresFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as FiguresLine);
const { suites, total } = summarize(lines);
const headers = [
  'suite',
  'cases',
  'kills survived',
  'faults injected',
  'hostile answers',
  'inputs tried',
  'rows lost',
  'rows duplicated',
  'hangs',
  'key leaks',
];
const rows = [...suites.entries()].map(([name, s]) => [name, s.cases, ...FIGURE_NAMES.map((f) => s[f])].map(String));
rows.push(['total', total.cases, ...FIGURE_NAMES.map((f) => total[f])].map(String));
const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`\nreliability${args.short ? ' (short)' : ''}: ${files.length} suite(s), ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(fmt(headers));
for (const r of rows) console.log(fmt(r));

const broken = total.rowsLost + total.rowsDuplicated + total.hangs + total.keyLeaks;
if (run.status !== 0) console.error(`reliability: the tests failed (exit ${run.status ?? run.signal})`);
if (broken > 0) console.error(`reliability: ${broken} row(s) lost or duplicated, hang(s) or key leak(s)`);
if (lines.length === 0) console.error('reliability: no test recorded figures');
process.exit(run.status !== 0 || broken > 0 || lines.length === 0 ? 1 : 0);
