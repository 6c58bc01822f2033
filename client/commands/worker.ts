/** `klaviyo-sync worker`: runs a worker on the `klaviyo-sync` task queue until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { connectWorker } from '../temporal';
import { installMetricsRuntime } from '../../worker/metrics';
import { TASK_QUEUE } from '../../workflows/shared';
import { createWorker } from '../../worker';
import { RATE_LIMIT_MODES, type RateLimitMode } from '../../lib/klaviyo/ratelimit';
import { closeAll } from '../../lib/db/connect';
import { emptyFleetStats, type FleetStats } from '../../worker/fleet-rate-limiter';
import { allocatorDescription, heapDescription, inHeapThread, onStop } from '../../worker/heap-thread';
import { installTracing, redactUrl, shutdownTracing, tracingConfig } from '../../worker/tracing';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: executes replications started by `klaviyo-sync run` or `temporal workflow start`')
    .option('--task-queue <name>', 'task queue to poll', TASK_QUEUE)
    // no commander default: an unset flag leaves KLAVIYO_SYNC_RATE_LIMITS its say
    .option(
      '--rate-limits <mode>',
      "documented (each endpoint's published limits) or sling (3 requests/s, 3 at once), for all workers of an account " +
        'together (they lease from one rate budget workflow per account), or off (no pacing: for the sandbox and benchmarks); ' +
        'default: $KLAVIYO_SYNC_RATE_LIMITS, else documented. ' +
        '$KLAVIYO_SYNC_RATE_SHARE (0 < share <= 1) uses only that part of each documented tier',
    )
    .option(
      '--metrics <host:port>',
      "serve Prometheus metrics on http://<host:port>/metrics: the Temporal SDK runtime's and klaviyo-sync's own (rows and " +
        'pages per stream, requests per operation and outcome, limiter wait, write latency); default: $KLAVIYO_SYNC_METRICS, else none',
    )
    .option(
      '--otlp <url>',
      'export OpenTelemetry traces of workflows and activities as OTLP/HTTP to <url> (a base endpoint, e.g. http://localhost:4318: ' +
        '/v1/traces is appended); default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else $OTEL_EXPORTER_OTLP_ENDPOINT, else no traces',
    )
    .action(async (opts: { taskQueue: string; rateLimits?: string; metrics?: string; otlp?: string }) => {
      const rateLimits = rateLimitMode(opts.rateLimits, process.env);
      const metrics = opts.metrics ?? process.env.KLAVIYO_SYNC_METRICS;
      const traces = tracingConfig(process.env, opts.otlp);
      // before the connection: the runtime it creates is the one that exports
      if (metrics) installMetricsRuntime(metrics);
      const tracing = traces && installTracing(traces);
      const { connection, target } = await connectWorker();
      const fleetStats = emptyFleetStats();
      const worker = await createWorker({
        connection,
        namespace: target.namespace,
        taskQueue: opts.taskQueue,
        deps: { rateLimitMode: rateLimits.mode },
        fleetStats,
        tracing,
      });
      const stop = () => worker.shutdown();
      if (inHeapThread()) onStop(stop);
      else {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      process.stdout.write(
        `klaviyo-sync worker polling task queue ${opts.taskQueue} on ${target.address} (namespace ${target.namespace}); ` +
          `rate limits: ${rateLimits.mode} (${rateLimits.from}); heap: ${heapDescription()}; allocator: ${allocatorDescription()}` +
          `${metrics ? `; metrics: http://${metrics}/metrics` : ''}` +
          `${traces ? `; traces: ${redactUrl(traces.url)} (${traces.from}, service ${traces.serviceName})` : ''}\n`,
      );
      await worker.run();
      // the spans of the last workflow tasks and activities, still in the batch
      await shutdownTracing();
      process.stdout.write(`klaviyo-sync worker stopped; rate budget: ${formatFleetStats(fleetStats)}\n`);
      await closeAll();
      await connection.close();
    });
}

/** What the worker's fleet limiters did, one line (`fleet-stats {json}` at the end, for tests and benchmarks). */
export function formatFleetStats(s: FleetStats): string {
  const mean = s.leaseUpdates ? (s.leaseRttMs / s.leaseUpdates).toFixed(1) : '-';
  return (
    `${s.acquires} requests, ${s.leaseUpdates} lease updates (mean round trip ${mean} ms, max ${s.leaseRttMaxMs.toFixed(0)} ms), ` +
    `${s.tokensLost} of ${s.tokensGranted} tokens unused; fleet-stats ${JSON.stringify(s)}`
  );
}

/** The flag, else KLAVIYO_SYNC_RATE_LIMITS, else documented; and where it came from. */
export function rateLimitMode(flag: string | undefined, env: NodeJS.ProcessEnv): { mode: RateLimitMode; from: string } {
  const [value, from] =
    flag !== undefined
      ? [flag, '--rate-limits']
      : env.KLAVIYO_SYNC_RATE_LIMITS
        ? [env.KLAVIYO_SYNC_RATE_LIMITS, 'KLAVIYO_SYNC_RATE_LIMITS']
        : ['documented', 'the default'];
  if (!(RATE_LIMIT_MODES as readonly string[]).includes(value)) {
    throw new Error(`${from} must be ${RATE_LIMIT_MODES.join(', ')}, not ${JSON.stringify(value)}`);
  }
  return { mode: value as RateLimitMode, from };
}
