/**
 * What a stream's partitioning means to the engine, in one place: the one `switch` on its kind. Everything else
 * (activities, the writer, the planner, the CLI) asks these functions, never the kind itself, so a new kind (e.g.
 * time windows) is a case here and a row in the table. Pure and deterministic: workflow code may import it.
 *
 * Also the fields the table does not write out because they follow from others: a stream's sort is its cursor's
 * field, and its id column is the primary key column that is not the parent's.
 */
import type { ParentPartitioning, ParentRowFilter, StreamDef, WindowsPartitioning } from './types';
import { parseWindowKey, type Window } from './windows';

/**
 * The partition of an incremental run that lists every id of the stream, and nothing else (`reconcile_every`): the
 * writer keeps the ids aside and `finish` marks the table's rows Klaviyo no longer has (lib/db/id-pass.ts). Not a
 * window key, not a parent id, not a filter label: `#` starts none of them.
 */
export const ID_PASS = '#ids';

export function isIdPass(key: string): boolean {
  return key === ID_PASS;
}

/** Whether a stream can reconcile its deletes by an id pass: one listing of all its rows, keyed by the resource id. */
export function hasIdPass(stream: StreamDef): boolean {
  const kind = stream.partitioning.kind;
  return stream.cursor !== undefined && (kind === 'none' || kind === 'windows') && stream.primaryKey.length === 1;
}

export interface PartitionRequest {
  /** the id pass (ID_PASS): every id of the stream, unfiltered */
  idPass?: true;
  parentId?: string;
  partitionFilter?: string;
  /** nothing to read: the one partition ('') of a stream whose parent has no rows, which ends at once, empty */
  empty?: true;
  /** the time window of the cursor this partition reads (its key states it); absent: the stream's usual start */
  window?: Window;
}

export interface Partitions {
  kind: StreamDef['partitioning']['kind'];
  /**
   * the partition keys the table alone determines (`['']` for one listing, the labels of fixed filters); null when
   * the keys are the parent stream's ids, read at run time
   */
  fixedKeys: string[] | null;
  /** the parent stream and the column holding its id, for a stream partitioned by its parent; else null */
  parent: ParentPartitioning | null;
  /** what the first request of one partition needs: the parent id in the path, a fixed filter */
  request(key: string): PartitionRequest;
  /**
   * the columns a partition states of its rows beyond the parent's id (./types.ts PartitionDef.columns): their
   * names, the same for every partition, and their values for one partition key ({} for none)
   */
  statedColumns: string[];
  columnsOf(key: string): Readonly<Record<string, string>>;
  /** a partition whose listing answers 404 (its parent vanished meanwhile) reads as empty instead of failing */
  notFoundIsEmpty: boolean;
  /** one child workflow per partition (there may be thousands), rather than the partitions one after another */
  fansOut: boolean;
  /**
   * the partitions are time windows computed at run time (incremental runs; a full refresh reads the one key '');
   * null for the other kinds
   */
  windows: WindowsPartitioning | null;
}

const NO_STATED_COLUMNS = { statedColumns: [], columnsOf: () => ({}) } satisfies Pick<Partitions, 'statedColumns' | 'columnsOf'>;

export function partitionsOf(stream: StreamDef): Partitions {
  const parts = partitionsOfKind(stream);
  const request = parts.request;
  return { ...parts, request: (key) => (isIdPass(key) ? { idPass: true } : request(key)) };
}

function partitionsOfKind(stream: StreamDef): Partitions {
  const p = stream.partitioning;
  switch (p.kind) {
    case 'none':
      return {
        kind: p.kind,
        fixedKeys: [''],
        parent: null,
        request: () => ({}),
        ...NO_STATED_COLUMNS,
        notFoundIsEmpty: false,
        fansOut: false,
        windows: null,
      };
    case 'filters':
      return {
        kind: p.kind,
        fixedKeys: p.partitions.map((f) => f.label),
        parent: null,
        request: (key) => {
          const def = p.partitions.find((f) => f.label === key);
          if (!def)
            throw new Error(
              `stream ${stream.name} has no partition ${JSON.stringify(key)}: ${p.partitions.map((f) => f.label).join(', ')}`,
            );
          return { partitionFilter: def.filter };
        },
        statedColumns: Object.keys(p.partitions[0]?.columns ?? {}),
        columnsOf: (key) => p.partitions.find((f) => f.label === key)?.columns ?? {},
        notFoundIsEmpty: false,
        fansOut: false,
        windows: null,
      };
    case 'parent':
      return {
        kind: p.kind,
        fixedKeys: null,
        parent: p,
        request: (key) => (key === '' ? { empty: true } : { parentId: key }),
        ...NO_STATED_COLUMNS,
        notFoundIsEmpty: p.onParentNotFound === 'empty',
        fansOut: p.fanOut,
        windows: null,
      };
    case 'windows':
      if (!stream.cursor) throw new Error(`stream ${stream.name} is partitioned by time windows but has no cursor`);
      return {
        kind: p.kind,
        fixedKeys: null,
        parent: null,
        request: (key) => {
          const window = parseWindowKey(key);
          return window ? { window } : {};
        },
        ...NO_STATED_COLUMNS,
        notFoundIsEmpty: false,
        fansOut: false,
        windows: p,
      };
    default: {
      const unknown: never = p;
      throw new Error(`stream ${stream.name}: unknown partitioning ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Whether a parent row partitions its child (ParentPartitioning.parentRows), given the value of the filter's field
 * in it (an attribute read from Klaviyo, a column read from the parent's table): every row when there is no filter.
 */
export function keepsParentRow(filter: ParentRowFilter | undefined, value: unknown): boolean {
  return filter === undefined || (typeof value === 'string' && value.startsWith(filter.prefix));
}

/** The parent stream and column, or null for a stream not partitioned by a parent. */
export function parentOf(stream: StreamDef): ParentPartitioning | null {
  return partitionsOf(stream).parent;
}

/** The sort sent on every request: ascending on the cursor, so a committed page is a safe watermark; none without one. */
export function sortOf(stream: StreamDef): string | undefined {
  return stream.cursor?.field;
}

/** The column the resource id goes in: the primary key column that is not the parent's (`id`, `profile_id`). */
export function idColumnOf(stream: StreamDef): string {
  const parentColumn = parentOf(stream)?.column;
  const rest = stream.primaryKey.filter((k) => k !== parentColumn);
  if (rest.length !== 1) {
    throw new Error(
      `stream ${stream.name}: primary key (${stream.primaryKey.join(', ')}) must be the resource id, after the parent's column if any`,
    );
  }
  return rest[0];
}
