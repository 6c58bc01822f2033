/**
 * Follows a running replication: a bar per stream on a terminal (cli-progress), a plain line per change elsewhere
 * (CI logs, pipes). The figures are `liveProgress`: the replication's `progress` query (stream statuses, final
 * counts) combined with each running stream's own (`<id>/<stream>`) and its running partitions' (live counts),
 * plus the last failure of a page activity that is retrying (from describe). A Temporal server that goes away
 * (restarted, unreachable for a while) is waited for: the replication survives it, and so does the follow.
 */
import cliProgress from 'cli-progress';
import { isGrpcServiceError, type WorkflowClient, type WorkflowHandle } from '@temporalio/client';
import { formatSeconds, percentText, type ReplicationProgress, type StreamProgress } from '../workflows/progress';
import { partitionProgressQuery, progressQuery, streamProgressQuery } from '../workflows/shared';

const POLL_MS = 1000;

export interface ProgressView {
  update(p: ReplicationProgress): void;
  stop(): void;
}

function rate(s: StreamProgress, now: number): string {
  if (!s.startedAt) return '';
  const secs = ((s.durationMs ?? now - s.startedAt) || 1) / 1000;
  return `${Math.round(s.rows / secs)} rows/s`;
}

export function barsView(stream: NodeJS.WriteStream = process.stderr): ProgressView {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: ' {stream} |{bar}| {percent} {status} {rows} rows, {pages} pages {rate}{eta}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 20,
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update(p) {
      const width = Math.max(...p.streams.map((s) => s.stream.length));
      for (const s of p.streams) {
        const done = s.status === 'completed' || s.status === 'failed' || s.status === 'cancelled';
        const payload = {
          stream: s.stream.padEnd(width),
          status: s.status.padEnd(9),
          rows: s.rows,
          pages: s.pages,
          rate: s.retrying ? retryText(s.retrying) : rate(s, Date.now()),
          percent: (s.status === 'completed' ? '100%' : s.percent !== undefined ? `${s.percent}%` : '').padStart(6),
          eta: s.etaSeconds !== undefined && !done ? `, ETA ${formatSeconds(s.etaSeconds)}` : '',
        };
        let bar = bars.get(s.stream);
        if (!bar) {
          bar = multi.create(100, 0, payload);
          bars.set(s.stream, bar);
        }
        // the stream's percent done (its time range read, or its partitions done); a listing Klaviyo does not
        // count shows none and fills when it is done
        bar.update(done ? 100 : (s.percent ?? 0), payload);
      }
    },
    stop: () => multi.stop(),
  };
}

export function linesView(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): ProgressView {
  const last = new Map<string, string>();
  return {
    update(p) {
      for (const s of p.streams) {
        const line =
          `${s.stream}: ${s.status}, ${s.rows} rows, ${s.pages} pages${s.status === 'running' && percentText(s) ? `, ${percentText(s)}` : ''}${s.error ? ` (${s.error})` : ''}` +
          (s.retrying ? `; ${retryText(s.retrying)}` : '');
        if (last.get(s.stream) !== line) {
          last.set(s.stream, line);
          write(line);
        }
      }
    },
    stop() {},
  };
}

export function retryText(r: NonNullable<StreamProgress['retrying']>): string {
  return `retrying (attempt ${r.attempt}) after: ${r.failure.split('\n')[0].slice(0, 200)}`;
}

/**
 * The replication's progress with live figures: for each running stream, its own workflow's counts plus those of
 * its running partition children, and a page activity's last failure while it retries. A stream workflow that
 * does not answer yet (just started) keeps the replication's figures.
 */
export async function liveProgress(client: WorkflowClient, handle: WorkflowHandle): Promise<ReplicationProgress> {
  const p = await handle.query(progressQuery);
  if (p.status !== 'running') return p;
  await Promise.all(
    p.streams
      .filter((s) => s.status === 'running')
      .map(async (s) => {
        const id = `${p.replicationId}/${s.stream}`;
        const stream = await client
          .getHandle(id)
          .query(streamProgressQuery)
          .catch(() => undefined);
        const ids = [id, ...(stream?.running ?? [])];
        const partitions = await Promise.all(
          (stream?.running ?? []).map((pid) =>
            client
              .getHandle(pid)
              .query(partitionProgressQuery)
              .catch(() => undefined),
          ),
        );
        if (stream) {
          s.rows = stream.rows + partitions.reduce((n, x) => n + (x?.rows ?? 0), 0);
          s.pages = stream.pages + partitions.reduce((n, x) => n + (x?.pages ?? 0), 0);
          if (stream.percent !== undefined) s.percent = stream.percent;
          if (stream.etaSeconds !== undefined) s.etaSeconds = stream.etaSeconds;
        }
        const retrying = (await Promise.all(ids.map((wid) => lastActivityFailure(client, wid)))).find((r) => r !== undefined);
        if (retrying) s.retrying = retrying;
      }),
  );
  return p;
}

/** The first pending activity of a workflow that has failed at least once: its attempt and failure message. */
async function lastActivityFailure(client: WorkflowClient, workflowId: string): Promise<StreamProgress['retrying']> {
  const desc = await client
    .getHandle(workflowId)
    .describe()
    .catch(() => undefined);
  for (const a of desc?.raw.pendingActivities ?? []) {
    if (a.lastFailure?.message) return { attempt: a.attempt ?? 0, failure: a.lastFailure.message, workflowId };
  }
  return undefined;
}

/** A Temporal server that is not answering right now (restarting, network): worth waiting for. */
export function isUnavailable(err: unknown): boolean {
  for (let e: any = err; e; e = e.cause) {
    if (isGrpcServiceError(e) && [1, 4, 14].includes(e.code)) return true; // CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE
    if (typeof e.message === 'string' && /\b14 UNAVAILABLE\b|ECONNREFUSED|Connection dropped/.test(e.message)) return true;
  }
  return false;
}

/**
 * The workflow's result, waiting out a Temporal server that is restarting or unreachable: the replication runs on
 * (its state is the server's and the target's), so a follow only has to ask again. Gives up after `patienceMs`
 * without an answer, with what to do, or when `until` settles.
 */
export async function resultAcrossRestarts<T>(
  handle: WorkflowHandle,
  opts: { patienceMs?: number; onWait?: (err: unknown) => void; until?: Promise<unknown> } = {},
): Promise<T> {
  const patience = opts.patienceMs ?? 10 * 60_000;
  // the caller stopped following (Ctrl-C): no more waiting for the server
  let stopped = false;
  void opts.until?.then(
    () => (stopped = true),
    () => (stopped = true),
  );
  let since: number | undefined;
  let lastFailure = 0;
  for (;;) {
    try {
      return (await handle.result()) as T;
    } catch (err) {
      if (stopped || !isUnavailable(err)) throw err;
      // a failure long after the previous one starts a new outage (the result call had been waiting fine)
      if (since === undefined || Date.now() - lastFailure > 60_000) {
        since = Date.now();
        opts.onWait?.(err);
      }
      lastFailure = Date.now();
      if (Date.now() - since > patience) {
        throw new Error(
          `the Temporal server has not answered for ${Math.round(patience / 1000)} s; the replication itself goes on: ` +
            `follow it again with \`klaviyo-sync status ${handle.workflowId}\` once the server is back`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Polls `liveProgress` until `done` settles; polls that fail (no worker yet, server restarting) are retried quietly. */
export async function followProgress(
  client: WorkflowClient,
  handle: WorkflowHandle,
  view: ProgressView,
  done: Promise<unknown>,
): Promise<void> {
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  const poll = async () => {
    try {
      view.update(await liveProgress(client, handle));
    } catch {
      // not started by a worker yet, or the server is restarting: the next poll or the result tells
    }
  };
  while (!finished) {
    await poll();
    await Promise.race([new Promise((r) => setTimeout(r, POLL_MS)), done.catch(() => undefined)]);
  }
  await poll();
  view.stop();
}

export function defaultView(): ProgressView {
  return process.stderr.isTTY ? barsView() : linesView();
}
