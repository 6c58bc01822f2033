/**
 * Replication config: YAML in Sling's shape → a validated, ordered plan; every mistake reported at once, each with
 * its fix.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  parseReplicationYaml,
  buildReplicationPlan,
  replicationToJson,
  resolveReplicationInput,
  type ReplicationConfig,
  type ReplicationInput,
} from '../config/replication';
import { STREAM_NAMES } from '../streams/streams';

const NOW = new Date('2025-06-01T12:00:00Z');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.name, 'ConfigError');
    // the message carries every problem, one per line after the header
    assert.equal(err.message.slice(err.message.indexOf('\n') + 1), err.problems.map((p) => `  ${p}`).join('\n'));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

const plan = (yaml: string) => buildReplicationPlan(parseReplicationYaml(yaml), { now: NOW });

void describe('parseReplicationYaml', () => {
  void it('reports YAML syntax errors with file, line, column and the parser message', () => {
    const text = 'source: KLAVIYO\ntarget: MY_PG\nstreams:\n  profiles: { mode: incremental\n  lists:\n';
    const err = (() => {
      try {
        parseReplicationYaml(text, 'conf/nightly.yaml');
      } catch (e) {
        return e as ConfigError;
      }
      assert.fail('no error');
    })();
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^conf\/nightly\.yaml is not valid YAML:/);
    assert.match(err.problems[0], /^conf\/nightly\.yaml:\d+:\d+: \S.+/);
    assert.match(err.message, /flow mapping|Flow map/i);
  });

  void it('gives the position of a duplicate stream entry', () => {
    const problems = problemsOf(() => parseReplicationYaml('source: K\ntarget: T\nstreams:\n  lists: ~\n  lists: { disabled: true }\n'));
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /^replication\.yaml:5:3: Map keys must be unique: "lists" is already on line 4; keep one\n {6} {2}lists: \{ disabled: true \}\n {6} {2}\^$/,
    );
  });

  void it('returns a config that is plain JSON and plans the same', () => {
    const yaml = "source: KLAVIYO\ntarget: MY_PG\ndefaults:\n  source_options: { start_date: 2024-01-01 }\nstreams:\n  '*':\n";
    const config = parseReplicationYaml(yaml);
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config);
    assert.equal(config.defaults?.source_options?.start_date, '2024-01-01');
    assert.deepEqual(buildReplicationPlan(config, { now: NOW }), plan(yaml));
  });

  void it('rejects an empty file and a file that is not a mapping', () => {
    assert.match(problemsOf(() => parseReplicationYaml(''))[0], /is empty: write source: KLAVIYO, target: MY_PG and streams:/);
    assert.match(problemsOf(() => parseReplicationYaml('- profiles\n'))[0], /must be a mapping/);
  });
});

void describe('buildReplicationPlan', () => {
  void it("expands '*' to every stream with the defaults: full-refresh into klaviyo.<stream>", () => {
    const p = plan('source: KLAVIYO\ntarget: MY_PG\nstreams:\n  "*":\n');
    assert.equal(p.source, 'KLAVIYO');
    assert.equal(p.target, 'MY_PG');
    assert.equal(p.name, 'replication');
    assert.deepEqual(
      p.streams.map((s) => s.stream),
      [...STREAM_NAMES],
    );
    for (const s of p.streams) {
      assert.equal(s.mode, 'full-refresh');
      assert.deepEqual(s.object, { schema: 'klaviyo', table: s.stream });
      assert.equal(s.objectName, `klaviyo.${s.stream}`);
      assert.equal(s.startDate, undefined);
    }
    assert.equal(p.streams.find((s) => s.stream === 'list_profiles')?.parent, 'lists');
    assert.equal(p.streams.find((s) => s.stream === 'segment_profiles')?.parent, 'segments');
    assert.equal(p.streams.find((s) => s.stream === 'lists')?.parent, undefined);
  });

  void it("merges options: explicit entries win over '*', '*' wins over defaults; disabled drops a stream", () => {
    const p = plan(`
source: KLAVIYO
target: MY_PG
defaults:
  mode: full-refresh
  object: raw.{stream_name}
  source_options: { start_date: 2024-01-01 }
streams:
  '*':
    object: klaviyo_{stream_table}
    mode: incremental
  profiles:
    object: crm.people
    source_options: { start_date: '2025-05-01T10:00:00+02:00' }
  lists: { mode: full-refresh }
  tags: { disabled: true }
  catalog_items: { disabled: true }
  metrics: ~
`);
    const by = Object.fromEntries(p.streams.map((s) => [s.stream, s]));
    assert.equal(by.tags, undefined);
    assert.equal(by.catalog_items, undefined);
    assert.equal(p.streams.length, STREAM_NAMES.length - 2);
    assert.deepEqual(by.profiles, {
      stream: 'profiles',
      mode: 'incremental',
      object: { schema: 'crm', table: 'people' },
      objectName: 'crm.people',
      startDate: '2025-05-01T08:00:00Z',
    });
    // '*' asked for incremental: events and templates have a cursor and get it with the defaults' start date...
    assert.equal(by.events.mode, 'incremental');
    assert.equal(by.events.startDate, '2024-01-01T00:00:00Z');
    assert.equal(by.templates.mode, 'incremental');
    // ...streams without one run full-refresh, without a start date
    assert.equal(by.metrics.mode, 'full-refresh');
    assert.equal(by.metrics.startDate, undefined);
    assert.equal(by.lists.mode, 'full-refresh');
    // the '*' object (one part: the default schema) beats the defaults' object
    assert.deepEqual(by.events.object, { schema: 'klaviyo', table: 'klaviyo_events' });
  });

  void it('follows YAML anchors and merge keys', () => {
    const p = plan(`
source: K
target: T
streams:
  profiles: &incremental { mode: incremental, source_options: { start_date: 2025-01-01 } }
  events:
    <<: *incremental
    object: raw.events
`);
    assert.deepEqual(
      p.streams.map((s) => [s.stream, s.mode, s.startDate, s.objectName]),
      [
        ['profiles', 'incremental', '2025-01-01T00:00:00Z', 'klaviyo.profiles'],
        ['events', 'incremental', '2025-01-01T00:00:00Z', 'raw.events'],
      ],
    );
  });

  void it('re-enables a stream that the wildcard disables', () => {
    const p = plan("source: K\ntarget: T\nstreams:\n  '*': { disabled: true }\n  events: { disabled: false, mode: incremental }\n");
    assert.deepEqual(
      p.streams.map((s) => [s.stream, s.mode]),
      [['events', 'incremental']],
    );
  });

  void it('keeps the listed order but puts a parent before its child', () => {
    const p = plan('source: K\ntarget: T\nstreams:\n  events:\n  segment_profiles:\n  list_profiles:\n  lists:\n  profiles:\n');
    assert.deepEqual(
      p.streams.map((s) => s.stream),
      ['events', 'segment_profiles', 'lists', 'list_profiles', 'profiles'],
    );
  });

  void it('names the plan after its file, or as told', () => {
    const config = parseReplicationYaml('source: K\ntarget: T\nstreams:\n  tags:\n');
    assert.equal(buildReplicationPlan(config, { source: 'conf/nightly.yaml' }).name, 'nightly');
    assert.equal(buildReplicationPlan(config, { source: 'conf/nightly.yaml', name: 'hourly' }).name, 'hourly');
  });

  void it('collects every problem, one per line, each naming its fix', () => {
    const problems = problemsOf(() =>
      parseReplicationYaml(`
source: KLAVIYO
target: MY_PG
hooks: {}
defaults:
  mode: snapshot
  source_options: { start_date: 2030-01-01 }
streams:
  profile:
  lists: { mode: incremental }
  tags: { source_options: { start_date: 2024-02-30 } }
  events: { object: 'a.b.c', primary_key: [id] }
  flows: incremental
  campaigns: { object: '{stream}' }
  metrics: { object: 'klaviyo.1{stream_name}' }
`),
    );
    const expected = [
      /^hooks: Sling's hooks does not apply here: klaviyo-sync runs no hooks; run commands before or after `klaviyo-sync run`; remove it$/,
      /^defaults\.mode: unknown mode "snapshot"; use one of: full-refresh, incremental, backfill$/,
      /^defaults\.source_options\.start_date: "2030-01-01" is in the future .*use a past date$/,
      new RegExp(`^streams\\.profile: unknown stream "profile"; the streams are: ${STREAM_NAMES.join(', ')} \\(or '\\*' for all\\)$`),
      /^streams\.tags\.source_options\.start_date: "2024-02-30" is not a date: use ISO 8601, e\.g\. 2024-01-31/,
      /^streams\.events\.primary_key: Sling's primary_key does not apply here: each stream's primary key is Klaviyo's \(klaviyo-sync discover lists it\); remove it$/,
      /^streams\.flows: must be a mapping of options \(e\.g\. \{ mode: incremental \}\) or empty$/,
      /^streams\.lists\.mode: lists has no cursor, so it can only be full-refresh; incremental works on: profiles, templates, events, forms, list_profiles, segment_profiles$/,
      /^streams\.campaigns\.object: unknown placeholder \{stream\} in "\{stream\}"; use \{stream_name\} \(or its alias \{stream_table\}\) and \{target_schema\}$/,
      /^streams\.metrics\.object: "klaviyo\.1\{stream_name\}" \(for metrics\): table \(in schema "klaviyo"\) "1metrics" is not a valid name/,
    ];
    for (const re of expected)
      assert.ok(
        problems.some((p) => re.test(p)),
        `no problem matching ${re}:\n${problems.join('\n')}`,
      );
    assert.equal(problems.length, expected.length, problems.join('\n'));
    // an invalid value is reported once, where it is written, not once per stream that inherits it
    assert.equal(problems.filter((p) => p.includes('snapshot')).length, 1);
  });

  void it("turns a stream's options on: inherited where the stream offers them, refused on a stream that does not", () => {
    const p = plan(`
source: KLAVIYO
target: MY_PG
defaults:
  source_options: { metric_name: true }
streams:
  '*':
  profiles: { source_options: { predictive_analytics: true } }
  lists: { source_options: { metric_name: false } }
`);
    const options = Object.fromEntries(p.streams.map((s) => [s.stream, s.options]));
    assert.deepEqual(options.events, ['metric_name']);
    assert.deepEqual(options.profiles, ['predictive_analytics']);
    for (const s of p.streams.filter((x) => x.stream !== 'events' && x.stream !== 'profiles')) assert.equal(s.options, undefined, s.stream);

    const asked = problemsOf(() => plan('source: K\ntarget: T\nstreams:\n  tags: { source_options: { metric_name: true } }\n'));
    assert.deepEqual(asked, ['streams.tags.source_options.metric_name: tags has no option metric_name; it is an option of: events']);
    const typo = problemsOf(() => plan('source: K\ntarget: T\nstreams:\n  events: { source_options: { metric_names: true } }\n'));
    assert.match(
      typo[0],
      /^streams\.events\.source_options: unknown key metric_names; supported: start_date, range, lookback, full_refresh_every, reconcile_every, deletes, predictive_analytics, tags, profile_count, metric_name, attributions$/,
    );
    const notBool = problemsOf(() => plan('source: K\ntarget: T\nstreams:\n  events: { source_options: { metric_name: yes please } }\n'));
    assert.deepEqual(notBool, ['streams.events.source_options.metric_name: must be true or false']);
  });

  void it('explains a bad object template: too many dots, invalid identifiers, and tables that collide', () => {
    const dots = problemsOf(() => plan("source: K\ntarget: T\ndefaults: { object: 'db.klaviyo.{stream_name}' }\nstreams: { tags: }\n"));
    assert.deepEqual(dots, [
      'defaults.object: "db.klaviyo.{stream_name}" has 2 dots; use table or schema.table (e.g. klaviyo.{stream_name})',
    ]);
    const dash = problemsOf(() => plan("source: K\ntarget: T\nstreams: { tags: { object: 'my-schema.tags' } }\n"));
    assert.match(
      dash[0],
      /^streams\.tags\.object: "my-schema\.tags": schema "my-schema" is not a valid name: use 1 to 63 lowercase letters, digits and single underscores/,
    );
    const long = problemsOf(() => plan(`source: K\ntarget: T\nstreams: { tags: { object: 'k.${'t'.repeat(64)}' } }\n`));
    assert.match(long[0], /use 1 to 49 lowercase letters/);
    const same = problemsOf(() => plan("source: K\ntarget: T\ndefaults: { object: 'klaviyo.data' }\nstreams: { tags:, lists: }\n"));
    assert.deepEqual(same, ['streams tags, lists would all write to klaviyo.data: put {stream_name} in object']);
  });

  void it('rejects the object names the writer would reject (lib/db/naming.ts), before anything starts', () => {
    // each of these passed the config's own check and then failed every stream in the writer
    const upper = problemsOf(() => plan("source: K\ntarget: T\nstreams: { profiles: { object: 'klaviyo.Profiles' } }\n"));
    assert.equal(upper.length, 1, upper.join('\n'));
    assert.match(
      upper[0],
      /^streams\.profiles\.object: "klaviyo\.Profiles": table \(in schema "klaviyo"\) "Profiles" is not a valid name: use 1 to 49 lowercase letters, digits and single underscores/,
    );
    const long = problemsOf(() => plan(`source: K\ntarget: T\nstreams: { tags: { object: 'klaviyo.${'t'.repeat(55)}' } }\n`));
    assert.match(long[0], /^streams\.tags\.object: .*is not a valid name: use 1 to 49 lowercase letters/);
    const doubled = problemsOf(() => plan("source: K\ntarget: T\nstreams: { list_profiles: { object: 'list__profiles' } }\n"));
    assert.match(
      doubled[0],
      /^streams\.list_profiles\.object: "list__profiles": table \(in schema "klaviyo"\) "list__profiles" is not a valid name: .*single underscores/,
    );
    const schema = problemsOf(() => plan("source: K\ntarget: T\ndefaults: { object: 'Raw.{stream_name}' }\nstreams: { tags: }\n"));
    assert.match(
      schema[0],
      /^defaults\.object: "Raw\.\{stream_name\}" \(for tags\): schema "Raw" is not a valid name: use 1 to 63 lowercase/,
    );
    // a name at the writer's limit passes
    assert.equal(plan(`source: K\ntarget: T\nstreams: { tags: { object: 'k.${'t'.repeat(49)}' } }\n`).streams[0].object.table.length, 49);
  });

  void it("puts objects that name no schema in the target connection's schema, as Sling does", () => {
    const yaml =
      "source: K\ntarget: WAREHOUSE\nstreams:\n  tags:\n  lists: { object: 'crm.{stream_name}' }\n  events: { object: 'k_{stream_name}' }\n";
    const asked: string[] = [];
    const p = buildReplicationPlan(parseReplicationYaml(yaml), { now: NOW, targetSchema: (t) => (asked.push(t), 'analytics') });
    assert.deepEqual(asked, ['WAREHOUSE']);
    assert.deepEqual(
      p.streams.map((s) => s.objectName),
      ['analytics.tags', 'crm.lists', 'analytics.k_events'],
    );
    // through the workflow's input too; with no schema on the connection, klaviyo
    const input: ReplicationInput = { name: 'w', config: parseReplicationYaml(yaml) };
    assert.equal(resolveReplicationInput(input, { now: NOW, targetSchema: () => 'raw' }).streams[0].objectName, 'raw.tags');
    assert.equal(resolveReplicationInput(input, { now: NOW, targetSchema: () => undefined }).streams[0].objectName, 'klaviyo.tags');
  });

  void it('checks start_date: ISO dates, offsets, and never the future', () => {
    const startOf = (value: string) =>
      plan(`source: K\ntarget: T\nstreams: { events: { mode: incremental, source_options: { start_date: '${value}' } } }\n`).streams[0]
        .startDate;
    assert.equal(startOf('2024-01-31'), '2024-01-31T00:00:00Z');
    assert.equal(startOf('2024-01-31T08:30:00'), '2024-01-31T08:30:00Z');
    assert.equal(startOf('2024-01-31T08:30:00-0500'), '2024-01-31T13:30:00Z');
    assert.equal(startOf('2025-06-01T12:00:00Z'), '2025-06-01T12:00:00Z');
    for (const bad of ['yesterday', '2024-13-01', '31/01/2024', '2024-01-31T25:00:00Z']) {
      assert.throws(
        () => startOf(bad),
        (e: ConfigError) => e.problems[0].includes(`"${bad}" is not a date`),
      );
    }
    assert.throws(() => startOf('2025-06-01T12:00:01Z'), /is in the future \(now is 2025-06-01T12:00:00Z\)/);
  });

  void it('refuses start_date on a stream that runs full-refresh', () => {
    const problems = problemsOf(() =>
      plan(
        'source: K\ntarget: T\nstreams:\n  profiles: { source_options: { start_date: 2024-01-01 } }\n  lists: { source_options: { start_date: 2024-01-01 } }\n',
      ),
    );
    assert.deepEqual(problems, [
      'streams.profiles.source_options.start_date: start_date only applies to incremental streams; set mode: incremental on profiles or remove start_date',
      'streams.lists.source_options.start_date: lists has no cursor (full-refresh only), so start_date does not apply: remove it (incremental works on: profiles, templates, events, forms, list_profiles, segment_profiles)',
    ]);
  });

  void it('full_refresh_every: a week by default on incremental memberships, a duration or never when set, refused on full-refresh streams', () => {
    const every = (yaml: string) => Object.fromEntries(plan(yaml).streams.map((s) => [s.stream, s.fullRefreshEverySeconds ?? null]));
    assert.deepEqual(
      every('source: K\ntarget: T\ndefaults: { mode: incremental }\nstreams:\n  lists:\n  list_profiles:\n  profiles:\n'),
      { lists: null, list_profiles: 7 * 86_400, profiles: null },
      'memberships default to a week; a stream without one gets none; full-refresh streams none',
    );
    assert.deepEqual(
      every(
        'source: K\ntarget: T\ndefaults: { mode: incremental, source_options: { full_refresh_every: 12h } }\n' +
          'streams:\n  list_profiles:\n  segment_profiles: { source_options: { full_refresh_every: never } }\n  events:\n  tags:\n',
      ),
      { list_profiles: 43_200, segment_profiles: null, events: 43_200, tags: null },
      'inherited where the stream is incremental; never turns it off; a full-refresh-only stream ignores an inherited one',
    );
    assert.deepEqual(every('source: K\ntarget: T\nstreams:\n  list_profiles: { mode: full-refresh }\n'), { list_profiles: null });
    assert.deepEqual(
      problemsOf(() =>
        plan(
          'source: K\ntarget: T\nstreams:\n  lists: { source_options: { full_refresh_every: 1d } }\n' +
            '  events: { source_options: { full_refresh_every: 1d } }\n' +
            '  profiles: { mode: incremental, source_options: { full_refresh_every: weekly } }\n',
        ),
      ),
      [
        'streams.profiles.source_options.full_refresh_every: must be a duration such as 12h or 7d (seconds as a number), or never',
        'streams.lists.source_options.full_refresh_every: it only applies to incremental streams, and lists is full-refresh only: remove it',
        'streams.events.source_options.full_refresh_every: it only applies to incremental streams; set mode: incremental on events or remove it',
      ],
    );
  });

  void it('deletes: mark on full refreshes, on incremental streams only with full_refresh_every, refused otherwise with the fix', () => {
    const marks = (yaml: string) => Object.fromEntries(plan(yaml).streams.map((s) => [s.stream, s.markDeleted ?? false]));
    assert.deepEqual(
      marks(
        'source: K\ntarget: T\ndefaults: { source_options: { deletes: mark } }\n' +
          'streams:\n  catalog_items:\n  list_profiles: { mode: incremental }\n  events: { mode: incremental }\n  tags: { source_options: { deletes: remove } }\n',
      ),
      { catalog_items: true, list_profiles: true, events: false, tags: false },
      'inherited where a full refresh runs (memberships: every week); an incremental stream that never runs one ignores it',
    );
    assert.deepEqual(marks('source: K\ntarget: T\nstreams:\n  tags:\n'), { tags: false }, 'remove is the default');
    assert.deepEqual(
      problemsOf(() =>
        plan(
          'source: K\ntarget: T\nstreams:\n  events: { mode: incremental, source_options: { deletes: mark } }\n' +
            '  tags: { source_options: { deletes: soft } }\n',
        ),
      ),
      [
        'streams.tags.source_options.deletes: must be remove (rows deleted in Klaviyo leave the table at a full refresh, the default) or mark (they stay, with _deleted_at set)',
        'streams.events.source_options.deletes: mark: an incremental run cannot see deletions by itself; set source_options.reconcile_every (e.g. 7d: an id pass lists every id now and then, the cheapest way) or source_options.full_refresh_every (e.g. 7d) on events, or use mode: full-refresh',
      ],
    );
  });

  void it('refuses a plan with zero streams', () => {
    assert.match(
      problemsOf(() => plan('source: K\ntarget: T\nstreams: {}\n'))[0],
      /^streams: is empty: list the streams to replicate, or '\*'/,
    );
    assert.match(problemsOf(() => plan('source: K\ntarget: T\n'))[0], /^streams: missing/);
    assert.match(
      problemsOf(() => plan("source: K\ntarget: T\nstreams: { '*': { disabled: true } }\n"))[0],
      /every listed stream is disabled, so there is nothing to replicate/,
    );
  });

  void it('carries connection names only, and never repeats a URL or key given in their place', () => {
    const secretUrl = 'postgresql://admin:hunter2@db.internal:5432/warehouse';
    const key = 'pk_0123456789abcdef0123456789abcdef01';
    const err = (() => {
      try {
        buildReplicationPlan({ source: key, target: secretUrl, streams: { tags: null } });
      } catch (e) {
        return e as ConfigError;
      }
      assert.fail('no error');
    })();
    assert.doesNotMatch(err.message, /hunter2|admin|pk_0123/);
    assert.match(err.message, /source: looks like an API key/);
    assert.match(err.message, /target: looks like a URL; put the URL in an env var/);
    assert.match(
      problemsOf(() => buildReplicationPlan({ target: 'T', streams: { tags: null } }))[0],
      /^source: missing: name a connection defined in an env var or env\.yaml, e\.g\. source: KLAVIYO$/,
    );
  });

  void it('accepts a config object as well as YAML, and checks its types', () => {
    const config: ReplicationConfig = { source: 'KLAVIYO', target: 'LITE', streams: { events: { mode: 'incremental' } } };
    assert.deepEqual(
      buildReplicationPlan(config).streams.map((s) => [s.stream, s.mode]),
      [['events', 'incremental']],
    );
    const problems = problemsOf(() =>
      buildReplicationPlan({ source: 'K', target: 'T', defaults: { disabled: 'yes', mode: 3 }, streams: [] }),
    );
    assert.deepEqual(problems, [
      'defaults.mode: must be a string',
      'defaults.disabled: must be true or false',
      "streams: must be a mapping of stream name to options, e.g. streams: { '*': null, profiles: { mode: incremental } }",
    ]);
  });
});

void describe('workflow input', () => {
  const yaml = "source: KLAVIYO\ntarget: MY_PG\nstreams:\n  '*':\n  events: { mode: incremental }\n";

  void it('replicationToJson gives the JSON `temporal workflow start --input-file` passes to replicate', () => {
    const json = replicationToJson(yaml, { name: 'nightly' });
    const input = JSON.parse(json) as ReplicationInput;
    assert.deepEqual(input, {
      name: 'nightly',
      config: { source: 'KLAVIYO', target: 'MY_PG', streams: { '*': null, events: { mode: 'incremental' } } },
    });
    assert.deepEqual(resolveReplicationInput(input), { ...buildReplicationPlan(input.config), name: 'nightly' });
    assert.throws(() => replicationToJson('source: K\nstreams: {}\n', { source: 'bad.yaml' }), /^ConfigError: bad\.yaml has 2 problems/);
  });

  void it('resolveReplicationInput plans either the YAML or the config, not both', () => {
    const fromYaml = resolveReplicationInput({ yaml, name: 'hourly' });
    assert.equal(fromYaml.name, 'hourly');
    assert.equal(fromYaml.streams.find((s) => s.stream === 'events')?.mode, 'incremental');
    assert.deepEqual(resolveReplicationInput({ config: parseReplicationYaml(yaml) }).streams, fromYaml.streams);
    assert.equal(resolveReplicationInput({ yaml }).name, 'replication');
    assert.match(
      problemsOf(() => resolveReplicationInput({ yaml, config: parseReplicationYaml(yaml) }))[0],
      /give exactly one of config .* or yaml .*, not both/,
    );
    assert.match(problemsOf(() => resolveReplicationInput({}))[0], /not neither/);
    assert.match(problemsOf(() => resolveReplicationInput({ yaml: 'source: [', name: 'x.yaml' }))[0], /^x\.yaml:\d+:\d+: /);
  });
});

void describe('hostile replication files (test/reliability/bad-input.test.ts fuzzes them)', () => {
  const head = 'source: KLAVIYO\ntarget: MY_PG\n';

  void it('checks many keys in linear time, and lists a bounded number of them', () => {
    const timeOf = (n: number) => {
      let yaml = `${head}streams:\n`;
      for (let i = 0; i < n; i++) yaml += `  s${i}:\n`;
      const started = performance.now();
      const problems = problemsOf(() => parseReplicationYaml(yaml));
      assert.equal(problems.length, 11);
      assert.equal(problems[10], `streams: ${(n - 10).toLocaleString('en-US')} more unknown streams (${n.toLocaleString('en-US')} in all)`);
      return performance.now() - started;
    };
    timeOf(5_000); // warm
    // the faster of two runs each, so that a busy machine does not decide it
    const small = Math.min(timeOf(10_000), timeOf(10_000));
    const large = Math.min(timeOf(40_000), timeOf(40_000));
    // quadratic would be 16 times; was 85 s for 40,000 keys (the yaml package's duplicate check, then ours)
    assert.ok(large < small * 10 + 200, `10,000 keys: ${small.toFixed(0)} ms; 40,000: ${large.toFixed(0)} ms`);
  });

  void it('refuses deep nesting, too many tokens, alias bombs, control characters and a second document at their line', () => {
    let bomb = `${head}streams: { tags: }\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n`;
    for (let i = 1; i < 9; i++)
      bomb += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    const cases: Array<[string, RegExp]> = [
      [`${head}streams: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, /^r\.yaml:3:\d+: nested more than 64 levels deep/],
      [bomb, /^r\.yaml:5:\d+: its aliases \(\*name\) expand to too much/],
      [`${head}streams:\n  tags: { object: "a\u001bb" }\n`, /^r\.yaml:4:21: a control character \(U\+001B\)/],
      [`${head}streams:\n  tags:\n---\nx: 1\n`, /^r\.yaml:5:1: a second document/],
      [`${head}streams:\n${'  s:\n'.repeat(60_000)}`, /^r\.yaml:\d{5}:\d+: holds more than 250,000 YAML tokens by here/],
    ];
    for (const [yaml, expected] of cases) {
      const problems = problemsOf(() => parseReplicationYaml(yaml, 'r.yaml'));
      assert.match(problems[0], expected);
      assert.ok(problems.join('\n').length < 1_000, problems.join('\n').slice(0, 2_000));
    }
  });

  void it('shows a window of a long line, with URLs and keys masked', () => {
    const problems = problemsOf(() =>
      parseReplicationYaml(`target: postgresql://u:hunter2@h/db\nsource: K\nsource: ${'x'.repeat(50_000)}\n`),
    );
    assert.ok(problems[0].length < 400, problems[0]);
    const [syntax] = problemsOf(() => parseReplicationYaml(`source: pk_abcdef0123456789 [\ntarget: postgresql://u:hunter2@h/db {\n`));
    assert.doesNotMatch(syntax, /hunter2|pk_abcdef/);
  });

  void it('repeats a long or odd value only in part, escaped', () => {
    const problems = problemsOf(() => buildReplicationPlan({ source: 'K', target: 'T', streams: { ['x\u0000'.repeat(10_000)]: null } }));
    assert.ok(problems[0].length < 1_000, problems[0]);
    assert.match(problems[0], /\\u0000.*\(20,000 characters\)/);
  });
});
