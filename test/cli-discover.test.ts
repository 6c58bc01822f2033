/**
 * `klaviyo-sync discover` as a real process: all 22 streams, with endpoint, scopes, rate tier and page size as the
 * Klaviyo contract (spec/klaviyo/endpoints.json) gives them, and key, cursor and parent as the stream table does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { STREAMS, STREAM_NAMES, getStream } from '../streams/streams';
import { partitionsOf } from '../streams/partitions';
import type { DiscoveredStream } from '../client/commands/discover';
import { cli } from './helpers/process';
import { KLAVIYO_DIR } from './helpers/spec';

/** `klaviyo-sync <args>`, which must exit 0 */
async function run(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await cli(args);
  assert.equal(r.code, 0, r.stderr);
  return r;
}

interface EndpointOperation {
  operationId: string;
  path: string;
  scopes: string[];
  ratelimit: { burst: string; steady: string };
  page_size: { maximum: number } | null;
  max_per_page_from_description: number | null;
  page_cursor: boolean;
}
const operations = new Map(
  (JSON.parse(fs.readFileSync(path.join(KLAVIYO_DIR, 'endpoints.json'), 'utf8')) as { operations: EndpointOperation[] }).operations.map(
    (o) => [o.operationId, o],
  ),
);

void test('discover --json lists the 22 streams with the values of the Klaviyo contract and the stream table', async () => {
  const { stdout } = await run(['discover', '--json']);
  const streams = JSON.parse(stdout) as DiscoveredStream[];
  assert.deepEqual(
    streams.map((s) => s.name),
    [...STREAM_NAMES],
  );
  assert.equal(streams.length, 22);

  for (const s of streams) {
    const op = operations.get(s.operation);
    assert.ok(op, `${s.name}: operation ${s.operation} is not in endpoints.json`);
    assert.equal(s.endpoint, op.path, `${s.name}: endpoint`);
    assert.deepEqual(s.scopes, op.scopes, `${s.name}: scopes`);
    assert.deepEqual(
      s.rateLimit,
      { burst: parseInt(op.ratelimit.burst, 10), steady: parseInt(op.ratelimit.steady, 10) },
      `${s.name}: rate tier`,
    );
    const documented = op.page_size?.maximum ?? op.max_per_page_from_description;
    // get_campaigns, get_coupons and get_coupon_codes_for_coupon document no page size: the sandbox's (campaigns:
    // observed) 10, 5 and 100 are what the table says
    const def = STREAMS.find((d) => d.name === s.name)!;
    const undocumented: Record<string, number> = { get_campaigns: 10, get_coupons: 5, get_coupon_codes_for_coupon: 100 };
    assert.equal(s.pageSize, documented ?? (op.page_cursor ? undocumented[s.operation] : def.servedPageSize), `${s.name}: page size`);
    assert.equal(s.description, def.description);
    assert.deepEqual(s.primaryKey, def.primaryKey);
  }

  const byName = new Map(streams.map((s) => [s.name, s]));
  // incremental exactly where there is a cursor, backfill where it is read in time windows; the partitioning stated in words
  for (const s of streams) {
    const windows = partitionsOf(getStream(s.name)).windows !== null;
    const modes = !s.cursor ? ['full-refresh'] : windows ? ['full-refresh', 'incremental', 'backfill'] : ['full-refresh', 'incremental'];
    assert.deepEqual(s.modes, modes, s.name);
  }
  assert.deepEqual(
    streams.filter((s) => s.modes.includes('backfill')).map((s) => s.name),
    ['profiles', 'events'],
  );
  assert.match(byName.get('campaigns')!.partitioning, /^6 filters \(email, email_archived, .*\); rows keep channel$/);
  assert.match(byName.get('events')!.partitioning, /up to 32 time windows of datetime/);
  assert.equal(byName.get('list_profiles')!.partitioning, 'one listing per row of lists (list_id)');
  assert.equal(
    byName.get('flow_messages')!.partitioning,
    'one listing per row of flow_actions whose action_type starts with SEND_ (flow_action_id)',
  );
  assert.equal(byName.get('tags')!.partitioning, 'one listing');
  assert.match(byName.get('global_exclusions')!.partitioning, /^5 filters \(hard_bounce, invalid_email, .*\); rows keep reason$/);
  assert.deepEqual(Object.keys(byName.get('events')!.options), ['metric_name', 'attributions']);
  assert.match(byName.get('profiles')!.options.predictive_analytics, /10\/s, 150\/min/);
  assert.deepEqual(byName.get('tags')!.options, {});
  const cursors = Object.fromEntries(streams.map((s) => [s.name, s.cursor]));
  assert.deepEqual(cursors, {
    profiles: { field: 'updated', operator: 'greater-than' },
    lists: null,
    segments: null,
    campaigns: null,
    flows: null,
    templates: { field: 'updated', operator: 'greater-or-equal' },
    events: { field: 'datetime', operator: 'greater-or-equal' },
    metrics: null,
    tags: null,
    tag_groups: null,
    catalog_items: null,
    catalog_variants: null,
    catalog_categories: null,
    forms: { field: 'updated_at', operator: 'greater-or-equal' },
    coupons: null,
    global_exclusions: null,
    list_profiles: { field: 'joined_group_at', operator: 'greater-or-equal' },
    segment_profiles: { field: 'joined_group_at', operator: 'greater-or-equal' },
    campaign_messages: null,
    flow_actions: null,
    flow_messages: null,
    coupon_codes: null,
  });
  assert.deepEqual(
    streams.filter((s) => s.parent).map((s) => [s.name, s.parent, s.primaryKey]),
    [
      ['list_profiles', 'lists', ['list_id', 'profile_id']],
      ['segment_profiles', 'segments', ['segment_id', 'profile_id']],
      ['campaign_messages', 'campaigns', ['campaign_id', 'id']],
      ['flow_actions', 'flows', ['flow_id', 'id']],
      ['flow_messages', 'flow_actions', ['flow_action_id', 'id']],
      ['coupon_codes', 'coupons', ['coupon_id', 'id']],
    ],
  );
  assert.equal(byName.get('catalog_items')!.endpoint, '/api/catalog-items');
  assert.deepEqual(byName.get('segment_profiles')!.scopes, ['profiles:read', 'segments:read']);
});

void test('discover prints a table: a header and one row per stream with endpoint, key, cursor, parent, page size, rate and scopes', async () => {
  const [{ stdout }, help] = await Promise.all([run(['discover']), run(['discover', '--help'])]);
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines.length, 23, stdout);
  assert.match(
    lines[0],
    /^STREAM\s+ENDPOINT\s+MODES\s+PRIMARY KEY\s+CURSOR\s+PARENT\s+PAGE SIZE\s+RATE \(BURST, STEADY\)\s+SCOPES\s+DESCRIPTION$/,
  );
  const rows = new Map(lines.slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s{2,}/)]));
  assert.deepEqual([...rows.keys()], [...STREAM_NAMES]);
  assert.deepEqual(rows.get('profiles')!.slice(0, 9), [
    'profiles',
    'GET /api/profiles',
    'full-refresh, incremental, backfill',
    'id',
    'updated greater-than',
    '-',
    '100',
    '75/s, 700/min',
    'profiles:read',
  ]);
  assert.deepEqual(rows.get('flows')!.slice(0, 9), [
    'flows',
    'GET /api/flows',
    'full-refresh',
    'id',
    '-',
    '-',
    '50',
    '3/s, 60/min',
    'flows:read',
  ]);
  assert.deepEqual(rows.get('list_profiles')!.slice(0, 9), [
    'list_profiles',
    'GET /api/lists/{id}/profiles',
    'full-refresh, incremental',
    'list_id, profile_id',
    'joined_group_at greater-or-equal',
    'lists',
    '100',
    '75/s, 700/min',
    'lists:read, profiles:read',
  ]);
  assert.match(help.stdout, /--json/);
});
