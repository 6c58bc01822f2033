/**
 * `klaviyo-sync worker` runs its Temporal worker in a thread whose heap is sized (KLAVIYO_SYNC_WORKER_HEAP_MB, default
 * WORKER_HEAP.oldMb), since a process's own heap can be sized only by flags given to `node` before it starts
 * (NODE_OPTIONS), which a command cannot set for itself. `KLAVIYO_SYNC_WORKER_HEAP_MB=0` runs it in the process with
 * V8's own sizing.
 *
 * Why: under a backfill the live heap stays near 50-60 MB, but V8 sizes a heap for throughput, and with this kind of
 * machine's default limit (several GB) it lets garbage grow to ~4× the live heap before it collects (old space to
 * ~250 MB, large objects to ~100 MB: every page body and encoded page is over 128 KB), a worker of ~560 MB. Below a
 * limit of 2 GB V8 grows the heap by far less. A thread of 1024 MB, launched with WORKER_MALLOC_ENV, measured
 * 263-283 MB on the large preset (463 MB in the process), for ~25% more worker CPU (README's Performance); 2048 MB
 * measured 428 MB at the process's CPU.
 * The process around it only starts the thread, hands it SIGINT/SIGTERM and exits with its code; killing the
 * process kills the thread with it.
 *
 * A heap that outgrows its limit (a far larger page or account than measured) ends the thread, and with it the
 * process, with a message that names KLAVIYO_SYNC_WORKER_HEAP_MB: like any crash of a worker, Temporal retries its
 * activities from their committed cursors.
 */
import path from 'node:path';
import v8 from 'node:v8';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

/**
 * The worker thread's heap unless KLAVIYO_SYNC_WORKER_HEAP_MB says otherwise: an old generation of `oldMb`, and a
 * young generation of `youngMb` (semi-spaces of a third), which every thread gets.
 */
export const WORKER_HEAP = { oldMb: 1024, youngMb: 24 } as const;

export const HEAP_ENV = 'KLAVIYO_SYNC_WORKER_HEAP_MB';

/**
 * The old generation's size from KLAVIYO_SYNC_WORKER_HEAP_MB (unset: WORKER_HEAP.oldMb; 0: no thread, the worker in
 * the process), named in the error when it is not one.
 */
export function workerHeapMb(env: NodeJS.ProcessEnv): number {
  const raw = env[HEAP_ENV];
  if (raw === undefined || raw === '') return WORKER_HEAP.oldMb;
  const mb = Number(raw);
  if (!Number.isInteger(mb) || (mb !== 0 && mb < 64)) {
    throw new Error(`${HEAP_ENV} must be a whole number of MB, at least 64 (or 0: no worker thread), not ${JSON.stringify(raw)}`);
  }
  return mb;
}

/** True in the thread `runInHeapThread` started (where the worker runs and takes its stop from `onStop`). */
export function inHeapThread(): boolean {
  return !isMainThread && process.env.KLAVIYO_SYNC_HEAP_THREAD === '1';
}

/** In the heap thread: calls `stop` when the process got SIGINT or SIGTERM. */
export function onStop(stop: () => void): void {
  parentPort?.on('message', (m: unknown) => {
    if (m === 'stop') stop();
  });
  // the port alone does not keep the thread running once the worker has stopped
  parentPort?.unref();
}

const CLI = path.join(__dirname, '..', 'client', 'cli.ts');

/**
 * `klaviyo-sync worker ...` from bin/klaviyo-sync.js, before anything else is loaded: the process's own heap then
 * holds only this module, the thread the whole worker.
 */
export function startWorkerCommand(argv: string[]): void {
  let heapMb: number;
  try {
    heapMb = workerHeapMb(process.env);
  } catch (err) {
    process.stderr.write(`klaviyo-sync: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  if (heapMb === 0) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(CLI);
    return;
  }
  void runInHeapThread(argv, heapMb).then((code) => {
    process.exitCode = code;
  });
}

/** The thread's script: the CLI (through tsx) run on the thread's argv. */
function cliScript(): string {
  return `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(CLI)}).runCli();`;
}

/**
 * Runs `code` (default: the CLI with `argv`, a `worker` command) in a thread of `oldMb`, until it ends; resolves with
 * its exit code. SIGINT and SIGTERM are passed on as a stop; a second one ends the process.
 */
export function runInHeapThread(argv: string[], oldMb: number, code = cliScript()): Promise<number> {
  const thread = new Worker(code, {
    eval: true,
    argv,
    env: { ...process.env, KLAVIYO_SYNC_HEAP_THREAD: '1' },
    resourceLimits: { maxOldGenerationSizeMb: oldMb, maxYoungGenerationSizeMb: WORKER_HEAP.youngMb },
  });
  // once: a second signal ends the process, as it ends a worker that runs in the process itself
  const stop = () => thread.postMessage('stop');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise((resolve) => {
    let failed = false;
    thread.on('error', (err: Error & { code?: string }) => {
      failed = true;
      process.stderr.write(
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `klaviyo-sync worker: its heap outgrew ${oldMb} MB and the worker stopped; its activities are retried from ` +
              `their cursors by the next worker. Give it more with ${HEAP_ENV}=${oldMb * 2} (or 0 for V8's own sizing in the process).\n`
          : `klaviyo-sync worker: ${err.message}\n`,
      );
    });
    thread.on('exit', (exitCode) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(failed && exitCode === 0 ? 1 : exitCode);
    });
  });
}

/** The semi-spaces of the workflow threads a worker in a heap thread starts (withSmallThreadHeaps). */
export const WORKFLOW_THREAD_SEMI_SPACE_MB = 2;

/**
 * Runs `create` (Temporal's Worker.create) with new isolates given a small young generation: its workflow threads
 * replay small histories and allocate little, yet V8 gives every isolate the default semi-spaces (16 MB each, 34 MB
 * of new space a thread). V8 reads the flag when it makes an isolate, so the running heaps keep their size.
 */
export async function withSmallThreadHeaps<T>(create: () => Promise<T>, semiSpaceMb = WORKFLOW_THREAD_SEMI_SPACE_MB): Promise<T> {
  v8.setFlagsFromString(`--max-semi-space-size=${semiSpaceMb}`);
  try {
    return await create();
  } finally {
    // 0: V8's own choice again, for any isolate made later
    v8.setFlagsFromString('--max-semi-space-size=0');
  }
}

/** The heap this worker runs in, for its start line: the thread's limit as V8 reports it, or V8's own sizing. */
export function heapDescription(): string {
  if (!inHeapThread()) return `V8's own sizing in the process (${HEAP_ENV}=0)`;
  const mb = Math.round(v8.getHeapStatistics().heap_size_limit / (1024 * 1024));
  const given = process.env[HEAP_ENV];
  return `a thread of ${mb} MB (${given ? `${HEAP_ENV}=${given}` : `the default; ${HEAP_ENV} sets another`})`;
}

/**
 * The allocator settings a worker should run with. glibc gives every thread that allocates an arena of its own (up
 * to 8 per core), and a worker has a dozen (Temporal's runtime, the workflow and heap threads, V8's and libuv's
 * helpers), whose freed pages stay resident; and after a large block is freed it raises the size it maps blocks
 * at, so page-sized buffers (a body, an encoded page) come from those arenas and fragment them. Two arenas and a
 * fixed threshold of 128 KB (blocks above it mapped and handed back when freed) took the large preset's documented
 * run from 323 to 274 MB (README's Performance). glibc reads them when the process starts, so they are set where a
 * worker is launched (`npm run worker`, the bench, README's deployment lines), not by the worker itself.
 */
export const WORKER_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } as const;

/** `env` with WORKER_MALLOC_ENV's settings where it has none of its own. */
export function withWorkerMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [k, v] of Object.entries(WORKER_MALLOC_ENV)) if (!out[k]) out[k] = v;
  return out;
}

/** The worker's start line on its allocator: the settings in force, or the ones to set. */
export function allocatorDescription(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform !== 'linux') return "the platform's";
  const set = Object.keys(WORKER_MALLOC_ENV).filter((k) => env[k]);
  if (set.length) return set.map((k) => `${k}=${env[k]}`).join(' ');
  const advised = Object.entries(WORKER_MALLOC_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `glibc's defaults (${advised} keep ~50 MB fewer resident under load)`;
}
