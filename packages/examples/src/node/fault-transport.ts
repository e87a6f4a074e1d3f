import type { Message, MessageReceiver, NodeId, Transport } from '@flotilla/core';

/** Which messages a cut link drops: both ways, only those this node sends, or only those it receives. */
export type LinkDirection = 'both' | 'outbound' | 'inbound';

/**
 * Wraps a transport to cut links for fault tests: messages to or from a blocked peer are dropped
 * (in both directions by default, as a partition at the transport would; or in one direction).
 */
export class FaultTransport implements Transport {
  /** Peers this node does not send to. */
  private readonly blockedOut = new Set<NodeId>();
  /** Peers whose messages this node drops. */
  private readonly blocked = new Set<NodeId>();

  constructor(private readonly inner: Transport) {}

  block(peers: readonly NodeId[], direction: LinkDirection = 'both'): void {
    for (const peer of peers) {
      if (direction !== 'inbound') this.blockedOut.add(peer);
      if (direction !== 'outbound') this.blocked.add(peer);
    }
  }

  heal(): void {
    this.blocked.clear();
    this.blockedOut.clear();
  }

  start(receiver: MessageReceiver): Promise<void> {
    return this.inner.start({
      receive: (messages) => {
        if (this.blocked.size === 0) return receiver.receive(messages);
        const allowed = messages.filter((m) => !this.blocked.has(m.from));
        if (allowed.length > 0) receiver.receive(allowed);
      },
      peerUnreachable: (peer) => receiver.peerUnreachable(peer),
    });
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (!this.blockedOut.has(to)) this.inner.send(to, messages);
  }

  addressOf(peer: NodeId): string | undefined {
    return this.inner.addressOf?.(peer);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
