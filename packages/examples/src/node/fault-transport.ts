import type { Message, MessageReceiver, NodeId, Transport } from '@flotilla/core';

/**
 * Wraps a transport to cut links for fault tests: messages to or from a blocked peer are dropped
 * in both directions, as a partition at the transport would.
 */
export class FaultTransport implements Transport {
  private readonly blocked = new Set<NodeId>();

  constructor(private readonly inner: Transport) {}

  block(peers: readonly NodeId[]): void {
    for (const peer of peers) this.blocked.add(peer);
  }

  heal(): void {
    this.blocked.clear();
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
    if (!this.blocked.has(to)) this.inner.send(to, messages);
  }

  addressOf(peer: NodeId): string | undefined {
    return this.inner.addressOf?.(peer);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
