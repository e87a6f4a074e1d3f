import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfigError,
  MemoryNetwork,
  MessageType,
  MemoryStorage,
  NotLeaderError,
  RaftNode,
  TimeoutError,
  type Command,
  type StateMachine,
  type Transport,
} from '../src/index.js';

class Counter implements StateMachine<number> {
  total = 0;
  readonly seen: string[] = [];
  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => {
      this.seen.push(new TextDecoder().decode(c.data));
      return ++this.total;
    });
  }
}

async function cluster(ids: string[]) {
  const network = new MemoryNetwork();
  const machines = new Map<string, Counter>();
  const nodes = await Promise.all(
    ids.map((id) => {
      const sm = new Counter();
      machines.set(id, sm);
      return RaftNode.start({
        id,
        members: ids,
        stateMachine: sm,
        storage: new MemoryStorage(),
        transport: network.transport(id),
        electionTimeoutMs: 60,
        heartbeatIntervalMs: 10,
      });
    }),
  );
  return { network, nodes, machines };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('three nodes elect a leader, commit proposals and apply them everywhere in order', async () => {
  const { nodes, machines } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const results = await Promise.all(['x', 'y', 'z'].map((s) => leader.propose(new TextEncoder().encode(s))));
    assert.deepEqual(results.map((r) => r.result), [1, 2, 3]);
    assert.ok(results.every((r, i) => i === 0 || r.index === results[i - 1]!.index + 1));
    await waitFor('every node applied', () => [...machines.values()].every((m) => m.total === 3));
    for (const m of machines.values()) assert.deepEqual(m.seen, ['x', 'y', 'z']);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a follower refuses proposals with NotLeaderError naming the leader', async () => {
  const { nodes } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const follower = await waitFor('a follower that knows the leader', () =>
      nodes.find((n) => n !== leader && n.leaderId === leader.id),
    );
    await assert.rejects(follower.propose(new Uint8Array([1])), (error: unknown) => {
      assert.ok(error instanceof NotLeaderError);
      assert.equal(error.leaderId, leader.id);
      return true;
    });
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('linearizable reads on leader and follower see every write acknowledged before them', async () => {
  const { nodes, machines } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    await leader.propose(new TextEncoder().encode('w1'));
    await leader.propose(new TextEncoder().encode('w2'));
    const follower = await waitFor('a follower that knows the leader', () =>
      nodes.find((n) => n !== leader && n.leaderId === leader.id),
    );
    const onFollower = await follower.read(() => machines.get(follower.id)!.total);
    const onLeader = await leader.read(() => machines.get(leader.id)!.total);
    assert.equal(onFollower, 2);
    assert.equal(onLeader, 2);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('bad options are refused with an error naming the field', async () => {
  const network = new MemoryNetwork();
  const base = { id: 'a', members: ['a'], stateMachine: new Counter(), storage: new MemoryStorage(), transport: network.transport('a') };
  await assert.rejects(RaftNode.start({ ...base, electionTimeoutMs: 100, heartbeatIntervalMs: 50 }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.field, 'electionTimeoutMs');
    return true;
  });
  await assert.rejects(RaftNode.start({ ...base, heartbeatIntervalMs: -1 }), (e: unknown) => e instanceof ConfigError && e.field === 'heartbeatIntervalMs');
  await assert.rejects(RaftNode.start({ ...base, members: [] }), (e: unknown) => e instanceof ConfigError && e.field === 'members');
  await assert.rejects(RaftNode.start({ ...base, leaseRead: true, checkQuorum: false }), (e: unknown) => e instanceof ConfigError && e.field === 'leaseRead');
  await assert.rejects(RaftNode.start({ ...base, colour: 'blue' } as never), (e: unknown) => e instanceof ConfigError && e.field === 'colour');
  // An explicit undefined takes the default.
  const node = await RaftNode.start({ ...base, electionTimeoutMs: undefined, transport: network.transport('b'), id: 'b', members: ['b'] });
  await node.close();
});

test('a single-node cluster elects itself and commits on its own write', async () => {
  const network = new MemoryNetwork();
  const sm = new Counter();
  const node = await RaftNode.start({ id: 'solo', members: ['solo'], stateMachine: sm, storage: new MemoryStorage(), transport: network.transport('solo'), electionTimeoutMs: 30, heartbeatIntervalMs: 10 });
  try {
    await waitFor('leadership', () => node.role === 'leader');
    const r = await node.propose(new Uint8Array([7]));
    assert.equal(r.result, 1);
    assert.equal(await node.read(() => sm.total), 1);
  } finally {
    await node.close();
  }
});

test('a follower forwards a proposal to the leader and gets the result back', async () => {
  const { nodes, machines } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const follower = await waitFor('a follower that knows the leader', () => nodes.find((n) => n !== leader && n.leaderId === leader.id));
    const first = await follower.propose(new TextEncoder().encode('via-follower'), { forward: true });
    const second = await follower.propose(new TextEncoder().encode('again'), { forward: true });
    assert.equal(first.result, 1);
    assert.equal(second.result, 2);
    assert.equal(second.index, first.index + 1);
    assert.deepEqual(machines.get(leader.id)!.seen, ['via-follower', 'again']);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a forwarded proposal whose leader is unreachable fails with a timeout that says the outcome is unknown', async () => {
  const { nodes, network } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const follower = await waitFor('a follower that knows the leader', () => nodes.find((n) => n !== leader && n.leaderId === leader.id));
    network.cutLink(follower.id, leader.id, true);
    await assert.rejects(follower.propose(new Uint8Array([1]), { forward: true, timeoutMs: 50 }), (e: unknown) => e instanceof TimeoutError && e.outcomeUnknown);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('forwarded proposals fail as outcome-unknown as soon as leadership moves, not at the deadline', async () => {
  const { nodes, network } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const follower = await waitFor('a follower that knows the leader', () => nodes.find((n) => n !== leader && n.leaderId === leader.id));
    network.isolate(leader.id);
    const started = Date.now();
    await assert.rejects(follower.propose(new Uint8Array([1]), { forward: true, timeoutMs: 20_000 }), (e: unknown) => {
      assert.ok(e instanceof TimeoutError && e.outcomeUnknown);
      assert.match(e.message, /leadership moved/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'failed well before the 20 s deadline');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('transferring leadership to the node that already leads resolves at once', async () => {
  const { nodes } = await cluster(['a', 'b', 'c']);
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const started = Date.now();
    await leader.transferLeadership(leader.id, { timeoutMs: 5000 });
    assert.ok(Date.now() - started < 1000);
    assert.equal(leader.role, 'leader');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a read that timed out while waiting for apply does not break the reads queued after it', async () => {
  // Applies are held back, so that reads wait for their index to be applied; the first read times
  // out and leaves the queue; a second read then queued behind it once crashed the node.
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let hold = false;
  const sm: StateMachine<number> = {
    async apply(commands) {
      if (hold) await held;
      return commands.map(() => 1);
    },
  };
  const network = new MemoryNetwork();
  const node = await RaftNode.start({ id: 'solo', members: ['solo'], stateMachine: sm, storage: new MemoryStorage(), transport: network.transport('solo'), electionTimeoutMs: 30, heartbeatIntervalMs: 10 });
  const failures: unknown[] = [];
  node.on('error', (error) => failures.push(error));
  try {
    await waitFor('leadership', () => node.role === 'leader');
    await node.propose(new Uint8Array([1]));
    hold = true;
    const write = node.propose(new Uint8Array([2]));
    await waitFor('the write committed, not applied', () => node.status().commitIndex > node.status().appliedIndex);
    await assert.rejects(node.read(() => 'first', { timeoutMs: 30 }), TimeoutError);
    const second = node.read(() => 'second', { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    release();
    assert.equal(await second, 'second');
    await write;
    assert.deepEqual(failures, []);
    assert.equal(node.status().closed, false);
  } finally {
    await node.close();
  }
});

test('proposals whose entries were cut from the log are answered when this node appends over them again', async () => {
  const { nodes, network } = await cluster(['a', 'b', 'c']);
  try {
    const old = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    await old.propose(new TextEncoder().encode('before'));
    // Cut off: these append to the old leader's log only and can never commit.
    network.isolate(old.id);
    const lost = Array.from({ length: 10 }, (_, i) => old.propose(new TextEncoder().encode(`lost${i}`), { timeoutMs: 30_000 }));
    const outcomes = lost.map((p) => p.then(() => 'applied', (e: unknown) => (e as { code?: string }).code ?? 'error'));
    const settled = new Set<number>();
    outcomes.forEach((p, i) => void p.then(() => settled.add(i)));
    const others = nodes.filter((n) => n !== old);
    const next = await waitFor('a new leader', () => others.find((n) => n.role === 'leader'), 5000);
    await next.propose(new TextEncoder().encode('new1'));
    await next.propose(new TextEncoder().encode('new2'));
    network.heal();
    // The old leader's uncommitted suffix is replaced by the new leader's shorter log; then it leads
    // again and appends at indices where its old proposals were.
    await waitFor('the old leader caught up', () => old.status().commitIndex >= next.status().commitIndex && old.role === 'follower' || undefined, 5000);
    await next.transferLeadership(old.id, { timeoutMs: 5000 });
    await old.propose(new TextEncoder().encode('again'));
    await waitFor('every lost proposal answered', () => settled.size === lost.length || undefined, 3000);
    for (const outcome of await Promise.all(outcomes)) assert.equal(outcome, 'LEADERSHIP_LOST');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test("a proposal is never timed out by the deadline of an older proposal whose index it took over", async () => {
  const { nodes, network } = await cluster(['a', 'b', 'c']);
  try {
    const old = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    await old.propose(new TextEncoder().encode('before'));
    network.isolate(old.id);
    const lostAt = Date.now();
    // Short deadlines: these never commit; those whose indices `again` reaches are answered
    // LEADERSHIP_LOST when it takes them.
    const lost = Array.from({ length: 10 }, (_, i) => old.propose(new TextEncoder().encode(`lost${i}`), { timeoutMs: 3000 }).catch(() => undefined));
    const others = nodes.filter((n) => n !== old);
    const next = await waitFor('a new leader', () => others.find((n) => n.role === 'leader'), 5000);
    await next.propose(new TextEncoder().encode('new1'));
    network.heal();
    await waitFor('the old leader caught up', () => old.status().commitIndex >= next.status().commitIndex && old.role === 'follower' || undefined, 5000);
    await next.transferLeadership(old.id, { timeoutMs: 5000 });
    // `again` takes an index one of the lost proposals had, with a deadline of its own far away;
    // cut off, it cannot commit before the lost proposals' deadline passes.
    const again = old.propose(new TextEncoder().encode('again'), { timeoutMs: 30_000 });
    network.isolate(old.id);
    let outcome = 'pending';
    void again.then(() => (outcome = 'applied'), (e: unknown) => (outcome = (e as { code?: string }).code ?? 'error'));
    assert.ok(Date.now() - lostAt < 2500, `the scenario took ${Date.now() - lostAt} ms, longer than the lost proposals' deadline allows`);
    // Past the lost proposals' deadline (the lost proposal that held again's index was answered
    // LEADERSHIP_LOST when again took it; its deadline is still on the wheel).
    await new Promise((r) => setTimeout(r, 3000 - (Date.now() - lostAt) + 400));
    assert.notEqual(outcome, 'TIMEOUT', "timed out at the older proposal's deadline, not its own");
    network.heal();
    await waitFor('the proposal answered', () => outcome !== 'pending' || undefined, 5000);
    assert.notEqual(outcome, 'TIMEOUT');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a proposal made as soon as the previous one resolved leaves for the followers in the same event-loop turn', async () => {
  const network = new MemoryNetwork();
  const ids = ['a', 'b', 'c'];
  // Event-loop turns, counted by an immediate that re-arms itself.
  let turn = 0;
  let counting = true;
  const tick = (): void => {
    turn++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const sentAt = new Map<string, number>();
  const recording = (id: string): Transport => {
    const inner = network.transport(id);
    return {
      start: (receiver) => inner.start(receiver),
      send: (to, messages) => {
        for (const m of messages) {
          if (m.type !== MessageType.Append) continue;
          for (const e of m.entries) {
            const text = new TextDecoder().decode(e.data);
            if (!sentAt.has(text)) sentAt.set(text, turn);
          }
        }
        inner.send(to, messages);
      },
      close: () => inner.close(),
    };
  };
  const nodes = await Promise.all(
    ids.map((id) => RaftNode.start({ id, members: ids, stateMachine: new Counter(), storage: new MemoryStorage(), transport: recording(id), electionTimeoutMs: 60, heartbeatIntervalMs: 10 })),
  );
  try {
    const leader = await waitFor('a leader', () => nodes.find((n) => n.role === 'leader'));
    const resolvedAt: number[] = [];
    for (let i = 0; i < 5; i++) {
      await leader.propose(new TextEncoder().encode(`p${i}`));
      resolvedAt.push(turn); // the continuation of the await: the next proposal starts now
    }
    await leader.propose(new TextEncoder().encode('last'));
    for (let i = 1; i < 5; i++) assert.equal(sentAt.get(`p${i}`), resolvedAt[i - 1], `p${i} left in the turn p${i - 1} resolved in`);
  } finally {
    counting = false;
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a closed loop of proposals on a single node over in-memory storage never keeps the event loop from turning', async () => {
  const node = await RaftNode.start({ id: 'solo', members: ['solo'], stateMachine: new Counter(), storage: new MemoryStorage(), transport: new MemoryNetwork().transport('solo'), electionTimeoutMs: 60, heartbeatIntervalMs: 10 });
  try {
    await waitFor('leadership', () => node.role === 'leader' || undefined);
    // Proposals resolved between two consecutive turns of the event loop (immediates).
    let sinceTurn = 0;
    let most = 0;
    let turns = 0;
    let running = true;
    const tick = (): void => {
      most = Math.max(most, sinceTurn);
      sinceTurn = 0;
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const loop = (async () => {
      for (let i = 0; i < 3000 && running; i++) {
        await node.propose(new Uint8Array([1]));
        sinceTurn++;
      }
    })();
    await loop;
    running = false;
    assert.ok(turns > 100, `only ${turns} turns of the event loop for 3000 proposals`);
    assert.ok(most <= 4, `${most} proposals resolved within one turn of the event loop`);
  } finally {
    await node.close();
  }
});
