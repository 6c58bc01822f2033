/**
 * A real Temporal dev server for tests, started from the project's `temporal` CLI (scripts/install-tools.sh puts
 * it in .tools/). Without one the tests fail with the fix in the message: never a skip.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer, type DevServerOptions } from '../../client/dev-server';

export interface TestTemporal {
  env: TestWorkflowEnvironment;
  address: string;
  teardown(): Promise<void>;
}

export async function startTemporal(opts: DevServerOptions = {}): Promise<TestTemporal> {
  const server = await startDevServer(opts);
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  return {
    env,
    address: server.address,
    async teardown() {
      await env.teardown();
      await server.stop();
    },
  };
}

/** Every run of a workflow id (continue-as-new makes several), newest first, as visibility lists them. */
export async function runsOf(client: Client, workflowId: string): Promise<WorkflowExecutionInfo[]> {
  const runs: WorkflowExecutionInfo[] = [];
  for await (const r of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(r);
  return runs;
}
