/**
 * Paging always ends: a `links.next` that points at the page just read, or back at any page already read in this
 * partition during this activity call, would page forever (each call writing the same rows), so it fails the
 * stream at once, naming the URL.
 *
 * What is covered: every loop, however long and across any number of activity calls. Within a call every page read
 * is remembered, so a self-link or a short loop fails at once. Across calls, the state table keeps one `links.next`
 * per partition, replaced each time the run's page count reaches a power of two (Brent's cycle detection, with the
 * `loopMark` of lib/db/state.ts): once that mark lies inside a loop of L pages and the count has passed L,
 * the loop comes back to it, so a loop is caught within about 2·(L + the pages before it) + L pages.
 */
import { ProtocolError } from '../errors';
import { KlaviyoErrorType } from './errors';

/** Two links to the same page compare equal whatever their origin (a cursor saved under another base URL). */
function pageKey(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

export class PagingGuard {
  private readonly seen = new Set<string>();
  private pages = 0;

  /** `mark`: the partition's saved loop mark (a `links.next` this run already followed), if any */
  constructor(
    private readonly stream: string,
    private readonly partition: string,
    mark: string | null = null,
  ) {
    if (mark) this.seen.add(pageKey(mark));
  }

  /**
   * The next URL to fetch after the page at `current`, or null at the end. Throws a ProtocolError when `next` is
   * `current` or a page already read in this partition.
   */
  follow(current: string, next: string | null): string | null {
    this.seen.add(pageKey(current));
    this.pages++;
    if (next === null) return null;
    if (!this.seen.has(pageKey(next))) return next;
    const where = this.partition ? `stream ${this.stream}, partition ${this.partition}` : `stream ${this.stream}`;
    const what = pageKey(next) === pageKey(current) ? 'the page itself' : `a page already read (${this.pages} pages into this call)`;
    throw new ProtocolError(
      `Klaviyo's links.next for ${where} points back at ${what}: ${next}; paging would never end, so the stream ` +
        `fails here. Check that the base URL reaches Klaviyo directly (a caching proxy can serve a stale page), ` +
        `and if it does, report this URL to Klaviyo support; the rest of the replication is not affected.`,
      { type: KlaviyoErrorType.PagingLoop, details: { stream: this.stream, partition: this.partition, url: next, pages: this.pages } },
    );
  }
}
