/**
 * The stream table against the Klaviyo contract (spec/klaviyo/endpoints.json, revision 2025-07-15): every value
 * the table writes out literally must be one the operation documents or allows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { STREAMS, STREAM_NAMES, getStream, isStreamName } from '../streams/streams';
import { idColumnOf, keepsParentRow, parentOf, partitionsOf, sortOf } from '../streams/partitions';
import { optionsOf, rateOperation, requestParams } from '../streams/options';
import { STREAM_OPERATIONS } from '../lib/klaviyo/operations';
import type { ParentPartitioning, PartitionDef, StreamDef } from '../streams/types';
import { KLAVIYO_DIR } from './helpers/spec';
import attributesDoc from '../streams/attributes.json';

const specAttributeNames = (s: StreamDef): string[] =>
  ((attributesDoc.operations as Record<string, Array<{ name: string }>>)[s.operation] ?? []).map((a) => a.name);

interface EndpointOperation {
  operationId: string;
  path: string;
  path_params: string[];
  query_params: string[];
  scopes: string[];
  ratelimit: { burst: string; steady: string };
  ratelimit_conditional: Array<{ when: string; burst: string; steady: string }>;
  include: string[];
  included_schemas: string[];
  filter: Array<{ field: string; operators: string[] }>;
  filter_required: boolean;
  page_size: { default: number; minimum: number; maximum: number } | null;
  max_per_page_from_description: number | null;
  page_cursor: boolean;
  sort: string[];
  additional_fields: Record<string, string[]>;
  sparse_fieldsets: Record<string, string[]>;
  collection: boolean;
  resource_type: string;
  relationships: string[];
  attributes: Array<{ name: string; type: string }>;
}

const endpoints = JSON.parse(fs.readFileSync(path.join(KLAVIYO_DIR, 'endpoints.json'), 'utf8')) as {
  revision: string;
  operations: EndpointOperation[];
};
const operations = new Map(endpoints.operations.map((o) => [o.operationId, o]));
const subset = JSON.parse(fs.readFileSync(path.join(KLAVIYO_DIR, `openapi-${endpoints.revision}-subset.json`), 'utf8')) as any;

function operationOf(stream: StreamDef): EndpointOperation {
  return endpointOf(stream.operation, stream.name);
}

function endpointOf(operationId: string, what = operationId): EndpointOperation {
  const op = operations.get(operationId);
  assert.ok(op, `${what}: operation ${operationId} is not in endpoints.json`);
  return op;
}

/** Splits `a,b(c,d),'e,f'` at its top-level commas. */
function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") quoted = !quoted;
    else if (!quoted && (ch === '(' || ch === '[')) depth++;
    else if (!quoted && (ch === ')' || ch === ']')) depth--;
    else if (!quoted && depth === 0 && ch === ',') {
      args.push(text.slice(start, i));
      start = i + 1;
    }
  }
  args.push(text.slice(start));
  return args;
}

/** The (field, operator) pairs of a Klaviyo filter expression such as `and(equals(a,'x'),equals(b,true))`. */
function filterTerms(expression: string): Array<{ field: string; operator: string }> {
  const m = /^([a-z-]+)\((.*)\)$/.exec(expression);
  assert.ok(m, `not a filter expression: ${expression}`);
  const [, operator, inner] = m;
  const args = splitArgs(inner);
  if (operator === 'and') return args.flatMap(filterTerms);
  assert.equal(args.length, 2, `${expression}: expected operator(field,value)`);
  return [{ field: args[0], operator }];
}

function assertFilterAllowed(op: EndpointOperation, field: string, operator: string, what: string): void {
  const allowed = op.filter.find((f) => f.field === field);
  assert.ok(allowed, `${what}: ${op.operationId} cannot filter on ${field}`);
  assert.ok(
    allowed.operators.includes(operator),
    `${what}: ${op.operationId} allows ${allowed.operators.join(', ')} on ${field}, not ${operator}`,
  );
}

/** The fixed filters of a stream partitioned by filters; none for the other kinds. */
function filtersOf(stream: StreamDef): readonly PartitionDef[] {
  return stream.partitioning.kind === 'filters' ? stream.partitioning.partitions : [];
}

function perSecond(rate: string): number {
  const m = /^(\d+)\/([sm])$/.exec(rate);
  assert.ok(m, `unexpected rate ${rate}`);
  return Number(m[1]);
}

void describe('stream table', () => {
  void it('has the twenty-one streams in the agreed order, reachable by name', () => {
    const expected = [
      'profiles',
      'lists',
      'segments',
      'campaigns',
      'flows',
      'templates',
      'events',
      'metrics',
      'tags',
      'tag_groups',
      'catalog_items',
      'catalog_variants',
      'catalog_categories',
      'forms',
      'coupons',
      'global_exclusions',
      'list_profiles',
      'segment_profiles',
      'campaign_messages',
      'flow_actions',
      'flow_messages',
      'coupon_codes',
    ];
    assert.deepEqual(
      STREAMS.map((s) => s.name),
      expected,
    );
    assert.deepEqual([...STREAM_NAMES], expected);
    for (const name of expected) {
      assert.equal(getStream(name).name, name);
      assert.equal(isStreamName(name), true);
    }
    assert.equal(isStreamName('profile'), false);
    assert.throws(() => getStream('profile'), /unknown stream "profile"; the streams are: profiles, lists, .*segment_profiles/);
  });

  void it('reads collection operations that exist in revision 2025-07-15, at their paths and resource types', () => {
    assert.equal(endpoints.revision, '2025-07-15');
    for (const s of STREAMS) {
      const op = operationOf(s);
      assert.equal(op.collection, true, `${s.name}: ${op.operationId} is not a collection`);
      assert.equal(s.path, op.path, `${s.name}: path`);
      assert.equal(s.resourceType, op.resource_type, `${s.name}: resource type`);
    }
    // one operation per stream, but for the global exclusions: the profiles that get_profiles' suppression filters select
    const shared = STREAMS.filter((s) => STREAMS.some((o) => o !== s && o.operation === s.operation)).map((s) => s.name);
    assert.deepEqual(shared, ['profiles', 'global_exclusions']);
  });

  void it('copies scopes and rate limits from the spec exactly', () => {
    for (const s of STREAMS) {
      const op = operationOf(s);
      assert.deepEqual([...s.scopes].sort(), [...op.scopes].sort(), `${s.name}: scopes`);
      assert.deepEqual(
        s.rateLimit,
        { burst: perSecond(op.ratelimit.burst), steady: perSecond(op.ratelimit.steady) },
        `${s.name}: rate limit`,
      );
      assert.match(op.ratelimit.burst, /\/s$/);
      assert.match(op.ratelimit.steady, /\/m$/);
    }
  });

  void it('sends page[size] only where the operation takes it, within its documented range', () => {
    for (const s of STREAMS) {
      const op = operationOf(s);
      if (s.pageSize === undefined) {
        assert.equal(op.page_size, null, `${s.name}: ${op.operationId} takes page[size] (max ${op.page_size?.maximum}); send the maximum`);
        continue;
      }
      assert.ok(op.page_size && op.query_params.includes('page[size]'), `${s.name}: ${op.operationId} has no page[size]`);
      assert.ok(s.pageSize >= op.page_size.minimum && s.pageSize <= op.page_size.maximum, `${s.name}: page size ${s.pageSize}`);
      assert.equal(s.pageSize, op.page_size.maximum, `${s.name}: fewer requests with the maximum page size`);
    }
  });

  void it('states the page size the API serves: what is sent, else what the description documents', () => {
    const served = Object.fromEntries(STREAMS.map((s) => [s.name, s.servedPageSize]));
    assert.deepEqual(served, {
      profiles: 100,
      lists: 10,
      segments: 10,
      campaigns: 10,
      flows: 50,
      templates: 10,
      events: 200,
      metrics: 200,
      tags: 50,
      tag_groups: 25,
      catalog_items: 100,
      catalog_variants: 100,
      catalog_categories: 100,
      forms: 100,
      // no page[size], no documented maximum: what the sandbox serves
      coupons: 5,
      global_exclusions: 100,
      list_profiles: 100,
      segment_profiles: 100,
      // the operation has no cursor: one page holds all of a campaign's messages (one, two for an A/B test)
      campaign_messages: 2,
      flow_actions: 50,
      flow_messages: 50,
      // no page[size], no documented maximum: what the sandbox serves
      coupon_codes: 100,
    });
    for (const s of STREAMS) {
      const op = operationOf(s);
      if (!op.page_cursor) {
        assert.equal(s.pageSize, undefined, `${s.name}: ${op.operationId} takes no page[size]`);
        continue;
      }
      const documented = s.pageSize ?? op.max_per_page_from_description;
      // get_campaigns documents no page size: 10 is what the API is known to serve
      if (documented !== null) assert.equal(s.servedPageSize, documented, `${s.name}: served page size`);
    }
    assert.equal(operationOf(getStream('campaigns')).max_per_page_from_description, null);
  });

  void it('sorts and filters only in ways the operation allows', () => {
    for (const s of STREAMS) {
      const op = operationOf(s);
      // the sort is derived: ascending on the cursor (a watermark needs it), none without a cursor
      const sort = sortOf(s);
      assert.equal(sort, s.cursor?.field, `${s.name}: sorted on its cursor, or not at all`);
      if (sort !== undefined) assert.ok(op.sort.includes(sort), `${s.name}: sort ${sort} not in ${op.sort.join(', ')}`);
      if (s.cursor) {
        assertFilterAllowed(op, s.cursor.field, s.cursor.operator, `${s.name} cursor`);
        const attribute = op.attributes.find((a) => a.name === s.cursor!.field);
        assert.equal(attribute?.type, 'string(date-time)', `${s.name}: cursor ${s.cursor.field} must be a date-time attribute`);
        // inclusive where the endpoint allows it: re-reading the boundary row is harmless, missing rows is not
        const inclusive = op.filter.find((f) => f.field === s.cursor!.field)!.operators.includes('greater-or-equal');
        assert.equal(s.cursor.operator, inclusive ? 'greater-or-equal' : 'greater-than', `${s.name}: cursor operator`);
        // Klaviyo datetimes have one-second resolution: an exclusive filter must read the watermark's second again
        if (s.cursor.operator === 'greater-than')
          assert.ok(s.cursor.overlapSeconds >= 1, `${s.name}: greater-than needs an overlap of 1 s`);
      }
      for (const p of filtersOf(s)) {
        assert.ok(op.query_params.includes('filter'));
        for (const term of filterTerms(p.filter)) assertFilterAllowed(op, term.field, term.operator, `${s.name} partition ${p.label}`);
      }
      if (op.filter_required) assert.ok(filtersOf(s).length > 0, `${s.name}: ${op.operationId} requires a filter on every request`);
    }
  });

  void it('goes incremental exactly on profiles, events, templates (issue #3), forms and the memberships (issue #11)', () => {
    const cursors = Object.fromEntries(STREAMS.filter((s) => s.cursor).map((s) => [s.name, s.cursor]));
    // memberships: a first run reads every member, and a run is a full refresh once the last is a week old
    const joined = {
      field: 'joined_group_at',
      operator: 'greater-or-equal',
      overlapSeconds: 0,
      defaultLookbackDays: null,
      fullRefreshEveryDays: 7,
    };
    assert.deepEqual(cursors, {
      profiles: { field: 'updated', operator: 'greater-than', overlapSeconds: 1, defaultLookbackDays: 30 },
      templates: { field: 'updated', operator: 'greater-or-equal', overlapSeconds: 0, defaultLookbackDays: 365 },
      events: { field: 'datetime', operator: 'greater-or-equal', overlapSeconds: 0, defaultLookbackDays: 30 },
      forms: { field: 'updated_at', operator: 'greater-or-equal', overlapSeconds: 0, defaultLookbackDays: 365 },
      list_profiles: joined,
      segment_profiles: joined,
    });
    assert.deepEqual(getStream('profiles').params, { 'additional-fields[profile]': 'subscriptions' });
    assert.deepEqual(getStream('events').relationshipColumns, { metric: 'metric_id', profile: 'profile_id' });
  });

  void it('partitions campaigns by channel × archived and flows by archived', () => {
    const campaigns = filtersOf(getStream('campaigns'));
    assert.equal(campaigns.length, 6);
    for (const channel of ['email', 'sms', 'mobile_push']) {
      for (const archived of [false, true]) {
        assert.ok(
          campaigns.some((p) => p.filter === `and(equals(messages.channel,'${channel}'),equals(archived,${archived}))`),
          `campaigns: no partition for ${channel}, archived ${archived}`,
        );
      }
    }
    assert.deepEqual(
      filtersOf(getStream('flows')).map((p) => p.filter),
      ['equals(archived,false)', 'equals(archived,true)'],
    );
    for (const s of STREAMS) {
      const labels = filtersOf(s).map((p) => p.label);
      assert.equal(new Set(labels).size, labels.length, `${s.name}: partition labels must be unique`);
      for (const label of labels) assert.match(label, /^[a-z_]+$/);
    }
  });

  void it("states what a partition's filter says and its rows do not carry: each campaign's channel", () => {
    const campaigns = partitionsOf(getStream('campaigns'));
    assert.deepEqual(campaigns.statedColumns, ['channel']);
    for (const p of filtersOf(getStream('campaigns'))) {
      const channel = /messages\.channel,'([a-z_]+)'/.exec(p.filter)![1];
      assert.deepEqual(campaigns.columnsOf(p.label), { channel }, p.label);
    }
    assert.deepEqual(partitionsOf(getStream('flows')).statedColumns, [], 'archived is a flow attribute already');
    for (const s of STREAMS) {
      const parts = partitionsOf(s);
      const attributes = new Set(specAttributeNames(s));
      for (const p of filtersOf(s)) {
        assert.deepEqual(
          Object.keys(p.columns ?? {}),
          parts.statedColumns,
          `${s.name} ${p.label}: every partition states the same columns`,
        );
      }
      for (const c of parts.statedColumns) {
        assert.ok(!attributes.has(c), `${s.name}: stated column ${c} would shadow an attribute`);
        assert.ok(!s.primaryKey.includes(c), `${s.name}: stated column ${c} is a key column`);
      }
    }
  });

  void it('sends only query parameters and values the operation documents', () => {
    for (const s of STREAMS) {
      const op = operationOf(s);
      for (const [name, value] of Object.entries(s.params ?? {})) {
        assert.ok(op.query_params.includes(name), `${s.name}: ${op.operationId} has no ${name}`);
        const allowed = op.additional_fields[name] ?? op.sparse_fieldsets[name];
        assert.ok(allowed, `${s.name}: no enum for ${name}`);
        for (const v of value.split(',')) assert.ok(allowed.includes(v), `${s.name}: ${name}=${v} is not allowed`);
      }
      for (const relationship of Object.keys(s.relationshipColumns ?? {})) {
        assert.ok(op.relationships.includes(relationship), `${s.name}: no relationship ${relationship}`);
      }
      for (const attribute of s.keepAttributes ?? []) {
        assert.ok(
          op.attributes.some((a) => a.name === attribute),
          `${s.name}: no attribute ${attribute}`,
        );
        // the attribute itself, or a part of it (`subscriptions.email.marketing.suppression` of `subscriptions`)
        const requested = s.params?.['fields[profile]']?.split(',') ?? [];
        assert.ok(
          requested.some((f) => f === attribute || f.startsWith(`${attribute}.`)),
          `${s.name}: ${attribute} is kept but not requested`,
        );
      }
    }
  });

  void it('offers options whose parameters the operation documents, at the tier the spec gives such requests', () => {
    for (const s of STREAMS) {
      const op = operationOf(s);
      for (const [name, option] of Object.entries(optionsOf(s))) {
        assert.match(name, /^[a-z_]+$/);
        const params = requestParams(s, [name]);
        for (const [param, value] of Object.entries(params)) {
          assert.ok(op.query_params.includes(param), `${s.name}.${name}: ${op.operationId} has no ${param}`);
          const allowed = param === 'include' ? op.include : (op.additional_fields[param] ?? op.sparse_fieldsets[param]);
          assert.ok(allowed, `${s.name}.${name}: no enum for ${param}`);
          for (const v of value.split(',')) assert.ok(allowed.includes(v), `${s.name}.${name}: ${param}=${v} is not allowed`);
        }
        for (const from of Object.values(option.includedColumns ?? {})) {
          assert.ok(op.relationships.includes(from.relationship), `${s.name}.${name}: no relationship ${from.relationship}`);
          assert.ok(params.include?.split(',').includes(from.relationship), `${s.name}.${name}: ${from.relationship} is not included`);
          if ('links' in from) {
            // the ids taken are relationships of the included resource, as the spec gives them
            const linked = new Set(
              op.included_schemas.flatMap((schema) =>
                Object.keys(subset.components.schemas[schema]?.properties?.relationships?.properties ?? {}),
              ),
            );
            for (const link of from.links)
              assert.ok(linked.has(link), `${s.name}.${name}: included resources have no ${link} relationship`);
          }
        }
        // a request with the option counts against the conditional tier the spec states for it, or the operation's
        const conditional = op.ratelimit_conditional.find((c) => {
          const [param, value] = c.when.split('=');
          return params[param]?.split(',').includes(value);
        });
        const tier = conditional ?? op.ratelimit;
        assert.deepEqual(
          option.rateLimit ?? s.rateLimit,
          { burst: parseInt(tier.burst, 10), steady: parseInt(tier.steady, 10) },
          `${s.name}.${name}: rate tier`,
        );
        assert.equal(rateOperation(s, [name]), option.rateLimit ? `${s.operation}+${name}` : s.operation);
        if (option.lookup) {
          // a read of one resource by id, documented like a listing's option: params, path, attributes and tier
          const { lookup } = option;
          const one = endpointOf(lookup.operation);
          assert.equal(one.path, lookup.path, `${s.name}.${name}: ${lookup.operation}'s path`);
          assert.equal(one.collection, false, `${s.name}.${name}: ${lookup.operation} reads one resource`);
          assert.equal(one.resource_type, s.resourceType, `${s.name}.${name}: ${lookup.operation}'s resource type`);
          for (const [param, value] of Object.entries(lookup.params)) {
            const allowed = one.additional_fields[param] ?? one.sparse_fieldsets[param];
            assert.ok(allowed, `${s.name}.${name}: ${lookup.operation} has no ${param}`);
            for (const v of value.split(',')) assert.ok(allowed.includes(v), `${s.name}.${name}: ${param}=${v} is not allowed`);
          }
          for (const a of lookup.attributes)
            assert.ok(
              one.attributes.some((x) => x.name === a),
              `${s.name}.${name}: ${lookup.operation} has no attribute ${a}`,
            );
          const when = one.ratelimit_conditional.find((c) => {
            const [param, value] = c.when.split('=');
            return lookup.params[param]?.split(',').includes(value);
          });
          const lookupTier = when ?? one.ratelimit;
          assert.deepEqual(lookup.rateLimit, { burst: parseInt(lookupTier.burst, 10), steady: parseInt(lookupTier.steady, 10) });
          assert.deepEqual(STREAM_OPERATIONS[`${lookup.operation}+${name}`].rateLimit, lookup.rateLimit, 'the limiter knows its budget');
        }
      }
    }
    assert.deepEqual(STREAM_OPERATIONS['get_list+profile_count'].rateLimit, { burst: 1, steady: 15 });
    assert.deepEqual(STREAM_OPERATIONS['get_segment+profile_count'].rateLimit, { burst: 1, steady: 15 });
    assert.deepEqual(requestParams(getStream('profiles'), ['predictive_analytics']), {
      'additional-fields[profile]': 'subscriptions,predictive_analytics',
    });
    assert.deepEqual(requestParams(getStream('events'), ['metric_name']), { include: 'metric', 'fields[metric]': 'name' });
    assert.throws(() => requestParams(getStream('tags'), ['metric_name']), /tags has no option "metric_name"/);
    // the limiter knows the lower tier's budget by that name
    assert.deepEqual(STREAM_OPERATIONS['get_profiles+predictive_analytics'].rateLimit, { burst: 10, steady: 150 });
    assert.deepEqual(STREAM_OPERATIONS.get_profiles.rateLimit, { burst: 75, steady: 700 });
  });

  void it("states each stream's partitioning as a kind, and what each kind means to the engine", () => {
    const kinds = Object.fromEntries(STREAMS.map((s) => [s.name, s.partitioning.kind]));
    assert.deepEqual(kinds, {
      profiles: 'windows',
      lists: 'none',
      segments: 'none',
      campaigns: 'filters',
      flows: 'filters',
      templates: 'none',
      events: 'windows',
      metrics: 'none',
      tags: 'none',
      tag_groups: 'none',
      catalog_items: 'none',
      catalog_variants: 'none',
      catalog_categories: 'none',
      forms: 'none',
      coupons: 'none',
      global_exclusions: 'filters',
      list_profiles: 'parent',
      segment_profiles: 'parent',
      campaign_messages: 'parent',
      flow_actions: 'parent',
      flow_messages: 'parent',
      coupon_codes: 'parent',
    });
    assert.deepEqual(partitionsOf(getStream('tags')).fixedKeys, ['']);
    assert.deepEqual(partitionsOf(getStream('tags')).request(''), {});
    const windows = partitionsOf(getStream('events'));
    assert.equal(windows.fixedKeys, null, 'the windows are computed at run time');
    assert.deepEqual(windows.request(''), {}, 'a full refresh reads one unbounded listing');
    assert.deepEqual(windows.request('2024-01-01T00:00:00Z..2024-02-01T00:00:00Z'), {
      window: { start: '2024-01-01T00:00:00Z', end: '2024-02-01T00:00:00Z' },
    });
    assert.deepEqual(windows.request('2024-01-01T00:00:00Z..'), { window: { start: '2024-01-01T00:00:00Z', end: null } });
    assert.throws(() => windows.request('2024-01-01'), /not a time window/);
    assert.equal(windows.fansOut, false, 'windows are paged by the stream workflow, at once');
    for (const s of STREAMS.filter((x) => x.partitioning.kind === 'windows')) {
      // a window's request is and(<cursor op>(field,start),less-than(field,end)): the endpoint must allow both
      assertFilterAllowed(operationOf(s), s.cursor!.field, 'less-than', `${s.name} window end`);
      assertFilterAllowed(operationOf(s), s.cursor!.field, s.cursor!.operator, `${s.name} window start`);
    }
    assert.deepEqual(partitionsOf(getStream('flows')).fixedKeys, ['not_archived', 'archived']);
    assert.deepEqual(partitionsOf(getStream('flows')).request('archived'), { partitionFilter: 'equals(archived,true)' });
    assert.throws(() => partitionsOf(getStream('flows')).request('x'), /flows has no partition "x"/);
    const members = partitionsOf(getStream('list_profiles'));
    assert.equal(members.fixedKeys, null, 'the keys are the parent ids, read at run time');
    assert.deepEqual(members.request('Xy12'), { parentId: 'Xy12' });
    assert.equal(members.notFoundIsEmpty, true, 'a vanished list reads as empty');
    assert.equal(members.fansOut, true);
    for (const s of STREAMS.filter((x) => x.partitioning.kind !== 'parent')) {
      assert.equal(partitionsOf(s).notFoundIsEmpty, false, `${s.name}: a 404 is an error`);
      assert.equal(partitionsOf(s).fansOut, false, s.name);
    }
  });

  void it('keys rows by id, and child rows by (parent id, their id) under their parent', () => {
    for (const s of STREAMS) {
      const op = operationOf(s);
      const parent = parentOf(s);
      if (!parent) {
        assert.deepEqual(s.primaryKey, ['id'], s.name);
        assert.equal(idColumnOf(s), 'id', s.name);
        assert.deepEqual(op.path_params, [], `${s.name}: a top-level stream has no path parameter`);
        continue;
      }
      // a membership's id is the profile's; another child's is its own
      const idColumn = s.resourceType === 'profile' ? 'profile_id' : 'id';
      assert.deepEqual(s.primaryKey, [parent.column, idColumn], s.name);
      assert.equal(idColumnOf(s), idColumn, s.name);
      assert.deepEqual(op.path_params, ['id'], s.name);
      assert.ok(s.path.includes('{id}'), s.name);
    }
    assert.deepEqual(getStream('list_profiles').partitioning, {
      kind: 'parent',
      stream: 'lists',
      column: 'list_id',
      onParentNotFound: 'empty',
      fanOut: true,
    });
    assert.deepEqual(getStream('segment_profiles').partitioning, {
      kind: 'parent',
      stream: 'segments',
      column: 'segment_id',
      onParentNotFound: 'empty',
      fanOut: true,
    });
    // one page per campaign: paged by the stream workflow, not a child workflow per campaign
    assert.deepEqual(getStream('campaign_messages').partitioning, {
      kind: 'parent',
      stream: 'campaigns',
      column: 'campaign_id',
      onParentNotFound: 'empty',
      fanOut: false,
    });
    assert.equal(partitionsOf(getStream('campaign_messages')).fansOut, false);
    // a grandchild: a flow's steps partition their messages, the send steps only
    assert.deepEqual(getStream('flow_messages').partitioning, {
      kind: 'parent',
      stream: 'flow_actions',
      column: 'flow_action_id',
      onParentNotFound: 'empty',
      fanOut: false,
      parentRows: { field: 'action_type', prefix: 'SEND_' },
    });
    const sends = getStream('flow_messages').partitioning as ParentPartitioning;
    assert.equal(keepsParentRow(sends.parentRows, 'SEND_EMAIL'), true);
    assert.equal(keepsParentRow(sends.parentRows, 'SEND_SMS'), true);
    assert.equal(keepsParentRow(sends.parentRows, 'TIME_DELAY'), false);
    // `_` is no wildcard here, as it is in SQL's LIKE
    assert.equal(keepsParentRow(sends.parentRows, 'SENDXEMAIL'), false);
    assert.equal(keepsParentRow(sends.parentRows, null), false);
    assert.equal(keepsParentRow(undefined, null), true);
    assert.equal(partitionsOf(getStream('list_profiles')).fansOut, true);
    for (const name of ['list_profiles', 'segment_profiles']) {
      assert.deepEqual(getStream(name).keepAttributes, ['joined_group_at']);
      assert.equal(getStream(name).pageSize, 100);
    }
  });

  void it('reaches every stream from a top-level one, with parents earlier in the table', () => {
    for (const [index, s] of STREAMS.entries()) {
      const seen = new Set<string>([s.name]);
      let current: StreamDef = s;
      for (let parent = parentOf(current); parent; parent = parentOf(current)) {
        const parentIndex = STREAM_NAMES.indexOf(parent.stream);
        assert.ok(parentIndex >= 0, `${current.name}: parent ${parent.stream} is not a stream`);
        assert.ok(parentIndex < index, `${s.name}: its parent ${parent.stream} must come first`);
        assert.ok(!seen.has(parent.stream), `${s.name}: parent cycle`);
        seen.add(parent.stream);
        current = getStream(parent.stream);
      }
      assert.equal(parentOf(current), null);
      // a parent's ids are listed with its own fixed keys, or through its own parent's ids (flow_messages' steps);
      // a parent of time windows is not supported
      if (s !== current) assert.equal(partitionsOf(getStream(parentOf(s)!.stream)).windows, null, `${s.name}: parent of windows`);
    }
  });

  void it('is frozen, so no caller can change a run for the others', () => {
    const profiles = getStream('profiles');
    assert.ok(Object.isFrozen(STREAMS));
    assert.ok(Object.isFrozen(profiles) && Object.isFrozen(profiles.cursor) && Object.isFrozen(profiles.scopes));
    assert.throws(() => (profiles.scopes as string[]).push('x'), TypeError);
    assert.throws(() => ((filtersOf(getStream('campaigns'))[0] as { filter: string }).filter = 'x'), TypeError);
  });
});
