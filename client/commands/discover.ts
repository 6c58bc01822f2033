/**
 * `klaviyo-sync discover [--json]`: the streams klaviyo-sync can replicate, as `sling conns discover` lists a
 * source's objects. Everything comes from the stream table (streams/streams.ts), so the listing cannot drift from
 * what a replication does.
 */
import type { Command } from 'commander';
import { STREAMS } from '../../streams/streams';
import { parentOf } from '../../streams/partitions';
import type { CursorDef, StreamDef, StreamName } from '../../streams/types';
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
  /** null: full-refresh only */
  cursor: Pick<CursorDef, 'field' | 'operator'> | null;
  /** the stream whose rows this one is read per; null for top-level streams */
  parent: StreamName | null;
  /** rows per page as the API serves them */
  pageSize: number;
  /** the operation's rate tier: requests per second (burst) and per minute (steady) */
  rateLimit: { burst: number; steady: number };
  scopes: string[];
}

export function discoverStreams(streams: readonly StreamDef[] = STREAMS): DiscoveredStream[] {
  return streams.map((s) => ({
    name: s.name,
    description: s.description,
    operation: s.operation,
    endpoint: s.path,
    primaryKey: [...s.primaryKey],
    cursor: s.cursor ? { field: s.cursor.field, operator: s.cursor.operator } : null,
    parent: parentOf(s)?.stream ?? null,
    pageSize: s.servedPageSize,
    rateLimit: { burst: s.rateLimit.burst, steady: s.rateLimit.steady },
    scopes: [...s.scopes],
  }));
}

export function formatDiscoveredStreams(streams: DiscoveredStream[]): string {
  const header = ['STREAM', 'ENDPOINT', 'PRIMARY KEY', 'CURSOR', 'PARENT', 'PAGE SIZE', 'RATE (BURST, STEADY)', 'SCOPES', 'DESCRIPTION'];
  const rows = streams.map((s) => [
    s.name,
    `GET ${s.endpoint}`,
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

export function registerDiscoverCommand(program: Command): void {
  program
    .command('discover')
    .description('List the Klaviyo streams: endpoint, primary key, cursor, parent, page size, rate tier and API key scopes')
    .option('--json', 'print JSON (an array of streams) instead of a table')
    .action((opts: { json?: boolean }) => {
      const streams = discoverStreams();
      process.stdout.write(opts.json ? `${JSON.stringify(streams, null, 2)}\n` : formatDiscoveredStreams(streams));
    });
}
