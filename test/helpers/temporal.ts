/**
 * A real Temporal dev server for tests, started from the project's `temporal` CLI (scripts/install-tools.sh puts
 * it in .tools/). Without one the tests fail with the fix in the message: never a skip.
 */
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
