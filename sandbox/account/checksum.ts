/**
 * An order-independent checksum of a set of ids, so that a sandbox and a database can compare what they hold
 * without sorting millions of strings: for each id two 32-bit hashes (FNV-1a and a murmur3-style mix over the
 * UTF-16 code units), summed modulo 2^32 each; printed as 16 hex digits. Same ids in any order, same checksum.
 */
export class IdsChecksum {
  private a = 0;
  private b = 0;
  private n = 0;

  add(id: string): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      let k = Math.imul(c, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h2 ^= Math.imul(k, 0x1b873593);
      h2 = (h2 << 13) | (h2 >>> 19);
      h2 = (Math.imul(h2, 5) + 0xe6546b64) | 0;
    }
    h2 ^= id.length;
    h2 ^= h2 >>> 16;
    h2 = Math.imul(h2, 0x85ebca6b);
    h2 ^= h2 >>> 13;
    h2 = Math.imul(h2, 0xc2b2ae35);
    h2 ^= h2 >>> 16;
    this.a = (this.a + (h1 >>> 0)) % 0x100000000;
    this.b = (this.b + (h2 >>> 0)) % 0x100000000;
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  digest(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}

export function idsChecksum(ids: Iterable<string>): string {
  const c = new IdsChecksum();
  for (const id of ids) c.add(id);
  return c.digest();
}
