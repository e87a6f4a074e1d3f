/** The far end of the throughput benchmarks, in its own thread (a peer is another process in real use). */
import { createServer } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { benchTransport, countAppends, pump, Receiver } from './pump.js';

const port = parentPort!;
const { kind, total } = workerData as { kind: 'net-sink' | 'transport'; total: number };

if (kind === 'net-sink') {
  const server = createServer((socket) => {
    let received = 0;
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      // parse length-prefixed frames, as the transport's receiver does
      let data = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      while (data.length >= 4) {
        const length = data.readUInt32LE(0);
        if (data.length < 4 + length) break;
        received += 4 + length;
        data = data.subarray(4 + length);
      }
      if (data.length > 0) pending = data;
      if (received >= total) {
        port.postMessage({ done: true });
        received = -Infinity;
      }
    });
  });
  server.listen(0, '127.0.0.1', () => port.postMessage({ port: (server.address() as { port: number }).port }));
  port.on('message', (m: { close?: boolean }) => {
    if (m.close) server.close(() => port.close());
  });
} else {
  const receiver = new Receiver();
  const b = benchTransport('b');
  await b.start(receiver);
  countAppends(receiver, total, () => port.postMessage({ done: true }));
  port.postMessage({ port: b.port });
  port.on('message', (m: { peerPort?: number; send?: boolean; close?: boolean }) => {
    if (m.peerPort) b.addPeer('a', `ws://127.0.0.1:${m.peerPort}`);
    if (m.send) void pump(b, 'b', 'a', total);
    if (m.close) void b.close().then(() => port.close());
  });
}
