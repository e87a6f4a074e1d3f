/**
 * One process of the snapshot benchmark, driven by its parent over IPC (see harness.ts). Config:
 * JSON in FLOTILLA_SNAPSHOT_BENCH. Role 'node': a RaftNode on FileStorage + its FileSnapshotStore
 * and the WebSocket transport on 127.0.0.1. Role 'net': a plain TCP socket, the loopback baseline.
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { DEFAULT_TUNING, RaftNode, type StateMachine } from '@flotilla/core';
import { FileStorage, tuneAllocator } from '@flotilla/storage';
import { WebSocketTransport } from '@flotilla/transport';
import type { NetChildConfig, NodeChildConfig } from './harness.js';
import { ArenaStateMachine, GeneratedStateMachine, fillCommand } from './machines.js';

interface Request {
  readonly seq: number;
  readonly op: string;
  readonly [key: string]: unknown;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const wallMs = (): number => performance.timeOrigin + performance.now();

const send = (message: object): void => {
  if (process.connected) process.send!(message);
};

// Every process of the benchmark, the raw loopback baseline's included, as `flotilla start` does.
tuneAllocator();
const config = JSON.parse(process.env['FLOTILLA_SNAPSHOT_BENCH'] ?? 'null') as NodeChildConfig | NetChildConfig;
const handlers = new Map<string, (r: Request) => Promise<object> | object>();

if (config.role === 'net') {
  // Sink: counts the bytes arriving on any connection; `wait` answers once that many arrived.
  let received = 0;
  let want: { bytes: number; done: (at: number) => void } | undefined;
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      if (want && received >= want.bytes) {
        const w = want;
        want = undefined;
        w.done(wallMs());
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  handlers.set('listen', () => {
    received = 0;
    return { port: (server.address() as { port: number }).port };
  });
  handlers.set('wait', (r) => new Promise((resolve) => {
    const bytes = r['bytes'] as number;
    if (received >= bytes) resolve({ at: wallMs() });
    else want = { bytes, done: (at) => resolve({ at }) };
  }));
  // Source: pushes `bytes` to `port` in `writeBytes` writes, honouring backpressure.
  handlers.set('push', async (r) => {
    const socket: Socket = connect(r['port'] as number, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const writeBytes = r['writeBytes'] as number;
    const total = r['bytes'] as number;
    const started = wallMs();
    for (let sent = 0; sent < total; sent += writeBytes) {
      // A fresh buffer per write, as a sender of real data would have.
      const buffer = Buffer.allocUnsafe(Math.min(writeBytes, total - sent)).fill(sent % 251);
      if (!socket.write(buffer)) await once(socket, 'drain');
    }
    await new Promise<void>((resolve) => socket.end(resolve));
    return { started };
  });
  handlers.set('stop', () => {
    server.close();
    setImmediate(() => process.exit(0));
    return {};
  });
} else {
  const c = config;
  await mkdir(c.dataDir, { recursive: true });
  const machine: GeneratedStateMachine | ArenaStateMachine = c.machine === 'generated' ? new GeneratedStateMachine(c.generatedBytes ?? 0) : new ArenaStateMachine();
  // As the example node does: the storage's queue of not-yet-durable bytes holds everything Raft can have in flight.
  const raftBound = Math.max(c.tuning.maxUncommittedBytes ?? DEFAULT_TUNING.maxUncommittedBytes, c.tuning.maxInflightBytes ?? DEFAULT_TUNING.maxInflightBytes);
  const storage = await FileStorage.open(c.dataDir, { maxPendingBytes: 4 * raftBound, segmentBytes: c.segmentBytes });
  const transport = new WebSocketTransport({
    id: c.id,
    clusterId: 'snapshot-bench',
    secret: 'snapshot-bench-secret',
    listen: { host: '127.0.0.1', port: c.port },
    peers: Object.fromEntries(Object.entries(c.peers).map(([id, address]) => [id, `ws://${address}`])),
    // Peers that are not listening yet while the processes start are expected.
    logger: { warn: (message) => (message.includes('ECONNREFUSED') ? undefined : console.error(message)) },
  });
  const node = await RaftNode.start<number>({
    id: c.id,
    members: [...c.members],
    join: c.join,
    stateMachine: machine as StateMachine<number>,
    storage,
    snapshotStore: storage.snapshots,
    transport,
    ...c.tuning,
  });
  const marks: Record<string, number> = {};
  node.on('error', (error) => send({ event: 'error', id: c.id, message: error.message }));
  node.on('warning', (error) => send({ event: 'warning', id: c.id, message: error.message }));
  node.on('snapshotTransfer', (p) => {
    if (p.state === 'receiving' && marks['firstChunk'] === undefined) marks['firstChunk'] = wallMs();
    if (p.state === 'received') marks['received'] = wallMs();
    if (p.state === 'sent') marks['sent'] = wallMs();
  });
  node.on('snapshotRestored', () => {
    marks['restored'] = wallMs();
  });
  let appliedWaiter: { index: number; done: () => void } | undefined;
  node.on('applied', (index) => {
    if (appliedWaiter && index >= appliedWaiter.index) {
      const w = appliedWaiter;
      appliedWaiter = undefined;
      w.done();
    }
  });

  handlers.set('status', () => {
    const s = node.status();
    return { role: s.role, leader: s.leader, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, lastIndex: s.lastIndex, firstIndex: s.firstIndex, snapshotIndex: s.snapshotIndex, rssBytes: process.memoryUsage().rss };
  });
  handlers.set('addPeer', (r) => {
    transport.addPeer(r['peer'] as string, `ws://${r['address'] as string}`);
    return {};
  });
  // Proposes `entries` commands of `bytes` bytes, `batch` per proposeBatch, `concurrency` batches at once.
  handlers.set('fill', async (r) => {
    const entries = r['entries'] as number;
    const bytes = r['bytes'] as number;
    const batch = r['batch'] as number;
    const concurrency = r['concurrency'] as number;
    const started = wallMs();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries) {
        const first = next;
        const n = Math.min(batch, entries - first);
        next += n;
        const block = Buffer.allocUnsafe(n * bytes);
        const commands: Buffer[] = [];
        for (let i = 0; i < n; i++) commands.push(fillCommand(first + i, bytes, block.subarray(i * bytes, (i + 1) * bytes)));
        await node.proposeBatch(commands, { timeoutMs: 120_000 });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { seconds: (wallMs() - started) / 1000, commitIndex: node.status().commitIndex };
  });
  handlers.set('snapshot', async () => {
    const started = wallMs();
    const meta = await node.snapshot();
    return {
      index: meta.index,
      seconds: (wallMs() - started) / 1000,
      firstIndex: node.status().firstIndex,
      bytes: machine instanceof GeneratedStateMachine ? machine.size : machine.snapshotBytes,
      generated: machine instanceof GeneratedStateMachine ? machine.generated : undefined,
    };
  });
  // Adds a learner and answers when the configuration committed; `started` is when it was asked.
  handlers.set('addLearner', async (r) => {
    const started = wallMs();
    await node.addLearner(r['peer'] as string);
    return { started };
  });
  handlers.set('removeMember', async (r) => {
    await node.removeMember(r['peer'] as string);
    transport.removePeer(r['peer'] as string);
    return {};
  });
  // Answers once this node has applied `index`, with when that happened and the snapshot marks.
  handlers.set('waitApplied', (r) => new Promise((resolve) => {
    const index = r['index'] as number;
    const reply = (): void => resolve({ at: wallMs(), marks, restored: machine instanceof GeneratedStateMachine ? machine.restored : undefined, snapshotIndex: node.status().snapshotIndex });
    if (node.status().appliedIndex >= index) reply();
    else appliedWaiter = { index, done: reply };
  }));
  handlers.set('digest', () => (machine instanceof ArenaStateMachine ? machine.digest() : { count: machine.applied }));
  handlers.set('stop', async () => {
    setImmediate(() => {
      void node.close().finally(() => process.exit(0));
    });
    return {};
  });
}

process.on('message', (m: Request) => {
  const handler = handlers.get(m.op);
  if (!handler) {
    send({ re: m.seq, ok: false, error: `unknown op ${m.op}` });
    return;
  }
  Promise.resolve()
    .then(() => handler(m))
    .then(
      (reply) => send({ re: m.seq, ok: true, ...reply }),
      (error: unknown) => send({ re: m.seq, ok: false, error: (error as Error)?.message ?? String(error) }),
    );
});
process.on('disconnect', () => process.exit(0));
send({ event: 'ready' });
