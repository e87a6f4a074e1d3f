// A three-node Flotilla cluster in one process, over in-memory storage and transport.
// Run it: node --import tsx --conditions=flotilla-source packages/examples/src/quickstart.ts
import { MemoryNetwork, MemoryStorage, RaftNode, type Command, type StateMachine } from '@flotilla/core';

/** The replicated state: a map of key → value, changed by "key=value" commands. */
class KeyValue implements StateMachine<string | undefined> {
  readonly data = new Map<string, string>();
  apply(commands: readonly Command[]): (string | undefined)[] {
    return commands.map(({ data }) => {
      const [key, value] = new TextDecoder().decode(data).split('=') as [string, string];
      const previous = this.data.get(key);
      this.data.set(key, value);
      return previous;
    });
  }
}

export async function main(log: (line: string) => void = console.log): Promise<Map<string, string>[]> {
  const ids = ['n1', 'n2', 'n3'];
  const network = new MemoryNetwork();
  const machines = ids.map(() => new KeyValue());
  const nodes = await Promise.all(
    ids.map((id, i) =>
      RaftNode.start({
        id,
        members: ids,
        stateMachine: machines[i]!,
        storage: new MemoryStorage(),
        transport: network.transport(id),
        electionTimeoutMs: 150,
        heartbeatIntervalMs: 30,
      }),
    ),
  );
  for (const node of nodes) node.on('leaderChange', ({ leader, term }) => log(`${node.id}: leader is ${leader || 'unknown'} in term ${term}`));

  const leader = await new Promise<RaftNode<string | undefined>>((resolve) => {
    const check = (): void => {
      const found = nodes.find((n) => n.role === 'leader');
      if (found) resolve(found);
      else setTimeout(check, 10);
    };
    check();
  });

  const { index, term } = await leader.propose(new TextEncoder().encode('greeting=hello'), { timeoutMs: 2000 });
  log(`committed greeting=hello at index ${index}, term ${term}`);
  const replaced = await leader.propose(new TextEncoder().encode('greeting=bonjour'));
  log(`replaced ${replaced.result} at index ${replaced.index}`);

  // A linearizable read on a follower: it reflects every write acknowledged before it started.
  const follower = nodes.find((n) => n !== leader)!;
  const seen = await follower.read(() => machines[ids.indexOf(follower.id)]!.data.get('greeting'));
  log(`${follower.id} reads greeting=${seen}`);

  await Promise.all(nodes.map((n) => n.close()));
  return machines.map((m) => m.data);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
