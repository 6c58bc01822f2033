/**
 * Vendors Klaviyo GET operations (and the reporting API's POST operations) from the full official OpenAPI spec into the project's vendored subset
 * (spec/klaviyo/openapi-2025-07-15-subset.json) and derives their per-operation entries in spec/klaviyo/endpoints.json.
 *
 *   npx tsx scripts/vendor-operations.ts --check [operationId...]
 *       Re-derive every vendored operation (or only those named) from the full spec and compare with endpoints.json
 *       and with the subset's paths, schemas and tags; print each difference and exit 1 if there is any.
 *   npx tsx scripts/vendor-operations.ts [--dry-run] <operationId...>
 *       Add each operation's path (its GET only, or for a reporting operation its POST only), its transitive `$ref` closure of component schemas (copied
 *       unchanged, new ones appended in discovery order) and the tags it uses to the subset; append its derived entry
 *       to endpoints.json; print the subset's new sha256 and its path and schema counts (for SOURCE.md). An operation
 *       that is already vendored is left alone, so re-running is a no-op. `--dry-run` prints the entries and counts
 *       without writing anything.
 *
 * Options: --full <file> (required, or $KLAVIYO_FULL_SPEC: `openapi/stable.json` of klaviyo/openapi at the commit SOURCE.md names),
 * --dir <dir> (where the subset and endpoints.json are read and, by default, written; default spec/klaviyo),
 * --out-dir <dir> (write there instead, e.g. a temp dir, leaving --dir untouched).
 * An operation may be named by its operationId or by one of its `x-klaviyo-operation-aliases`.
 * Files are written as `JSON.stringify(value, null, 2)`, keeping each file's current trailing newline (or lack of
 * one), so rewriting an unchanged file is byte-identical.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

type Schema = Record<string, any>;
type Operation = Record<string, any>;
type Spec = Record<string, any>;

interface Parameter {
  name: string;
  in: 'query' | 'header' | 'path' | 'cookie';
  description?: string;
  required?: boolean;
  schema?: Schema;
}

interface Attribute {
  name: string;
  type: string;
  nullable: boolean;
  required: boolean;
  note?: string;
}

type Entry = Record<string, unknown>;

interface Endpoints {
  source: string;
  revision: string;
  operations: Entry[];
}

interface Options {
  check: boolean;
  dryRun: boolean;
  full: string;
  dir: string;
  outDir: string;
  ids: string[];
}

const ROOT = path.resolve(__dirname, '..');
/** The full spec is not in the repo (2.1 MB; SOURCE.md gives its commit and sha256): --full or $KLAVIYO_FULL_SPEC. */
const DEFAULT_FULL = process.env.KLAVIYO_FULL_SPEC ?? '';
const DEFAULT_DIR = path.join(ROOT, 'spec', 'klaviyo');
const ENDPOINTS_FILE = 'endpoints.json';
const SCHEMA_REF = '#/components/schemas/';
const RESPONSE_REF = '#/components/responses/';
const JSON_API = 'application/vnd.api+json';
/** The page-size sentence the previous derivation read from descriptions. */
const MAX_PER_PAGE = /Returns a maximum of (\d+) [\w -]+? per (request|page)/;
/** "Rate limits when using the `include=list` parameter in your API request:<br>Burst: `1/s`<br>Steady: `15/m`" */
const CONDITIONAL_RATELIMIT = /Rate limits when using the `([^`]+)` parameter[^`]*?Burst:\s*`([^`]+)`\s*(?:<br>)?\s*Steady:\s*`([^`]+)`/g;
/** Marks attributes a response only carries when asked for with `additional-fields[...]`. */
const ADDITIONAL_FIELDS_NOTE = 'only via additional-fields';

// ---------------------------------------------------------------------------------------------------------------
// Command line and files

function usage(message: string, code = 2): never {
  if (message) console.error(message);
  console.error('usage: npx tsx scripts/vendor-operations.ts [--check] [--dry-run] [--full F] [--dir D] [--out-dir D] <operationId...>');
  process.exit(code);
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { check: false, dryRun: false, full: DEFAULT_FULL, dir: DEFAULT_DIR, outDir: '', ids: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => argv[++i] ?? usage(`${arg} needs a value`);
    if (arg === '--check') opts.check = true;
    else if (arg === '--dry-run') opts.dryRun = true;
    else if (arg === '--full') opts.full = path.resolve(value());
    else if (arg === '--dir') opts.dir = path.resolve(value());
    else if (arg === '--out-dir') opts.outDir = path.resolve(value());
    else if (arg === '--help' || arg === '-h') usage('', 0);
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else opts.ids.push(arg);
  }
  if (!opts.check && opts.ids.length === 0) usage('name at least one operationId, or pass --check');
  if (!opts.full) {
    usage(
      'the full spec is not in the repo: pass --full <file> (or set KLAVIYO_FULL_SPEC), the openapi/stable.json of ' +
        'github.com/klaviyo/openapi at the commit spec/klaviyo/SOURCE.md names',
    );
  }
  opts.outDir ||= opts.dir;
  return opts;
}

function readJson<T>(file: string): { value: T; trailingNewline: boolean } {
  const text = fs.readFileSync(file, 'utf8');
  return { value: JSON.parse(text) as T, trailingNewline: text.endsWith('\n') };
}

function formatJson(value: unknown, trailingNewline: boolean): string {
  return JSON.stringify(value, null, 2) + (trailingNewline ? '\n' : '');
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function subsetFileName(revision: string): string {
  return `openapi-${revision}-subset.json`;
}

// ---------------------------------------------------------------------------------------------------------------
// Spec navigation

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}

function schemaByRef(spec: Spec, ref: string): Schema {
  if (!ref.startsWith(SCHEMA_REF)) throw new Error(`not a component schema: ${ref}`);
  const schema = spec.components.schemas[refName(ref)] as Schema | undefined;
  if (!schema) throw new Error(`unresolved $ref ${ref}`);
  return schema;
}

/** Follows a schema's `$ref` (if any) to the component it names. */
function deref(spec: Spec, schema: Schema): Schema {
  return typeof schema.$ref === 'string' ? schemaByRef(spec, schema.$ref) : schema;
}

/** The methods vendored: GETs, and the POSTs of the reporting API (queries that read, with a request body). */
type Method = 'get' | 'post';
const METHODS: readonly Method[] = ['get', 'post'];

/** The one vendored operation of a subset path item, and its method. */
function vendoredOf(item: Record<string, Operation>): { method: Method; op: Operation } {
  const method = METHODS.find((m) => item[m]) ?? 'get';
  return { method, op: item[method] };
}

/**
 * The path, method and operation whose operationId (or one of its aliases) is `id`: a GET, or a POST whose request
 * body only queries (the reporting API's `*-reports` paths); a POST that writes is refused, the sandbox is read-only.
 */
function findOperation(spec: Spec, id: string): { path: string; method: Method; op: Operation } | null {
  for (const [p, item] of Object.entries<Record<string, Operation>>(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op || !(op.operationId === id || (op['x-klaviyo-operation-aliases'] ?? []).includes(id))) continue;
      if (method === 'post' && !p.endsWith('-reports')) throw new Error(`${id}: a POST that is not a report query is not vendored`);
      return { path: p, method, op };
    }
  }
  return null;
}

/** Every `$ref` string in `node`, in document order. */
function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const v of node) collectRefs(v, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

/**
 * The component schemas `node` reaches through `$ref`s, transitively, in depth-first preorder of first discovery.
 * `$ref`s to components.responses are followed into the response they name.
 */
function schemaClosure(spec: Spec, node: unknown, seen: Set<string> = new Set(), order: string[] = []): string[] {
  for (const ref of collectRefs(node)) {
    if (ref.startsWith(RESPONSE_REF)) {
      const response = spec.components.responses?.[refName(ref)];
      if (!response) throw new Error(`unresolved $ref ${ref}`);
      schemaClosure(spec, response, seen, order);
      continue;
    }
    const name = refName(ref);
    if (seen.has(name)) continue;
    seen.add(name);
    order.push(name);
    schemaClosure(spec, schemaByRef(spec, ref), seen, order);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------------------------
// Derivation of one endpoints.json entry

function paramsIn(op: Operation, where: Parameter['in']): Parameter[] {
  return ((op.parameters ?? []) as Parameter[]).filter((p) => p.in === where);
}

function enumOf(param: Parameter | undefined): string[] {
  const schema = param?.schema ?? {};
  return (schema.items?.enum ?? schema.enum ?? []) as string[];
}

/** `{ "fields[profile]": [...] }` for every query parameter whose name starts with `prefix`. */
function enumsByPrefix(query: Parameter[], prefix: string): Record<string, string[]> {
  return Object.fromEntries(query.filter((p) => p.name.startsWith(prefix)).map((p) => [p.name, enumOf(p)]));
}

/** "Allowed field(s)/operator(s):<br>`id`: `any`, `equals`<br>..." → [{field, operators}]. */
function parseFilter(description: string): Array<{ field: string; operators: string[] }> {
  const marker = 'Allowed field(s)/operator(s):';
  const at = description.indexOf(marker);
  if (at < 0) return [];
  const fields = [];
  for (const line of description.slice(at + marker.length).split('<br>')) {
    const m = /^\s*`([^`]+)`:\s*(.*)$/.exec(line);
    if (m) fields.push({ field: m[1], operators: [...m[2].matchAll(/`([^`]+)`/g)].map((o) => o[1]) });
  }
  return fields;
}

function conditionalRatelimits(description: string): Array<{ when: string; burst: string; steady: string }> {
  return [...description.matchAll(CONDITIONAL_RATELIMIT)].map((m) => ({ when: m[1], burst: m[2], steady: m[3] }));
}

function pageSize(param: Parameter | undefined): { default: number; minimum: number; maximum: number } | null {
  if (!param) return null;
  const s = param.schema ?? {};
  return { default: s.default, minimum: s.minimum, maximum: s.maximum };
}

/** The attribute type string: "string", "string(date-time)", "string enum a|b", "array<→X>", "→A | →B", "object". */
function typeString(schema: Schema): string {
  if (typeof schema.$ref === 'string') return `→${refName(schema.$ref)}`;
  const union = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(union)) return union.map((s: Schema) => typeString(s)).join(' | ');
  if (Array.isArray(schema.allOf)) return schema.allOf.map((s: Schema) => typeString(s)).join(' & ');
  const type = (schema.type as string | undefined) ?? 'object';
  if (type === 'array') return `array<${typeString(schema.items ?? {})}>`;
  // Only string enums are spelled out: the one integer enum (catalog-variant inventory_policy, 0|1|2) reads "integer".
  if (type === 'string' && Array.isArray(schema.enum)) return `string enum ${schema.enum.join('|')}`;
  if (schema.format) return `${type}(${schema.format})`;
  return type;
}

function attributesOf(spec: Spec, attributesSchema: Schema | undefined, note?: string): Attribute[] {
  if (!attributesSchema) return [];
  const schema = deref(spec, attributesSchema);
  const required = new Set<string>(schema.required ?? []);
  return Object.entries<Schema>(schema.properties ?? {}).map(([name, prop]) => ({
    name,
    type: typeString(prop),
    nullable: prop.nullable === true,
    required: required.has(name),
    ...(note ? { note } : {}),
  }));
}

/**
 * What the 200 response's `data` says about the resource: the resource schema (the `$ref`, or the first `allOf`
 * part), relationships (declared on the resource or in the response's `allOf` extension), attributes (the
 * resource's, then those the extension adds, which arrive only via additional-fields) and `included` schemas.
 */
function describeResponse(spec: Spec, op: Operation) {
  const ref = op.responses?.['200']?.content?.[JSON_API]?.schema?.$ref as string | undefined;
  if (!ref) throw new Error(`${op.operationId}: the 200 response has no ${JSON_API} schema $ref`);
  const doc = schemaByRef(spec, ref);
  const data = (doc.properties?.data ?? {}) as Schema;
  const collection = data.type === 'array';
  const item = (collection ? data.items : data) as Schema;
  const parts: Schema[] = Array.isArray(item.allOf) ? item.allOf : [item];
  const resourceRef = parts[0].$ref as string;
  const resource = schemaByRef(spec, resourceRef);
  const extensions = parts.slice(1);
  const relationshipSources = [resource, ...extensions].map((s) => s.properties?.relationships);
  const relationships = relationshipSources.flatMap((r) => Object.keys(r ? (deref(spec, r).properties ?? {}) : {}));
  const typeEnum = deref(spec, resource.properties?.type ?? {});
  const attributes = [
    ...attributesOf(spec, resource.properties?.attributes),
    ...extensions.flatMap((e) => attributesOf(spec, e.properties?.attributes, ADDITIONAL_FIELDS_NOTE)),
  ];
  const included = doc.properties?.included?.items as Schema | undefined;
  const includedRefs = included ? ((included.oneOf ?? [included]) as Schema[]) : [];
  return {
    response_schema: refName(ref),
    collection,
    resource_type: (typeEnum.enum?.[0] ?? null) as string | null,
    resource_schema: refName(resourceRef),
    relationships: [...new Set(relationships)],
    included_schemas: includedRefs.map((s) => refName(s.$ref as string)),
    attributes,
  };
}

/** The fields every endpoints.json entry starts with, in the order the file uses. */
function entryHead(method: 'GET' | 'POST', apiPath: string, op: Operation) {
  return {
    method,
    path: apiPath,
    operationId: op.operationId,
    summary: op.summary,
    aliases: op['x-klaviyo-operation-aliases'] ?? [],
    tags: op.tags ?? [],
    scopes: op['x-klaviyo-scopes'] ?? [],
    ratelimit: op['x-klaviyo-ratelimit'] ?? null,
  };
}

function headerParams(op: Operation) {
  return paramsIn(op, 'header').map((p) => ({ name: p.name, required: p.required === true, default: p.schema?.default }));
}

/** The endpoints.json entry for one GET operation, fields in the order the file uses. */
function deriveEntry(spec: Spec, apiPath: string, op: Operation): Entry {
  const description = (op.description ?? '') as string;
  const query = paramsIn(op, 'query');
  const byName = (name: string) => query.find((p) => p.name === name);
  const filter = byName('filter');
  const maxPerPage = MAX_PER_PAGE.exec(description);
  return {
    ...entryHead('GET', apiPath, op),
    ratelimit_conditional: conditionalRatelimits(description),
    pre_release: op['x-klaviyo-pre-release'] ?? 'None',
    path_params: paramsIn(op, 'path').map((p) => p.name),
    header_params: headerParams(op),
    query_params: query.map((p) => p.name),
    required_query_params: query.filter((p) => p.required === true).map((p) => p.name),
    filter: filter ? parseFilter(filter.description ?? '') : null,
    filter_example: filter?.schema?.example ?? null,
    filter_required: filter?.required === true,
    page_cursor: byName('page[cursor]') !== undefined,
    page_size: pageSize(byName('page[size]')),
    max_per_page_from_description: maxPerPage ? Number(maxPerPage[1]) : null,
    max_per_page_sentence: maxPerPage ? maxPerPage[0] : null,
    sort: enumOf(byName('sort')),
    additional_fields: enumsByPrefix(query, 'additional-fields['),
    include: enumOf(byName('include')),
    sparse_fieldsets: enumsByPrefix(query, 'fields['),
    ...describeResponse(spec, op),
    responses: Object.keys(op.responses ?? {}),
    description,
  };
}

/** "Allowed filters are a, b, c." / "Allowed operators are equals, contains-any." in a request body's filter description. */
function allowedList(description: string, what: 'filters' | 'operators'): string[] {
  const m = new RegExp(`Allowed ${what} are ([^.\\n]+)\\.`).exec(description);
  return m ? m[1].split(',').map((s) => s.trim()) : [];
}

/**
 * The endpoints.json entry for one reporting POST operation: what the request body takes (its schema, statistics,
 * timeframe keys, intervals, filter fields and operators, read from the request schema and its descriptions) and
 * the daily rate limit these operations add; fields in the order of the GET entries where they share a meaning.
 */
function deriveReportEntry(spec: Spec, apiPath: string, op: Operation): Entry {
  const requestRef = op.requestBody?.content?.[JSON_API]?.schema?.$ref as string | undefined;
  if (!requestRef) throw new Error(`${op.operationId}: the request body has no ${JSON_API} schema $ref`);
  const resource = deref(spec, schemaByRef(spec, requestRef).properties.data);
  const attributes = resource.properties.attributes as Schema;
  const props = attributes.properties as Record<string, Schema>;
  const timeframes = (props.timeframe.oneOf as Schema[]).map((s) => deref(spec, s));
  const keyed = timeframes.find((t) => t.properties?.key);
  const filterText = (props.filter?.description ?? '') as string;
  const responseRef = op.responses?.['200']?.content?.[JSON_API]?.schema?.$ref as string | undefined;
  if (!responseRef) throw new Error(`${op.operationId}: the 200 response has no ${JSON_API} schema $ref`);
  const responseData = schemaByRef(spec, responseRef).properties.data as Schema;
  const query = paramsIn(op, 'query');
  return {
    ...entryHead('POST', apiPath, op),
    pre_release: op['x-klaviyo-pre-release'] ?? 'None',
    header_params: headerParams(op),
    query_params: query.map((p) => p.name),
    request_schema: refName(requestRef),
    resource_type: (deref(spec, resource.properties.type).enum?.[0] ?? null) as string | null,
    required_attributes: attributes.required ?? [],
    statistics: props.statistics.items.enum ?? [],
    timeframe_keys: keyed ? deref(spec, keyed.properties.key).enum : [],
    intervals: props.interval?.enum ?? [],
    filter_fields: allowedList(filterText, 'filters'),
    filter_operators: allowedList(filterText, 'operators'),
    filter_description: filterText,
    response_schema: refName(responseRef),
    series: (responseData.properties?.attributes?.properties?.date_times ?? null) !== null,
    relationships: Object.keys(responseData.properties?.relationships?.properties ?? {}),
    responses: Object.keys(op.responses ?? {}),
    description: (op.description ?? '') as string,
  };
}

function deriveAny(spec: Spec, apiPath: string, method: Method, op: Operation): Entry {
  return method === 'post' ? deriveReportEntry(spec, apiPath, op) : deriveEntry(spec, apiPath, op);
}

// ---------------------------------------------------------------------------------------------------------------
// --check: compare what is vendored with what the full spec gives

/** Human-readable difference between two values, cut short; '' when equal (key order included). */
function describeDifference(expected: unknown, derived: unknown): string {
  if (JSON.stringify(expected) === JSON.stringify(derived)) return '';
  const clip = (v: unknown) => {
    const s = JSON.stringify(v) ?? 'undefined';
    return s.length > 240 ? `${s.slice(0, 240)}…` : s;
  };
  if (isDeepStrictEqual(expected, derived)) return 'same content, different key order';
  if (Array.isArray(expected) && Array.isArray(derived)) {
    const i = expected.findIndex((v, k) => !isDeepStrictEqual(v, derived[k]));
    const at = i < 0 ? expected.length : i;
    return `lengths ${expected.length}/${derived.length}; first difference at [${at}]: file ${clip(expected[at])}, derived ${clip(derived[at])}`;
  }
  return `file ${clip(expected)}, derived ${clip(derived)}`;
}

function compareEntries(expected: Entry, derived: Entry): string[] {
  const keys = [...new Set([...Object.keys(derived), ...Object.keys(expected)])];
  const lines = keys.flatMap((k) => {
    const d = describeDifference(expected[k], derived[k]);
    return d ? [`${k}: ${d}`] : [];
  });
  if (lines.length === 0 && JSON.stringify(expected) !== JSON.stringify(derived)) lines.push('field order differs');
  return lines;
}

function compareSets(label: string, expected: Iterable<string>, actual: Iterable<string>): string[] {
  const e = new Set(expected);
  const a = new Set(actual);
  const missing = [...e].filter((x) => !a.has(x));
  const extra = [...a].filter((x) => !e.has(x));
  return [
    ...(missing.length ? [`${label}: missing ${missing.join(', ')}`] : []),
    ...(extra.length ? [`${label}: not needed ${extra.join(', ')}`] : []),
  ];
}

/** Problems with the subset as a whole: schemas, tags and the parts copied from the full spec. */
function checkSubset(full: Spec, subset: Spec, endpoints: Endpoints): string[] {
  const problems: string[] = [];
  const ops = Object.values<Record<string, Operation>>(subset.paths).map((item) => vendoredOf(item).op);
  const closure = new Set<string>();
  for (const op of ops) schemaClosure(full, op, closure);
  const schemas = subset.components?.schemas ?? {};
  problems.push(...compareSets('components.schemas', closure, Object.keys(schemas)));
  for (const [name, schema] of Object.entries(schemas)) {
    if (!isDeepStrictEqual(schema, full.components.schemas[name])) problems.push(`components.schemas.${name} differs from the full spec`);
  }
  const usedTags = new Set(ops.flatMap((op) => (op.tags ?? []) as string[]));
  const tags = (subset.tags ?? []) as Array<{ name: string }>;
  problems.push(
    ...compareSets(
      'tags',
      usedTags,
      tags.map((t) => t.name),
    ),
  );
  for (const tag of tags) {
    if (
      !isDeepStrictEqual(
        tag,
        (full.tags ?? []).find((t: { name: string }) => t.name === tag.name),
      )
    )
      problems.push(`tag ${tag.name} differs`);
  }
  for (const key of ['responses', 'securitySchemes']) {
    if (!isDeepStrictEqual(subset.components?.[key], full.components[key])) problems.push(`components.${key} differs from the full spec`);
  }
  for (const key of ['openapi', 'servers', 'security']) {
    if (!isDeepStrictEqual(subset[key], full[key])) problems.push(`${key} differs from the full spec`);
  }
  if (subset.info?.version !== full.info.version) problems.push(`info.version ${subset.info?.version} != ${full.info.version}`);
  if (endpoints.revision !== full.info.version) problems.push(`endpoints.json revision ${endpoints.revision} != ${full.info.version}`);
  problems.push(...unresolvedRefs(subset).map((r) => `unresolved $ref ${r}`));
  return problems;
}

/** Problems with one vendored path: its subset copy, its endpoints.json entry and the derived entry. */
function checkOperation(full: Spec, subset: Spec, apiPath: string, entry: Entry | undefined): string[] {
  const item = subset.paths[apiPath] as Record<string, Operation>;
  const problems: string[] = [];
  const { method, op } = vendoredOf(item);
  const verb = method.toUpperCase();
  if (Object.keys(item).join() !== method) problems.push(`subset path has ${Object.keys(item).join(', ')}, not only ${method}`);
  const fullOp = full.paths[apiPath]?.[method] as Operation | undefined;
  if (!fullOp) return [...problems, `no ${verb} operation at this path in the full spec`];
  if (!isDeepStrictEqual(op, fullOp)) problems.push(`subset ${verb} operation differs from the full spec`);
  if (!entry) return [...problems, 'no endpoints.json entry'];
  return [...problems, ...compareEntries(entry, deriveAny(full, apiPath, method, fullOp))];
}

function runCheck(full: Spec, subset: Spec, endpoints: Endpoints, ids: string[]): number {
  const entries = new Map(endpoints.operations.map((e) => [e.operationId as string, e]));
  const vendored = Object.entries<Record<string, Operation>>(subset.paths).map(([p, item]) => ({
    path: p,
    id: vendoredOf(item).op?.operationId as string,
  }));
  const selected = ids.length ? vendored.filter((v) => ids.includes(v.id)) : vendored;
  let failures = 0;
  for (const id of ids.filter((i) => !vendored.some((v) => v.id === i))) {
    console.log(`${id}: not vendored`);
    failures++;
  }
  for (const v of selected) {
    const problems = checkOperation(full, subset, v.path, entries.get(v.id));
    console.log(problems.length ? `${v.id} (${v.path}): ${problems.length} difference(s)` : `${v.id}: ok`);
    for (const p of problems) console.log(`  ${p}`);
    if (problems.length) failures++;
  }
  if (ids.length === 0) {
    const order = (xs: string[]) => xs.join('\n');
    const problems = checkSubset(full, subset, endpoints);
    if (order(vendored.map((v) => v.id)) !== order([...entries.keys()]))
      problems.push('endpoints.json operations are not the subset paths, in the same order');
    console.log(problems.length ? `subset: ${problems.length} difference(s)` : `subset: ok (${summary(subset)})`);
    for (const p of problems) console.log(`  ${p}`);
    if (problems.length) failures++;
  }
  console.log(failures ? `FAILED: ${failures} with differences` : 'all ok');
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Vendoring

/** `$ref`s in the subset that do not resolve inside it. */
function unresolvedRefs(subset: Spec): string[] {
  const bad = collectRefs(subset).filter((ref) => {
    const [, section, name] = /^#\/components\/(\w+)\/(.+)$/.exec(ref) ?? [];
    return !section || !subset.components?.[section]?.[name];
  });
  return [...new Set(bad)];
}

function summary(subset: Spec): string {
  return `${Object.keys(subset.paths).length} paths, ${Object.keys(subset.components.schemas).length} schemas`;
}

/** Adds one operation to the subset and endpoints (in place); returns what it did, for the log. */
function vendorOne(full: Spec, subset: Spec, endpoints: Endpoints, id: string): string {
  const found = findOperation(full, id);
  if (!found) throw new Error(`${id}: no GET (or report POST) operation with this operationId or alias in the full spec`);
  const { path: apiPath, method, op } = found;
  const verb = method.toUpperCase();
  const opId = op.operationId as string;
  const hasPath = subset.paths[apiPath]?.[method]?.operationId === opId;
  const hasEntry = endpoints.operations.some((e) => e.operationId === opId);
  if (hasPath && hasEntry) return `${opId} (${verb} ${apiPath}): already vendored, left alone`;
  if (subset.paths[apiPath] && !hasPath) throw new Error(`${apiPath} is in the subset with a different operation`);
  const newSchemas: string[] = [];
  if (!hasPath) {
    subset.paths[apiPath] = { [method]: structuredClone(op) };
    const schemas = subset.components.schemas as Record<string, Schema>;
    for (const name of schemaClosure(full, op)) {
      if (schemas[name]) continue;
      schemas[name] = structuredClone(full.components.schemas[name]);
      newSchemas.push(name);
    }
    for (const tag of (op.tags ?? []) as string[]) {
      if ((subset.tags as Array<{ name: string }>).some((t) => t.name === tag)) continue;
      const tagObject = (full.tags ?? []).find((t: { name: string }) => t.name === tag);
      subset.tags.push(structuredClone(tagObject ?? { name: tag }));
    }
  }
  if (!hasEntry) endpoints.operations.push(deriveAny(full, apiPath, method, op));
  const what = newSchemas.length ? `${newSchemas.length} new schema(s): ${newSchemas.join(', ')}` : 'no new schemas';
  return `${opId} (${verb} ${apiPath}): added; ${what}`;
}

function runVendor(full: Spec, opts: Options): number {
  const subsetName = subsetFileName(full.info.version as string);
  const subsetFile = readJson<Spec>(path.join(opts.dir, subsetName));
  const endpointsFile = readJson<Endpoints>(path.join(opts.dir, ENDPOINTS_FILE));
  const subset = subsetFile.value;
  const endpoints = endpointsFile.value;
  const before = endpoints.operations.length;
  for (const id of opts.ids) console.log(vendorOne(full, subset, endpoints, id));
  const bad = unresolvedRefs(subset);
  if (bad.length) throw new Error(`the subset would have unresolved $refs: ${bad.join(', ')}`);
  const subsetText = formatJson(subset, subsetFile.trailingNewline);
  const endpointsText = formatJson(endpoints, endpointsFile.trailingNewline);
  if (opts.dryRun) {
    for (const entry of endpoints.operations.slice(before)) console.log(JSON.stringify(entry, null, 2));
  } else {
    fs.mkdirSync(opts.outDir, { recursive: true });
    writeIfChanged(path.join(opts.outDir, subsetName), subsetText);
    writeIfChanged(path.join(opts.outDir, ENDPOINTS_FILE), endpointsText);
  }
  console.log(`${opts.dryRun ? 'would write' : 'wrote'} ${path.join(opts.outDir, subsetName)}`);
  console.log(`  sha256 ${sha256(subsetText)}`);
  console.log(`  ${summary(subset)}; endpoints.json: ${endpoints.operations.length} operations`);
  return 0;
}

function writeIfChanged(file: string, text: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return;
  fs.writeFileSync(file, text);
}

function main(): number {
  const opts = parseArgs(process.argv.slice(2));
  const full = readJson<Spec>(opts.full).value;
  if (opts.check) {
    const subset = readJson<Spec>(path.join(opts.dir, subsetFileName(full.info.version as string))).value;
    const endpoints = readJson<Endpoints>(path.join(opts.dir, ENDPOINTS_FILE)).value;
    return runCheck(full, subset, endpoints, opts.ids);
  }
  return runVendor(full, opts);
}

process.exitCode = main();
