/**
 * The worker's heap thread (worker/heap-thread.ts) on real threads: a heap that outgrows its limit ends the run with
 * a non-zero code and a message naming the setting, and SIGTERM reaches the thread as a stop. The worker's own line
 * (the limit V8 reports inside the thread) is checked on a real worker in cli-run.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_ENV, WORKER_HEAP, runInHeapThread, workerHeapMb } from '../worker/heap-thread';

/** stderr written while `fn` runs (the module reports there, as the CLI does) */
async function stderrOf<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

void test('KLAVIYO_SYNC_WORKER_HEAP_MB: unset or empty for the default thread, 0 for none, else a size; anything else is refused naming it', () => {
  assert.equal(workerHeapMb({}), WORKER_HEAP.oldMb);
  assert.equal(workerHeapMb({ [HEAP_ENV]: '' }), WORKER_HEAP.oldMb);
  assert.equal(workerHeapMb({ [HEAP_ENV]: String(WORKER_HEAP.oldMb) }), WORKER_HEAP.oldMb);
  assert.equal(workerHeapMb({ [HEAP_ENV]: '512' }), 512);
  assert.equal(workerHeapMb({ [HEAP_ENV]: '0' }), 0);
  for (const bad of ['32', '1.5', 'lots', '-1']) {
    assert.throws(() => workerHeapMb({ [HEAP_ENV]: bad }), new RegExp(`${HEAP_ENV} must be a whole number of MB`), bad);
  }
});

void test("a heap that outgrows the thread's limit ends it with 1 and a message naming the setting to raise", async () => {
  const grown = await stderrOf(() => runInHeapThread([], 64, 'const keep = []; for (;;) keep.push(new Array(100_000).fill(keep.length));'));
  assert.equal(grown.value, 1);
  assert.match(grown.stderr, /its heap outgrew 64 MB/);
  assert.match(grown.stderr, new RegExp(`${HEAP_ENV}=128`));
});

void test('SIGTERM to the process reaches the thread as a stop, and its exit code comes back', async () => {
  const script =
    "const { parentPort } = require('node:worker_threads');" +
    "parentPort.on('message', (m) => { if (m === 'stop') { process.exitCode = 7; parentPort.close(); } });";
  // a message waits on the port until the thread listens: no race with its start
  const running = runInHeapThread([], 64, script);
  process.emit('SIGTERM');
  assert.equal(await running, 7);
});
