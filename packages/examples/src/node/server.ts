import { mkdir } from 'node:fs/promises';
import { RaftNode, type StateMachine } from '@flotilla/core';
import { FileStorage } from '@flotilla/storage';
import { WebSocketTransport } from '@flotilla/transport';
import { parseHostPort, type NodeConfig } from './config.js';
import { FaultTransport } from './fault-transport.js';

export interface RunningNode<Result> {
  readonly node: RaftNode<Result>;
  readonly transport: FaultTransport;
  readonly wire: WebSocketTransport;
  readonly storage: FileStorage;
}

/** Opens the durable storage, starts the WebSocket transport and the Raft node of one process. */
export async function startNode<Result>(config: NodeConfig, stateMachine: StateMachine<Result>): Promise<RunningNode<Result>> {
  await mkdir(config.dataDir, { recursive: true });
  const storage = await FileStorage.open(config.dataDir);
  const wire = new WebSocketTransport({
    id: config.id,
    clusterId: config.clusterId,
    secret: config.secret,
    listen: parseHostPort('raftAddress', config.raftAddress),
    peers: Object.fromEntries(Object.entries(config.peers).map(([id, address]) => [id, `ws://${address}`])),
  });
  const transport = new FaultTransport(wire);
  try {
    const node = await RaftNode.start<Result>({
      id: config.id,
      members: [config.id, ...Object.keys(config.peers)],
      stateMachine,
      storage,
      transport,
      forwardProposals: config.forwardProposals,
      ...config.tuning,
    });
    return { node, transport, wire, storage };
  } catch (error) {
    await transport.close().catch(() => undefined);
    await storage.close().catch(() => undefined);
    throw error;
  }
}
