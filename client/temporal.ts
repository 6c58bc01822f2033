/**
 * How klaviyo-sync reaches Temporal: the standard environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API
 * key variables, and `temporal.toml` profiles via TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE), read by
 * @temporalio/envconfig. With nothing set, a local dev server at localhost:7233, namespace `default`.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Connection, Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

/** the shared task queue: `klaviyo-sync worker`, `temporal workflow start` and schedules */
export const TASK_QUEUE = 'klaviyo-sync';

/**
 * The task queue of the worker that `run --with-worker` and the demo run in their own process: one per workflow id,
 * so no standalone worker (with its own environment, and so its own connections) takes their tasks, and running the
 * same command again polls the same queue and resumes the same workflow.
 */
export function inProcessTaskQueue(workflowId: string): string {
  return `${TASK_QUEUE}/with-worker/${workflowId}`;
}

export interface TemporalTarget {
  address: string;
  namespace: string;
  connectionOptions: Record<string, unknown>;
}

export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const cfg = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const connectionOptions = { ...(cfg.connectionOptions as Record<string, unknown>) };
  const address = (connectionOptions.address as string | undefined) ?? 'localhost:7233';
  connectionOptions.address = address;
  return { address, namespace: cfg.namespace ?? 'default', connectionOptions };
}

function unreachable(t: TemporalTarget, err: unknown): Error {
  const why = err instanceof Error ? err.message : String(err);
  return new Error(
    `cannot reach the Temporal server at ${t.address} (namespace ${t.namespace}): ${why}. ` +
      'Start a local dev server with `temporal server start-dev` (`npm run setup` installs the CLI as ' +
      '.tools/temporal/bin/temporal; `npm run demo` starts one and leaves it running), or set TEMPORAL_ADDRESS to a running server.',
  );
}

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<{ client: Client; target: TemporalTarget }> {
  const target = temporalTarget(env);
  try {
    const connection = await Connection.connect({ ...(target.connectionOptions as any), connectTimeout: '5s' });
    return { client: new Client({ connection, namespace: target.namespace }), target };
  } catch (err) {
    throw unreachable(target, err);
  }
}

export async function connectWorker(env: NodeJS.ProcessEnv = process.env): Promise<{ connection: NativeConnection; target: TemporalTarget }> {
  const target = temporalTarget(env);
  try {
    return { connection: await NativeConnection.connect(target.connectionOptions as any), target };
  } catch (err) {
    throw unreachable(target, err);
  }
}
