import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemoryNetwork, RaftNode, type Command, type StateMachine } from '@flotilla/core';
import { FileSnapshotStore, FileStorage } from '../src/index.js';

/** Sums the bytes it applied; snapshot/restore as decimal text. */
class Sum implements StateMachine<number> {
  total = 0;
  count = 0;
  restoredFrom = -1;
  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => {
      this.total += c.data[0]!;
      return ++this.count;
    });
  }
  snapshot(): Iterable<Uint8Array> {
    return [new TextEncoder().encode(JSON.stringify([this.total, this.count]))];
  }
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    let text = '';
    for await (const chunk of chunks) text += new TextDecoder().decode(chunk);
    [this.total, this.count] = JSON.parse(text) as [number, number];
    this.restoredFrom = this.count;
  }
}

async function open(dir: string, sm: Sum) {
  return RaftNode.start({
    id: 'solo',
    members: ['solo'],
    stateMachine: sm,
    storage: await FileStorage.open(join(dir, 'log')),
    snapshotStore: await FileSnapshotStore.open(join(dir, 'snapshots')),
    transport: new MemoryNetwork().transport('solo'),
    electionTimeoutMs: 60,
    heartbeatIntervalMs: 10,
    snapshotEntries: 100,
    snapshotKeepEntries: 10,
  });
}

async function leading(node: RaftNode<number>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (node.role !== 'leader') {
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a restarted node recovers from its latest snapshot plus the log after it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-restart-'));
  try {
    const first = new Sum();
    const node = await open(dir, first);
    await leading(node);
    for (let i = 0; i < 250; i++) await node.propose(new Uint8Array([i % 7]));
    const status = node.status();
    assert.ok(status.snapshotIndex >= 200, `snapshot at ${status.snapshotIndex}`);
    await node.close();

    const second = new Sum();
    const again = await open(dir, second);
    try {
      await leading(again);
      // Restored from the snapshot, then the entries after it replayed from the log.
      assert.ok(second.restoredFrom >= 199 && second.restoredFrom < 250, `restored from ${second.restoredFrom}`);
      const deadline = Date.now() + 5000;
      while (second.count < 250 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(second.count, 250);
      assert.equal(second.total, first.total);
      const r = await again.propose(new Uint8Array([1]));
      assert.equal(r.result, 251);
    } finally {
      await again.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a member restarted on its own, with no quorum to ask, applies everything it knew committed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-restart-'));
  const ids = ['a', 'b', 'c'];
  const start = async (id: string, sm: Sum, network: MemoryNetwork) =>
    RaftNode.start({
      id,
      members: ids,
      stateMachine: sm,
      storage: await FileStorage.open(join(dir, id)),
      transport: network.transport(id),
      electionTimeoutMs: 60,
      heartbeatIntervalMs: 10,
    });
  try {
    const network = new MemoryNetwork();
    const machines = ids.map(() => new Sum());
    const nodes = await Promise.all(ids.map((id, i) => start(id, machines[i]!, network)));
    let leader: RaftNode<number> | undefined;
    const deadline = Date.now() + 5000;
    while (!(leader = nodes.find((n) => n.role === 'leader'))) {
      if (Date.now() > deadline) throw new Error('no leader');
      await new Promise((r) => setTimeout(r, 5));
    }
    for (let i = 0; i < 40; i++) await leader.propose(new Uint8Array([i % 5]));
    while (machines.some((m) => m.count < 40)) await new Promise((r) => setTimeout(r, 5));
    const follower = ids.findIndex((_, i) => nodes[i] !== leader);
    await Promise.all(nodes.map((n) => n.close()));

    // Alone: no election can succeed, so what it applies comes from its own storage.
    const alone = new Sum();
    const again = await start(ids[follower]!, alone, new MemoryNetwork());
    try {
      const until = Date.now() + 3000;
      while (alone.count < 40 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      assert.notEqual(again.role, 'leader');
      assert.equal(alone.count, 40, 'the commit index it had learned survived the restart');
      assert.equal(alone.total, machines[follower]!.total);
    } finally {
      await again.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
