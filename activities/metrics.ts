/**
 * klaviyo-sync's own metrics, beside the Temporal SDK runtime's: recorded through the activity's metric meter (the
 * worker's runtime, which exports them with its own on the Prometheus port `klaviyo-sync worker --metrics` opens;
 * the meter adds the activity's namespace, task queue and type). Without that port the meter records nothing.
 *
 * - `klaviyo_sync_rows`, `klaviyo_sync_pages` (counters, per stream): what page activities committed;
 * - `klaviyo_sync_requests` (counter, per operation and outcome: ok, or the failure's class, `rate-limited` for a
 *   429): every page and lookup request;
 * - `klaviyo_sync_limiter_wait_ms`, `klaviyo_sync_write_ms` (histograms, per stream): a page's wait for the rate
 *   limiter, and its write transaction.
 *
 * With tracing on (worker/tracing.ts), the same calls set attributes on the activity's span (`RunActivity:<type>`):
 * `klaviyo_sync.stream`, and the pages and rows the call committed so far (`klaviyo_sync.pages`, `klaviyo_sync.rows`).
 * Without a tracer provider there is no active span, and nothing is set.
 */
import { trace } from '@opentelemetry/api';
import { Context } from '@temporalio/activity';
import type { MetricMeter } from '@temporalio/common';

export interface PageMetrics {
  page(stream: string, rows: number, waitMs: number, writeMs: number): void;
  request(operation: string, outcome: string): void;
}

const NONE: PageMetrics = { page: () => undefined, request: () => undefined };

interface Instruments {
  rows: ReturnType<MetricMeter['createCounter']>;
  pages: ReturnType<MetricMeter['createCounter']>;
  requests: ReturnType<MetricMeter['createCounter']>;
  wait: ReturnType<MetricMeter['createHistogram']>;
  write: ReturnType<MetricMeter['createHistogram']>;
}

const byMeter = new WeakMap<MetricMeter, Instruments>();

function instruments(meter: MetricMeter): Instruments {
  let i = byMeter.get(meter);
  if (!i) {
    i = {
      rows: meter.createCounter('klaviyo_sync_rows', 'rows', 'rows committed by page activities'),
      pages: meter.createCounter('klaviyo_sync_pages', 'pages', 'pages committed by page activities'),
      requests: meter.createCounter('klaviyo_sync_requests', 'requests', 'Klaviyo requests by operation and outcome'),
      wait: meter.createHistogram('klaviyo_sync_limiter_wait_ms', 'float', 'ms', "a page request's wait for the rate limiter"),
      write: meter.createHistogram('klaviyo_sync_write_ms', 'float', 'ms', "a page's write transaction"),
    };
    byMeter.set(meter, i);
  }
  return i;
}

/** The current activity's metrics; no-ops outside an activity (a unit test calling the activity function itself). */
export function pageMetrics(): PageMetrics {
  let meter: MetricMeter;
  try {
    meter = Context.current().metricMeter;
  } catch {
    return NONE;
  }
  const i = instruments(meter);
  // the activity's span, when the tracing interceptor made one (its context is this call's)
  const span = trace.getActiveSpan();
  const traced = { pages: 0, rows: 0 };
  return {
    page(stream, rows, waitMs, writeMs) {
      i.rows.add(rows, { stream });
      i.pages.add(1, { stream });
      i.wait.record(waitMs, { stream });
      i.write.record(writeMs, { stream });
      if (span) {
        traced.pages += 1;
        traced.rows += rows;
        span.setAttributes({ 'klaviyo_sync.stream': stream, 'klaviyo_sync.pages': traced.pages, 'klaviyo_sync.rows': traced.rows });
      }
    },
    request(operation, outcome) {
      i.requests.add(1, { operation, outcome });
    },
  };
}
