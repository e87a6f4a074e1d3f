import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** What the control server needs of the launcher (LocalCluster). */
export interface ControlledCluster {
  readonly ids: readonly string[];
  isRunning(id: string): boolean;
  /** Stops a node process gracefully (SIGTERM), by force after a grace period. */
  stopNode(id: string): Promise<void>;
  startNode(id: string): Promise<void>;
  httpAddress(id: string): string | undefined;
}

/** Where the dashboard finds the control server: its base URL and the token every request must carry. */
export interface ControlEndpoint {
  readonly url: string;
  readonly token: string;
}

/**
 * The local cluster launcher's control port, for the dashboard's stop and start buttons: a small
 * HTTP server on 127.0.0.1 (port 0 by default: the OS picks one).
 *
 * - `GET /v1/nodes?token=T` → `{"nodes":[{"id","running","httpAddress"}]}`
 * - `POST /v1/nodes/{id}/stop?token=T` → stops the node's process (SIGTERM, then SIGKILL after 5 s)
 * - `POST /v1/nodes/{id}/start?token=T` → starts it again on the same ports and data directory
 *
 * Every request must carry the random token the launcher hands its nodes (which give it to the
 * dashboard page they serve): without it, any web page the user visits could stop their nodes.
 * Answers allow any origin (the dashboard is served by the nodes, on other ports). One operation
 * per node at a time (409 otherwise); each has a 30 s deadline.
 */
export class ControlServer {
  readonly token = randomBytes(16).toString('hex');
  private server: Server | undefined;
  private readonly busy = new Set<string>();
  private port = 0;

  constructor(private readonly cluster: ControlledCluster) {}

  get endpoint(): ControlEndpoint {
    return { url: `http://127.0.0.1:${this.port}`, token: this.token };
  }

  async listen(port = 0): Promise<ControlEndpoint> {
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.maxConnections = 64;
    server.requestTimeout = 35_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.endpoint;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    // Bodies are not used: drain what comes without keeping it.
    req.resume();
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, POST', 'access-control-max-age': '600' });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://control');
    if (url.searchParams.get('token') !== this.token) {
      reply(403, { error: 'forbidden', message: 'a missing or wrong token' });
      return;
    }
    if (url.pathname === '/v1/nodes' && req.method === 'GET') {
      reply(200, { nodes: this.cluster.ids.map((id) => ({ id, running: this.cluster.isRunning(id), httpAddress: this.cluster.httpAddress(id) ?? null })) });
      return;
    }
    const match = /^\/v1\/nodes\/([^/]+)\/(stop|start)$/.exec(url.pathname);
    if (!match) {
      reply(404, { error: 'not_found', message: `no route for ${req.method} ${url.pathname}` });
      return;
    }
    if (req.method !== 'POST') {
      reply(405, { error: 'method_not_allowed', message: 'use POST' });
      return;
    }
    const id = decodeURIComponent(match[1]!);
    const action = match[2] as 'stop' | 'start';
    if (!this.cluster.ids.includes(id)) {
      reply(404, { error: 'not_found', message: `no node ${id}` });
      return;
    }
    if (this.busy.has(id)) {
      reply(409, { error: 'busy', message: `${id} is already being stopped or started` });
      return;
    }
    const running = this.cluster.isRunning(id);
    if (action === 'stop' ? !running : running) {
      reply(409, { error: 'conflict', message: `${id} is ${running ? 'already running' : 'not running'}` });
      return;
    }
    this.busy.add(id);
    let timer: NodeJS.Timeout | undefined;
    try {
      const work = action === 'stop' ? this.cluster.stopNode(id) : this.cluster.startNode(id);
      const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${action} of ${id} did not finish within 30 s`)), 30_000)));
      await Promise.race([work, deadline]);
      reply(200, { id, running: this.cluster.isRunning(id) });
    } catch (error) {
      reply(500, { error: 'failed', message: (error as Error).message });
    } finally {
      clearTimeout(timer);
      this.busy.delete(id);
    }
  }
}
