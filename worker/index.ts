/**
 * A klaviyo-sync worker: registers the workflows (by path: they run in Temporal's deterministic sandbox) and the
 * activities, injected with what they need (connections from this process's environment, the fleet's rate limiter
 * of each account, leased from its rate budget workflow, fleet-rate-limiter.ts), behind one interceptor that turns whatever an activity throws into the
 * Temporal failure its class calls for (lib/errors.ts, worker/failures.ts), as dust-tt/dust's connectors cast vendor errors.
 * With tracing (worker/tracing.ts), the OpenTelemetry interceptors go around it, and the workflow bundle is the one
 * with the workflow interceptors, whose spans reach the span processor through the `exporter` sink.
 */
import { Client } from '@temporalio/client';
import {
  Worker,
  type ActivityInboundCallsInterceptor,
  type ActivityInterceptorsFactory,
  type InjectedSinks,
  type NativeConnection,
} from '@temporalio/worker';
import { createActivities, defaultDeps, type ActivityDeps } from '../activities';
import { fleetLimiters, type FleetStats } from './fleet-rate-limiter';
import type { FailureContext } from '../lib/errors';
import { toApplicationFailure } from './failures';
import { TASK_QUEUE } from '../workflows/shared';
import { ensureSearchAttributes } from './search-attributes';
import { cachedWorkflowBundle } from './workflow-bundle';
import { inHeapThread, withSmallThreadHeaps } from './heap-thread';
import { WORKFLOW_TRACING_MODULE, type Tracing } from './tracing';

/**
 * Activities one worker runs at once: events' and profiles' backfills at 48 each, with room for the other streams.
 * An activity waiting for a token costs a promise, not a request: with 64, profiles' windows waiting out their
 * 700/min left events' windows queued for a slot.
 */
export const MAX_CONCURRENT_ACTIVITIES = 128;

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  deps?: Partial<ActivityDeps>;
  /**
   * concurrent activities; default MAX_CONCURRENT_ACTIVITIES: a backfill keeps up to 48 windows per stream in flight
   * and several streams at once, and an activity spends most of its time waiting on Klaviyo or for its rate tier's
   * tokens (requests in flight are capped per operation by the rate limiter)
   */
  maxConcurrentActivities?: number;
  /** filled with what the fleet rate limiters of this worker did (lease Updates, tokens, round trips) */
  fleetStats?: FleetStats;
  /** trace workflows and activities (worker/tracing.ts's installTracing); default: no tracing */
  tracing?: Tracing;
}

/** The connection names an activity was given (every activity takes one object with `source`/`target`). */
function contextOf(args: unknown[]): FailureContext {
  const a = (args[0] ?? {}) as { source?: unknown; target?: unknown };
  return {
    ...(typeof a.target === 'string' ? { database: a.target } : {}),
    ...(typeof a.source === 'string' ? { klaviyo: a.source } : {}),
  };
}

/** Every activity's failure, classified once: user-fixable and protocol fail at once, 429s wait, the rest backs off. */
export const classifyingInterceptor: ActivityInboundCallsInterceptor = {
  async execute(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw toApplicationFailure(err, contextOf(input.args));
    }
  },
};

/**
 * The OpenTelemetry interceptors of a tracing worker: activity spans (`RunActivity:<type>`, children of the workflow's
 * `StartActivity:<type>`), the trace ids on activity log lines, and the sink workflow spans are exported through.
 * Loaded only when tracing is on.
 */
function tracingOptions(tracing: Tracing): { activity: ActivityInterceptorsFactory; sinks: InjectedSinks<any> } {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports */
  const otel = require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  const options = { tracer: tracing.tracer };
  return {
    activity: (ctx) => ({
      inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx, options),
      outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
    }),
    sinks: { exporter: otel.makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}

/**
 * A worker with its activities. Before it polls, our search attributes are registered on the namespace where the
 * server allows it (a control-plane change made here, once, never by an activity); the activities say whether they
 * are there, so workflows set them only then.
 */
export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  const namespace = opts.namespace ?? 'default';
  const searchAttributes = opts.deps?.searchAttributes ?? (await ensureSearchAttributes(opts.connection.operatorService, namespace));
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const deps = { ...defaultDeps(opts.deps?.env, opts.deps?.rateLimitMode), ...opts.deps, searchAttributes };
  // One budget per account for every worker of the fleet, leased from the account's rate budget workflow, started
  // (if no other worker did) on this worker's own queue, which this worker polls. An injected limiter wins (tests);
  // with pacing off there is no budget to share, only the process's concurrency cap (defaultDeps' limiter).
  if (!opts.deps?.limiterFor && deps.rateLimitMode !== 'off') {
    const fleet = fleetLimiters({
      client: new Client({ connection: opts.connection, namespace }),
      taskQueue,
      mode: deps.rateLimitMode,
      operations: deps.rateOperations,
      stats: opts.fleetStats,
    });
    deps.limiterFor = fleet.limiterFor;
  }
  // the bundle built once in a child process (worker/workflow-bundle.ts), else webpack here as a fallback; a tracing
  // worker's has the workflow interceptors in it
  const bundle = await cachedWorkflowBundle(process.env, !!opts.tracing);
  const tracing = opts.tracing && tracingOptions(opts.tracing);
  // in a sized heap (worker/heap-thread.ts) the workflow threads are small too
  const create = () =>
    Worker.create({
      connection: opts.connection,
      namespace,
      taskQueue,
      ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../workflows') }),
      activities: createActivities(deps),
      interceptors: {
        // the span outermost: it lasts the whole attempt and records the failure as classified
        activity: [...(tracing ? [tracing.activity] : []), () => ({ inbound: classifyingInterceptor })],
        ...(tracing && !bundle ? { workflowModules: [require.resolve(WORKFLOW_TRACING_MODULE)] } : {}),
      },
      ...(tracing ? { sinks: tracing.sinks } : {}),
      maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? MAX_CONCURRENT_ACTIVITIES,
    });
  return inHeapThread() ? withSmallThreadHeaps(create) : create();
}
