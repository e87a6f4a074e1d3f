import { uws, type UwsHttpRequest, type UwsHttpResponse, type UwsWebSocket } from './uws.js';

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
  /** A WebSocket route that only pushes to its clients (what they send is ignored). */
  readonly websocket?: WebSocketRoute;
}

/** One connected WebSocket client of a push-only route. */
export interface PushSocket {
  /** Sends a text message; false if the socket is closed, or the client too slow (its buffer over the route's cap) and now closed. */
  send(text: string): boolean;
  close(code: number, reason: string): void;
}

/**
 * A push-only WebSocket route. At most `maxClients` at a time (more are answered 503); a client
 * whose unsent bytes exceed `maxBufferedBytes` is disconnected instead of buffered further.
 */
export interface WebSocketRoute {
  readonly path: string;
  readonly maxClients: number;
  readonly maxBufferedBytes: number;
  opened(socket: PushSocket): void;
  closed(socket: PushSocket): void;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** The query of requests without one (shared: handlers only read it). */
const NO_QUERY = new URLSearchParams();

export function json(status: number, value: unknown): HttpReply {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

export function errorReply(status: number, code: string, message: string, extra: Record<string, unknown> = {}): HttpReply {
  return json(status, { error: code, message, ...extra });
}

/** A small HTTP server over uWebSockets.js: full bodies, bounded sizes, a deadline on everything. */
export class HttpServer {
  private listenSocket: object | undefined;
  private readonly pushSockets = new Set<PushSocket>();
  port = 0;

  constructor(
    private readonly handler: HttpHandler,
    private readonly options: HttpServerOptions,
  ) {}

  listen(host: string, port: number): Promise<number> {
    const module = uws();
    const app = module.App();
    const route = this.options.websocket;
    if (route) this.addWebSocketRoute(app, route);
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
    for (const socket of [...this.pushSockets]) socket.close(1001, 'the server is closing');
  }

  private addWebSocketRoute(app: ReturnType<ReturnType<typeof uws>['App']>, route: WebSocketRoute): void {
    interface Data {
      socket?: PushSocket;
      closed?: boolean;
    }
    app.ws<Data>(route.path, {
      compression: 0,
      maxPayloadLength: 4 * 1024,
      idleTimeout: 60,
      // uWS drops messages above this; a PushSocket closes its client before that happens.
      maxBackpressure: route.maxBufferedBytes * 2,
      upgrade: (res, req, context) => {
        if (this.pushSockets.size >= route.maxClients || !this.listenSocket) {
          res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: 'busy', message: `at most ${route.maxClients} watchers at a time` }));
          return;
        }
        res.upgrade<Data>({}, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws: UwsWebSocket<Data>) => {
        const data = ws.getUserData();
        const close = (code: number, reason: string): void => {
          if (data.closed) return;
          data.closed = true;
          ws.end(code, reason);
        };
        const socket: PushSocket = {
          send: (text) => {
            if (data.closed) return false;
            if (ws.getBufferedAmount() > route.maxBufferedBytes) {
              close(4008, 'too slow: disconnected');
              return false;
            }
            if (ws.send(text, false) !== 2) return true;
            close(4008, 'too slow: disconnected');
            return false;
          },
          close,
        };
        data.socket = socket;
        this.pushSockets.add(socket);
        route.opened(socket);
      },
      close: (ws: UwsWebSocket<Data>) => {
        // Using a closed uWS socket throws: the flag makes every later send or close a no-op.
        const data = ws.getUserData();
        data.closed = true;
        if (data.socket) {
          this.pushSockets.delete(data.socket);
          route.closed(data.socket);
        }
      },
    });
  }

  private onRequest(res: UwsHttpResponse, req: UwsHttpRequest): void {
    // Everything read from `req` must be read now: it is invalid after this callback returns.
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const rawQuery = req.getQuery();
    const query = rawQuery ? new URLSearchParams(rawQuery) : NO_QUERY;
    const headers = new Map<string, string>();
    req.forEach((key, value) => headers.set(key, value));
    const exchange = new Exchange(res, this.handler, this.options, method, path, query, headers);
    res.onAborted(() => exchange.abort());
    const declared = Number(headers.get('content-length') ?? 0);
    if (declared > this.options.maxBodyBytes) {
      exchange.reply(errorReply(413, 'too_large', `the body exceeds ${this.options.maxBodyBytes} bytes`));
      return;
    }
    res.onData((chunk, isLast) => exchange.data(chunk, isLast));
  }
}

/**
 * One request in flight: its body as it arrives, its deadline, and its one reply. A class rather
 * than closures: this runs for every request.
 */
class Exchange {
  private done = false;
  private chunks: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: UwsHttpResponse,
    private readonly handler: HttpHandler,
    private readonly options: HttpServerOptions,
    private readonly method: string,
    private readonly path: string,
    private readonly query: URLSearchParams,
    private readonly headers: ReadonlyMap<string, string>,
  ) {}

  abort(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  data(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.size += chunk.byteLength;
    if (this.size > this.options.maxBodyBytes) {
      this.reply(errorReply(413, 'too_large', `the body exceeds ${this.options.maxBodyBytes} bytes`));
      return;
    }
    // uWS's ArrayBuffer is only valid during this callback: copy it.
    this.chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    this.timer = setTimeout(() => this.reply(errorReply(504, 'timeout', 'the request did not complete in time; its outcome is unknown')), this.options.deadlineMs);
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    let pending: Promise<HttpReply> | HttpReply;
    try {
      pending = this.handler({ method: this.method, path: this.path, query: this.query, headers: this.headers, body });
    } catch (error) {
      this.fail(error);
      return;
    }
    if (pending instanceof Promise) pending.then((r) => this.reply(r), (error: unknown) => this.fail(error));
    else this.reply(pending);
  }

  private fail(error: unknown): void {
    this.reply(errorReply(500, 'internal', (error as Error)?.message ?? String(error)));
  }

  reply(r: HttpReply): void {
    clearTimeout(this.timer);
    if (this.done) return;
    this.done = true;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(`${r.status} ${STATUS_TEXT[r.status] ?? 'Status'}`);
      if (r.headers) for (const key in r.headers) res.writeHeader(key, r.headers[key]!);
      res.end(r.body ?? '');
    });
  }
}
