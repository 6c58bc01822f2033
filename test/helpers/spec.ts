/**
 * The official Klaviyo OpenAPI spec (revision 2025-07-15, cut to our 24 GET operations) as response validators,
 * plus a minimal HTTP GET that speaks Klaviyo's headers. Tests use these to hold the sandbox to the real contract.
 */
import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { request } from 'undici';
import { ROOT } from './sandbox';

export const KLAVIYO_DIR = path.resolve(ROOT, 'spec', 'klaviyo');
export const SPEC_FILE = path.join(KLAVIYO_DIR, 'openapi-2025-07-15-subset.json');
export const REVISION = '2025-07-15';

type Json = unknown;
interface Operation {
  operationId: string;
  path: string;
  responses: Record<string, { content?: Record<string, { schema: Json }> } | { $ref: string }>;
}

/**
 * Rewrites OAS 3.0 schema dialect into JSON Schema that Ajv validates as the spec means it:
 * - `nullable: true` adds 'null' to the `type` (and `enum`), or without a `type` becomes `anyOf: [{type: 'null'}, <schema>]`:
 *   Ajv's own `nullable` needs a sibling `type`, and this spec puts `nullable` next to `$ref` and `oneOf`
 *   (e.g. `Subscriptions.email`).
 * - `oneOf` becomes `anyOf`. The spec's unions are not exclusive: `send_options` is oneOf three identical schemas
 *   (Email/SMS/PushSendOptions) and `[integer, number]` matches an integer twice, so a strict `oneOf` would reject
 *   every real campaign. The official SDK's deserializer likewise takes the first branch that fits.
 * - `discriminator` (none in this subset today) is dropped: with `anyOf` the branches decide by their own `enum`s.
 */
export function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'nullable' || k === 'discriminator') continue;
    // Under these keys the object's keys are names (of properties or schemas), not keywords.
    if (k === 'properties' || k === 'schemas' || k === 'responses') out[k] = mapValues(v, toJsonSchema);
    else out[k === 'oneOf' ? 'anyOf' : k] = toJsonSchema(v);
  }
  if ((node as Record<string, Json>).nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    return out;
  }
  return { anyOf: [{ type: 'null' }, out] };
}

function mapValues(obj: Json, f: (v: Json) => Json): Json {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return obj;
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, f(v)]));
}

interface LoadedSpec {
  ajv: Ajv;
  operations: Map<string, Operation>;
  validators: Map<string, ValidateFunction>;
}

let loaded: LoadedSpec | undefined;

function load(): LoadedSpec {
  if (loaded) return loaded;
  let raw: { paths: Record<string, { get?: Operation; post?: Operation }>; components: Json };
  try {
    raw = JSON.parse(fs.readFileSync(SPEC_FILE, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the Klaviyo spec at ${SPEC_FILE} (vendored in spec/klaviyo/): ${String(err)}`);
  }
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ components: toJsonSchema(raw.components) }, 'spec');
  const operations = new Map<string, Operation>();
  // a GET, or a reporting API POST (the subset vendors one operation per path)
  for (const [p, item] of Object.entries(raw.paths)) {
    const op = (item.get ?? item.post)!;
    operations.set(op.operationId, { ...op, path: p });
  }
  loaded = { ajv, operations, validators: new Map() };
  return loaded;
}

export function operationIds(): string[] {
  return [...load().operations.keys()];
}

/** The schema $ref the spec gives for `operationId`'s response to `status` (200, or the 4XX / 5XX class). */
function responseSchemaRef(op: Operation, status: number): string {
  const key = status === 200 ? '200' : status >= 400 && status < 500 ? '4XX' : status >= 500 && status < 600 ? '5XX' : undefined;
  const resp = key === undefined ? undefined : op.responses[key];
  if (!resp) throw new Error(`${op.operationId} declares no response for status ${status} (only 200, 4XX, 5XX)`);
  if ('$ref' in resp) return `spec${resp.$ref}/content/application~1vnd.api+json/schema`;
  const schema = resp.content?.['application/vnd.api+json']?.schema as { $ref?: string } | undefined;
  if (!schema?.$ref) throw new Error(`${op.operationId} ${key}: expected an application/vnd.api+json schema $ref`);
  return `spec${schema.$ref}`;
}

function validatorFor(operationId: string, status: number): ValidateFunction {
  const spec = load();
  const op = spec.operations.get(operationId);
  if (!op) throw new Error(`unknown operationId '${operationId}'; the spec has: ${operationIds().join(', ')}`);
  const ref = responseSchemaRef(op, status);
  let v = spec.validators.get(ref);
  if (!v) {
    v = spec.ajv.compile({ $ref: ref });
    spec.validators.set(ref, v);
  }
  return v;
}

function describeError(e: ErrorObject, body: Json): string {
  let at: Json = body;
  for (const part of e.instancePath.split('/').slice(1)) {
    at = at && typeof at === 'object' ? (at as Record<string, Json>)[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  const shown = JSON.stringify(at);
  const value = shown === undefined ? '' : ` (got ${shown.length > 80 ? `${shown.slice(0, 77)}...` : shown})`;
  return `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.keyword === 'enum' ? `: ${JSON.stringify(e.params.allowedValues)}` : ''}${value} [schema ${e.schemaPath}]`;
}

/**
 * Validates a response body against the spec: the operation's 200 schema, or ClientError / ServerError for 4xx / 5xx.
 * Returns readable error lines (empty when valid), at most `limit` of them; `anyOf` noise is folded away.
 */
export function validateResponse(operationId: string, status: number, body: Json, limit = 12): string[] {
  const v = validatorFor(operationId, status);
  if (v(body)) return [];
  const errors = v.errors ?? [];
  // A failed anyOf reports every branch's complaints; the leaf errors name the real problem more clearly, and the
  // 'must be null' of a nullable's null branch (see toJsonSchema) never does.
  const leaves = errors.filter((e) => e.keyword !== 'anyOf' && !(e.keyword === 'type' && e.params.type === 'null'));
  const lines = [...new Set((leaves.length ? leaves : errors).map((e) => describeError(e, body)))];
  const more = lines.length > limit ? [`... and ${lines.length - limit} more`] : [];
  return [...lines.slice(0, limit), ...more].map((l) => `${operationId} ${status}: ${l}`);
}

export interface KlaviyoResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined when the body is not JSON (see `text`). */
  body: any;
  text: string;
}

export interface KlaviyoGetOptions {
  /** Private key sent as `Authorization: Klaviyo-API-Key <key>`; null sends no Authorization header. */
  key: string | null;
  /** The `revision` header; null leaves it out. Defaults to 2025-07-15. */
  revision?: string | null;
  headers?: Record<string, string>;
}

/** GET a Klaviyo-style URL: `pathAndQuery` is `/api/...` (joined to baseUrl) or a full URL such as `links.next`. */
export async function klaviyoGet(baseUrl: string, pathAndQuery: string, opts: KlaviyoGetOptions): Promise<KlaviyoResponse> {
  const url = /^https?:\/\//.test(pathAndQuery) ? pathAndQuery : `${baseUrl}${pathAndQuery}`;
  const headers: Record<string, string> = { accept: 'application/vnd.api+json', ...opts.headers };
  if (opts.key !== null) headers.authorization = `Klaviyo-API-Key ${opts.key}`;
  const revision = opts.revision === undefined ? REVISION : opts.revision;
  if (revision !== null) headers.revision = revision;
  const res = await request(url, { method: 'GET', headers });
  const text = await res.body.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body, text };
}

/**
 * Validates a request body against the official request schema of a reporting POST (its requestBody `$ref`), so
 * that tests hold what they send, and what the sandbox accepts, to the real contract as well.
 */
export function validateRequest(operationId: string, body: Json): string[] {
  const spec = load();
  const op = spec.operations.get(operationId) as
    (Operation & { requestBody?: { content: Record<string, { schema: { $ref: string } }> } }) | undefined;
  const ref = op?.requestBody?.content['application/vnd.api+json']?.schema.$ref;
  if (!ref) throw new Error(`${operationId} has no application/vnd.api+json request body`);
  let v = spec.validators.get(`spec${ref}`);
  if (!v) {
    v = spec.ajv.compile({ $ref: `spec${ref}` });
    spec.validators.set(`spec${ref}`, v);
  }
  return v(body) ? [] : (v.errors ?? []).map((e) => describeError(e, body));
}
