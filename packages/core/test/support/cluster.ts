import {
  MemoryNetwork,
  MemorySnapshotStore,
  MemoryStorage,
  RaftNode,
  type Command,
  type RaftNodeTuning,
  type StateMachine,
} from '../../src/index.js';

/** A list of applied strings, with snapshot() and restore() (JSON of the list). */
export class ListMachine implements StateMachine<number> {
  items: string[] = [];
  restores = 0;

  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => {
      this.items.push(new TextDecoder().decode(c.data));
      return this.items.length;
    });
  }

  snapshot(): Iterable<Uint8Array> {
    // Captured now: later applies do not change what this yields.
    const bytes = new TextEncoder().encode(JSON.stringify(this.items));
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 100) chunks.push(bytes.subarray(at, at + 100));
    return chunks;
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk.slice());
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.byteLength;
    }
    this.items = JSON.parse(new TextDecoder().decode(all)) as string[];
    this.restores++;
  }
}

export interface TestNode {
  readonly id: string;
  readonly node: RaftNode<number>;
  readonly sm: ListMachine;
  readonly snapshots: MemorySnapshotStore;
}

export const FAST: Partial<RaftNodeTuning> = { electionTimeoutMs: 60, heartbeatIntervalMs: 10 };

export async function startNode(
  network: MemoryNetwork,
  id: string,
  members: string[],
  tuning: Partial<RaftNodeTuning> = {},
  join = false,
): Promise<TestNode> {
  const sm = new ListMachine();
  const snapshots = new MemorySnapshotStore();
  const node = await RaftNode.start<number>({
    id,
    members: join ? [] : members,
    join,
    stateMachine: sm,
    storage: new MemoryStorage(),
    snapshotStore: snapshots,
    transport: network.transport(id),
    ...FAST,
    ...tuning,
  });
  return { id, node, sm, snapshots };
}

export async function startCluster(ids: string[], tuning: Partial<RaftNodeTuning> = {}) {
  const network = new MemoryNetwork();
  const nodes = await Promise.all(ids.map((id) => startNode(network, id, ids, tuning)));
  return { network, nodes };
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function leaderOf(nodes: readonly TestNode[]): TestNode | undefined {
  return nodes.find((n) => !n.node.status().closed && n.node.role === 'leader');
}

export async function proposeMany(nodes: readonly TestNode[], prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; ) {
    const leader = await waitFor('a leader', () => leaderOf(nodes));
    try {
      await leader.node.propose(new TextEncoder().encode(`${prefix}${i}`));
      i++;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export async function closeAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.node.close()));
}
