import { mkdir } from 'node:fs/promises';
import { DEFAULT_TUNING, RaftNode, type StateMachine } from '@flotilla/core';
import { FileStorage, type StorageObserver } from '@flotilla/storage';
import { WebSocketTransport, type TransportLogger } from '@flotilla/transport';
import { parseHostPort, type NodeConfig } from './config.js';
import { FaultTransport } from './fault-transport.js';
import { PeerLinks } from './peer-links.js';

export interface RunningNode<Result> {
  readonly node: RaftNode<Result>;
  readonly transport: FaultTransport;
  readonly wire: WebSocketTransport;
  readonly storage: FileStorage;
}

/**
 * A state machine that replicates its members' addresses (the KV store does): the node keeps its
 * transport's peers in step with it.
 */
interface AddressRegistry {
  registry(): ReadonlyMap<string, { readonly raftAddress: string }>;
  onRegistryChange(listener: (id: string, addresses: { readonly raftAddress: string } | undefined) => void): () => void;
}

function hasRegistry(value: unknown): value is AddressRegistry {
  return typeof (value as Partial<AddressRegistry>).registry === 'function' && typeof (value as Partial<AddressRegistry>).onRegistryChange === 'function';
}

/** Observers for logs and metrics (all optional). */
export interface NodeHooks {
  readonly storageObserver?: StorageObserver;
  readonly transportLogger?: TransportLogger;
  readonly onLinkChange?: (peer: string, connected: boolean) => void;
}

/** Opens the durable storage, starts the WebSocket transport and the Raft node of one process. */
export async function startNode<Result>(config: NodeConfig, stateMachine: StateMachine<Result>, hooks: NodeHooks = {}): Promise<RunningNode<Result>> {
  await mkdir(config.dataDir, { recursive: true });
  // The storage's queue of not-yet-durable bytes must hold everything Raft can have in flight
  // (uncommitted payload plus record headers, or a follower's inflight window), or a full queue
  // would fail a write and stop the node. Raft's own bounds are the ones that push back.
  const raftBound = Math.max(config.tuning.maxUncommittedBytes ?? DEFAULT_TUNING.maxUncommittedBytes, config.tuning.maxInflightBytes ?? DEFAULT_TUNING.maxInflightBytes);
  const storage = await FileStorage.open(config.dataDir, { maxPendingBytes: 4 * raftBound, ...(config.walSegmentBytes ? { segmentBytes: config.walSegmentBytes } : {}), ...(hooks.storageObserver ? { observer: hooks.storageObserver } : {}) });
  const wire = new WebSocketTransport({
    id: config.id,
    clusterId: config.clusterId,
    secret: config.secret,
    listen: parseHostPort('raftAddress', config.raftAddress),
    peers: Object.fromEntries(Object.entries(config.peers).map(([id, address]) => [id, `ws://${address}`])),
    ...(hooks.transportLogger ? { logger: hooks.transportLogger } : {}),
    ...(hooks.onLinkChange ? { onLinkChange: hooks.onLinkChange } : {}),
  });
  const transport = new FaultTransport(wire);
  try {
    const node = await RaftNode.start<Result>({
      id: config.id,
      members: [config.id, ...Object.keys(config.peers)],
      // A joining node waits to be added by the cluster's leader (its peers are the members it knows).
      join: config.join === true,
      stateMachine,
      storage,
      // Snapshots live next to the log, in the data directory (dataDir/snapshots): FileStorage
      // opens that store and checks its log against it, so the node uses the same one.
      snapshotStore: storage.snapshots,
      transport,
      forwardProposals: config.forwardProposals,
      ...config.tuning,
    });
    if (hasRegistry(stateMachine)) {
      // Recorded addresses become peers (a member added later, or one that moved); a link goes
      // once its peer is neither recorded nor in the configuration (see PeerLinks for why both).
      const links = new PeerLinks(config.id, config.peers, wire, (message) => hooks.transportLogger?.warn(`node ${config.id}: ${message}`));
      links.configChanged(node.members());
      node.on('membershipChange', (members) => links.configChanged(members));
      stateMachine.onRegistryChange((id, addresses) => links.registryChanged(id, addresses));
      for (const [id, addresses] of stateMachine.registry()) links.registryChanged(id, addresses);
    }
    return { node, transport, wire, storage };
  } catch (error) {
    await transport.close().catch(() => undefined);
    await storage.close().catch(() => undefined);
    throw error;
  }
}
