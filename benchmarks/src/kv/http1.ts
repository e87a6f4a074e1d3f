import { connect, type Socket } from 'node:net';

/**
 * A minimal HTTP/1.1 client connection for the load generator: one request at a time on one
 * persistent (keep-alive) socket, the request written with one syscall, the response parsed just
 * enough to find its end (Content-Length or chunked) and status. It costs a few microseconds per
 * request, so the generator measures the server rather than itself.
 */
export class Http1Connection {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: { status: number; body: string }) => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  private open(): Promise<Socket> {
    if (this.socket) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true });
      socket.once('connect', () => {
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      const gone = (error: Error): void => {
        if (this.socket === socket) this.socket = undefined;
        this.connecting = undefined;
        this.buffer = Buffer.alloc(0);
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting?.reject(error);
        reject(error);
      };
      socket.once('error', gone);
      socket.once('close', () => gone(new Error('the connection closed')));
    });
    return this.connecting;
  }

  /** Sends one request and resolves with the response's status and (start of its) body. */
  async request(method: string, path: string, body: Buffer, headers = ''): Promise<{ status: number; body: string }> {
    if (this.waiting) throw new Error('one request at a time');
    const socket = await this.open();
    const head = `${method} ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Length: ${body.byteLength}\r\n${headers}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      socket.write(body.byteLength > 0 ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.byteLength === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const parsed = parseResponse(this.buffer);
    if (!parsed) return;
    if (parsed === 'bad') {
      const waiting = this.waiting;
      this.waiting = undefined;
      this.socket?.destroy();
      waiting?.reject(new Error(`malformed response: ${JSON.stringify(this.buffer.subarray(0, 200).toString('latin1'))}`));
      return;
    }
    this.buffer = this.buffer.subarray(parsed.end);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status: parsed.status, body: parsed.body });
  }
}

/** A complete response at the start of `buf` (its status, body and where it ends), undefined if incomplete. */
export function parseResponse(buf: Buffer): { status: number; body: string; end: number } | undefined | 'bad' {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return buf.byteLength > 64 * 1024 ? 'bad' : undefined;
  const head = buf.subarray(0, headEnd).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!status) return 'bad';
  const bodyStart = headEnd + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) {
    const end = bodyStart + Number(length[1]);
    if (buf.byteLength < end) return undefined;
    return { status: Number(status[1]), body: buf.subarray(bodyStart, Math.min(end, bodyStart + 512)).toString('utf8'), end };
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    let at = bodyStart;
    let body = '';
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) return 'bad';
      const dataStart = lineEnd + 2;
      if (buf.byteLength < dataStart + size + 2) return undefined;
      if (size === 0) {
        // No trailers expected: the chunk of size 0 ends with an empty line.
        return { status: Number(status[1]), body, end: dataStart + 2 };
      }
      if (body.length < 512) body += buf.subarray(dataStart, dataStart + size).toString('utf8');
      at = dataStart + size + 2;
    }
  }
  // Neither: a response without a body (204, 304) or one that ends with the connection.
  if (/^HTTP\/1\.[01] (204|304)/.test(head)) return { status: Number(status[1]), body: '', end: bodyStart };
  return 'bad';
}
