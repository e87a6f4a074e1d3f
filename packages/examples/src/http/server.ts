import { uws, type UwsHttpRequest, type UwsHttpResponse } from './uws.js';

export interface HttpRequest {
  readonly method: string;
  /** The raw (still percent-encoded) path, without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

export interface HttpReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

export type HttpHandler = (request: HttpRequest) => Promise<HttpReply> | HttpReply;

export interface HttpServerOptions {
  /** Largest request body; larger ones get 413 and nothing is done. */
  readonly maxBodyBytes: number;
  /** Every request gets an answer within this long: handlers that take longer are answered 504. */
  readonly deadlineMs: number;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function json(status: number, value: unknown): HttpReply {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

export function errorReply(status: number, code: string, message: string, extra: Record<string, unknown> = {}): HttpReply {
  return json(status, { error: code, message, ...extra });
}

/** A small HTTP server over uWebSockets.js: full bodies, bounded sizes, a deadline on everything. */
export class HttpServer {
  private listenSocket: object | undefined;
  port = 0;

  constructor(
    private readonly handler: HttpHandler,
    private readonly options: HttpServerOptions,
  ) {}

  listen(host: string, port: number): Promise<number> {
    const module = uws();
    const app = module.App();
    app.any('/*', (res, req) => this.onRequest(res, req));
    return new Promise((resolve, reject) => {
      app.listen(host, port, module.LIBUS_LISTEN_EXCLUSIVE_PORT!, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen for HTTP on ${host}:${port} (in use?)`));
          return;
        }
        this.listenSocket = socket;
        this.port = module.us_socket_local_port(socket);
        resolve(this.port);
      });
    });
  }

  close(): void {
    if (this.listenSocket) uws().us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  private onRequest(res: UwsHttpResponse, req: UwsHttpRequest): void {
    // Everything read from `req` must be read now: it is invalid after this callback returns.
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const headers = new Map<string, string>();
    req.forEach((key, value) => headers.set(key, value));
    let done = false;
    const reply = (r: HttpReply): void => {
      if (done) return;
      done = true;
      res.cork(() => {
        res.writeStatus(`${r.status} ${STATUS_TEXT[r.status] ?? 'Status'}`);
        for (const [key, value] of Object.entries(r.headers ?? {})) res.writeHeader(key, value);
        res.end(r.body ?? '');
      });
    };
    res.onAborted(() => {
      done = true;
    });
    const declared = Number(headers.get('content-length') ?? 0);
    if (declared > this.options.maxBodyBytes) {
      reply(errorReply(413, 'too_large', `the body exceeds ${this.options.maxBodyBytes} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > this.options.maxBodyBytes) {
        reply(errorReply(413, 'too_large', `the body exceeds ${this.options.maxBodyBytes} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      const timer = setTimeout(() => reply(errorReply(504, 'timeout', 'the request did not complete in time; its outcome is unknown')), this.options.deadlineMs);
      Promise.resolve()
        .then(() => this.handler({ method, path, query, headers, body: Buffer.concat(chunks) }))
        .then(
          (r) => reply(r),
          (error: unknown) => reply(errorReply(500, 'internal', (error as Error)?.message ?? String(error))),
        )
        .finally(() => clearTimeout(timer));
    });
  }
}
