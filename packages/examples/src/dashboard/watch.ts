import type { PushSocket, WebSocketRoute } from '../http/server.js';

export interface StatusWatchOptions {
  /** Where clients connect (default /v1/watch). */
  readonly path?: string;
  /** Snapshots pushed per second to every client (default 4). */
  readonly perSecond?: number;
  /** Clients at a time (default 32); more are refused with 503. */
  readonly maxClients?: number;
  /** Unsent bytes one client may hold before it is disconnected (default 64 KiB, about 100 snapshots). */
  readonly maxBufferedBytes?: number;
}

/**
 * Pushes a node's status snapshot to WebSocket clients: one at connect, then `perSecond` a second.
 * The snapshot is built and serialized once per tick for every client, and only while someone
 * watches. Bounded: a capped number of clients, each with a capped send buffer (a client that
 * does not read is disconnected, not buffered for).
 */
export class StatusWatch {
  readonly route: WebSocketRoute;
  private readonly sockets = new Set<PushSocket>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  constructor(
    private readonly snapshot: () => unknown,
    options: StatusWatchOptions = {},
  ) {
    this.intervalMs = 1000 / (options.perSecond ?? 4);
    this.route = {
      path: options.path ?? '/v1/watch',
      maxClients: options.maxClients ?? 32,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024,
      opened: (socket) => this.opened(socket),
      closed: (socket) => this.closed(socket),
    };
  }

  /** Clients connected now. */
  get clients(): number {
    return this.sockets.size;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const socket of [...this.sockets]) socket.close(1001, 'the node is stopping');
    this.sockets.clear();
  }

  private opened(socket: PushSocket): void {
    this.sockets.add(socket);
    socket.send(JSON.stringify(this.snapshot()));
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  private closed(socket: PushSocket): void {
    this.sockets.delete(socket);
    if (this.sockets.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    if (this.sockets.size === 0) return;
    const text = JSON.stringify(this.snapshot());
    for (const socket of [...this.sockets]) {
      if (!socket.send(text)) this.sockets.delete(socket);
    }
  }
}
