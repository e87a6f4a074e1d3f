/** Loopback round trip and one-way throughput: WebSocketTransport vs a plain `net` socket, same process. */
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { MessageType } from '@flotilla/core';
import type { WebSocketTransport } from '@flotilla/transport';
import { printTable } from '../report.js';
import { benchTransport, FRAME_BYTES, Receiver, countAppends, pump } from './pump.js';

const PAYLOAD = new Uint8Array(128).fill(1);

async function transportPair(): Promise<{ a: WebSocketTransport; b: WebSocketTransport; ra: Receiver; rb: Receiver }> {
  const a = benchTransport('a');
  const b = benchTransport('b');
  const ra = new Receiver();
  const rb = new Receiver();
  await a.start(ra);
  await b.start(rb);
  b.addPeer('a', `ws://127.0.0.1:${a.port}`);
  a.addPeer('b', `ws://127.0.0.1:${b.port}`); // 'a' < 'b': a dials
  while (a.connectedPeers().length === 0 || b.connectedPeers().length === 0) await new Promise((r) => setTimeout(r, 5));
  return { a, b, ra, rb };
}

/** A length-prefixed echo / sink over a plain TCP socket. */
async function netPair(): Promise<{ server: Server; client: Socket; peer: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection');
  const client = connect(port, '127.0.0.1');
  client.setNoDelay(true);
  await once(client, 'connect');
  const [peer] = (await accepted) as [Socket];
  peer.setNoDelay(true);
  return { server, client, peer };
}

/** Calls `onFrame(frame)` for every length-prefixed frame arriving on `socket`. */
function frames(socket: Socket, onFrame: (frame: Buffer) => void): void {
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let data = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    while (data.length >= 4) {
      const length = data.readUInt32LE(0);
      if (data.length < 4 + length) break;
      onFrame(data.subarray(4, 4 + length));
      data = data.subarray(4 + length);
    }
    if (data.length > 0) pending = data;
  });
}

interface Latency {
  p50: number;
  p99: number;
}

function latencyOf(task: { result?: unknown } | undefined): Latency {
  const result = task?.result as { latency?: { p50: number; p99: number } } | undefined;
  return { p50: (result?.latency?.p50 ?? Number.NaN) * 1000, p99: (result?.latency?.p99 ?? Number.NaN) * 1000 };
}

async function roundTrip(quick: boolean): Promise<{ ours: Latency; base: Latency }> {
  const { a, b, ra, rb } = await transportPair();
  const { server, client, peer } = await netPair();
  try {
    // flotilla: a Propose with 128 bytes, answered by a ProposeResponse
    rb.onMessages = (messages) => {
      for (const m of messages) {
        if (m.type !== MessageType.Propose) continue;
        b.send('a', [{ type: MessageType.ProposeResponse, from: 'b', to: 'a', term: 1, requestId: m.requestId, error: 0, index: 1, entryTerm: 1, leaderHint: '', result: m.data }]);
      }
    };
    let wake: (() => void) | undefined;
    ra.onMessages = () => wake?.();
    let requestId = 0;
    const viaTransport = (): Promise<void> =>
      new Promise<void>((resolve) => {
        wake = resolve;
        a.send('b', [{ type: MessageType.Propose, from: 'a', to: 'b', term: 1, requestId: ++requestId, data: PAYLOAD }]);
      });
    // net: a 4-byte length and 128 bytes, echoed
    frames(peer, (frame) => {
      const out = Buffer.allocUnsafe(4 + frame.length);
      out.writeUInt32LE(frame.length, 0);
      out.set(frame, 4);
      peer.write(out);
    });
    let netWake: (() => void) | undefined;
    frames(client, () => netWake?.());
    const request = Buffer.allocUnsafe(4 + PAYLOAD.length);
    request.writeUInt32LE(PAYLOAD.length, 0);
    request.set(PAYLOAD, 4);
    const viaNet = (): Promise<void> =>
      new Promise<void>((resolve) => {
        netWake = resolve;
        client.write(Buffer.from(request));
      });
    const time = quick ? 1500 : 5000;
    const bench = new Bench({ time, warmupTime: time / 5 });
    bench.add('flotilla round trip', viaTransport);
    bench.add('net round trip', viaNet);
    await bench.run();
    return { ours: latencyOf(bench.tasks[0]), base: latencyOf(bench.tasks[1]) };
  } finally {
    client.destroy();
    peer.destroy();
    server.close();
    await Promise.all([a.close(), b.close()]);
  }
}

function startWorker(kind: 'net-sink' | 'transport'): { worker: Worker; next: (key: string) => Promise<Record<string, unknown>> } {
  // Workers do not run the parent's --import hooks: register tsx there before loading the worker.
  const entry = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)});`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(entry)}`), { workerData: { kind } });
  const inbox: Record<string, unknown>[] = [];
  const waiting: { key: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  worker.on('message', (m: Record<string, unknown>) => {
    const w = waiting.findIndex((x) => x.key in m);
    if (w >= 0) waiting.splice(w, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  worker.on('error', (error) => console.error('benchmark worker failed:', error));
  const next = (key: string): Promise<Record<string, unknown>> => {
    const i = inbox.findIndex((m) => key in m);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
    return new Promise((resolve) => waiting.push({ key, resolve }));
  };
  return { worker, next };
}

async function stopWorker(worker: Worker): Promise<void> {
  const exited = once(worker, 'exit');
  worker.postMessage({ close: true });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
  await worker.terminate();
}

const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;

/**
 * Bytes per second for `total` entry bytes in ~64 KiB frames between this thread and a worker,
 * after a warm-up transfer of a quarter of that.
 */
async function transportThroughput(total: number, fromDialer: boolean): Promise<number> {
  const { worker, next } = startWorker('transport');
  const receiver = new Receiver();
  const a = benchTransport('a');
  try {
    await a.start(receiver);
    const { port } = (await next('port')) as { port: number };
    worker.postMessage({ peerPort: a.port });
    a.addPeer('b', `ws://127.0.0.1:${port}`); // 'a' < 'b': a dials
    while (a.connectedPeers().length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50)); // let the worker see the connection too
    const run = async (bytes: number): Promise<number> => {
      if (fromDialer) {
        worker.postMessage({ expect: bytes });
        await next('ready');
      }
      const started = process.hrtime.bigint();
      if (fromDialer) {
        const done = next('done');
        await pump(a, 'a', 'b', bytes);
        await done;
      } else {
        const done = new Promise<void>((resolve) => countAppends(receiver, bytes, resolve));
        worker.postMessage({ send: bytes });
        await done;
      }
      return bytes / seconds(started);
    };
    await run(total / 4);
    return await run(total);
  } finally {
    await a.close();
    await stopWorker(worker);
  }
}

async function netThroughput(total: number): Promise<number> {
  const { worker, next } = startWorker('net-sink');
  const { port } = (await next('port')) as { port: number };
  const client = connect(port, '127.0.0.1');
  client.setNoDelay(true);
  try {
    await once(client, 'connect');
    const frame = Buffer.alloc(FRAME_BYTES, 3);
    frame.writeUInt32LE(FRAME_BYTES - 4, 0);
    const run = async (bytes: number): Promise<number> => {
      worker.postMessage({ expect: bytes });
      await next('ready');
      const done = next('done');
      const started = process.hrtime.bigint();
      for (let sent = 0; sent < bytes; sent += FRAME_BYTES) {
        if (!client.write(frame)) await once(client, 'drain');
      }
      await done;
      return bytes / seconds(started);
    };
    await run(total / 4);
    return await run(total);
  } finally {
    client.destroy();
    await stopWorker(worker);
  }
}

const gib = (bytesPerSecond: number): string => `${(bytesPerSecond / 2 ** 30).toFixed(2)} GiB/s`;

export async function runLoopbackBenchmarks(quick: boolean): Promise<void> {
  const { ours, base } = await roundTrip(quick);
  printTable(
    'Loopback round trip, 128-byte message and reply (both ends in one thread)',
    ['', 'flotilla µs', 'net socket µs', 'ratio (target <= 1.5x)'],
    [
      ['p50', ours.p50.toFixed(1), base.p50.toFixed(1), `${(ours.p50 / base.p50).toFixed(2)}x`],
      ['p99', ours.p99.toFixed(1), base.p99.toFixed(1), `${(ours.p99 / base.p99).toFixed(2)}x`],
    ],
  );
  const total = (quick ? 256 : 1024) * 1024 * 1024;
  const baseline = await netThroughput(total);
  const dialed = await transportThroughput(total, true);
  const accepted = await transportThroughput(total, false);
  printTable(
    `Loopback one-way throughput, ${FRAME_BYTES / 1024} KiB frames, ${total / 2 ** 20} MiB (receiver in a worker thread)`,
    ['path', 'throughput', 'of net socket', 'target >= 1 GiB/s'],
    [
      ['net socket (baseline)', gib(baseline), '1.00x', ''],
      ['flotilla dialer -> acceptor (ws -> uWS)', gib(dialed), `${(dialed / baseline).toFixed(2)}x`, dialed >= 2 ** 30 ? 'met' : 'not met'],
      ['flotilla acceptor -> dialer (uWS -> ws)', gib(accepted), `${(accepted / baseline).toFixed(2)}x`, accepted >= 2 ** 30 ? 'met' : 'not met'],
    ],
  );
}
