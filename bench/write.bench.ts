/**
 * How fast `Destination.writePage` writes: pages of real sandbox resources (events, 200 a page; profiles, 100 a page
 * with subscriptions) into SQLite and an embedded Postgres (test/helpers/postgres.ts, or PG_TEST_URL), in three
 * scenarios: an incremental run inserting new rows, a second incremental run updating the same rows (every row an
 * ON CONFLICT update), and a full refresh loading staging. Only the writePage calls are timed, one page at a time
 * as a page activity writes them. Prints rows/s and ms per page per dialect, stream and scenario.
 *
 * With --copy it also measures, on Postgres, what the page's rows cost written other ways into a staging-shaped
 * table: the multi-row upsert writePage uses, an INSERT ... SELECT FROM json_populate_recordset (one bound
 * parameter), and COPY FROM STDIN (through pg's own copy messages, as pg-copy-streams would) into a temporary table
 * merged with INSERT ... SELECT ON CONFLICT, since a retried page must still upsert.
 *
 *   npx tsx bench/write.bench.ts [--pages 40] [--repeat 3] [--only sqlite|postgres] [--copy]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { startSandbox } from '../sandbox';
import { getStream } from '../streams/streams';
import type { StreamDef } from '../streams/types';
import { pageColumns, toRow, type KlaviyoResource } from '../lib/db/columns';
import { DatabasePools, type Target } from '../lib/db/connect';
import { Destination } from '../lib/db/destination';
import type { ObjectName } from '../lib/db/naming';
import { dialectFor, upsertRows } from '../lib/db/dialect';
import { startPostgres } from '../test/helpers/postgres';

const { values: args } = parseArgs({
  options: {
    pages: { type: 'string', default: '40' },
    only: { type: 'string' },
    copy: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
  },
});
const PAGES = Number(args.pages);
const REPEAT = Number(args.repeat);
if (!(PAGES >= 1) || !(REPEAT >= 1) || (args.only !== undefined && !['sqlite', 'postgres'].includes(args.only))) {
  console.error('usage: npx tsx bench/write.bench.ts [--pages N>=1] [--repeat N>=1] [--only sqlite|postgres] [--copy]');
  process.exit(2);
}

interface Workload {
  stream: StreamDef;
  pages: KlaviyoResource[][];
}

/** Real pages from the sandbox (a `medium` account has enough of both). */
async function fetchPages(): Promise<Workload[]> {
  const sandbox = await startSandbox({ port: 0, size: 'medium', seed: 42, rateLimits: 'off' });
  const headers = { authorization: 'Klaviyo-API-Key pk_sandbox', revision: '2025-07-15' };
  try {
    const walk = async (first: string): Promise<KlaviyoResource[][]> => {
      const pages: KlaviyoResource[][] = [];
      for (let url: string | undefined = `${sandbox.url}${first}`; url && pages.length < PAGES;) {
        const doc = (await (await fetch(url, { headers })).json()) as { data: KlaviyoResource[]; links: { next?: string } };
        pages.push(doc.data);
        url = doc.links.next;
      }
      return pages;
    };
    return [
      { stream: getStream('events'), pages: await walk('/api/events') },
      { stream: getStream('profiles'), pages: await walk('/api/profiles?page[size]=100&additional-fields[profile]=subscriptions') },
    ];
  } finally {
    await sandbox.close();
  }
}

interface Result {
  dialect: string;
  stream: string;
  scenario: string;
  pages: number;
  rows: number;
  /** one total per repetition: wall time, and this process's CPU time (user + system) */
  ms: number[];
  cpuMs: number[];
}

const results: Result[] = [];

/** Adds one repetition's time to its row of the table. */
function record(r: Omit<Result, 'ms' | 'cpuMs'>, { ms, cpuMs }: Timing): void {
  let row = results.find((x) => x.dialect === r.dialect && x.stream === r.stream && x.scenario === r.scenario);
  if (!row) results.push((row = { ...r, ms: [], cpuMs: [] }));
  row.ms.push(ms);
  row.cpuMs.push(cpuMs);
}

interface Timing {
  ms: number;
  cpuMs: number;
}

/** Wall and CPU time of `work`. CPU time is what our side of a write costs; it moves far less than wall time on a busy machine. */
async function timed(work: () => Promise<unknown>): Promise<Timing> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - t0, cpuMs: (used.user + used.system) / 1000 };
}

async function writeRun(
  dest: Destination,
  w: Workload,
  object: ObjectName,
  mode: 'incremental' | 'full-refresh',
  runId: string,
): Promise<Timing> {
  const run = { stream: w.stream, mode, object, runId };
  await dest.prepare({ ...run });
  const total: Timing = { ms: 0, cpuMs: 0 };
  for (let i = 0; i < w.pages.length; i++) {
    const last = i === w.pages.length - 1;
    const t = await timed(() =>
      dest.writePage({ ...run, partition: '', resources: w.pages[i], nextUrl: last ? null : `page-${i + 1}`, done: last }),
    );
    total.ms += t.ms;
    total.cpuMs += t.cpuMs;
  }
  await dest.finish(run);
  return total;
}

async function benchDialect(label: string, target: Target, workloads: Workload[]): Promise<void> {
  const databases = new DatabasePools();
  const dest = new Destination(target, { databases });
  try {
    for (const w of workloads) {
      const rows = w.pages.reduce((n, p) => n + p.length, 0);
      // a warm-up run into another table: the pool connected, statements and JIT paths warm
      const warm = `bench_${w.stream.name}_warm_${crypto.randomBytes(3).toString('hex')}`;
      await writeRun(dest, { ...w, pages: w.pages.slice(0, 3) }, { schema: 'klaviyo', table: warm }, 'incremental', 'warm');
      for (let repetition = 0; repetition < REPEAT; repetition++) {
        // a fresh table per repetition, so that "new rows" are new each time
        const object = { schema: 'klaviyo', table: `bench_${w.stream.name}_${crypto.randomBytes(3).toString('hex')}` };
        const scenarios: Array<[string, 'incremental' | 'full-refresh', string]> = [
          ['incremental, new rows', 'incremental', 'r1'],
          ['incremental, all updates', 'incremental', 'r2'],
          ['full refresh (staging)', 'full-refresh', 'r3'],
        ];
        for (const [scenario, mode, runId] of scenarios) {
          record(
            { dialect: label, stream: w.stream.name, scenario, pages: w.pages.length, rows },
            await writeRun(dest, w, object, mode, runId),
          );
        }
      }
    }
    if (args.copy && target.kind === 'postgres')
      for (let repetition = 0; repetition < REPEAT; repetition++) await benchPostgresWrites(databases.get(target), workloads[0]);
  } finally {
    await databases.close();
  }
}

/** pg's text COPY format: tab-separated, `\N` for null, backslash escapes. */
function copyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  return String(value).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/**
 * COPY ... FROM STDIN through pg's protocol messages: a Submittable like pg-copy-streams', reduced to one buffer.
 * For measuring only: it has no backpressure and sends the whole page as one chunk.
 */
function copyFrom(sql: string, data: Buffer) {
  return {
    callback: null as null | ((err: Error | null) => void),
    submit(connection: { query(text: string): void }) {
      connection.query(sql);
    },
    handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) {
      connection.sendCopyFromChunk(data);
      connection.endCopyFrom();
    },
    handleCommandComplete() {},
    handleReadyForQuery() {
      this.callback?.(null);
    },
    handleError(err: Error) {
      this.callback?.(err);
    },
  };
}

async function copyRows(trx: Knex.Transaction, sql: string, data: Buffer): Promise<void> {
  const conn = (await (trx as unknown as { client: { acquireConnection(): Promise<unknown> } }).client.acquireConnection()) as {
    query(submittable: unknown): void;
  };
  await new Promise<void>((resolve, reject) => {
    const s = copyFrom(sql, data);
    s.callback = (err) => (err ? reject(err) : resolve());
    conn.query(s);
  });
}

/** Postgres only: the same event pages written three ways into a fresh staging-shaped table, each page a transaction. */
async function benchPostgresWrites(db: Knex, w: Workload): Promise<void> {
  const d = dialectFor('postgres');
  const syncedAt = new Date();
  const pages = w.pages.map((p) => p.map((r) => toRow(w.stream, r, {}, syncedAt)));
  const columns = pageColumns(w.stream, pages.flat());
  const names = columns.map((c) => c.name);
  const encoded = pages.map((rows) => rows.map((row) => Object.fromEntries(columns.map((c) => [c.name, d.encode(row[c.name], c.type)]))));
  const rows = pages.reduce((n, p) => n + p.length, 0);
  const ident = (s: string) => `"${s}"`;
  const freshTable = async (name: string) => {
    await db.schema.withSchema('klaviyo').dropTableIfExists(name);
    await db.schema.withSchema('klaviyo').createTable(name, (t) => {
      for (const c of columns) t.specificType(c.name, d.sqlType(c.type));
      t.primary(['id']);
    });
    return { schema: 'klaviyo', name };
  };
  const time = async (scenario: string, write: (trx: Knex.Transaction, page: number) => Promise<void>) => {
    const total: Timing = { ms: 0, cpuMs: 0 };
    for (let i = 0; i < pages.length; i++) {
      const t = await timed(() => db.transaction((trx) => write(trx, i)));
      total.ms += t.ms;
      total.cpuMs += t.cpuMs;
    }
    record({ dialect: 'postgres', stream: w.stream.name, scenario, pages: pages.length, rows }, total);
  };
  const updates = names
    .filter((n) => n !== 'id')
    .map((n) => `${ident(n)} = excluded.${ident(n)}`)
    .join(', ');

  let ref = await freshTable('bench_writes_upsert');
  await time('rows only: multi-row upsert', (trx, i) => upsertRows(trx, d, ref, encoded[i], names, ['id']));

  ref = await freshTable('bench_writes_json');
  await time('rows only: json_populate_recordset', async (trx, i) => {
    await trx.raw(
      `INSERT INTO klaviyo.${ident(ref.name)} (${names.map(ident).join(', ')}) SELECT ${names.map(ident).join(', ')} ` +
        `FROM json_populate_recordset(null::klaviyo.${ident(ref.name)}, ?::json) ON CONFLICT (id) DO UPDATE SET ${updates}`,
      [JSON.stringify(pages[i].map((row) => Object.fromEntries(names.map((n) => [n, row[n] ?? null]))))],
    );
  });

  ref = await freshTable('bench_writes_copy');
  const copyText = encoded.map((page) => Buffer.from(page.map((row) => names.map((n) => copyField(row[n])).join('\t') + '\n').join('')));
  await time('rows only: COPY (no upsert)', (trx, i) =>
    copyRows(trx, `COPY klaviyo.${ident(ref.name)} (${names.map(ident).join(', ')}) FROM STDIN`, copyText[i]),
  );

  ref = await freshTable('bench_writes_copy_merge');
  await time('rows only: COPY to temp + merge', async (trx, i) => {
    await trx.raw(`CREATE TEMP TABLE bench_page (LIKE klaviyo.${ident(ref.name)}) ON COMMIT DROP`);
    await copyRows(trx, `COPY bench_page (${names.map(ident).join(', ')}) FROM STDIN`, copyText[i]);
    await trx.raw(`INSERT INTO klaviyo.${ident(ref.name)} SELECT * FROM bench_page ON CONFLICT (id) DO UPDATE SET ${updates}`);
  });
}

function printTable(): void {
  // the median of the repetitions: the machine may be shared, and one slow repetition should not decide
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const head = ['dialect', 'stream', 'scenario', 'pages', 'rows', 'ms (median)', 'rows/s', 'ms/page', 'best rows/s', 'cpu ms/page'];
  const body = results.map((r) => [
    r.dialect,
    r.stream,
    r.scenario,
    String(r.pages),
    String(r.rows),
    median(r.ms).toFixed(0),
    Math.round((r.rows / median(r.ms)) * 1000).toLocaleString('en-US'),
    (median(r.ms) / r.pages).toFixed(2),
    Math.round((r.rows / Math.min(...r.ms)) * 1000).toLocaleString('en-US'),
    (median(r.cpuMs) / r.pages).toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row));
}

async function main(): Promise<void> {
  const workloads = await fetchPages();
  const what = workloads.map((w) => `${w.pages.length} ${w.stream.name} pages`).join(', ');
  console.log(`${what}, ${REPEAT} repetitions; ${os.cpus().length} cores (load ${os.loadavg()[0].toFixed(1)}), Node ${process.version}\n`);
  if (args.only !== 'postgres') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-bench-'));
    try {
      await benchDialect('sqlite', { kind: 'sqlite', filename: path.join(dir, 'bench.db') }, workloads);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (args.only !== 'sqlite') {
    const pg = await startPostgres();
    try {
      await benchDialect('postgres', { kind: 'postgres', url: pg.url }, workloads);
    } finally {
      await pg.stop();
    }
  }
  printTable();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
