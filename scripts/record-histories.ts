/**
 * Records histories for the replay test: runs a replication of every stream (tiny sandbox, SQLite) on a real dev
 * server and saves the histories of the replicate workflow and one child of each kind to test/histories/.
 * Run it when a workflow change is meant to be incompatible (and patch old runs instead where possible).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { requireTemporalCli } from '../client/temporal-cli';
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
    const index: Record<string, { workflowId: string; workflowType: string }> = {};
    for (const [type, workflowId] of wanted) {
      // the CLI's JSON is the format `historyFromJSON` (and the Web UI's download) uses
      const json = execFileSync(requireTemporalCli(), ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', stack.temporal.address], {
        maxBuffer: 64 * 1024 * 1024,
      });
      const file = path.join(dir, `${type}--${workflowId.replace(/[^A-Za-z0-9_-]+/g, '_')}.json`);
      fs.writeFileSync(file, json);
      index[path.basename(file)] = { workflowId, workflowType: type };
      process.stdout.write(`recorded ${file}\n`);
    }
    // replay needs each history's real workflow id (child ids derive from it)
    fs.writeFileSync(path.join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
