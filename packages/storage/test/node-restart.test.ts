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

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function leading(node: RaftNode<number>): Promise<void> {
  await until('a leader', () => node.role === 'leader');
}

test('a restarted node recovers from its latest snapshot plus the log after it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-restart-'));
  const started: RaftNode<number>[] = [];
  const start = async (sm: Sum) => {
    const node = await open(dir, sm);
    started.push(node);
    return node;
  };
  try {
    const first = new Sum();
    const node = await start(first);
    await leading(node);
    for (let i = 0; i < 250; i++) await node.propose(new Uint8Array([i % 7]));
    // The policy takes one snapshot at a time: the one at 200 may start only after the one at
    // 100 has been written, which on a loaded machine is after the last proposal.
    await until('the snapshot at 200', () => node.status().snapshotIndex >= 200);
    await node.close();

    const second = new Sum();
    const again = await start(second);
    await leading(again);
    // Restored from the snapshot, then the entries after it replayed from the log.
    assert.ok(second.restoredFrom >= 199 && second.restoredFrom < 250, `restored from ${second.restoredFrom}`);
    await until('the replay', () => second.count >= 250);
    assert.equal(second.count, 250);
    assert.equal(second.total, first.total);
    const r = await again.propose(new Uint8Array([1]));
    assert.equal(r.result, 251);
  } finally {
    // Closed whatever happened: a node left open keeps the test process alive.
    await Promise.all(started.map((n) => n.close()));
    await rm(dir, { recursive: true, force: true });
  }
});

test('a member restarted on its own, with no quorum to ask, applies everything it knew committed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-restart-'));
  const ids = ['a', 'b', 'c'];
  const started: RaftNode<number>[] = [];
  const start = async (id: string, sm: Sum, network: MemoryNetwork) => {
    const node = await RaftNode.start({
      id,
      members: ids,
      stateMachine: sm,
      storage: await FileStorage.open(join(dir, id)),
      transport: network.transport(id),
      // Slow enough that a loaded machine does not change leaders under the proposals.
      electionTimeoutMs: 300,
      heartbeatIntervalMs: 30,
    });
    started.push(node);
    return node;
  };
  try {
    const network = new MemoryNetwork();
    const machines = ids.map(() => new Sum());
    const nodes = await Promise.all(ids.map((id, i) => start(id, machines[i]!, network)));
    for (let i = 0; i < 40; ) {
      await until('a leader', () => nodes.some((n) => n.role === 'leader'));
      const leader = nodes.find((n) => n.role === 'leader')!;
      try {
        await leader.propose(new Uint8Array([i % 5]));
        i++;
      } catch (error) {
        // A leader change under a loaded machine: try again (the count compared below is what
        // the follower applied, so a proposal that went through twice changes nothing).
        const code = (error as { code?: string }).code;
        if (code !== 'NOT_LEADER' && code !== 'LEADERSHIP_LOST') throw error;
      }
    }
    await until('every node applied 40', () => machines.every((m) => m.count >= 40));
    const follower = nodes.findIndex((n) => n.role !== 'leader');
    const applied = machines[follower]!;
    await Promise.all(nodes.map((n) => n.close()));

    // Alone: no election can succeed, so what it applies comes from its own storage.
    const alone = new Sum();
    const again = await start(ids[follower]!, alone, new MemoryNetwork());
    await until('the replay', () => alone.count >= applied.count).catch(() => undefined);
    assert.notEqual(again.role, 'leader');
    assert.equal(alone.count, applied.count, 'the commit index it had learned survived the restart');
    assert.equal(alone.total, applied.total);
  } finally {
    await Promise.all(started.map((n) => n.close()));
    await rm(dir, { recursive: true, force: true });
  }
});
