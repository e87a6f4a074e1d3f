/** The far end of the throughput benchmarks, in its own thread (a peer is another process in real use). */
import { createServer } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { benchTransport, countAppends, pump, Receiver } from './pump.js';

const port = parentPort!;
const { kind } = workerData as { kind: 'net-sink' | 'transport' };

interface Command {
  /** Count this many bytes from now on (acknowledged with { ready }), then post { done }. */
  expect?: number;
  /** (transport) Send this many entry bytes to 'a'. */
  send?: number;
  /** (transport) The dialing peer's port. */
  peerPort?: number;
  close?: boolean;
}

if (kind === 'net-sink') {
  let remaining = Infinity;
  const server = createServer((socket) => {
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      // parse length-prefixed frames, as the transport's receiver does
      let data = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      while (data.length >= 4) {
        const length = data.readUInt32LE(0);
        if (data.length < 4 + length) break;
        remaining -= 4 + length;
        data = data.subarray(4 + length);
      }
      if (data.length > 0) pending = data;
      if (remaining <= 0) {
        remaining = Infinity;
        port.postMessage({ done: true });
      }
    });
  });
  server.listen(0, '127.0.0.1', () => port.postMessage({ port: (server.address() as { port: number }).port }));
  port.on('message', (m: Command) => {
    if (m.expect) {
      remaining = m.expect;
      port.postMessage({ ready: true });
    }
    if (m.close) server.close(() => port.close());
  });
} else {
  const receiver = new Receiver();
  const b = benchTransport('b');
  await b.start(receiver);
  port.postMessage({ port: b.port });
  port.on('message', (m: Command) => {
    if (m.peerPort) b.addPeer('a', `ws://127.0.0.1:${m.peerPort}`);
    if (m.expect) {
      countAppends(receiver, m.expect, () => port.postMessage({ done: true }));
      port.postMessage({ ready: true });
    }
    if (m.send) void pump(b, 'b', 'a', m.send);
    if (m.close) void b.close().then(() => port.close());
  });
}
