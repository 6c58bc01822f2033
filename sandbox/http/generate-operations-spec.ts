/**
 * Regenerates operations-spec.json, the sandbox's trimmed copy of Klaviyo's contract for our GET operations (and,
 * under `reports`, the reporting API's POST operations with their request schemas), from
 * the vendored files in spec/klaviyo/ (endpoints.json for params, filters, sorts, limits; the OpenAPI subset for the
 * relationship shapes, which endpoints.json does not give). The server reads only the snapshot, so it needs no spec
 * at runtime; test/sandbox-http.test.ts checks that the snapshot still matches the source files.
 *
 *   npx tsx sandbox/http/generate-operations-spec.ts [path/to/spec/klaviyo]
 */
import fs from 'node:fs';
import path from 'node:path';

export type RelationshipKind = 'links' | 'one' | 'many';

export interface OperationSpec {
  operationId: string;
  path: string;
  scopes: string[];
  rateLimit: { burst: number; steady: number };
  conditionalRateLimits: Array<{ when: string; burst: number; steady: number }>;
  queryParams: string[];
  /** filter field -> allowed operators */
  filter: Record<string, string[]>;
  filterRequired: boolean;
  pageSize: { default: number; min: number; max: number } | null;
  /** "Returns a maximum of N results per page" from the description, for operations without page[size] */
  maxPerPage: number | null;
  sort: string[];
  additionalFields: Record<string, string[]>;
  include: string[];
  fields: Record<string, string[]>;
  collection: boolean;
  resourceType: string;
  /** attribute name -> spec type as endpoints.json prints it, e.g. `string(date-time)` */
  attributes: Record<string, string>;
  relationships: Record<string, { kind: RelationshipKind; type?: string }>;
  /** resource types the response's `included` may hold */
  includedTypes: string[];
}

/** A reporting API operation (a POST whose JSON:API body is a query), from its endpoints.json entry. */
export interface ReportSpec {
  operationId: string;
  path: string;
  /** the `data.type` of request and response, e.g. `campaign-values-report` */
  resourceType: string;
  scopes: string[];
  rateLimit: { burst: number; steady: number; daily: number };
  queryParams: string[];
  statistics: string[];
  timeframeKeys: string[];
  /** empty for a values report */
  intervals: string[];
  filterFields: string[];
  filterOperators: string[];
  requiredAttributes: string[];
  series: boolean;
  /** the response's relationship names, e.g. `flows`, `flow-messages` */
  relationships: string[];
  /**
   * The request body's schema as plain JSON Schema: every `$ref` inlined, `nullable` as a `null` type, and
   * `additionalProperties: false` on every object, since Klaviyo refuses members its DTO does not define.
   */
  requestSchema: Json;
}

export interface OperationsSpec {
  source: string;
  revision: string;
  operations: OperationSpec[];
  reports: ReportSpec[];
}

type Json = any;

function perUnit(rate: string): number {
  const m = /^(\d+)\/[sm]$/.exec(rate);
  if (!m) throw new Error(`unexpected rate limit '${rate}' in endpoints.json`);
  return Number(m[1]);
}

function schemaName(ref: string): string {
  return ref.split('/').pop()!;
}

function enumValue(schemas: Json, ref: string): string {
  const e = schemas[schemaName(ref)];
  if (!e?.enum || e.enum.length !== 1) throw new Error(`${ref} is not a one-value enum`);
  return e.enum[0];
}

function relationshipsOf(schemas: Json, responseSchema: string): OperationSpec['relationships'] {
  const doc = schemas[responseSchema];
  const data = doc.properties.data;
  const item = data.type === 'array' ? data.items : data;
  const out: OperationSpec['relationships'] = {};
  for (const part of item.allOf ?? []) {
    const rels = part.properties?.relationships?.properties;
    if (!rels) continue;
    for (const [name, rel] of Object.entries<Json>(rels)) {
      const d = rel.properties?.data;
      if (!d) out[name] = { kind: 'links' };
      else if (d.type === 'array') out[name] = { kind: 'many', type: enumValue(schemas, d.items.properties.type.$ref) };
      else out[name] = { kind: 'one', type: enumValue(schemas, d.properties.type.$ref) };
    }
  }
  return out;
}

function perDay(rate: string): number {
  const m = /^(\d+)\/d$/.exec(rate);
  if (!m) throw new Error(`unexpected daily rate limit '${rate}' in endpoints.json`);
  return Number(m[1]);
}

/** See ReportSpec.requestSchema. The request DTOs hold no recursive `$ref`, so inlining terminates. */
function strictJsonSchema(schemas: Json, node: Json): Json {
  if (Array.isArray(node)) return node.map((n) => strictJsonSchema(schemas, n));
  if (node === null || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') return strictJsonSchema(schemas, schemas[schemaName(node.$ref)]);
  const out: Json = {};
  for (const [k, v] of Object.entries<Json>(node)) {
    if (k === 'nullable' || k === 'example' || k === 'description') continue;
    out[k] =
      k === 'properties'
        ? Object.fromEntries(Object.entries<Json>(v).map(([n, p]) => [n, strictJsonSchema(schemas, p)]))
        : strictJsonSchema(schemas, v);
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (out.type === 'object' && out.properties) out.additionalProperties = false;
  return out;
}

function reportOf(schemas: Json, op: Json): ReportSpec {
  return {
    operationId: op.operationId,
    path: op.path,
    resourceType: op.resource_type,
    scopes: op.scopes,
    rateLimit: { burst: perUnit(op.ratelimit.burst), steady: perUnit(op.ratelimit.steady), daily: perDay(op.ratelimit.daily) },
    queryParams: op.query_params,
    statistics: op.statistics,
    timeframeKeys: op.timeframe_keys,
    intervals: op.intervals,
    filterFields: op.filter_fields,
    filterOperators: op.filter_operators,
    requiredAttributes: op.required_attributes,
    series: op.series,
    relationships: op.relationships,
    requestSchema: strictJsonSchema(schemas, schemas[op.request_schema]),
  };
}

function includedTypesOf(schemas: Json, responseSchema: string): string[] {
  const inc = schemas[responseSchema].properties.included;
  if (!inc) return [];
  const refs: string[] = (inc.items.oneOf ?? [inc.items]).map((x: Json) => x.$ref);
  return refs.map((ref) => enumValue(schemas, schemas[schemaName(ref)].properties.type.$ref)).sort();
}

export function buildOperationsSpec(sharedDir: string): OperationsSpec {
  const endpoints = JSON.parse(fs.readFileSync(path.join(sharedDir, 'endpoints.json'), 'utf8'));
  const openapi = JSON.parse(fs.readFileSync(path.join(sharedDir, 'openapi-2025-07-15-subset.json'), 'utf8'));
  const schemas = openapi.components.schemas;
  return {
    source: endpoints.source,
    revision: endpoints.revision,
    operations: endpoints.operations
      .filter((op: Json) => op.method === 'GET')
      .map((op: Json): OperationSpec => ({
        operationId: op.operationId,
        path: op.path,
        scopes: op.scopes,
        rateLimit: { burst: perUnit(op.ratelimit.burst), steady: perUnit(op.ratelimit.steady) },
        conditionalRateLimits: op.ratelimit_conditional.map((c: Json) => ({
          when: c.when,
          burst: perUnit(c.burst),
          steady: perUnit(c.steady),
        })),
        queryParams: op.query_params,
        filter: Object.fromEntries((op.filter ?? []).map((f: Json) => [f.field, f.operators])),
        filterRequired: op.filter_required,
        pageSize: op.page_size ? { default: op.page_size.default, min: op.page_size.minimum, max: op.page_size.maximum } : null,
        maxPerPage: op.max_per_page_from_description,
        sort: op.sort ?? [],
        additionalFields: op.additional_fields,
        include: op.include,
        fields: op.sparse_fieldsets,
        collection: op.collection,
        resourceType: op.resource_type,
        attributes: Object.fromEntries(op.attributes.map((a: Json) => [a.name, a.type])),
        relationships: relationshipsOf(schemas, op.response_schema),
        includedTypes: includedTypesOf(schemas, op.response_schema),
      })),
    reports: endpoints.operations.filter((op: Json) => op.method === 'POST').map((op: Json) => reportOf(schemas, op)),
  };
}

export const SNAPSHOT_PATH = path.join(__dirname, 'operations-spec.json');

if (require.main === module) {
  const shared = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..', 'spec', 'klaviyo'));
  fs.writeFileSync(SNAPSHOT_PATH, JSON.stringify(buildOperationsSpec(shared), null, 1) + '\n');
  process.stdout.write(`wrote ${path.relative(process.cwd(), SNAPSHOT_PATH)} from ${shared}\n`);
}
