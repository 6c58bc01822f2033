/**
 * `klaviyo-sync discover [--json]`: the streams klaviyo-sync can replicate, as `sling conns discover` lists a
 * source's objects. Everything comes from the stream table (streams/streams.ts), so the listing cannot drift from
 * what a replication does.
 */
import type { Command } from 'commander';
import { STREAMS } from '../../streams/streams';
import { parentOf, partitionsOf } from '../../streams/partitions';
import { optionsOf } from '../../streams/options';
import type { CursorDef, Mode, StreamDef, StreamName } from '../../streams/types';
import { formatTable } from './table';

/** One stream as `discover --json` prints it. */
export interface DiscoveredStream {
  name: StreamName;
  description: string;
  /** Klaviyo operationId */
  operation: string;
  /** path of the GET, `{id}` standing for the parent row's id */
  endpoint: string;
  primaryKey: string[];
  /** the replication modes the stream takes: incremental only with a cursor */
  modes: Mode[];
  /** null: full-refresh only */
  cursor: Pick<CursorDef, 'field' | 'operator'> | null;
  /** how its rows are split into listings (streams/types.ts Partitioning), in words */
  partitioning: string;
  /** the stream whose rows this one is read per; null for top-level streams */
  parent: StreamName | null;
  /** rows per page as the API serves them */
  pageSize: number;
  /** the operation's rate tier: requests per second (burst) and per minute (steady) */
  rateLimit: { burst: number; steady: number };
  scopes: string[];
  /** its options (`source_options.<name>: true`), with what each does */
  options: Record<string, string>;
}

/** A stream's partitioning in words: what a user reads in `discover` and README's stream table. */
export function describePartitioning(stream: StreamDef): string {
  const p = stream.partitioning;
  switch (p.kind) {
    case 'none':
      return 'one listing';
    case 'filters': {
      const stated = partitionsOf(stream).statedColumns;
      const filters = `${p.partitions.length} filters (${p.partitions.map((f) => f.label).join(', ')})`;
      return stated.length ? `${filters}; rows keep ${stated.join(', ')}` : filters;
    }
    case 'parent':
      return p.parentRows
        ? `one listing per row of ${p.stream} whose ${p.parentRows.field} starts with ${p.parentRows.prefix} (${p.column})`
        : `one listing per row of ${p.stream} (${p.column})`;
    case 'windows':
      return `incremental runs: up to ${p.maxWindows} time windows of ${stream.cursor?.field} (split while read), none under ${p.minWindowSeconds / 3600} h; a full refresh: one listing`;
  }
}

export function discoverStreams(streams: readonly StreamDef[] = STREAMS): DiscoveredStream[] {
  return streams.map((s) => ({
    name: s.name,
    description: s.description,
    operation: s.operation,
    endpoint: s.path,
    primaryKey: [...s.primaryKey],
    modes: !s.cursor
      ? ['full-refresh']
      : partitionsOf(s).windows
        ? ['full-refresh', 'incremental', 'backfill']
        : ['full-refresh', 'incremental'],
    cursor: s.cursor ? { field: s.cursor.field, operator: s.cursor.operator } : null,
    partitioning: describePartitioning(s),
    parent: parentOf(s)?.stream ?? null,
    pageSize: s.servedPageSize,
    rateLimit: { burst: s.rateLimit.burst, steady: s.rateLimit.steady },
    scopes: [...s.scopes],
    options: Object.fromEntries(Object.entries(optionsOf(s)).map(([name, o]) => [name, o.description])),
  }));
}

export function formatDiscoveredStreams(streams: DiscoveredStream[]): string {
  const header = [
    'STREAM',
    'ENDPOINT',
    'MODES',
    'PRIMARY KEY',
    'CURSOR',
    'PARENT',
    'PAGE SIZE',
    'RATE (BURST, STEADY)',
    'SCOPES',
    'DESCRIPTION',
  ];
  const rows = streams.map((s) => [
    s.name,
    `GET ${s.endpoint}`,
    s.modes.join(', '),
    s.primaryKey.join(', '),
    s.cursor ? `${s.cursor.field} ${s.cursor.operator}` : '-',
    s.parent ?? '-',
    String(s.pageSize),
    `${s.rateLimit.burst}/s, ${s.rateLimit.steady}/min`,
    s.scopes.join(', '),
    s.description,
  ]);
  return formatTable(header, rows);
}

/** README's stream table (between `<!-- streams -->` markers), as test/readme.test.ts requires it to read. */
export function streamsMarkdown(streams: DiscoveredStream[] = discoverStreams()): string {
  const cell = (v: string) => v.replace(/\|/g, '\\|');
  const lines = [
    '| stream | endpoint | modes | primary key | cursor | parent | partitioning | page | rate tier (burst, steady) | scopes | options |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...streams.map(
      (s) =>
        `| \`${s.name}\` | \`GET ${s.endpoint}\` | ${s.modes.join(', ')} | ${s.primaryKey.join(', ')} | ` +
        `${s.cursor ? `\`${s.cursor.field}\` ${s.cursor.operator}` : '-'} | ${s.parent ?? '-'} | ${cell(s.partitioning)} | ` +
        `${s.pageSize} | ${s.rateLimit.burst}/s, ${s.rateLimit.steady}/min | ${s.scopes.join(', ')} | ` +
        `${
          Object.keys(s.options)
            .map((o) => `\`${o}\``)
            .join(', ') || '-'
        } |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerDiscoverCommand(program: Command): void {
  program
    .command('discover')
    .description(
      'List the Klaviyo streams: endpoint, modes, primary key, cursor, parent, partitioning, page size, rate tier and API key scopes',
    )
    .option('--json', 'print JSON (an array of streams) instead of a table')
    .action((opts: { json?: boolean }) => {
      const streams = discoverStreams();
      process.stdout.write(opts.json ? `${JSON.stringify(streams, null, 2)}\n` : formatDiscoveredStreams(streams));
    });
}
