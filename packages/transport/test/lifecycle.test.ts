import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { MessageType } from '@flotilla/core';
import type { Message } from '@flotilla/core';
import { HANDSHAKE_PATH } from '../src/index.js';
import { connected, mesh, startNode, waitFor } from './helpers.js';

const openFds = () => readdirSync('/proc/self/fd').length;
const resources = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').sort().join(',');

test('hundreds of transports start, connect and close without leaking sockets or timers', async () => {
  const fdsBefore = openFds();
  const resourcesBefore = resources();
  for (let round = 0; round < 4; round++) {
    const nodes = await Promise.all(Array.from({ length: 50 }, (_, i) => startNode(`r${round}-${String(i).padStart(2, '0')}`)));
    for (let i = 0; i < nodes.length; i += 2) mesh([nodes[i]!, nodes[i + 1]!]);
    await waitFor('pairs to connect', () => nodes.every((n) => n.transport.connectedPeers().length === 1));
    nodes[0]!.transport.send(nodes[1]!.id, [{ type: MessageType.TimeoutNow, from: nodes[0]!.id, to: nodes[1]!.id, term: 1 }]);
    await waitFor('delivery', () => nodes[1]!.collector.messages.length === 1);
    await Promise.all(nodes.map((n) => n.transport.close()));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(openFds() <= fdsBefore + 2, `file descriptors: ${fdsBefore} before, ${openFds()} after`);
  assert.equal(resources(), resourcesBefore);
});

test('a congested link stays bounded: heartbeats coalesce, the excess is dropped and the peer reported unreachable', async () => {
  // A fake peer that completes the handshake and then never reads.
  const sockets: Socket[] = [];
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    sockets.push(socket as Socket);
    wss.handleUpgrade(req, socket, head, () => (socket as Socket).pause());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  const maxQueue = 2 * 1024 * 1024;
  const highWater = 512 * 1024;
  const a = await startNode('a', { maxQueueBytesPerPeer: maxQueue, socketHighWaterBytes: highWater });
  try {
    a.transport.addPeer('z', `ws://127.0.0.1:${port}${HANDSHAKE_PATH}`.replace(HANDSHAKE_PATH, ''));
    await waitFor('connection', () => a.transport.connectedPeers().length === 1);
    const data = new Uint8Array(64 * 1024);
    let index = 0;
    let maxQueued = 0;
    let maxBuffered = 0;
    for (let turn = 0; turn < 400; turn++) {
      const batch: Message[] = [];
      for (let k = 0; k < 4; k++) {
        batch.push({ type: MessageType.Append, from: 'a', to: 'z', term: 1, prevIndex: index, prevTerm: 1, commit: 0, entries: [{ index: index + 1, term: 1, type: 0, data }] });
        index++;
      }
      batch.push({ type: MessageType.Heartbeat, from: 'a', to: 'z', term: 1, commit: 0, context: turn });
      a.transport.send('z', batch);
      await new Promise((resolve) => setImmediate(resolve));
      maxQueued = Math.max(maxQueued, a.transport.queuedBytes('z'));
      maxBuffered = Math.max(maxBuffered, a.transport.socketBufferedBytes('z'));
    }
    const stats = a.transport.stats();
    assert.ok(stats.droppedMessages > 0, 'something was dropped');
    assert.ok(stats.coalescedHeartbeats > 0, 'heartbeats coalesced');
    assert.ok(a.collector.unreachable.includes('z'));
    assert.ok(maxQueued <= maxQueue, `queue peaked at ${maxQueued}`);
    assert.ok(maxBuffered <= highWater + 2 * 70 * 1024 * 5, `socket buffer peaked at ${maxBuffered}`);
  } finally {
    await a.transport.close();
    for (const s of sockets) s.destroy();
    wss.close();
    await new Promise((resolve) => http.close(resolve));
  }
});

test('TLS: nodes connect over wss with a certificate made by the test', async (t) => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    t.skip('openssl is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-tls-test-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  rmSync(dir, { recursive: true, force: true });
  const tls = { cert, key, ca: cert };
  {
    const a = await startNode('a', { tls });
    const b = await startNode('b', { tls });
    // '0' dials 'a' (the smaller id dials) and trusts only the system store
    const plain = await startNode('0', { tls: { cert, key } });
    try {
      mesh([a, b], 'wss');
      await connected([a, b]);
      a.transport.send('b', [{ type: MessageType.TimeoutNow, from: 'a', to: 'b', term: 3 }]);
      b.transport.send('a', [{ type: MessageType.TimeoutNow, from: 'b', to: 'a', term: 4 }]);
      await waitFor('delivery', () => a.collector.messages.length === 1 && b.collector.messages.length === 1);
      // a dialer that does not trust the certificate cannot connect
      a.transport.addPeer('0', `wss://127.0.0.1:${plain.transport.port}`);
      plain.transport.addPeer('a', `wss://127.0.0.1:${a.transport.port}`);
      await waitFor('0 to fail dialling a', () => plain.transport.stats().connectFailures > 0);
      assert.equal(plain.transport.connectedPeers().length, 0);
    } finally {
      await Promise.all([a.transport.close(), b.transport.close(), plain.transport.close()]);
    }
  }
});
