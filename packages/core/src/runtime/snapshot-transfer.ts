import { validateConfig } from '../raft/config.js';
import type { SnapshotReader, SnapshotStore, SnapshotWriter } from '../storage.js';
import { MessageType, type Message, type NodeId, type SnapshotMessage, type SnapshotMeta, type SnapshotResponseMessage } from '../types.js';

/**
 * InstallSnapshot, streamed: the leader reads its latest snapshot in chunks and keeps a window of
 * them in flight; the follower writes them to its snapshot store in order, acknowledging the next
 * offset it expects. A lost chunk is resent from the acknowledged offset (the follower rejects a
 * gap, the leader resends after a timeout); a checksum mismatch restarts the stream from 0; a
 * leader change abandons it. Nothing is held whole in memory: at most a window of chunks.
 */

export interface TransferLimits {
  /** Bytes of snapshot data per chunk. */
  readonly chunkBytes: number;
  /** Chunks sent and not yet acknowledged, per stream. */
  readonly windowChunks: number;
  /** A stream with no acknowledgement for this long resends from the acknowledged offset. */
  readonly timeoutMs: number;
  /** Timeouts or restarts in a row before a stream is abandoned. */
  readonly maxRetries: number;
}

export interface SnapshotProgress {
  readonly peer: NodeId;
  readonly index: number;
  /** Bytes acknowledged (sender) or written (receiver). */
  readonly bytes: number;
  /** The whole size (receiver: known only when done, else -1). */
  readonly size: number;
  readonly state: 'sending' | 'sent' | 'failed' | 'receiving' | 'received' | 'rejected';
}

interface Host {
  readonly id: NodeId;
  term(): number;
  send(message: Message): void;
  now(): number;
  progress(event: SnapshotProgress): void;
}

class OutgoingStream {
  acked = 0;
  sent = 0;
  doneSent = false;
  pumping = false;
  closed = false;
  retries = 0;
  lastProgress: number;

  constructor(
    readonly to: NodeId,
    readonly reader: SnapshotReader,
    now: number,
  ) {
    this.lastProgress = now;
  }
}

/** The leader's side: one stream per follower that needs a snapshot. */
export class SnapshotSender {
  private readonly streams = new Map<NodeId, OutgoingStream>();
  /** Followers whose stream is being opened. */
  private readonly opening = new Set<NodeId>();

  constructor(
    private readonly store: SnapshotStore | undefined,
    private readonly host: Host,
    private readonly limits: TransferLimits,
    private readonly failed: (peer: NodeId) => void,
    /** The follower holds the snapshot at `index` durably. */
    private readonly sent: (peer: NodeId, index: number) => void,
  ) {}

  get active(): number {
    return this.streams.size + this.opening.size;
  }

  /** The protocol asked for the latest snapshot (at least `index`) to go to `to`. */
  start(to: NodeId, index: number): void {
    const existing = this.streams.get(to);
    // A stream of an older snapshot than the one asked for would leave the follower short.
    if (existing && existing.reader.meta.index < index) this.finish(existing, undefined);
    if (this.streams.has(to) || this.opening.has(to)) return;
    if (!this.store) {
      this.failed(to);
      return;
    }
    this.opening.add(to);
    this.store.open().then(
      (reader) => {
        if (!this.opening.delete(to)) {
          void reader?.close();
          return;
        }
        if (!reader) {
          this.failed(to);
          return;
        }
        const stream = new OutgoingStream(to, reader, this.host.now());
        this.streams.set(to, stream);
        this.pump(stream);
      },
      () => {
        if (this.opening.delete(to)) this.failed(to);
      },
    );
  }

  onResponse(m: SnapshotResponseMessage): void {
    const stream = this.streams.get(m.from);
    if (!stream || m.index !== stream.reader.meta.index) return;
    const size = stream.reader.size;
    stream.lastProgress = this.host.now();
    const next = Math.max(0, Math.min(size, m.nextOffset));
    if (m.reject) {
      // A gap (resume from `next`) or a checksum failure (restart from 0).
      if (next === 0 && ++stream.retries > this.limits.maxRetries) {
        this.abandon(stream);
        return;
      }
      stream.acked = Math.min(stream.acked, next);
      stream.sent = next;
      stream.doneSent = false;
    } else {
      if (next > stream.acked) stream.retries = 0;
      stream.acked = Math.max(stream.acked, next);
      if (stream.acked >= size && stream.doneSent && m.nextOffset >= size) {
        this.finish(stream, 'sent');
        this.sent(stream.to, stream.reader.meta.index);
        return;
      }
    }
    this.host.progress({ peer: stream.to, index: stream.reader.meta.index, bytes: stream.acked, size, state: 'sending' });
    this.pump(stream);
  }

  /** Resends streams that went quiet; abandons those that stay quiet. */
  tick(): void {
    const now = this.host.now();
    for (const stream of this.streams.values()) {
      if (now - stream.lastProgress < this.limits.timeoutMs) continue;
      if (++stream.retries > this.limits.maxRetries) {
        this.abandon(stream);
        continue;
      }
      stream.lastProgress = now;
      stream.sent = stream.acked;
      stream.doneSent = false;
      this.pump(stream);
    }
  }

  /** Leadership ended or the node closes: drop every stream. */
  abortAll(): void {
    this.opening.clear();
    for (const stream of [...this.streams.values()]) this.finish(stream, undefined);
  }

  /** `peer` left the configuration. */
  abort(peer: NodeId): void {
    this.opening.delete(peer);
    const stream = this.streams.get(peer);
    if (stream) this.finish(stream, undefined);
  }

  private abandon(stream: OutgoingStream): void {
    this.finish(stream, 'failed');
    this.failed(stream.to);
  }

  private finish(stream: OutgoingStream, state: 'sent' | 'failed' | undefined): void {
    if (stream.closed) return;
    stream.closed = true;
    this.streams.delete(stream.to);
    void stream.reader.close().catch(() => undefined);
    if (state) {
      this.host.progress({ peer: stream.to, index: stream.reader.meta.index, bytes: stream.acked, size: stream.reader.size, state });
    }
  }

  /** Sends chunks while the window has room. One read at a time per stream. */
  private pump(stream: OutgoingStream): void {
    if (stream.pumping || stream.closed) return;
    const { reader } = stream;
    const window = this.limits.windowChunks * this.limits.chunkBytes;
    if (stream.doneSent || stream.sent - stream.acked >= window) return;
    stream.pumping = true;
    const offset = stream.sent;
    const length = Math.min(this.limits.chunkBytes, reader.size - offset);
    reader.read(offset, length).then(
      (data) => {
        stream.pumping = false;
        // A rejection or timeout may have rewound the stream while this chunk was read.
        if (stream.closed || stream.sent !== offset) {
          this.pump(stream);
          return;
        }
        const done = offset + data.byteLength >= reader.size;
        this.host.send({
          type: MessageType.Snapshot,
          from: this.host.id,
          to: stream.to,
          term: this.host.term(),
          meta: reader.meta,
          offset,
          data,
          done,
          checksum: reader.checksum,
        });
        stream.sent = offset + data.byteLength;
        stream.doneSent = done;
        this.pump(stream);
      },
      () => {
        stream.pumping = false;
        this.abandon(stream);
      },
    );
  }
}

interface IncomingStream {
  readonly leader: NodeId;
  readonly term: number;
  readonly meta: SnapshotMeta;
  writer: Promise<SnapshotWriter>;
  expected: number;
  committed: boolean;
  aborted: boolean;
  lastActivity: number;
  /** Chunks waiting for the one before them to be written. */
  queued: number;
  chain: Promise<void>;
}

/** Chunks a follower queues while earlier ones are written; beyond it the leader must resend. */
const MAX_QUEUED_CHUNKS = 64;

/** The follower's side: at most one snapshot being received at a time. */
export class SnapshotReceiver {
  private current: IncomingStream | undefined;

  constructor(
    private readonly store: SnapshotStore | undefined,
    private readonly host: Host,
    private readonly limits: TransferLimits,
    /** The snapshot is durable in the store: hand it to the protocol. */
    private readonly complete: (leader: NodeId, meta: SnapshotMeta) => void,
    private readonly problem: (error: Error) => void,
  ) {}

  /** A chunk from the current leader (the runtime checked the term and the sender). */
  onChunk(m: SnapshotMessage): void {
    if (!this.store) {
      this.problem(new Error(`${m.from} sent a snapshot but this node has no snapshot store`));
      return;
    }
    let stream = this.current;
    if (stream && (stream.leader !== m.from || stream.term !== m.term || stream.meta.index !== m.meta.index || stream.meta.term !== m.meta.term)) {
      this.abort();
      stream = undefined;
    }
    if (!stream) {
      if (m.offset !== 0) {
        this.respond(m, 0, true);
        return;
      }
      try {
        validateConfig(m.meta.config);
      } catch (error) {
        this.problem(new Error(`${m.from} sent a snapshot with a bad configuration: ${(error as Error).message}`));
        return;
      }
      const writer = this.store.create(m.meta);
      writer.catch(() => undefined);
      stream = {
        leader: m.from,
        term: m.term,
        meta: m.meta,
        writer,
        expected: 0,
        committed: false,
        aborted: false,
        lastActivity: this.host.now(),
        queued: 0,
        chain: Promise.resolve(),
      };
      this.current = stream;
    }
    if (stream.queued >= MAX_QUEUED_CHUNKS) return; // the leader resends after its timeout
    stream.queued++;
    const s = stream;
    s.chain = s.chain.then(() => this.process(s, m)).finally(() => {
      s.queued--;
    });
  }

  /** Drops a stream that went quiet (its leader died or moved on). */
  tick(): void {
    const stream = this.current;
    if (stream && !stream.committed && this.host.now() - stream.lastActivity > 2 * this.limits.timeoutMs) this.abort();
  }

  /** Leadership changed or the node closes: a partial snapshot is discarded. */
  abort(): void {
    const stream = this.current;
    this.current = undefined;
    if (!stream || stream.aborted) return;
    stream.aborted = true;
    if (!stream.committed) {
      void stream.writer.then((writer) => writer.abort()).catch(() => undefined);
      this.host.progress({ peer: stream.leader, index: stream.meta.index, bytes: stream.expected, size: -1, state: 'rejected' });
    }
  }

  private async process(stream: IncomingStream, m: SnapshotMessage): Promise<void> {
    if (stream.aborted) return;
    stream.lastActivity = this.host.now();
    if (stream.committed || m.offset < stream.expected) {
      // A resent chunk we already hold: say again where we are.
      this.respond(m, stream.expected, false);
      return;
    }
    if (m.offset > stream.expected) {
      this.respond(m, stream.expected, true);
      return;
    }
    let writer: SnapshotWriter;
    try {
      writer = await stream.writer;
      await writer.write(m.data);
    } catch (error) {
      this.fail(stream, m, error as Error);
      return;
    }
    if (stream.aborted) return;
    stream.expected += m.data.byteLength;
    if (!m.done) {
      this.respond(m, stream.expected, false);
      this.host.progress({ peer: m.from, index: m.meta.index, bytes: stream.expected, size: -1, state: 'receiving' });
      return;
    }
    try {
      await writer.commit(m.checksum);
    } catch (error) {
      this.fail(stream, m, error as Error);
      return;
    }
    stream.committed = true;
    this.host.progress({ peer: m.from, index: m.meta.index, bytes: stream.expected, size: stream.expected, state: 'received' });
    if (this.current === stream && !stream.aborted) this.complete(m.from, m.meta);
    this.respond(m, stream.expected, false);
  }

  /** A write or the checksum failed: discard what was written and ask for a fresh start. */
  private fail(stream: IncomingStream, m: SnapshotMessage, error: Error): void {
    if (this.current === stream) this.current = undefined;
    stream.aborted = true;
    void stream.writer.then((writer) => writer.abort()).catch(() => undefined);
    this.host.progress({ peer: m.from, index: m.meta.index, bytes: stream.expected, size: -1, state: 'rejected' });
    this.problem(new Error(`snapshot ${m.meta.index} from ${m.from} rejected: ${error.message}`));
    this.respond(m, 0, true);
  }

  private respond(m: SnapshotMessage, nextOffset: number, reject: boolean): void {
    this.host.send({
      type: MessageType.SnapshotResponse,
      from: this.host.id,
      to: m.from,
      term: this.host.term(),
      index: m.meta.index,
      nextOffset,
      reject,
    });
  }
}

/** Reads a snapshot in chunks for StateMachine.restore, closing the reader at the end. */
export async function* snapshotChunks(reader: SnapshotReader, chunkBytes: number): AsyncGenerator<Uint8Array> {
  try {
    for (let offset = 0; offset < reader.size; ) {
      const chunk = await reader.read(offset, Math.min(chunkBytes, reader.size - offset));
      if (chunk.byteLength === 0) throw new Error(`snapshot ${reader.meta.index} ends at ${offset}, before its size ${reader.size}`);
      offset += chunk.byteLength;
      yield chunk;
    }
  } finally {
    await reader.close();
  }
}
