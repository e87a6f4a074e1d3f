// Embedding Flotilla in a service: three nodes in one process over the WebSocket transport,
// first on in-memory storage, then on the native write-ahead log. Only the published packages:
//   npm install @flotilla/core @flotilla/transport @flotilla/storage
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage, RaftNode } from '@flotilla/core';
import { FileStorage } from '@flotilla/storage';
import { WebSocketTransport } from '@flotilla/transport';

/** The replicated state: a counter. Commands are numbers to add; the result is the new total. */
class Counter {
  total = 0;
  apply(commands) {
    return commands.map(({ data }) => (this.total += Number(new TextDecoder().decode(data))));
  }
}

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function run(label, makeStorage) {
  const ids = ['n1', 'n2', 'n3'];
  const ports = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await freePort()])));
  const counters = ids.map(() => new Counter());
  const nodes = await Promise.all(
    ids.map(async (id, i) =>
      RaftNode.start({
        id,
        members: ids,
        stateMachine: counters[i],
        storage: await makeStorage(id),
        transport: new WebSocketTransport({
          id,
          clusterId: 'embedding-example',
          secret: 'a shared secret, never sent',
          listen: { host: '127.0.0.1', port: ports[id] },
          peers: Object.fromEntries(ids.filter((p) => p !== id).map((p) => [p, `ws://127.0.0.1:${ports[p]}`])),
        }),
        electionTimeoutMs: 300,
        heartbeatIntervalMs: 50,
      }),
    ),
  );
  let leader;
  while (!(leader = nodes.find((n) => n.role === 'leader'))) await new Promise((r) => setTimeout(r, 20));
  let last;
  for (const amount of [1, 2, 3, 4]) last = await leader.propose(new TextEncoder().encode(String(amount)), { timeoutMs: 5000 });
  const follower = nodes.find((n) => n !== leader);
  const seen = await follower.read(() => counters[nodes.indexOf(follower)].total);
  console.log(`${label}: leader ${leader.id}, total ${last.result} at index ${last.index} (term ${last.term}); ${follower.id} reads ${seen}`);
  await Promise.all(nodes.map((n) => n.close()));
  if (last.result !== 10 || seen !== 10) throw new Error(`${label}: expected a total of 10`);
}

await run('websocket + memory storage', async () => new MemoryStorage());
const dir = await mkdtemp(join(tmpdir(), 'flotilla-embedding-'));
try {
  await run('websocket + native storage', (id) => FileStorage.open(join(dir, id)));
} finally {
  await rm(dir, { recursive: true, force: true });
}
