import { ClosedError } from '../errors.js';
import type { MessageReceiver, Transport } from '../transport.js';
import type { Message, NodeId } from '../types.js';

/**
 * Connects nodes of one process. Messages are delivered on a later event-loop turn, by reference
 * (no copy), and can be cut per link to simulate partitions.
 */
export class MemoryNetwork {
  private readonly receivers = new Map<NodeId, MessageReceiver>();
  private readonly cut = new Set<string>();
  /**
   * Sees every batch before delivery and returns what to deliver instead (tests: drop, corrupt or
   * reorder messages). Undefined delivers everything unchanged.
   */
  tamper: ((from: NodeId, to: NodeId, messages: readonly Message[]) => readonly Message[]) | undefined;

  transport(id: NodeId): Transport {
    return new MemoryTransport(this, id);
  }

  /** Stops delivery from `from` to `to` (and back, unless oneWay). */
  cutLink(from: NodeId, to: NodeId, oneWay = false): void {
    this.cut.add(`${from}>${to}`);
    if (!oneWay) this.cut.add(`${to}>${from}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.receivers.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  /** @internal */
  attach(id: NodeId, receiver: MessageReceiver): void {
    if (this.receivers.has(id)) throw new Error(`a node ${id} is already attached to this network`);
    this.receivers.set(id, receiver);
  }

  /** @internal */
  detach(id: NodeId, receiver: MessageReceiver): void {
    if (this.receivers.get(id) === receiver) this.receivers.delete(id);
  }

  /** @internal */
  deliver(from: NodeId, to: NodeId, messages: readonly Message[]): void {
    if (this.cut.has(`${from}>${to}`)) return;
    if (this.tamper) messages = this.tamper(from, to, messages);
    if (messages.length === 0) return;
    setImmediate(() => {
      if (this.cut.has(`${from}>${to}`)) return;
      this.receivers.get(to)?.receive(messages);
    });
  }
}

class MemoryTransport implements Transport {
  private receiver: MessageReceiver | undefined;
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    private readonly id: NodeId,
  ) {}

  async start(receiver: MessageReceiver): Promise<void> {
    if (this.closed) throw new ClosedError('the transport is closed');
    this.receiver = receiver;
    this.network.attach(this.id, receiver);
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (this.closed || messages.length === 0) return;
    this.network.deliver(this.id, to, messages);
  }

  addressOf(peer: NodeId): string {
    return `memory://${peer}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.receiver) this.network.detach(this.id, this.receiver);
  }
}
