import { MemoryNetwork, MemoryStorage, RaftNode, type Command, type StateMachine } from '@flotilla/core';

class Noop implements StateMachine<number> {
  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => c.index);
  }
}

/**
 * The runtime's own cost: a 3-node cluster over MemoryStorage and MemoryNetwork (no disk, no
 * sockets), C closed-loop proposers on the leader. Returns proposals per second.
 */
export async function runtimeThroughput(concurrency: number, durationMs: number): Promise<{ opsPerSec: number; p50Us: number; p99Us: number }> {
  const ids = ['n1', 'n2', 'n3'];
  const network = new MemoryNetwork();
  const nodes = await Promise.all(
    ids.map((id) =>
      RaftNode.start({ id, members: ids, stateMachine: new Noop(), storage: new MemoryStorage(), transport: network.transport(id), electionTimeoutMs: 300, heartbeatIntervalMs: 50, maxInflightMessages: 1024 }),
    ),
  );
  let leader: RaftNode<number> | undefined;
  while (!(leader = nodes.find((n) => n.role === 'leader'))) await new Promise((r) => setTimeout(r, 5));
  const payload = new Uint8Array(128);
  const latencies: number[] = [];
  let done = 0;
  let running = true;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (running) {
      const t0 = performance.now();
      await leader!.propose(payload);
      latencies.push(performance.now() - t0);
      done++;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, durationMs));
  running = false;
  const elapsed = performance.now() - start;
  await Promise.all(workers);
  await Promise.all(nodes.map((n) => n.close()));
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number => (latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] ?? 0) * 1000;
  return { opsPerSec: (done / elapsed) * 1000, p50Us: pick(0.5), p99Us: pick(0.99) };
}
