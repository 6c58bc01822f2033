/**
 * A bare HTTP/1.1 keep-alive connection for the bench: one GET at a time, each body read by its Content-Length
 * straight into one buffer. The bench shares the machine's cores with the server it measures, and undici spends
 * about 6 µs of CPU per profile row receiving 200 KB pages (streams, chunk copies, the garbage they leave), this
 * about 2. It does no more HTTP than the sandbox needs: no chunked bodies, no redirects, no retries.
 */
import net from 'node:net';

export interface Response {
  status: number;
  body: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export class KeepAliveConnection {
  private pending: { resolve: (res: Response) => void; reject: (err: Error) => void } | null = null;
  /** bytes of the response being read, until its head is parsed */
  private head: Buffer = Buffer.alloc(0);
  private status = 0;
  private body: Buffer | null = null;
  private filled = 0;

  private constructor(
    private readonly socket: net.Socket,
    private readonly host: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error(`the connection to ${host} closed`)));
  }

  static open(origin: string): Promise<KeepAliveConnection> {
    const { hostname, port } = new URL(origin);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => {
        socket.off('error', reject);
        resolve(new KeepAliveConnection(socket, `${hostname}:${port}`));
      });
      socket.once('error', reject);
    });
  }

  get(path: string, headers: Record<string, string>): Promise<Response> {
    if (this.pending) throw new Error('KeepAliveConnection.get: one request at a time; await the previous one');
    const lines = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(`GET ${path} HTTP/1.1\r\nhost: ${this.host}\r\n${lines}\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    if (!this.body) {
      this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf(HEAD_END);
      if (end < 0) return;
      const text = this.head.toString('latin1', 0, end);
      const length = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
      if (length === undefined) return this.fail(new Error(`a response without Content-Length: ${text.slice(0, 200)}`));
      this.status = Number(text.slice(9, 12));
      this.body = Buffer.allocUnsafe(Number(length));
      chunk = this.head.subarray(end + HEAD_END.length);
      this.head = Buffer.alloc(0);
      this.filled = 0;
    }
    const take = Math.min(chunk.length, this.body.length - this.filled);
    chunk.copy(this.body, this.filled, 0, take);
    this.filled += take;
    if (this.filled < this.body.length) return;
    if (take < chunk.length) return this.fail(new Error('bytes after the response body; this client sends one request at a time'));
    const res = { status: this.status, body: this.body };
    this.body = null;
    const pending = this.pending;
    this.pending = null;
    pending?.resolve(res);
  }

  private fail(err: Error): void {
    const pending = this.pending;
    this.pending = null;
    this.socket.destroy();
    pending?.reject(err);
  }
}
