/**
 * A growable byte buffer that text is written into as UTF-8. A page of 100 profiles is ~4,700 small strings;
 * writing them straight into bytes costs about a third of joining them into one string and encoding that (the
 * joined string is UTF-16 as soon as one name has an accent), which matters on the server's hot path.
 */
export class ByteSink {
  private buf: Buffer;
  private length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  push(...parts: string[]): void {
    for (const s of parts) {
      // UTF-8 needs at most 3 bytes per UTF-16 code unit.
      if (this.buf.length - this.length < s.length * 3) this.grow(s.length * 3);
      this.length += this.buf.write(s, this.length);
    }
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + needed));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** The bytes written; the sink must not be written to afterwards. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}
