import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { MessageType } from '@flotilla/core';
import type { Message, MessageReceiver, NodeId, Transport } from '@flotilla/core';
import { decodeFrame, encodeFrame, estimateFrameOverhead, estimateMessageBytes, FrameError } from './codec.js';
import type { FrameRejectReason } from './codec.js';
import { FrameWriter } from './frame-writer.js';
import { checkHandshake, HANDSHAKE_PATH, handshakeHeaders } from './handshake.js';
import type { HandshakeRefusal } from './handshake.js';
import { loadUws } from './uws.js';
import type { UwsApp, UwsListenSocket, UwsModule, UwsSocket } from './uws.js';

export interface TransportLogger {
  warn(message: string): void;
  info?(message: string): void;
}

export interface TlsOptions {
  /** PEM certificate chain of this node's server. */
  readonly cert: string | Uint8Array;
  /** PEM private key of this node's server. */
  readonly key: string | Uint8Array;
  /** PEM CA bundle the dialer trusts for peers' certificates (default: the system store). */
  readonly ca?: string | Uint8Array;
}

export interface WebSocketTransportOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  /** Shared by every node of the cluster; proves membership in the handshake. Never sent. */
  readonly secret: string | Uint8Array;
  /** Where this node's server listens. Port 0 picks a free port (read it from `port` after start). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Every other node: id -> address (`ws://host:port`, `wss://host:port` or `host:port`). */
  readonly peers?: Readonly<Record<NodeId, string>>;
  readonly tls?: TlsOptions;
  /** Largest frame sent or accepted, in bytes (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /** Messages queued for one peer and not yet handed to its socket, in bytes (default 64 MiB). */
  readonly maxQueueBytesPerPeer?: number;
  /** Bytes buffered in a peer's socket above which frames wait for it to drain (default 1 MiB). */
  readonly socketHighWaterBytes?: number;
  /** Reconnect delays: exponential from initialMs, capped at maxMs, with jitter (default 50 / 2000). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Dial timeout, including the handshake (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** Accepted clock skew of handshake timestamps (default 30000 ms). */
  readonly handshakeWindowMs?: number;
  readonly logger?: TransportLogger;
  /**
   * Told when the connection to a peer comes up (`connected` true) or goes down (false), for logs
   * and metrics. Called from the transport's own callbacks; must not throw.
   */
  readonly onLinkChange?: (peer: NodeId, connected: boolean) => void;
}

/** Traffic with one peer since the transport started (`WebSocketTransport.peerStats()`). */
export interface PeerTrafficStats {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** A connection to the peer is open now. */
  connected: boolean;
}

export interface TransportStats {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Messages dropped: link down, queue full, too large or not encodable. */
  droppedMessages: number;
  /** Heartbeats (and heartbeat responses) replaced by a newer one while waiting in a queue. */
  coalescedHeartbeats: number;
  rejectedFrames: Partial<Record<FrameRejectReason, number>>;
  refusedHandshakes: Partial<Record<HandshakeRefusal, number>>;
  /** Connections re-established to a peer that had been connected before. */
  reconnects: number;
  /** Dial attempts that failed (refused, timed out, unreachable). */
  connectFailures: number;
  /** Connections open now. */
  openConnections: number;
}

export const DEFAULTS = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxQueueBytesPerPeer: 64 * 1024 * 1024,
  socketHighWaterBytes: 1024 * 1024,
  backoffInitialMs: 50,
  backoffMaxMs: 2000,
  connectTimeoutMs: 5000,
  handshakeWindowMs: 30_000,
  maxRememberedNonces: 100_000,
} as const;

/** WebSocket close codes used by the transport (4000-4999 are application codes). */
export const CloseCode = {
  /** A frame failed validation. */
  BadFrame: 4400,
  /** A newer connection from the same peer replaced this one. */
  Replaced: 4409,
  /** The peer was removed from the configuration. */
  Removed: 4410,
  /** The transport is closing. */
  Shutdown: 1001,
} as const;

interface Link {
  readonly kind: 'accepted' | 'dialed';
  dead: boolean;
  send(bytes: Uint8Array): boolean;
  /**
   * True when the socket kept a reference to the bytes of the last send instead of copying them or
   * writing them out (ws queues unmasked payloads as they are while the kernel buffer is full).
   */
  keptLastSend(): boolean;
  buffered(): number;
  /** Makes sure the transport hears when the socket's buffer shrinks (a whenWritable waiter is waiting). */
  watchDrain(): void;
  close(code: number, reason: string): void;
}

/**
 * Frames up to this size are sent by the dialer as one buffer (header and payload copied together:
 * one write, no writev); larger ones are written as they are after their header (no copy).
 */
const SMALL_FRAME_BYTES = 4096;
/** ws's send options, shared by every send. */
const BINARY = { binary: true } as const;

interface ServerData {
  peer: NodeId;
  link?: Link;
}

class Peer {
  link: Link | undefined;
  client: WebSocket | undefined;
  connecting = false;
  everConnected = false;
  attempt = 0;
  reconnectTimer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  /** Until when an accepting node keeps queueing for a peer that has no connection yet. */
  graceUntil = 0;
  pending: Message[] = [];
  pendingBytes = 0;
  heartbeatAt = -1;
  heartbeatResponseAt = -1;
  framesSent = 0;
  framesReceived = 0;
  bytesSent = 0;
  bytesReceived = 0;
  writableWaiters: { bytes: number; resolve: () => void }[] = [];

  constructor(
    readonly id: NodeId,
    public address: string,
    readonly dials: boolean,
  ) {}
}

/**
 * The delay before reconnect attempt `attempt` (0-based): the step
 * `min(maxMs, initialMs * 2^attempt)`, with "equal jitter" (half the step fixed, half random), so
 * dialers spread out but never wait longer than one step.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return step / 2 + random() * (step / 2);
}

const consoleLogger: TransportLogger = { warn: (m) => console.warn(m) };

function shortReason(reason: string): string {
  // WebSocket close reasons are limited to 123 bytes.
  return Buffer.byteLength(reason) <= 120 ? reason : Buffer.from(reason).subarray(0, 120).toString();
}

/**
 * Core's Transport over WebSockets: a uWebSockets.js server accepts, a `ws` client dials, and
 * every turn's messages for a peer travel as one FlatBuffers frame. See README.md.
 */
export class WebSocketTransport implements Transport {
  readonly id: NodeId;
  private readonly options: WebSocketTransportOptions;
  private readonly logger: TransportLogger;
  private readonly maxFrameBytes: number;
  private readonly maxQueueBytes: number;
  private readonly highWater: number;
  private readonly backoffInitial: number;
  private readonly backoffMax: number;
  private readonly peers = new Map<NodeId, Peer>();
  /**
   * Frames are encoded into this writer's memory; it is replaced (never reused) when a socket kept
   * a view of the last frame (see Link.keptLastSend), so that queued bytes are never overwritten.
   */
  private writer = new FrameWriter(64 * 1024);
  private readonly nonces = new Map<string, number>();
  private readonly dirty = new Set<Peer>();
  private readonly unreachable = new Set<NodeId>();
  private readonly accepted = new Set<UwsSocket<ServerData>>();
  private readonly closing: Promise<void>[] = [];
  private readonly counters: TransportStats = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    droppedMessages: 0,
    coalescedHeartbeats: 0,
    rejectedFrames: {},
    refusedHandshakes: {},
    reconnects: 0,
    connectFailures: 0,
    openConnections: 0,
  };
  private receiver: MessageReceiver | undefined;
  private uws: UwsModule | undefined;
  private app: UwsApp | undefined;
  private listenSocket: UwsListenSocket | undefined;
  private boundPort = 0;
  private flushHandle: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(options: WebSocketTransportOptions) {
    if (!options.id) throw new TypeError('id is required');
    if (!options.clusterId) throw new TypeError('clusterId is required');
    if (!options.secret || options.secret.length === 0) throw new TypeError('secret is required');
    this.options = options;
    this.id = options.id;
    this.logger = options.logger ?? consoleLogger;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULTS.maxFrameBytes;
    this.maxQueueBytes = options.maxQueueBytesPerPeer ?? DEFAULTS.maxQueueBytesPerPeer;
    this.highWater = options.socketHighWaterBytes ?? DEFAULTS.socketHighWaterBytes;
    this.backoffInitial = options.backoff?.initialMs ?? DEFAULTS.backoffInitialMs;
    this.backoffMax = Math.max(this.backoffInitial, options.backoff?.maxMs ?? DEFAULTS.backoffMaxMs);
    if (this.maxFrameBytes < 1024 || this.maxFrameBytes > 1024 * 1024 * 1024) throw new RangeError('maxFrameBytes must be within 1 KiB .. 1 GiB');
    for (const [peer, address] of Object.entries(options.peers ?? {})) {
      if (peer !== this.id) this.peers.set(peer, new Peer(peer, address, this.id < peer));
    }
  }

  /** The port the server is bound to (after start). */
  get port(): number {
    return this.boundPort;
  }

  async start(receiver: MessageReceiver): Promise<void> {
    if (this.closed) throw new Error('the transport is closed');
    if (this.receiver) throw new Error('the transport is already started');
    this.receiver = receiver;
    this.uws = loadUws();
    this.app = this.createApp(this.uws);
    const { host, port } = this.options.listen;
    if (port === 0) {
      // uSockets sets SO_REUSEADDR only on explicit ports: learn a free port, then bind it
      // explicitly so that a restarted node can rebind it at once.
      const probe = await this.listenOn(this.createApp(this.uws), host, 0);
      if (!probe) throw new Error(`cannot listen on ${host}:0`);
      const chosen = this.uws.us_socket_local_port(probe);
      this.uws.us_listen_socket_close(probe);
      this.listenSocket = (await this.listenOn(this.app, host, chosen)) || undefined;
    } else {
      this.listenSocket = (await this.listenOn(this.app, host, port)) || undefined;
    }
    if (!this.listenSocket) {
      this.receiver = undefined;
      throw new Error(`cannot listen on ${host}:${port} (in use?)`);
    }
    this.boundPort = this.uws.us_socket_local_port(this.listenSocket);
    const graceUntil = Date.now() + this.backoffMax + (this.options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs);
    for (const peer of this.peers.values()) {
      if (peer.dials) this.connect(peer);
      else this.expect(peer, graceUntil);
    }
  }

  send(to: NodeId, messages: readonly Message[]): void {
    try {
      this.enqueue(to, messages);
    } catch (error) {
      this.logger.warn(`transport ${this.id}: send to ${to} failed: ${String(error)}`);
    }
  }

  addressOf(peer: NodeId): string | undefined {
    return this.peers.get(peer)?.address;
  }

  addPeer(peer: NodeId, address: string): void {
    if (peer === this.id || this.closed) return;
    const existing = this.peers.get(peer);
    if (existing) {
      existing.address = address;
      return;
    }
    const p = new Peer(peer, address, this.id < peer);
    this.peers.set(peer, p);
    if (this.receiver) {
      if (p.dials) this.connect(p);
      else this.expect(p, Date.now() + this.backoffMax + (this.options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs));
    }
  }

  removePeer(peer: NodeId): void {
    const p = this.peers.get(peer);
    if (!p) return;
    this.peers.delete(peer);
    this.dirty.delete(p);
    this.stopPeer(p, CloseCode.Removed, 'peer removed');
  }

  stats(): TransportStats {
    return { ...this.counters, rejectedFrames: { ...this.counters.rejectedFrames }, refusedHandshakes: { ...this.counters.refusedHandshakes } };
  }

  /** Frames and bytes exchanged with each configured peer, and whether it is connected now. */
  peerStats(): Record<NodeId, PeerTrafficStats> {
    const out: Record<NodeId, PeerTrafficStats> = {};
    for (const [id, p] of this.peers) {
      out[id] = { framesSent: p.framesSent, framesReceived: p.framesReceived, bytesSent: p.bytesSent, bytesReceived: p.bytesReceived, connected: p.link !== undefined && !p.link.dead };
    }
    return out;
  }

  /** Bytes of messages queued for `peer` and not yet handed to its socket (an estimate). */
  queuedBytes(peer: NodeId): number {
    return this.peers.get(peer)?.pendingBytes ?? 0;
  }

  /** Bytes buffered in the socket to `peer` (0 without a connection). */
  socketBufferedBytes(peer: NodeId): number {
    const link = this.peers.get(peer)?.link;
    return link && !link.dead ? link.buffered() : 0;
  }

  /**
   * Resolves once the socket to `peer` buffers at most `bytes` (default: half the high-water
   * mark), or at once if it already does or has no connection: a sender that produces faster
   * than the link drains can wait on this instead of polling.
   */
  whenWritable(peer: NodeId, bytes = this.highWater / 2): Promise<void> {
    const p = this.peers.get(peer);
    if (!p || !p.link || p.link.dead || this.closed || p.link.buffered() <= bytes) return Promise.resolve();
    const link = p.link;
    return new Promise((resolve) => {
      p.writableWaiters.push({ bytes, resolve });
      link.watchDrain();
    });
  }

  private wakeWriters(peer: Peer, all = false): void {
    if (peer.writableWaiters.length === 0) return;
    const buffered = all || !peer.link || peer.link.dead ? 0 : peer.link.buffered();
    const still: { bytes: number; resolve: () => void }[] = [];
    for (const waiter of peer.writableWaiters) {
      if (buffered <= waiter.bytes) waiter.resolve();
      else still.push(waiter);
    }
    peer.writableWaiters = still;
  }

  /** Peers with an open connection now. */
  connectedPeers(): NodeId[] {
    return [...this.peers.values()].filter((p) => p.link && !p.link.dead).map((p) => p.id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    for (const peer of this.peers.values()) this.stopPeer(peer, CloseCode.Shutdown, 'shutting down');
    for (const ws of [...this.accepted]) {
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    this.accepted.clear();
    if (this.listenSocket && this.uws) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    try {
      this.app?.close?.();
    } catch {
      // older uWS builds have no App.close
    }
    this.app = undefined;
    await Promise.all(this.closing);
    this.receiver = undefined;
  }

  // --- queueing and flushing ---------------------------------------------------------------

  private enqueue(to: NodeId, messages: readonly Message[]): void {
    if (this.closed || !this.receiver || messages.length === 0) return;
    const peer = this.peers.get(to);
    if (!peer) {
      this.drop(to, messages.length);
      return;
    }
    const open = peer.link !== undefined && !peer.link.dead;
    if (!open && !peer.connecting && Date.now() >= peer.graceUntil) {
      this.drop(to, messages.length);
      return;
    }
    for (const m of messages) {
      if (m.type === MessageType.Heartbeat && peer.heartbeatAt >= 0) {
        peer.pending[peer.heartbeatAt] = m;
        this.counters.coalescedHeartbeats++;
        continue;
      }
      if (m.type === MessageType.HeartbeatResponse && peer.heartbeatResponseAt >= 0) {
        peer.pending[peer.heartbeatResponseAt] = m;
        this.counters.coalescedHeartbeats++;
        continue;
      }
      const size = estimateMessageBytes(m);
      if (peer.pendingBytes + size > this.maxQueueBytes) {
        this.drop(to, 1);
        continue;
      }
      if (m.type === MessageType.Heartbeat) peer.heartbeatAt = peer.pending.length;
      else if (m.type === MessageType.HeartbeatResponse) peer.heartbeatResponseAt = peer.pending.length;
      peer.pending.push(m);
      peer.pendingBytes += size;
    }
    if (open) this.markDirty(peer);
  }

  private drop(peer: NodeId, count: number): void {
    this.counters.droppedMessages += count;
    this.unreachable.add(peer);
    this.scheduleFlush();
  }

  private clearPending(peer: Peer): void {
    if (peer.pending.length > 0) this.drop(peer.id, peer.pending.length);
    this.requeue(peer, []);
  }

  /** Makes `messages` what is queued for `peer`, recounting their bytes and where heartbeats sit. */
  private requeue(peer: Peer, messages: Message[]): void {
    peer.pending = messages;
    peer.pendingBytes = 0;
    peer.heartbeatAt = -1;
    peer.heartbeatResponseAt = -1;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      peer.pendingBytes += estimateMessageBytes(m);
      if (m.type === MessageType.Heartbeat) peer.heartbeatAt = i;
      else if (m.type === MessageType.HeartbeatResponse) peer.heartbeatResponseAt = i;
    }
  }

  private markDirty(peer: Peer): void {
    this.dirty.add(peer);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushHandle || this.closed) return;
    this.flushHandle = setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushHandle = undefined;
    if (this.closed) return;
    // (Deleting the current element of a Set does not disturb its iteration.)
    for (const peer of this.dirty) {
      this.dirty.delete(peer);
      try {
        this.flushPeer(peer);
      } catch (error) {
        this.logger.warn(`transport ${this.id}: flush to ${peer.id} failed: ${String(error)}`);
        this.clearPending(peer);
      }
    }
    if (this.unreachable.size > 0 && this.receiver) {
      const peers = [...this.unreachable];
      this.unreachable.clear();
      for (const peer of peers) {
        try {
          this.receiver.peerUnreachable(peer);
        } catch (error) {
          this.logger.warn(`transport ${this.id}: peerUnreachable(${peer}) threw: ${String(error)}`);
        }
      }
    }
  }

  private flushPeer(peer: Peer): void {
    const link = peer.link;
    if (!link || link.dead || peer.pending.length === 0) return;
    const overhead = estimateFrameOverhead(this.options.clusterId, this.id, peer.id);
    const budget = this.maxFrameBytes - overhead;
    const pending = peer.pending;
    if (peer.pendingBytes <= budget && link.buffered() <= this.highWater) {
      // The common case: everything queued fits in one frame.
      this.sendFrame(peer, link, pending);
      this.requeue(peer, []);
      return;
    }
    let start = 0;
    while (start < pending.length) {
      if (link.buffered() > this.highWater) break; // resumes on drain
      let end = start;
      let bytes = 0;
      while (end < pending.length) {
        const size = estimateMessageBytes(pending[end]!);
        if (end > start && bytes + size > budget) break;
        bytes += size;
        end++;
      }
      const batch = pending.slice(start, end);
      if (bytes > budget) {
        this.logger.warn(`transport ${this.id}: dropping a ${bytes}-byte message to ${peer.id} (maxFrameBytes ${this.maxFrameBytes})`);
        this.drop(peer.id, batch.length);
      } else {
        this.sendFrame(peer, link, batch);
      }
      start = end;
      if (link.dead) break;
    }
    // What backpressure held back stays queued (with a dead link, nothing does).
    this.requeue(peer, start >= pending.length || link.dead ? [] : pending.slice(start));
  }

  private sendFrame(peer: Peer, link: Link, batch: Message[]): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(this.options.clusterId, this.id, peer.id, batch, this.writer);
    } catch (error) {
      this.logger.warn(`transport ${this.id}: cannot encode a frame to ${peer.id}: ${String(error)}`);
      this.drop(peer.id, batch.length);
      return;
    }
    if (bytes.byteLength > this.maxFrameBytes) {
      this.logger.warn(`transport ${this.id}: dropping a ${bytes.byteLength}-byte frame to ${peer.id} (maxFrameBytes ${this.maxFrameBytes})`);
      this.drop(peer.id, batch.length);
      return;
    }
    if (!link.send(bytes)) {
      this.drop(peer.id, batch.length);
      return;
    }
    if (link.keptLastSend()) this.writer = new FrameWriter(this.writer.capacity());
    this.counters.framesSent++;
    this.counters.bytesSent += bytes.byteLength;
    this.counters.messagesSent += batch.length;
    peer.framesSent++;
    peer.bytesSent += bytes.byteLength;
  }

  // --- receiving -----------------------------------------------------------------------------

  private onFrame(peer: NodeId, link: Link, bytes: Uint8Array): void {
    if (this.closed || link.dead) return;
    this.counters.framesReceived++;
    this.counters.bytesReceived += bytes.byteLength;
    const from = this.peers.get(peer);
    if (from) {
      from.framesReceived++;
      from.bytesReceived += bytes.byteLength;
    }
    let messages: Message[];
    try {
      messages = decodeFrame(bytes, { clusterId: this.options.clusterId, to: this.id, from: peer, maxFrameBytes: this.maxFrameBytes }).messages;
    } catch (error) {
      const reason: FrameRejectReason = error instanceof FrameError ? error.reason : 'malformed';
      this.reject(peer, link, reason, error instanceof Error ? error.message : String(error));
      return;
    }
    if (messages.length === 0) return;
    this.counters.messagesReceived += messages.length;
    try {
      this.receiver?.receive(messages);
    } catch (error) {
      this.logger.warn(`transport ${this.id}: the receiver threw on a frame from ${peer}: ${String(error)}`);
    }
  }

  private reject(peer: NodeId, link: Link, reason: FrameRejectReason, detail: string): void {
    this.counters.rejectedFrames[reason] = (this.counters.rejectedFrames[reason] ?? 0) + 1;
    this.logger.warn(`transport ${this.id}: rejected a frame from ${peer} (${detail}); closing the connection`);
    link.close(CloseCode.BadFrame, shortReason(`bad frame: ${reason}`));
  }

  // --- links ---------------------------------------------------------------------------------

  private attach(peer: Peer, link: Link): void {
    const previous = peer.link;
    if (previous && !previous.dead) {
      previous.dead = true;
      this.counters.openConnections--;
      previous.close(CloseCode.Replaced, 'replaced by a newer connection');
    }
    peer.link = link;
    this.counters.openConnections++;
    if (peer.everConnected) this.counters.reconnects++;
    peer.everConnected = true;
    if (peer.graceTimer) clearTimeout(peer.graceTimer);
    peer.graceTimer = undefined;
    if (peer.pending.length > 0) this.markDirty(peer);
    this.linkChanged(peer.id, true);
  }

  private linkChanged(peer: NodeId, connected: boolean): void {
    if (!this.options.onLinkChange) return;
    try {
      this.options.onLinkChange(peer, connected);
    } catch (error) {
      this.logger.warn(`transport ${this.id}: onLinkChange threw: ${String(error)}`);
    }
  }

  private detach(peer: Peer, link: Link): void {
    if (link.dead && peer.link !== link) return;
    const wasCurrent = peer.link === link;
    link.dead = true;
    this.counters.openConnections--;
    if (!wasCurrent) return;
    peer.link = undefined;
    this.linkChanged(peer.id, false);
    this.clearPending(peer);
    this.wakeWriters(peer, true);
    if (this.closed || this.peers.get(peer.id) !== peer) return;
    if (peer.dials) this.scheduleReconnect(peer);
    else this.expect(peer, Date.now() + this.backoffMax + (this.options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs));
  }

  /** An accepting node queues for a peer without a connection until `until`, then drops. */
  private expect(peer: Peer, until: number): void {
    peer.graceUntil = until;
    if (peer.graceTimer) clearTimeout(peer.graceTimer);
    peer.graceTimer = setTimeout(() => {
      peer.graceTimer = undefined;
      if (!peer.link || peer.link.dead) this.clearPending(peer);
    }, Math.max(0, until - Date.now()));
  }

  private stopPeer(peer: Peer, code: number, reason: string): void {
    if (peer.reconnectTimer) clearTimeout(peer.reconnectTimer);
    if (peer.graceTimer) clearTimeout(peer.graceTimer);
    peer.reconnectTimer = undefined;
    peer.graceTimer = undefined;
    this.requeue(peer, []);
    this.wakeWriters(peer, true);
    const link = peer.link;
    peer.link = undefined;
    if (link && !link.dead) {
      link.dead = true;
      this.counters.openConnections--;
      link.close(code, reason);
    }
    const client = peer.client;
    peer.client = undefined;
    if (client) {
      if (this.closed && client.readyState !== WebSocket.CLOSED) {
        this.closing.push(new Promise((resolve) => client.once('close', () => resolve())));
      }
      client.terminate();
    }
  }

  private createApp(uws: UwsModule): UwsApp {
    let app: UwsApp;
    const tls = this.options.tls;
    if (tls) {
      // uWS reads certificates from files when the app is created: write them to a private
      // directory and remove it at once.
      const dir = mkdtempSync(join(tmpdir(), 'flotilla-tls-'));
      try {
        writeFileSync(join(dir, 'cert.pem'), tls.cert, { mode: 0o600 });
        writeFileSync(join(dir, 'key.pem'), tls.key, { mode: 0o600 });
        app = uws.SSLApp({ cert_file_name: join(dir, 'cert.pem'), key_file_name: join(dir, 'key.pem') });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      app = uws.App();
    }
    app.ws<ServerData>(HANDSHAKE_PATH, {
      maxPayloadLength: this.maxFrameBytes,
      maxBackpressure: Math.min(2 ** 31 - 1, this.highWater + 2 * this.maxFrameBytes + this.maxQueueBytes),
      closeOnBackpressureLimit: false,
      idleTimeout: 0,
      compression: uws.DISABLED,
      upgrade: (res, req, context) => {
        const verdict = checkHandshake((name) => req.getHeader(name), {
          secret: this.options.secret,
          clusterId: this.options.clusterId,
          localId: this.id,
          isKnownPeer: (peer) => this.peers.has(peer),
          windowMs: this.options.handshakeWindowMs ?? DEFAULTS.handshakeWindowMs,
          now: Date.now(),
          seen: this.nonces,
          maxSeen: DEFAULTS.maxRememberedNonces,
        });
        if (!verdict.ok || this.closed) {
          const reason = verdict.ok ? 'shutting down' : verdict.detail;
          if (!verdict.ok) this.counters.refusedHandshakes[verdict.reason] = (this.counters.refusedHandshakes[verdict.reason] ?? 0) + 1;
          const address = Buffer.from(res.getRemoteAddressAsText()).toString();
          this.logger.warn(`transport ${this.id}: refused a connection from ${address}: ${reason}`);
          res.writeStatus(verdict.ok ? '503 Service Unavailable' : verdict.status).end(verdict.ok ? 'shutting down' : verdict.reason, true);
          return;
        }
        res.upgrade<ServerData>(
          { peer: verdict.peer },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const data = ws.getUserData();
        const peer = this.peers.get(data.peer);
        if (this.closed || !peer) {
          ws.end(CloseCode.Removed, 'unknown peer');
          return;
        }
        this.accepted.add(ws);
        const link: Link = {
          kind: 'accepted',
          dead: false,
          send: (bytes) => ws.send(bytes, true) !== 2,
          // uWS copies what it cannot write at once into its own backpressure buffer.
          keptLastSend: () => false,
          buffered: () => ws.getBufferedAmount(),
          watchDrain: () => undefined, // uWS calls drain whenever its buffer shrinks
          close: (code, reason) => {
            try {
              ws.end(code, reason);
            } catch {
              // already closed
            }
          },
        };
        data.link = link;
        this.attach(peer, link);
      },
      message: (ws, message) => {
        const data = ws.getUserData();
        const link = data.link;
        if (!link || link.dead) return;
        // uWS's ArrayBuffer is only valid during this callback: copy once into memory we own.
        const bytes = Buffer.allocUnsafe(message.byteLength);
        bytes.set(new Uint8Array(message));
        this.onFrame(data.peer, link, bytes);
      },
      drain: (ws) => {
        const peer = this.peers.get(ws.getUserData().peer);
        if (!peer) return;
        if (peer.pending.length > 0) this.markDirty(peer);
        this.wakeWriters(peer);
      },
      close: (ws, code, message) => {
        this.accepted.delete(ws);
        const data = ws.getUserData();
        const reason = Buffer.from(message).toString();
        if (code === 1006 && reason.includes('too big')) {
          this.counters.rejectedFrames.oversized = (this.counters.rejectedFrames.oversized ?? 0) + 1;
          this.logger.warn(`transport ${this.id}: ${data.peer} sent a frame over ${this.maxFrameBytes} bytes; connection closed`);
        }
        const link = data.link;
        const peer = this.peers.get(data.peer);
        if (link && peer) this.detach(peer, link);
        else if (link) link.dead = true;
      },
    });
    app.any('/*', (res) => {
      res.writeStatus('404 Not Found').end('not a flotilla endpoint', true);
    });
    return app;
  }

  private listenOn(app: UwsApp, host: string, port: number): Promise<UwsListenSocket | false> {
    const uws = this.uws!;
    return new Promise((resolve) => {
      app.listen(host, port, uws.LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => resolve(socket));
    });
  }

  // --- dialing -------------------------------------------------------------------------------

  private url(address: string): string {
    const base = /^wss?:\/\//.test(address) ? address : `${this.options.tls ? 'wss' : 'ws'}://${address}`;
    return base.replace(/\/+$/, '') + HANDSHAKE_PATH;
  }

  private connect(peer: Peer): void {
    peer.reconnectTimer = undefined;
    if (this.closed || peer.client || (peer.link && !peer.link.dead) || this.peers.get(peer.id) !== peer) return;
    const tls = this.options.tls;
    let client: WebSocket;
    /** Whether the frame being sent is small: given a non-zero mask, ws copies it and its header into one buffer. */
    let copyNext = false;
    try {
      client = new WebSocket(this.url(peer.address), {
        headers: handshakeHeaders(this.options.secret, this.options.clusterId, this.id, peer.id),
        perMessageDeflate: false,
        maxPayload: this.maxFrameBytes,
        // A zero masking key makes ws send payloads as they are, with no copy and no XOR pass
        // (a third of the dialer's CPU on bulk frames). Masking protects HTTP intermediaries from
        // cache poisoning by hostile browser scripts; peers here are authenticated processes
        // talking directly, so there is nothing for it to protect. Small frames get a non-zero
        // key (any: its value protects nothing either) because then ws masks the payload into
        // the buffer of its header and makes one write, cheaper than the writev of two buffers.
        generateMask: (mask: Buffer) => {
          if (copyNext) mask.writeUInt32LE(0x5a5a5a5a, 0);
          else mask.fill(0);
        },
        handshakeTimeout: this.options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
        ...(tls?.ca !== undefined ? { ca: Buffer.from(tls.ca) } : {}),
      });
    } catch (error) {
      this.logger.warn(`transport ${this.id}: cannot dial ${peer.id} at ${peer.address}: ${String(error)}`);
      this.counters.connectFailures++;
      this.scheduleReconnect(peer);
      return;
    }
    peer.client = client;
    peer.connecting = true;
    let link: Link | undefined;
    let lastError = '';
    client.on('open', () => {
      peer.connecting = false;
      if (this.closed || peer.client !== client) {
        client.terminate();
        return;
      }
      peer.attempt = 0;
      /** Sends whose completion callback has not run yet. */
      let callbacks = 0;
      let lastCopied = false;
      let drainPoll: NodeJS.Timeout | undefined;
      const written = (error?: Error): void => {
        callbacks--;
        if (error || l.dead) return;
        if (peer.pending.length > 0) this.markDirty(peer);
        this.wakeWriters(peer);
      };
      const pollDrain = (): void => {
        drainPoll = undefined;
        if (l.dead) return;
        this.wakeWriters(peer);
        if (peer.writableWaiters.length > 0 && callbacks === 0) drainPoll = setTimeout(pollDrain, 1);
      };
      const l: Link = {
        kind: 'dialed',
        dead: false,
        send: (bytes) => {
          const small = bytes.byteLength <= SMALL_FRAME_BYTES;
          copyNext = small;
          lastCopied = small;
          // The completion callback costs a deferred tick per frame. It is what resumes a flush
          // held back by backpressure (buffered > highWater) and wakes whenWritable waiters, so
          // it is left out only when neither can be waiting on this frame: nothing buffered
          // before it, and too small to take the buffer over the high-water mark.
          if (small && bytes.byteLength <= this.highWater && client.bufferedAmount === 0 && peer.writableWaiters.length === 0) {
            client.send(bytes, BINARY);
          } else {
            callbacks++;
            client.send(bytes, BINARY, written);
          }
          return true;
        },
        // Sent with a zero mask, ws writes the caller's bytes as they are: whatever the kernel did
        // not take at once stays queued as a view of them. Small frames it copies.
        keptLastSend: () => !lastCopied && client.bufferedAmount > 0,
        buffered: () => client.bufferedAmount,
        // A waiter arrived while no callback is due to report the buffer shrinking (the frames
        // still buffered were sent without one): look again shortly, until it is woken.
        watchDrain: () => {
          if (callbacks === 0 && drainPoll === undefined) drainPoll = setTimeout(pollDrain, 1);
        },
        close: (code, reason) => {
          if (drainPoll !== undefined) clearTimeout(drainPoll);
          drainPoll = undefined;
          try {
            client.close(code, reason);
          } catch {
            client.terminate();
          }
        },
      };
      link = l;
      this.attach(peer, l);
    });
    client.on('message', (data: Buffer, isBinary: boolean) => {
      if (!link || link.dead) return;
      if (!isBinary) {
        this.reject(peer.id, link, 'malformed', 'text message');
        return;
      }
      this.onFrame(peer.id, link, data);
    });
    client.on('error', (error: Error) => {
      lastError = error.message;
      if (/max payload/i.test(error.message)) {
        this.counters.rejectedFrames.oversized = (this.counters.rejectedFrames.oversized ?? 0) + 1;
        this.logger.warn(`transport ${this.id}: ${peer.id} sent a frame over ${this.maxFrameBytes} bytes; connection closed`);
      }
    });
    client.on('close', () => {
      if (peer.client === client) peer.client = undefined;
      peer.connecting = false;
      if (link) {
        this.detach(peer, link);
        return;
      }
      this.counters.connectFailures++;
      if (this.closed || this.peers.get(peer.id) !== peer) return;
      if (peer.attempt === 0 || /Unexpected server response/.test(lastError)) {
        this.logger.warn(`transport ${this.id}: cannot connect to ${peer.id} at ${peer.address}: ${lastError || 'closed'}`);
      }
      this.clearPending(peer);
      this.scheduleReconnect(peer);
    });
  }

  private scheduleReconnect(peer: Peer): void {
    if (this.closed || peer.reconnectTimer || this.peers.get(peer.id) !== peer) return;
    const delay = backoffDelay(peer.attempt, this.backoffInitial, this.backoffMax);
    peer.attempt++;
    peer.reconnectTimer = setTimeout(() => this.connect(peer), delay);
  }
}
