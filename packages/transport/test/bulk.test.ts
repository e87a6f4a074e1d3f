import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@flotilla/core';
import type { Message } from '@flotilla/core';
import { connected, mesh, startNode, waitFor, type Node } from './helpers.js';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/** Every byte of every entry depends on its index: any corruption or mix-up shows. */
function pattern(index: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (index * 31 + i * 7) & 0xff;
  return data;
}

/** An Append carrying entry `index` alone, its bytes from `pattern`. */
function append(from: string, to: string, index: number, size: number): Message {
  return { type: MessageType.Append, from, to, term: 1, prevIndex: index - 1, prevTerm: 1, commit: 0, entries: [{ index, term: 1, type: 0, data: pattern(index, size) }] };
}

/** Counts what reaches `receiver`: the next index expected, and entries out of order or with other bytes. */
function checkArrivals(receiver: Node, size: number): { next: number; bad: number } {
  const arrived = { next: 1, bad: 0 };
  receiver.collector.receive = (messages: readonly Message[]) => {
    for (const m of messages) {
      if (m.type !== MessageType.Append) continue;
      for (const e of m.entries) {
        if (e.index !== arrived.next || Buffer.compare(Buffer.from(e.data), Buffer.from(pattern(e.index, size))) !== 0) arrived.bad++;
        arrived.next++;
      }
    }
  };
  return arrived;
}

for (const [name, from, to] of [['dialer to acceptor', 'a', 'b'], ['acceptor to dialer', 'b', 'a']] as const) {
  test(`bulk transfer ${name}: 64 KiB frames arrive intact and in order under backpressure`, async () => {
    const a = await startNode('a', { socketHighWaterBytes: 256 * 1024 });
    const b = await startNode('b', { socketHighWaterBytes: 256 * 1024 });
    const nodes = { a, b };
    const sender = nodes[from];
    const receiver = nodes[to];
    try {
      mesh([a, b]);
      await connected([a, b]);
      const frames = 600;
      const size = 64 * 1024 - 256;
      const arrived = checkArrivals(receiver, size);
      for (let i = 1; i <= frames; i++) {
        while (sender.transport.socketBufferedBytes(to) > 1024 * 1024) await sender.transport.whenWritable(to, 256 * 1024);
        sender.transport.send(to, [append(from, to, i, size)]);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor('all frames', () => arrived.next > frames, 20_000);
      assert.equal(arrived.bad, 0);
      assert.equal(arrived.next, frames + 1);
      assert.deepStrictEqual(receiver.transport.stats().rejectedFrames, {});
      assert.equal(sender.transport.stats().droppedMessages, 0);
    } finally {
      await Promise.all([a.transport.close(), b.transport.close()]);
    }
  });
}

for (const [name, from, to] of [['dialer to acceptor', 'a', 'b'], ['acceptor to dialer', 'b', 'a']] as const) {
  test(`a burst ${name} larger than the kernel's socket buffer, sent in one turn, arrives intact`, async () => {
    // One entry per frame (96 KiB frames), and a high water mark that lets the whole burst go to
    // the socket in one synchronous pass: the kernel takes a few MiB, the socket library queues the
    // rest. Frames are encoded one after another into the same builder, so a socket that queued a
    // view of the builder's memory instead of a copy would send later frames' bytes (a bug once).
    const options = { socketHighWaterBytes: 64 * 1024 * 1024, maxFrameBytes: 96 * 1024 };
    const a = await startNode('a', options);
    const b = await startNode('b', options);
    const nodes = { a, b };
    const sender = nodes[from];
    const receiver = nodes[to];
    try {
      mesh([a, b]);
      await connected([a, b]);
      const frames = 320; // 20 MiB
      const size = 64 * 1024 - 256;
      const arrived = checkArrivals(receiver, size);
      for (let i = 1; i <= frames; i++) {
        sender.transport.send(to, [append(from, to, i, size)]);
      }
      await waitFor('all frames', () => arrived.next > frames, 20_000);
      assert.equal(arrived.bad, 0, `${arrived.bad} of ${frames} entries arrived with other bytes`);
      assert.ok(sender.transport.stats().framesSent >= frames, 'one entry per frame');
      assert.deepStrictEqual(receiver.transport.stats().rejectedFrames, {});
      assert.equal(sender.transport.stats().droppedMessages, 0);
    } finally {
      await Promise.all([a.transport.close(), b.transport.close()]);
    }
  });
}

test('a burst of small frames larger than the kernel\'s socket buffer, sent in one turn, arrives intact', async () => {
  // Small frames go out of the dialer masked, so that ws copies them and their header into one
  // buffer: the frames are encoded one after another into the same writer, so if ws queued a view
  // of it instead, later frames' bytes would show up in earlier ones.
  const options = { socketHighWaterBytes: 64 * 1024 * 1024, maxFrameBytes: 4096 };
  const a = await startNode('a', options);
  const b = await startNode('b', options);
  try {
    mesh([a, b]);
    await connected([a, b]);
    const frames = 5000; // ~15 MiB
    const size = 3000;
    const arrived = checkArrivals(b, size);
    for (let i = 1; i <= frames; i++) a.transport.send('b', [append('a', 'b', i, size)]);
    await waitFor('all frames', () => arrived.next > frames, 20_000);
    assert.equal(arrived.bad, 0, `${arrived.bad} of ${frames} entries arrived with other bytes`);
    assert.ok(a.transport.stats().framesSent >= frames, 'one entry per frame');
    assert.equal(a.transport.stats().droppedMessages, 0);
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});

test('whenWritable wakes a writer once small frames sent without a completion callback drain', async () => {
  // Small frames sent while nothing is buffered go without ws's completion callback. Here the far
  // end stops reading, the dialer sends one small frame per turn until the kernel takes one only
  // in part, and a writer then waits for the buffer to empty: it must be woken once the far end
  // reads again, although no callback is due.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  let farEnd: Socket | undefined;
  server.on('connection', (_ws, request) => {
    farEnd = request.socket;
    farEnd.pause();
  });
  const a = await startNode('a', { maxFrameBytes: 4096 });
  try {
    a.transport.addPeer('z', `ws://127.0.0.1:${(server.address() as AddressInfo).port}`); // 'a' < 'z': a dials
    await waitFor('the connection', () => a.transport.connectedPeers().includes('z') && farEnd !== undefined);
    let sent = 0;
    while (a.transport.socketBufferedBytes('z') === 0) {
      if (sent === 100_000) throw new Error('the socket never filled');
      a.transport.send('z', [append('a', 'z', ++sent, 3000)]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    let woken = false;
    const waiting = a.transport.whenWritable('z', 0).then(() => {
      woken = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(woken, false, 'woken while the far end reads nothing');
    farEnd!.resume();
    await Promise.race([waiting, new Promise((_, reject) => setTimeout(() => reject(new Error('whenWritable was not woken')), 5000))]);
    assert.equal(a.transport.socketBufferedBytes('z'), 0);
  } finally {
    await a.transport.close();
    for (const client of server.clients) client.terminate();
    server.close();
  }
});
