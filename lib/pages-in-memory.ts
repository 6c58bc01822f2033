/**
 * How many pages one process holds in memory at once: a page is admitted when its response's headers have arrived,
 * before its body is read, and leaves when it is committed (or failed). A worker keeps up to 48 windows of a stream
 * in flight; when the database is slower than Klaviyo (limits off, or a slow target), without a bound every one of
 * them reads its body and waits, parsed, for one of the pool's connections: about 40 pages of 1-2 MB each, most of a
 * worker's memory. With it, a page waiting to be written keeps its response unread (the socket holds a few KB) and
 * its request slot, so the reads slow to the pace of the writes, which is all a backfill can reach anyway.
 *
 * Per process, not per fleet: memory is a process's own. KLAVIYO_SYNC_PAGES_IN_MEMORY sets the bound.
 */
import { Semaphore } from './semaphore';

/** Default: the Postgres pool's 10 connections busy, and a few pages parsed and ready for the next free one. */
export const PAGES_IN_MEMORY = 16;

export const PAGES_IN_MEMORY_ENV = 'KLAVIYO_SYNC_PAGES_IN_MEMORY';

/** The bound from KLAVIYO_SYNC_PAGES_IN_MEMORY (unset: PAGES_IN_MEMORY), named in the error when it is not one. */
export function pagesInMemoryOf(env: NodeJS.ProcessEnv): number {
  const raw = env[PAGES_IN_MEMORY_ENV];
  if (raw === undefined || raw === '') return PAGES_IN_MEMORY;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${PAGES_IN_MEMORY_ENV} must be a whole number of pages, at least 1, not ${JSON.stringify(raw)}`);
  }
  return n;
}

/** The bound: a Semaphore of pages, one place per page from its headers to its commit. */
export type PagesInMemory = Semaphore;

let processPages: PagesInMemory | undefined;

/** The process's bound, one for every activity of the worker, sized from its environment when first asked. */
export function processPagesInMemory(env: NodeJS.ProcessEnv = process.env): PagesInMemory {
  processPages ??= new Semaphore(pagesInMemoryOf(env));
  return processPages;
}
