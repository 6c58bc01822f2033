/**
 * Paging always ends: a `links.next` that points at the page just read, or back at any page already read in this
 * partition during this activity call, would page forever (each call writing the same rows), so it fails the
 * stream at once, naming the URL.
 *
 * What is covered: any cycle whose pages all fall within one activity call, i.e. a self-link always, and a loop of
 * up to `maxPagesPerCall` pages (20 by default) once a call starts inside it: the call's first URL is the cursor
 * saved by the previous call, so a loop that straddles two calls is caught in the second. A longer loop would need
 * the partition's seen cursors persisted with its state (not done: see the state table).
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

  constructor(
    private readonly stream: string,
    private readonly partition: string,
  ) {}

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
