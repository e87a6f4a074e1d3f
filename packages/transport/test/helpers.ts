import type { Message, MessageReceiver, NodeId } from '@flotilla/core';
import { WebSocketTransport } from '../src/index.js';
import type { WebSocketTransportOptions } from '../src/index.js';

export const SECRET = 'test-secret';
export const CLUSTER_ID = 'test-cluster';

export class Collector implements MessageReceiver {
  readonly messages: Message[] = [];
  readonly frames: Message[][] = [];
  readonly unreachable: NodeId[] = [];
  receive(messages: readonly Message[]): void {
    this.frames.push([...messages]);
    this.messages.push(...messages);
  }
  peerUnreachable(peer: NodeId): void {
    this.unreachable.push(peer);
  }
}

export class Logs {
  readonly lines: string[] = [];
  warn = (m: string): void => {
    this.lines.push(m);
  };
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface Node {
  readonly id: NodeId;
  readonly transport: WebSocketTransport;
  readonly collector: Collector;
  readonly logs: Logs;
}

export async function startNode(id: NodeId, options: Partial<WebSocketTransportOptions> = {}): Promise<Node> {
  const collector = new Collector();
  const logs = new Logs();
  const transport = new WebSocketTransport({
    id,
    clusterId: CLUSTER_ID,
    secret: SECRET,
    listen: { host: '127.0.0.1', port: 0 },
    backoff: { initialMs: 20, maxMs: 200 },
    logger: logs,
    ...options,
  });
  await transport.start(collector);
  return { id, transport, collector, logs };
}

/** Introduces every pair of nodes to each other (the accepting side first). */
export function mesh(nodes: readonly Node[], scheme = 'ws'): void {
  const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const a of sorted) for (const b of sorted) if (a.id > b.id) a.transport.addPeer(b.id, `${scheme}://127.0.0.1:${b.transport.port}`);
  for (const a of sorted) for (const b of sorted) if (a.id < b.id) a.transport.addPeer(b.id, `${scheme}://127.0.0.1:${b.transport.port}`);
}

export async function connected(nodes: readonly Node[]): Promise<void> {
  await waitFor('a full mesh', () => nodes.every((n) => n.transport.connectedPeers().length === nodes.length - 1));
}
