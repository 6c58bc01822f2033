/**
 * The young generation of the threads Temporal's Worker.create starts (its workflow threads): they replay small
 * histories and allocate little, yet V8 gives every isolate the default semi-spaces (16 MB each, 34 MB of new space
 * a thread). V8 reads the flag when it makes an isolate, so the running heaps keep their size.
 */
import v8 from 'node:v8';

export const WORKFLOW_THREAD_SEMI_SPACE_MB = 2;

export async function withSmallThreadHeaps<T>(create: () => Promise<T>, semiSpaceMb = WORKFLOW_THREAD_SEMI_SPACE_MB): Promise<T> {
  v8.setFlagsFromString(`--max-semi-space-size=${semiSpaceMb}`);
  try {
    return await create();
  } finally {
    // 0: V8's own choice again, for any isolate made later
    v8.setFlagsFromString('--max-semi-space-size=0');
  }
}
