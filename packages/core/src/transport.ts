import type { Message, NodeId } from './types.js';

/** Where a transport delivers what arrives. */
export interface MessageReceiver {
  /** Messages from one frame, in the order they were sent. */
  receive(messages: readonly Message[]): void;
  /** The link to `peer` is down or congested; the protocol should stop pipelining to it. */
  peerUnreachable(peer: NodeId): void;
}

/**
 * Moves Raft messages between peers. The runtime calls `send` once per peer for everything a
 * Ready produced (usually one Ready per event-loop turn, sometimes two): a transport that
 * coalesces what one turn sends can make it one frame.
 * A transport never throws from `send`: what it cannot deliver it drops (Raft retries).
 */
export interface Transport {
  start(receiver: MessageReceiver): Promise<void>;
  send(to: NodeId, messages: readonly Message[]): void;
  /** The address of a peer, if known (reported with NotLeaderError). */
  addressOf?(peer: NodeId): string | undefined;
  /** Learn or forget a peer at run time (membership changes). */
  addPeer?(peer: NodeId, address: string): void;
  removePeer?(peer: NodeId): void;
  close(): Promise<void>;
}
