/**
 * A worker's connection to Temporal (the client's `TemporalTarget`, client/temporal.ts, says where), and the quiet
 * runtime for a worker that shares its process with the CLI's output.
 */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';

export async function connectWorker(target: { connectionOptions: Record<string, unknown> }): Promise<NativeConnection> {
  return NativeConnection.connect(target.connectionOptions as any);
}

/** The worker says only what went wrong (warnings and errors): for `run --with-worker`, where bars are the output. */
export function quietWorkerLogs(): void {
  Runtime.install({ logger: new DefaultLogger('WARN') });
}
