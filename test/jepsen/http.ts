import { Agent, request } from 'node:http';
import type { Outcome } from './checker/index.js';

export interface Endpoint {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

export type HttpResult =
  | { readonly kind: 'response'; readonly status: number; readonly body: Buffer }
  /** `sent`: the connection was open, so the server may have received (and acted on) the request. */
  | { readonly kind: 'error'; readonly sent: boolean; readonly message: string };

/**
 * One client's HTTP connections to the nodes (kept alive, one request at a time). Every request has
 * a deadline; a request that fails before its connection is established was definitely not sent.
 */
export class HttpClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });

  constructor(private readonly deadlineMs: number) {}

  send(endpoint: Endpoint, method: string, path: string, body?: string): Promise<HttpResult> {
    return new Promise((resolve) => {
      let sent = false;
      let settled = false;
      const finish = (result: HttpResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const req = request(
        {
          host: endpoint.host,
          port: endpoint.port,
          method,
          path,
          agent: this.agent,
          headers: body === undefined ? {} : { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => finish({ kind: 'response', status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', (error) => finish({ kind: 'error', sent: true, message: error.message }));
        },
      );
      req.on('socket', (socket) => {
        // A reused keep-alive socket is already connected: the request may reach the server.
        if (!socket.connecting) sent = true;
        else socket.once('connect', () => (sent = true));
      });
      req.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'error', sent, message: error.code ?? error.message }));
      const timer = setTimeout(() => {
        finish({ kind: 'error', sent, message: `client deadline ${this.deadlineMs} ms` });
        req.destroy();
      }, this.deadlineMs);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * What an answer means for an operation that changes state: 200 done; 503 and 4xx definitely not
 * done (the service's contract); 504, other 5xx, a connection lost after it was open, or the
 * client's deadline: unknown. A connection refused (never open) was definitely not sent.
 */
export function outcomeOf(result: HttpResult): Outcome {
  if (result.kind === 'error') return result.sent ? 'unknown' : 'fail';
  if (result.status === 200) return 'ok';
  if (result.status === 503 || (result.status >= 400 && result.status < 500)) return 'fail';
  return 'unknown';
}

export function describeResult(result: HttpResult): string {
  if (result.kind === 'error') return result.message;
  let detail = '';
  try {
    detail = String((JSON.parse(result.body.toString('utf8')) as { error?: unknown }).error ?? '');
  } catch {
    // not JSON
  }
  return `HTTP ${result.status}${detail ? ` ${detail}` : ''}`;
}
