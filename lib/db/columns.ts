/**
 * Klaviyo resource → flat row, and the columns a stream's table needs.
 *
 * A row is: the primary key (`id`, or for child streams the parent's id column plus the resource id column), one
 * column per top-level attribute (nested objects and arrays stored whole as JSON), one `<name>_id` column per to-one
 * relationship listed in `stream.relationshipColumns`, and `_synced_at`. Column types come from the spec attribute
 * list of the stream's operation (streams/attributes.json); attributes the spec does not list get a type from their
 * values. A stream with `keepAttributes` keeps only those (memberships keep `joined_group_at`; the profile itself is
 * the profiles stream).
 */
import { idColumnOf, parentOf, partitionsOf } from '../../streams/partitions';
import type { IncludedColumn } from '../../streams/options';
import type { StreamDef } from '../../streams/types';
import attributesDoc from '../../streams/attributes.json';
import { inferColumnType, specColumnType, type ColumnType } from './column-types';
import { IdentifierError, validateColumnName } from './naming';
import { systemNow } from '../clock';

export type { ColumnType } from './column-types';

/** A JSON:API resource as Klaviyo returns it in `data[]`. */
export interface KlaviyoResource {
  type: string;
  id: string;
  attributes?: Record<string, unknown>;
  /** to-one: `data` is `{type, id}` or null; to-many (an array) is not stored */
  relationships?: Record<string, { data?: unknown }>;
}

/** A flat row: column name → JS value, before any dialect conversion. */
export type Row = Record<string, unknown>;

export interface ColumnDef {
  name: string;
  type: ColumnType;
}

export const SYNCED_AT = '_synced_at';
/** when a full refresh with `source_options.deletes: mark` first missed the row in Klaviyo; null while it is there */
export const DELETED_AT = '_deleted_at';

interface SpecAttribute {
  name: string;
  type: ColumnType;
  /** only present when requested with `additional-fields` */
  onRequest: boolean;
}

const specByOperation = new Map<string, SpecAttribute[]>(
  Object.entries(attributesDoc.operations as Record<string, Array<{ name: string; type: string; onRequest?: boolean }>>).map(
    ([op, attrs]) => [op, attrs.map((a) => ({ name: a.name, type: specColumnType(a.type), onRequest: a.onRequest === true }))],
  ),
);

function specAttributes(stream: StreamDef): SpecAttribute[] {
  const attrs = specByOperation.get(stream.operation);
  if (!attrs) {
    throw new Error(
      `stream ${stream.name}: operation ${JSON.stringify(stream.operation)} is not in streams/attributes.json; ` +
        `fix the stream definition or regenerate the file with scripts/gen-attributes.ts`,
    );
  }
  return attrs;
}

function keeps(stream: StreamDef, attribute: string): boolean {
  return !stream.keepAttributes || stream.keepAttributes.includes(attribute);
}

/** The spec type of one attribute of the stream, if the spec lists it. */
export function specAttributeType(stream: StreamDef, attribute: string): ColumnType | undefined {
  return specAttributes(stream).find((a) => a.name === attribute)?.type;
}

/**
 * Columns we fill ourselves: the primary key, the relationship id columns and what the partition states of its rows
 * (campaigns' channel).
 */
function idColumns(stream: StreamDef): ColumnDef[] {
  const names = [
    ...new Set([...stream.primaryKey, ...Object.values(stream.relationshipColumns ?? {}), ...partitionsOf(stream).statedColumns]),
  ];
  return names.map((name) => ({ name: validateColumnName(name, `stream ${stream.name}`), type: 'text' }));
}

const SYNCED_AT_COLUMN: ColumnDef = { name: SYNCED_AT, type: 'timestamp' };

/** What every row and page of a stream needs from its definition, worked out once per stream, not per row. */
interface StreamShape {
  /** the columns no attribute may take: ids, relationship ids, `_synced_at` */
  fixed: ReadonlySet<string>;
  parentColumn: string | null;
  idColumn: string;
  relationships: ReadonlyArray<[relationship: string, column: string]>;
  /** the attributes kept; null: all */
  keep: ReadonlySet<string> | null;
  /** column types by definition: ids, `_synced_at`, then the spec's attributes */
  known: ReadonlyMap<string, ColumnType>;
}

const shapes = new WeakMap<StreamDef, StreamShape>();

function shapeOf(stream: StreamDef): StreamShape {
  let shape = shapes.get(stream);
  if (shape) return shape;
  const ids = idColumns(stream);
  const known = new Map<string, ColumnType>();
  for (const c of [...ids, SYNCED_AT_COLUMN]) known.set(c.name, c.type);
  for (const a of specAttributes(stream)) if (!known.has(a.name)) known.set(a.name, a.type);
  shape = {
    fixed: new Set([...ids.map((c) => c.name), SYNCED_AT]),
    parentColumn: parentOf(stream)?.column ?? null,
    idColumn: idColumnOf(stream),
    relationships: Object.entries(stream.relationshipColumns ?? {}),
    keep: stream.keepAttributes ? new Set(stream.keepAttributes) : null,
    known,
  };
  shapes.set(stream, shape);
  return shape;
}

/** Attribute names already checked: the same few dozen arrive on every row. Bounded, in case a source invents many. */
const validAttributeNames = new Set<string>();
const MAX_REMEMBERED_NAMES = 10_000;

function checkAttributeName(name: string, where: () => string): void {
  if (validAttributeNames.has(name)) return;
  validateColumnName(name, `${where()}, attribute`);
  if (validAttributeNames.size >= MAX_REMEMBERED_NAMES) validAttributeNames.clear();
  validAttributeNames.add(name);
}

/**
 * The columns a new table starts with: ids, every kept spec attribute Klaviyo always sends (so an empty stream
 * still has its full shape), `_synced_at`. Attributes sent only on request are added when they first arrive.
 */
export function baseColumns(stream: StreamDef): ColumnDef[] {
  const ids = idColumns(stream);
  const taken = new Set(ids.map((c) => c.name));
  const spec = specAttributes(stream)
    .filter((a) => !a.onRequest && !taken.has(a.name) && keeps(stream, a.name))
    .map((a) => ({ name: validateColumnName(a.name, `stream ${stream.name}`), type: a.type }));
  return [...ids, ...spec, SYNCED_AT_COLUMN];
}

/**
 * What a row's page says of it beyond the resource: its partition's parent id (required for child streams) and
 * stated columns, and the `included` resources the stream's options fill columns from.
 */
export interface RowOrigin {
  parentId?: string;
  columns?: Readonly<Record<string, string>>;
  included?: IncludedLookup;
}

/** The columns filled from `included`, and the page's included resources by `type` and `id`. */
export interface IncludedLookup {
  columns: readonly IncludedColumn[];
  byRef: ReadonlyMap<string, KlaviyoResource>;
}

const refKey = (type: string, id: string) => `${type}\u0000${id}`;

function isRef(data: unknown): data is { type: string; id: string } {
  const d = data as { type?: unknown; id?: unknown } | null | undefined;
  return !!d && !Array.isArray(d) && typeof d.type === 'string' && typeof d.id === 'string';
}

/** The lookup for a page, or undefined when no option fills a column from `included`. */
export function includedLookup(
  columns: readonly IncludedColumn[],
  included: readonly KlaviyoResource[] | undefined,
): IncludedLookup | undefined {
  if (columns.length === 0) return undefined;
  const byRef = new Map<string, KlaviyoResource>();
  for (const r of included ?? []) if (typeof r?.type === 'string' && typeof r.id === 'string') byRef.set(refKey(r.type, r.id), r);
  return { columns, byRef };
}

/**
 * One resource → one row, in its partition (`origin`). Every primary key column must end up non-empty; a resource
 * without an id is a protocol error worth stopping on.
 */
export function toRow(stream: StreamDef, resource: KlaviyoResource, origin: RowOrigin = {}, syncedAt: Date | string = systemNow()): Row {
  const { parentId } = origin;
  // built only when something is wrong: a page of 200 rows would otherwise stringify 200 ids for nothing
  const where = () => `stream ${stream.name}, resource ${JSON.stringify(resource?.id)}`;
  if (typeof resource?.id !== 'string' || resource.id === '') throw new Error(`${where()}: resource has no id`);
  const shape = shapeOf(stream);
  const row: Row = {};
  const attributes = resource.attributes ?? {};
  for (const name in attributes) {
    if (!Object.hasOwn(attributes, name) || (shape.keep && !shape.keep.has(name))) continue;
    checkAttributeName(name, where);
    if (shape.fixed.has(name)) {
      throw new IdentifierError(`${where()}: attribute ${JSON.stringify(name)} collides with a key or relationship column`);
    }
    row[name] = attributes[name];
  }
  if (shape.parentColumn !== null) {
    if (typeof parentId !== 'string' || parentId === '') throw new Error(`${where()}: child stream needs the parent's id`);
    row[shape.parentColumn] = parentId;
  }
  if (origin.columns) for (const name in origin.columns) row[name] = origin.columns[name];
  if (origin.included) {
    // a to-one relationship's resource from `included`; null when the page did not include it
    const { byRef } = origin.included;
    for (const c of origin.included.columns) {
      const data = resource.relationships?.[c.relationship]?.data;
      if ('attribute' in c) {
        const target = isRef(data) ? byRef.get(refKey(data.type, data.id)) : undefined;
        row[c.column] = target?.attributes?.[c.attribute] ?? null;
      } else {
        // one object per resource of a to-many relationship: its id and the ids its own relationships name
        row[c.column] = (Array.isArray(data) ? data.filter(isRef) : []).map((ref) => {
          const target = byRef.get(refKey(ref.type, ref.id));
          const out: Record<string, unknown> = { id: ref.id };
          for (const link of c.links) {
            const d = target?.relationships?.[link]?.data;
            if (isRef(d)) out[`${link.replace(/-/g, '_')}_id`] = d.id;
          }
          for (const attribute of c.attributes ?? []) out[attribute] = target?.attributes?.[attribute] ?? null;
          return out;
        });
      }
    }
  }
  row[shape.idColumn] = resource.id;
  for (const [relationship, column] of shape.relationships) {
    const data = resource.relationships?.[relationship]?.data as { id?: unknown } | null | undefined;
    row[column] = data && !Array.isArray(data) && typeof data.id === 'string' ? data.id : null;
  }
  for (const key of stream.primaryKey) {
    if (typeof row[key] !== 'string' || row[key] === '') throw new Error(`${where()}: primary key column ${key} is empty`);
  }
  row[SYNCED_AT] = typeof syncedAt === 'string' ? syncedAt : syncedAt.toISOString();
  return row;
}

/**
 * The columns a page of rows needs, typed: fixed and spec columns by definition, others from their values. An
 * attribute the spec does not list and that is null in every row of the page gets no column yet (its values are
 * null anyway); the first page that carries a value adds it.
 */
export function pageColumns(stream: StreamDef, rows: Row[]): ColumnDef[] {
  const { known } = shapeOf(stream);
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys(row)) names.add(name);
  const cols: ColumnDef[] = [];
  for (const name of names) {
    const type = known.get(name) ?? inferColumnType(rows.map((r) => r[name]));
    if (type) cols.push({ name, type });
  }
  return cols;
}
