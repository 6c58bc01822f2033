/**
 * How klaviyo-sync reaches Temporal: the standard environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API
 * key variables, and `temporal.toml` profiles via TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE), read by
 * @temporalio/envconfig. With nothing set, a local dev server at localhost:7233, namespace `default`. The task
 * queues are in workflows/shared.ts; a worker's connection is made by worker/connection.ts.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Connection, Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { connectWorker as connectNative } from '../worker/connection';
import {
  currentTracing,
  DEFAULT_CLI_SERVICE,
  installTracing,
  tracingClientInterceptor,
  tracingConfig,
  type Tracing,
} from '../worker/tracing';

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

/**
 * This process's tracing (worker/tracing.ts): the one already installed (a worker's), else the one `env`'s
 * OTEL_EXPORTER_OTLP_* variables configure, installed now; undefined when none is configured.
 */
export function clientTracing(env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  const installed = currentTracing();
  if (installed) return installed;
  const config = tracingConfig(env, undefined, DEFAULT_CLI_SERVICE);
  return config && installTracing(config);
}

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<{ client: Client; target: TemporalTarget }> {
  const target = temporalTarget(env);
  const tracing = clientTracing(env);
  try {
    const connection = await Connection.connect({ ...(target.connectionOptions as any), connectTimeout: '5s' });
    // traced, a started workflow's spans are children of the client's `StartWorkflow:<type>` span
    const interceptors = tracing ? { workflow: [tracingClientInterceptor(tracing)] } : undefined;
    return { client: new Client({ connection, namespace: target.namespace, ...(interceptors ? { interceptors } : {}) }), target };
  } catch (err) {
    throw unreachable(target, err);
  }
}

/** For `run --with-worker` and `worker`: the worker's own connection (worker/connection.ts), to the same target. */
export async function connectWorker(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ connection: NativeConnection; target: TemporalTarget }> {
  const target = temporalTarget(env);
  try {
    return { connection: await connectNative(target), target };
  } catch (err) {
    throw unreachable(target, err);
  }
}
