import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftNode, type Command, type StateMachine } from '../src/index.js';
import { SeededRandom } from '../src/raft/random.js';
import { EventQueue } from '../src/sim/event-queue.js';
import { DiskState, SimDisk } from '../src/sim/sim-disk.js';
import { SimNetwork } from '../src/sim/sim-network.js';
import { SimScheduler } from '../src/sim/sim-scheduler.js';

class LastIndex implements StateMachine<number> {
  last = 0;
  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => (this.last = c.index));
  }
}

async function runUntil(queue: EventQueue, time: number): Promise<void> {
  while (queue.size > 0 && queue.peekTime()! <= time) {
    queue.pop()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  queue.now = Math.max(queue.now, time);
}

// A leader paused (SIGSTOP, a long GC) and cut off wakes up with its timers firing once. If it
// counted timer firings as time, it would still believe its lease holds and serve a lease read
// that misses a write the new leader acknowledged meanwhile.
test('a paused, partitioned leader does not serve a stale lease read when it wakes', async () => {
  const queue = new EventQueue();
  const network = new SimNetwork(queue, new SeededRandom(1));
  const ids = ['a', 'b', 'c'];
  const nodes = new Map<string, { node: RaftNode<number>; sm: LastIndex; scheduler: SimScheduler }>();
  for (const id of ids) {
    const scheduler = new SimScheduler(queue);
    const sm = new LastIndex();
    const node = await RaftNode.start<number>({
      id,
      members: ids,
      stateMachine: sm,
      storage: new SimDisk(new DiskState(), queue, new SeededRandom(2)),
      transport: network.transport(id, scheduler),
      scheduler,
      seed: id.charCodeAt(0),
      electionTimeoutMs: 100,
      heartbeatIntervalMs: 10,
      leaseRead: true,
    });
    nodes.set(id, { node, sm, scheduler });
  }
  await runUntil(queue, 500);
  const [oldId, old] = [...nodes].find(([, n]) => n.node.role === 'leader')!;
  const first = old.node.propose(new Uint8Array([1]));
  await runUntil(queue, queue.now + 50);
  await first;

  old.scheduler.paused = true;
  for (const other of ids) if (other !== oldId) { network.cutLink(oldId, other); network.cutLink(other, oldId); }
  await runUntil(queue, queue.now + 1000);
  const [, fresh] = [...nodes].find(([id, n]) => id !== oldId && n.node.role === 'leader')!;
  const write = fresh.node.propose(new Uint8Array([2]));
  await runUntil(queue, queue.now + 50);
  const { index: acknowledged } = await write;

  old.scheduler.resume();
  const read = old.node.read(() => old.sm.last, { consistency: 'lease', timeoutMs: 200 }).then(
    (seen) => ({ seen }),
    (error: Error) => ({ error }),
  );
  await runUntil(queue, queue.now + 300);
  const outcome = await read;
  if ('seen' in outcome) assert.ok(outcome.seen >= acknowledged, `stale lease read: saw ${outcome.seen}, ${acknowledged} was acknowledged`);
  else assert.ok(outcome.error, 'refused instead');
  for (const { node } of nodes.values()) await node.close();
});
