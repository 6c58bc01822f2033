/**
 * flow_messages, a grandchild stream: the messages of a flow's send steps (flows → flow_actions → flow_messages).
 * With flow_actions in the run it reads the steps from that table; alone it lists the flows and their steps itself.
 * Either way only the send steps (`action_type` SEND_*) are asked for messages, one request each at the S tier, and
 * the table equals the sandbox's truth, values included. Counted with the sandbox's request stats.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Destination } from '../lib/db/destination';
import {
  checksumOf,
  replicateWith,
  requestsDuring,
  sandboxResources,
  startStack,
  tableIds,
  targetOf,
  truth,
  type Stack,
} from './helpers/stack';

let stack: Stack;

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

/** Every flow step as the API lists it (both flow listings: archived and not), by id, with its flow's id. */
async function apiSteps(): Promise<Array<{ id: string; flowId: string; type: string }>> {
  const steps: Array<{ id: string; flowId: string; type: string }> = [];
  for (const archived of [false, true]) {
    const flows = await sandboxResources(stack, `/api/flows?filter=${encodeURIComponent(`equals(archived,${archived})`)}`);
    for (const flowId of flows.keys())
      for (const a of (await sandboxResources(stack, `/api/flows/${flowId}/flow-actions`)).values())
        steps.push({ id: a.id, flowId, type: String(a.attributes.action_type) });
  }
  return steps;
}

/** The table equals the truth, and each row's name, channel and content are what the step's listing serves. */
async function assertMessages(dest: Destination, schema: string, sends: string[]): Promise<void> {
  assert.deepEqual(
    checksumOf(await tableIds(dest, 'flow_messages', { schema, table: 'flow_messages' })),
    (await truth(stack)).flow_messages,
  );
  const rows = await dest.snapshot({ schema, table: 'flow_messages' }, ['flow_action_id', 'id']);
  let checked = 0;
  for (const stepId of sends) {
    const api = await sandboxResources(stack, `/api/flow-actions/${stepId}/flow-messages`);
    const mine = rows.filter((r) => r.flow_action_id === stepId);
    assert.equal(mine.length, api.size, `step ${stepId}: its messages`);
    for (const row of mine) {
      const a = api.get(String(row.id))?.attributes;
      assert.ok(a, `flow_messages ${row.id} is not among step ${stepId}'s messages`);
      assert.equal(row.name, a.name, `flow_messages ${row.id}.name`);
      assert.equal(row.channel, a.channel, `flow_messages ${row.id}.channel`);
      const content = typeof row.content === 'string' ? JSON.parse(row.content) : row.content;
      assert.deepEqual(content, a.content, `flow_messages ${row.id}.content`);
      checked++;
    }
  }
  assert.equal(checked, rows.length, 'every row belongs to a send step');
  assert.deepEqual(new Set(rows.map((r) => r.channel)), new Set(['email', 'sms']), 'messages of both channels');
}

void test(
  'with flow_actions in the run, flow_messages asks only the send steps it read, into SQLite and Postgres',
  { timeout: 300_000 },
  async () => {
    const steps = await apiSteps();
    const sends = steps.filter((s) => s.type.startsWith('SEND_')).map((s) => s.id);
    assert.ok(sends.length > 0 && sends.length < steps.length, 'the flows have send steps and others');
    for (const target of ['LITE', 'PG'] as const) {
      const yaml = `source: KLAVIYO\ntarget: ${target}\ndefaults:\n  object: fm.{stream_name}\nstreams:\n  flows:\n  flow_actions:\n  flow_messages:\n`;
      let summary: Awaited<ReturnType<typeof replicateWith>> | undefined;
      const requests = await requestsDuring(stack, async () => {
        summary = await replicateWith(stack, yaml, `flow-messages-${target}`);
      });
      assert.ok(summary!.streams.every((s) => s.status === 'completed'));
      process.stdout.write(
        `# ${target}: get_flow_action_messages ${requests.get_flow_action_messages} requests for ${sends.length} send steps of ${steps.length}\n`,
      );
      // one request per send step, none for the other steps (the flows scope probe uses get_flows)
      assert.equal(requests.get_flow_action_messages, sends.length);
      // the steps come from flow_actions' table: one listing per flow, by the flow_actions stream alone
      assert.equal(requests.get_actions_for_flow, new Set(steps.map((s) => s.flowId)).size);
      await assertMessages(new Destination(targetOf(stack, target)), 'fm', sends);
    }
  },
);

void test('flow_messages alone lists the flows and their steps itself, and asks only the send steps', { timeout: 300_000 }, async () => {
  const steps = await apiSteps();
  const sends = steps.filter((s) => s.type.startsWith('SEND_')).map((s) => s.id);
  const yaml = 'source: KLAVIYO\ntarget: LITE\nstreams:\n  flow_messages:\n    object: alone.flow_messages\n';
  let summary: Awaited<ReturnType<typeof replicateWith>> | undefined;
  const requests = await requestsDuring(stack, async () => {
    summary = await replicateWith(stack, yaml, 'flow-messages-alone');
  });
  assert.deepEqual(
    summary!.streams.map((s) => [s.stream, s.status]),
    [['flow_messages', 'completed']],
  );
  assert.equal(requests.get_flow_action_messages, sends.length);
  assert.equal(requests.get_actions_for_flow, new Set(steps.map((s) => s.flowId)).size, 'each flow listed once for its steps');
  await assertMessages(new Destination(targetOf(stack, 'LITE')), 'alone', sends);
});
