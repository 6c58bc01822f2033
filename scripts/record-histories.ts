/**
 * Records histories for the replay test: runs a replication of every stream (tiny sandbox, SQLite) on a real dev
 * server and saves the histories of the replicate workflow and one child of each kind to test/histories/.
 * Run it when a workflow change is meant to be incompatible (and patch old runs instead where possible).
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { ALL_STREAMS_YAML, replicateWith, startStack } from '../test/helpers/stack';

async function main(): Promise<void> {
  const stack = await startStack();
  const dir = path.join(__dirname, '..', 'test', 'histories');
  try {
    const id = 'record';
    await replicateWith(stack, ALL_STREAMS_YAML('LITE'), id);
    const client = stack.temporal.env.client;
    const wanted: Array<[string, string]> = [
      ['replicate', id],
      ['syncStream', `${id}/events`],
      ['syncStream', `${id}/campaigns`],
      ['syncStream', `${id}/list_profiles`],
    ];
    for await (const wf of client.workflow.list({ query: `WorkflowType = 'syncPartition'` })) {
      if (wf.workflowId.startsWith(`${id}/list_profiles/`)) {
        wanted.push(['syncPartition', wf.workflowId]);
        break;
      }
    }
    fs.mkdirSync(dir, { recursive: true });
    for (const [type, workflowId] of wanted) {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const file = path.join(dir, `${type}--${workflowId.replace(/[^A-Za-z0-9_-]+/g, '_')}.json`);
      fs.writeFileSync(file, historyToJSON(history));
      process.stdout.write(`recorded ${file}\n`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
