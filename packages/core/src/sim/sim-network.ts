import type { SeededRandom } from '../raft/random.js';
import type { MessageReceiver, Transport } from '../transport.js';
import type { Message, NodeId } from '../types.js';
import type { EventQueue } from './event-queue.js';
import type { SimScheduler } from './sim-scheduler.js';

/** Network faults in force; the simulator changes them over a run. */
export interface LinkFaults {
  dropRate: number;
  duplicateRate: number;
  /** One-way delay in ms, [min, max): messages overtake each other when the range is wide. */
  delayMs: [number, number];
}

/**
 * A virtual network: every message is delivered on its own after a random delay (so batches
 * reorder), unless dropped, duplicated, or cut by a (possibly one-way) partition.
 */
export class SimNetwork {
  faults: LinkFaults = { dropRate: 0, duplicateRate: 0, delayMs: [0.02, 0.1] };
  private readonly receivers = new Map<NodeId, { receiver: MessageReceiver; scheduler: SimScheduler }>();
  private readonly cut = new Set<string>();
  delivered = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly random: SeededRandom,
  ) {}

  transport(id: NodeId, scheduler: SimScheduler): SimTransport {
    return new SimTransport(this, id, scheduler);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  healPartitions(): void {
    this.cut.clear();
  }

  /** @internal */
  attach(id: NodeId, receiver: MessageReceiver, scheduler: SimScheduler): void {
    this.receivers.set(id, { receiver, scheduler });
  }

  /** @internal */
  detach(id: NodeId, receiver: MessageReceiver): void {
    if (this.receivers.get(id)?.receiver === receiver) this.receivers.delete(id);
  }

  /** @internal */
  send(from: NodeId, to: NodeId, messages: readonly Message[]): void {
    for (const message of messages) {
      if (this.isCut(from, to) || this.random.chance(this.faults.dropRate)) continue;
      const copies = this.random.chance(this.faults.duplicateRate) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const [min, max] = this.faults.delayMs;
        this.queue.after(min + this.random.next() * (max - min), () => {
          // A partition that starts while the message is in flight cuts it too.
          if (this.isCut(from, to)) return;
          const target = this.receivers.get(to);
          if (!target) return;
          this.delivered++;
          target.scheduler.run(() => target.receiver.receive([message]));
        });
      }
    }
  }
}

export class SimTransport implements Transport {
  private receiver: MessageReceiver | undefined;
  private closed = false;

  constructor(
    private readonly network: SimNetwork,
    private readonly id: NodeId,
    private readonly scheduler: SimScheduler,
  ) {}

  async start(receiver: MessageReceiver): Promise<void> {
    this.receiver = receiver;
    this.network.attach(this.id, receiver, this.scheduler);
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (!this.closed) this.network.send(this.id, to, messages);
  }

  addressOf(peer: NodeId): string {
    return `sim://${peer}`;
  }

  /** The process died or closed: stop receiving. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.receiver) this.network.detach(this.id, this.receiver);
  }
}
