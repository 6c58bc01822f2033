/**
 * JSON:API serialisation as Klaviyo does it: resources `{type, id, attributes, relationships?, links: {self}}`,
 * relationships `{data?, links: {self, related}}` shaped per the operation's response schema (some relationships
 * carry only links), attributes trimmed to what was asked for (additional-fields, sparse fieldsets), and links
 * that end with '/' like Klaviyo's.
 */
import type { RelationshipData, Row } from '../account/types';
import * as operations from './operations';
import type { Operation } from './operations';

// Copies of the imported bindings, read per resource: tsx turns each read of an import into uninlined getter calls.
const { ADDITIONAL_ONLY, collectionOf } = operations;

export interface Shape {
  /** scheme, host and port of the links, e.g. `http://127.0.0.1:4010` */
  base: string;
  /** additional fields requested, per type */
  additional: ReadonlyMap<string, ReadonlySet<string>>;
  /** sparse fieldsets requested, per type */
  fields: ReadonlyMap<string, readonly string[]>;
}

const NO_FIELDS: ReadonlySet<string> = new Set();

const PLAIN_ID = /^[A-Za-z0-9_-]*$/;

/** Keeps `$`, `:` and `@` readable in ids such as `$custom:::$default:::SKU-1`, as Klaviyo's links do. */
export function pathSegment(id: string): string {
  return PLAIN_ID.test(id) ? id : encodeURIComponent(id).replace(/%24/g, '$').replace(/%3A/gi, ':').replace(/%40/g, '@');
}

function resourceUrl(base: string, type: string, id: string): string {
  return `${base}/api/${collectionOf(type)}/${pathSegment(id)}/`;
}

/** Copies only the attribute paths asked for (`location.city` copies just that leaf under `location`). */
function project(attributes: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const whole = new Set<string>();
  for (const path of [...paths].sort((a, b) => a.length - b.length)) {
    const parts = path.split('.');
    if (parts.some((_, i) => whole.has(parts.slice(0, i).join('.')))) continue;
    let src: unknown = attributes;
    for (const p of parts)
      src = src !== null && typeof src === 'object' && !Array.isArray(src) ? (src as Record<string, unknown>)[p] : undefined;
    if (src === undefined) continue;
    whole.add(path);
    let dst = out;
    for (const p of parts.slice(0, -1)) {
      if (typeof dst[p] !== 'object' || dst[p] === null) dst[p] = {};
      dst = dst[p] as Record<string, unknown>;
    }
    dst[parts[parts.length - 1]] = src;
  }
  return out;
}

function attributesFor(row: Row, shape: Shape): Record<string, unknown> {
  const hideable = ADDITIONAL_ONLY[row.type];
  let attributes = row.attributes;
  if (hideable) {
    const asked = shape.additional.get(row.type) ?? NO_FIELDS;
    if (hideable.some((k) => k in attributes && !asked.has(k))) {
      const trimmed: Record<string, unknown> = {};
      for (const k in attributes) if (asked.has(k) || !hideable.includes(k)) trimmed[k] = attributes[k];
      attributes = trimmed;
    }
  }
  const sparse = shape.fields.get(row.type);
  return sparse ? project(attributes, sparse) : attributes;
}

/** Where JSON text is appended: a string[] or a ByteSink. */
export interface TextOut {
  push(...parts: string[]): unknown;
}

/**
 * Appends one resource as JSON text to `out`. Serving pages of 100 profiles is this server's hot path: a few
 * writes per resource straight into the response bytes cost much less than serialising an object tree.
 * `relationships` are the ones the response schema gives this resource; `linked` names those whose `data` must be
 * sent although the schema gives only links (because the request includes them).
 */
export function writeResource(
  out: TextOut,
  row: Row,
  shape: Shape,
  relationships: Operation['relationships'] | null,
  linked: ReadonlySet<string> = NO_FIELDS,
): void {
  // Links are `base` (a checked Host) plus percent-encoded segments: nothing in them needs JSON escaping.
  const self = resourceUrl(shape.base, row.type, row.id);
  let rels = '';
  for (const name in relationships) {
    const { kind } = relationships[name];
    const data: RelationshipData | undefined =
      kind === 'links' && !linked.has(name) ? undefined : (row.relationships?.[name] ?? (kind === 'one' ? undefined : []));
    const dataJson = data === undefined ? '' : `"data":${Array.isArray(data) && data.length === 0 ? '[]' : JSON.stringify(data)},`;
    rels += `${rels ? ',' : ''}"${name}":{${dataJson}"links":{"self":"${self}relationships/${name}/","related":"${self}${name}/"}}`;
  }
  const id = PLAIN_ID.test(row.id) ? `"${row.id}"` : JSON.stringify(row.id);
  out.push(
    `{"type":${JSON.stringify(row.type)},"id":${id},"attributes":`,
    JSON.stringify(attributesFor(row, shape)),
    `${rels ? `,"relationships":{${rels}}` : ''},"links":{"self":"${self}"}}`,
  );
}

/** Appends a JSON array of resources to `out`. */
export function writeResources(
  out: TextOut,
  rows: readonly Row[],
  shape: Shape,
  relationships: Operation['relationships'] | null,
  linked?: ReadonlySet<string>,
): void {
  out.push('[');
  rows.forEach((row, i) => {
    if (i > 0) out.push(',');
    writeResource(out, row, shape, relationships, linked);
  });
  out.push(']');
}

/** The resource identifiers a row links to under a relationship, whatever its cardinality. */
export function identifiers(row: Row, relationship: string): Array<{ type: string; id: string }> {
  const data = row.relationships?.[relationship];
  if (!data) return [];
  return Array.isArray(data) ? data : [data];
}
