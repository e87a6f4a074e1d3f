import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryNetwork, MemorySnapshotStore, MemoryStorage, MessageType, RaftNode, type Command, type Message, type StateMachine } from '../src/index.js';
import { closeAll, leaderOf, proposeMany, startCluster, waitFor } from './support/cluster.js';

const SNAPSHOTTING = { snapshotEntries: 20, snapshotKeepEntries: 5 };

test('a follower that fell behind past compaction catches up by snapshot', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c'], SNAPSHOTTING);
  try {
    const first = await waitFor('a leader', () => leaderOf(nodes));
    const lagging = nodes.find((n) => n !== first)!;
    network.isolate(lagging.id);
    await proposeMany(nodes, 'x', 100);
    const leader = leaderOf(nodes)!;
    await waitFor('the leader compacted its log', () => leader.node.status().snapshotIndex >= 80);
    assert.equal(lagging.sm.items.length < 10, true);
    const restored = new Promise((resolve) => lagging.node.once('snapshotRestored', resolve));
    network.heal();
    await restored;
    await waitFor('the lagging follower applied everything', () => lagging.sm.items.length === 100);
    assert.deepEqual(lagging.sm.items, leader.sm.items);
    assert.equal(lagging.sm.restores, 1);
    // After the snapshot it follows the log again.
    await proposeMany(nodes, 'y', 5);
    await waitFor('it keeps replicating', () => lagging.sm.items.length === 105);
    assert.deepEqual(lagging.sm.items, leader.sm.items);
  } finally {
    await closeAll(nodes);
  }
});

test('a lost chunk is resent and a corrupt snapshot is rejected by checksum and sent again', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c'], { ...SNAPSHOTTING, snapshotChunkBytes: 64, snapshotWindowChunks: 2, snapshotTimeoutMs: 100 });
  try {
    const first = await waitFor('a leader', () => leaderOf(nodes));
    const lagging = nodes.find((n) => n !== first)!;
    network.isolate(lagging.id);
    await proposeMany(nodes, 'value-', 60);
    const leader = leaderOf(nodes)!;
    await waitFor('a snapshot', () => leader.node.status().snapshotIndex >= 40);
    let chunks = 0;
    let dropped = 0;
    let corrupted = 0;
    network.tamper = (_from, _to, messages) =>
      messages.flatMap((m): Message[] => {
        if (m.type !== MessageType.Snapshot) return [m];
        chunks++;
        if (chunks === 2) {
          dropped++;
          return [];
        }
        if (chunks === 6 && m.data.byteLength > 0) {
          corrupted++;
          const data = m.data.slice();
          data[0] = data[0]! ^ 0xff;
          return [{ ...m, data }];
        }
        return [m];
      });
    const warnings: string[] = [];
    lagging.node.on('warning', (error) => warnings.push(error.message));
    network.heal();
    await waitFor('the follower caught up', () => lagging.sm.items.length === 60, 10_000);
    assert.deepEqual(lagging.sm.items, leader.sm.items);
    assert.equal(dropped, 1);
    assert.equal(corrupted, 1);
    assert.ok(warnings.some((w) => /checksum/.test(w)), `expected a checksum warning, got ${JSON.stringify(warnings)}`);
  } finally {
    await closeAll(nodes);
  }
});

test('snapshot() on demand compacts the log and keeps the configured tail', async () => {
  const { nodes } = await startCluster(['a', 'b', 'c'], { snapshotEntries: 0, snapshotBytes: 0, snapshotKeepEntries: 3 });
  try {
    await proposeMany(nodes, 'k', 10);
    const leader = leaderOf(nodes)!;
    await waitFor('applied', () => leader.node.status().appliedIndex >= 11);
    const meta = await leader.node.snapshot();
    assert.equal(meta.index, leader.node.status().appliedIndex);
    assert.deepEqual([...meta.config.voters].sort(), ['a', 'b', 'c']);
    assert.equal(leader.node.status().snapshotIndex, meta.index);
    assert.equal(leader.node.termAt(meta.index - 3) !== undefined, true, 'the tail below the snapshot is kept');
    assert.equal(leader.node.termAt(meta.index - 5), undefined, 'entries below the tail are compacted');
    // Nothing new applied: asking again returns the same snapshot.
    assert.deepEqual(await leader.node.snapshot(), meta);
  } finally {
    await closeAll(nodes);
  }
});

// The README's example state machine, verbatim: a lagging follower gets its state by snapshot.
class Counter implements StateMachine<number> {
  private total = 0;
  apply(commands: readonly Command[]): number[] {
    return commands.map(() => ++this.total);
  }
  snapshot(): Iterable<Uint8Array> {
    return [new TextEncoder().encode(String(this.total))];
  }
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    let text = '';
    for await (const chunk of chunks) text += new TextDecoder().decode(chunk);
    this.total = Number(text);
  }
  get value(): number {
    return this.total;
  }
}

test("the README's snapshot example: a Counter restored from a snapshot on a lagging follower", async () => {
  const network = new MemoryNetwork();
  const ids = ['a', 'b', 'c'];
  const machines = new Map(ids.map((id) => [id, new Counter()]));
  const nodes = await Promise.all(
    ids.map((id) =>
      RaftNode.start({
        id, members: ids, stateMachine: machines.get(id)!,
        storage: new MemoryStorage(), snapshotStore: new MemorySnapshotStore(),
        transport: network.transport(id), snapshotEntries: 50, snapshotKeepEntries: 5,
        electionTimeoutMs: 60, heartbeatIntervalMs: 10,
      }),
    ),
  );
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const lagging = nodes.find((n) => n !== leader)!;
    network.isolate(lagging.id);
    for (let i = 0; i < 120; i++) await leader.propose(new Uint8Array([i]));
    assert.ok((await leader.snapshot()).index >= 120);
    network.heal();
    await waitFor('the follower restored and caught up', () => machines.get(lagging.id)!.value === 120);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
