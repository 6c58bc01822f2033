/**
 * OpenTelemetry traces, through @temporalio/interceptors-opentelemetry: on only when an OTLP endpoint is configured
 * (`klaviyo-sync worker --otlp <url>`, or the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT),
 * so a process without one loads no OpenTelemetry SDK and its workers run the workflow bundle without the tracing
 * interceptors. Spans go to the endpoint as OTLP/HTTP (JSON), batched; the batch is flushed when the process's
 * command ends (the worker's SIGINT/SIGTERM shutdown, the CLI's exit).
 *
 * The resource is `service.name` (OTEL_SERVICE_NAME, else `klaviyo-sync-worker` for a worker, `klaviyo-sync` for the
 * CLI's other commands), `service.version` and OTEL_RESOURCE_ATTRIBUTES: no process or host detectors, whose
 * attributes would carry the command line (an `--otlp` URL may hold credentials). The exporter's own standard
 * variables (OTEL_EXPORTER_OTLP_HEADERS for an auth header, timeouts) and the sampler's (OTEL_TRACES_SAMPLER) apply.
 */
import type { Tracer } from '@opentelemetry/api';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * The workflow interceptors' module (inbound, outbound, internals), bundled into the workflow code of a tracing
 * worker only: its spans leave the workflow sandbox through the `exporter` sink (worker/index.ts).
 */
export const WORKFLOW_TRACING_MODULE = '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';

export const DEFAULT_WORKER_SERVICE = 'klaviyo-sync-worker';
export const DEFAULT_CLI_SERVICE = 'klaviyo-sync';

export interface TracingConfig {
  /** the OTLP/HTTP traces URL spans are posted to */
  url: string;
  /** where the URL came from: `--otlp` or the variable's name */
  from: string;
  serviceName: string;
}

/** What a worker (and the CLI's client) needs to trace: the tracer, the processor workflow spans go to, the resource. */
export interface Tracing {
  config: TracingConfig;
  tracer: Tracer;
  spanProcessor: SpanProcessor;
  resource: Resource;
}

function parseUrl(raw: string, from: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw.trim());
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(
      `${from} must be an http(s) URL of an OTLP/HTTP receiver, e.g. http://localhost:4318, not ${JSON.stringify(redactUrl(raw).slice(0, 60))}`,
    );
  }
  return url;
}

/** A base endpoint with the signal's path, as the OTLP exporter specification appends it to OTEL_EXPORTER_OTLP_ENDPOINT. */
function tracesUrl(base: URL): string {
  const u = new URL(base.href);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`;
  return u.href;
}

/**
 * Tracing's settings: `flag` (a base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT: `/v1/traces` is appended), else
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as it is), else OTEL_EXPORTER_OTLP_ENDPOINT; undefined (off) when none is
 * set, or OTEL_SDK_DISABLED=true turns the variables off.
 */
export function tracingConfig(env: NodeJS.ProcessEnv, flag?: string, defaultService = DEFAULT_WORKER_SERVICE): TracingConfig | undefined {
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || defaultService;
  if (flag !== undefined) return { url: tracesUrl(parseUrl(flag, '--otlp')), from: '--otlp', serviceName };
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces)
    return { url: parseUrl(traces, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT').href, from: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', serviceName };
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (base) return { url: tracesUrl(parseUrl(base, 'OTEL_EXPORTER_OTLP_ENDPOINT')), from: 'OTEL_EXPORTER_OTLP_ENDPOINT', serviceName };
  return undefined;
}

/** A URL as it may be printed: without user or password. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.href;
  } catch {
    return raw.replace(/\/\/[^/@]*@/, '//');
  }
}

let installed: { tracing: Tracing; shutdown: () => Promise<void> } | undefined;

/**
 * The process's tracer provider, exporting to `config.url`, registered as the global one (with an AsyncLocalStorage
 * context manager, so an activity's code sees its span as the active one, and W3C trace-context propagation); made
 * once per process (thread). The OpenTelemetry SDK is loaded here, only when tracing is on.
 */
export function installTracing(config: TracingConfig): Tracing {
  if (installed) return installed.tracing;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } =
    require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { OTLPTraceExporter } =
    require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const resources = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { BasicTracerProvider, BatchSpanProcessor } =
    require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const semconv = require('@opentelemetry/semantic-conventions') as typeof import('@opentelemetry/semantic-conventions');
  const pkg = require('../package.json') as { version: string };
  /* eslint-enable @typescript-eslint/no-require-imports */

  const resource = resources.Resource.default()
    .merge(resources.detectResourcesSync({ detectors: [resources.envDetectorSync] }))
    .merge(
      new resources.Resource({
        [semconv.ATTR_SERVICE_NAME]: config.serviceName,
        [semconv.ATTR_SERVICE_VERSION]: pkg.version,
      }),
    );
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.url }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  const tracing: Tracing = { config, tracer: provider.getTracer('klaviyo-sync', pkg.version), spanProcessor, resource };
  let shut: Promise<void> | undefined;
  installed = {
    tracing,
    shutdown: () => (shut ??= provider.shutdown().catch((err: unknown) => api.diag.error(`tracing shutdown: ${String(err)}`))),
  };
  return tracing;
}

/** The installed tracing, if this process installed it. */
export function currentTracing(): Tracing | undefined {
  return installed?.tracing;
}

/** Flushes the spans not yet sent and stops exporting; a no-op when tracing is off. Waits at most `ms`. */
export async function shutdownTracing(ms = 10_000): Promise<void> {
  if (!installed) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([installed.shutdown(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms).unref()))]);
  clearTimeout(timer);
}

/**
 * The client interceptor of a traced CLI: a `StartWorkflow:<type>` span (and `SignalWorkflow`, `StartWorkflowUpdate`,
 * `CancelWorkflow`, `TerminateWorkflow`) whose context the workflow's spans continue. Queries and describes are not
 * traced: the progress view asks every second, and each would be a trace of its own.
 */
export function tracingClientInterceptor(tracing: Tracing): WorkflowClientInterceptor {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports */
  const otel = require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  const i = new otel.OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer });
  return {
    startWithDetails: (input, next) => i.startWithDetails(input, next),
    signal: (input, next) => i.signal(input, next),
    signalWithStart: (input, next) => i.signalWithStart(input, next),
    startUpdate: (input, next) => i.startUpdate(input, next),
    startUpdateWithStart: (input, next) => i.startUpdateWithStart(input, next),
    cancel: (input, next) => i.cancel(input, next),
    terminate: (input, next) => i.terminate(input, next),
  };
}
