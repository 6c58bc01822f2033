/** `klaviyo-sync status <workflow id>`: the per-stream table of a running or finished replication. */
import type { Command } from 'commander';
import type { ReplicationProgress } from '../../workflows/progress';
import { connectClient } from '../temporal';
import { liveProgress, retryText } from '../progress-view';

export function formatProgress(p: ReplicationProgress): string {
  const header = ['stream', 'mode', 'status', 'rows', 'pages', 'table'];
  const rows = p.streams.map((s) => [s.stream, s.mode, s.status, String(s.rows), String(s.pages), s.object]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 3 || i === 4 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ').trimEnd();
  const errors = p.streams.filter((s) => s.error).map((s) => `${s.stream} failed: ${s.error}`);
  const retries = p.streams.filter((s) => s.retrying).map((s) => `${s.stream} ${retryText(s.retrying!)} (${s.retrying!.workflowId})`);
  return [`${p.name} (${p.replicationId}): ${p.status}, ${p.source} → ${p.target}`, line(header), ...rows.map(line), ...errors, ...retries].join('\n') + '\n';
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      'Print rows and pages per stream of a replication (running or finished): its progress query, with live counts ' +
        'of running streams from their own workflows and the last failure of a retrying page activity',
    )
    .argument('<workflow-id>', 'the replication\'s workflow id, e.g. klaviyo-sync-demo')
    .option('--json', 'print the progress query\'s JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { client } = await connectClient();
      const handle = client.workflow.getHandle(id);
      let p: ReplicationProgress;
      try {
        p = await liveProgress(client.workflow, handle);
      } catch (err) {
        const desc = await handle.describe().catch(() => undefined);
        if (!desc) throw new Error(`no replication with workflow id ${id}: list them with \`temporal workflow list --query "WorkflowType='replicate'"\``);
        throw new Error(`replication ${id} is ${desc.status.name} but did not answer the progress query: a worker polling its task queue answers it ` +
            `(\`klaviyo-sync worker --task-queue ${desc.taskQueue}\`): ${(err as Error).message}`);
      }
      process.stdout.write(opts.json ? `${JSON.stringify(p, null, 2)}\n` : formatProgress(p));
    });
}
