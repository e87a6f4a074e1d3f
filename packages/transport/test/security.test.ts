import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { MessageType } from '@flotilla/core';
import { encodeFrame, HANDSHAKE_PATH, handshakeHeaders } from '../src/index.js';
import { CLUSTER_ID, SECRET, connected, mesh, startNode, waitFor } from './helpers.js';
import type { Node } from './helpers.js';

interface Outcome {
  status?: number;
  closeCode?: number;
  closeReason?: string;
}

function dial(port: number, headers: Record<string, string>, send?: (ws: WebSocket) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${HANDSHAKE_PATH}`, { headers, maxPayload: 64 * 1024 * 1024 });
    const outcome: Outcome = {};
    ws.on('unexpected-response', (req, res) => {
      outcome.status = res.statusCode;
      req.destroy();
      resolve(outcome);
    });
    ws.on('error', () => undefined);
    ws.on('open', () => send?.(ws));
    ws.on('close', (code, reason) => {
      outcome.closeCode = code;
      outcome.closeReason = reason.toString();
      resolve(outcome);
    });
  });
}

async function withServer(fn: (server: Node) => Promise<void>): Promise<void> {
  const server = await startNode('s');
  server.transport.addPeer('p', 'ws://127.0.0.1:1'); // known, accepted-only ('p' > 's' is false: s dials p; we never let it succeed)
  server.transport.addPeer('q', 'ws://127.0.0.1:1');
  try {
    await fn(server);
  } finally {
    await server.transport.close();
  }
}

test('handshakes with a wrong cluster, unknown node, wrong recipient, bad proof, stale time or a replay are refused and logged', async () => {
  await withServer(async (s) => {
    const port = s.transport.port;
    const good = () => handshakeHeaders(SECRET, CLUSTER_ID, 'p', 's');
    assert.equal((await dial(port, handshakeHeaders(SECRET, 'other', 'p', 's'))).status, 403);
    assert.equal((await dial(port, handshakeHeaders(SECRET, CLUSTER_ID, 'stranger', 's'))).status, 403);
    assert.equal((await dial(port, handshakeHeaders(SECRET, CLUSTER_ID, 'p', 'not-s'))).status, 403);
    assert.equal((await dial(port, handshakeHeaders('wrong-secret', CLUSTER_ID, 'p', 's'))).status, 401);
    assert.equal((await dial(port, handshakeHeaders(SECRET, CLUSTER_ID, 'p', 's', Date.now() - 3_600_000))).status, 401);
    assert.equal((await dial(port, {})).status, 400);
    const replayed = good();
    const first = dial(port, replayed, (ws) => ws.close());
    assert.equal((await first).status, undefined);
    assert.equal((await dial(port, replayed)).status, 401);
    const refused = s.transport.stats().refusedHandshakes;
    assert.deepStrictEqual(refused, { 'wrong-cluster': 1, 'unknown-node': 1, 'wrong-recipient': 1, 'bad-proof': 1, stale: 1, malformed: 1, replayed: 1 });
    assert.equal(s.logs.lines.filter((l) => l.includes('refused a connection')).length, 7);
    for (const line of s.logs.lines) assert.ok(!line.includes(SECRET));
  });
});

test('a node with the wrong secret cannot join', async () => {
  const a = await startNode('a', { secret: 'not-the-secret' });
  const b = await startNode('b');
  try {
    mesh([a, b]);
    await waitFor('a refusal', () => (b.transport.stats().refusedHandshakes['bad-proof'] ?? 0) > 0);
    assert.equal(a.transport.connectedPeers().length, 0);
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});

const badFrames: [string, (ws: WebSocket) => void, string][] = [
  ['garbage', (ws) => ws.send(Buffer.from('definitely not a frame, but long enough')), 'bad-identifier'],
  ['truncated', (ws) => ws.send(encodeFrame(CLUSTER_ID, 'p', 's', [{ type: MessageType.TimeoutNow, from: 'p', to: 's', term: 1 }]).slice(0, 6)), 'truncated'],
  ['another cluster', (ws) => ws.send(encodeFrame('other', 'p', 's', [{ type: MessageType.TimeoutNow, from: 'p', to: 's', term: 1 }]).slice()), 'wrong-cluster'],
  ['another node', (ws) => ws.send(encodeFrame(CLUSTER_ID, 'p', 'x', [{ type: MessageType.TimeoutNow, from: 'p', to: 'x', term: 1 }]).slice()), 'wrong-recipient'],
  ['a spoofed sender', (ws) => ws.send(encodeFrame(CLUSTER_ID, 'q', 's', [{ type: MessageType.TimeoutNow, from: 'q', to: 's', term: 1 }]).slice()), 'wrong-sender'],
  [
    'an unknown message type',
    (ws) => {
      const bytes = encodeFrame(CLUSTER_ID, 'p', 's', [{ type: MessageType.TimeoutNow, from: 'p', to: 's', term: 1 }]).slice();
      // the union tag is the only byte equal to 11 (TimeoutNow) in this frame
      const at = bytes.indexOf(11);
      bytes[at] = 99;
      ws.send(bytes);
    },
    'unknown-message-type',
  ],
  ['an oversized frame', (ws) => ws.send(Buffer.alloc(2 * 1024 * 1024)), 'oversized'],
];

for (const [name, send, reason] of badFrames) {
  test(`a frame with ${name} is rejected, counted and its connection closed; the node keeps running`, async () => {
    const s = await startNode('s', { maxFrameBytes: 1024 * 1024 });
    s.transport.addPeer('p', 'ws://127.0.0.1:1');
    try {
      const outcome = await dial(s.transport.port, handshakeHeaders(SECRET, CLUSTER_ID, 'p', 's'), send);
      assert.equal(s.transport.stats().rejectedFrames[reason as 'truncated'], 1, JSON.stringify(s.transport.stats().rejectedFrames));
      if (reason !== 'oversized') {
        assert.equal(outcome.closeCode, 4400);
        assert.equal(outcome.closeReason, `bad frame: ${reason}`);
      }
      assert.equal(s.collector.messages.length, 0);
      // still serving: a good frame on a new connection is delivered
      const good = encodeFrame(CLUSTER_ID, 'p', 's', [{ type: MessageType.TimeoutNow, from: 'p', to: 's', term: 1 }]).slice();
      await dial(s.transport.port, handshakeHeaders(SECRET, CLUSTER_ID, 'p', 's'), (ws) => ws.send(good, () => setTimeout(() => ws.close(), 20)));
      assert.equal(s.collector.messages.length, 1);
    } finally {
      await s.transport.close();
    }
  });
}

test('the dialer rejects a bad frame from the server side too', async () => {
  const a = await startNode('a');
  const b = await startNode('b');
  try {
    mesh([a, b]);
    await connected([a, b]);
    // b sends a frame claiming to be for another cluster through its real connection
    const internals = b.transport as unknown as { options: { clusterId: string } };
    const original = internals.options;
    internals.options = { ...original, clusterId: 'evil' };
    b.transport.send('a', [{ type: MessageType.TimeoutNow, from: 'b', to: 'a', term: 1 }]);
    await waitFor('rejection', () => (a.transport.stats().rejectedFrames['wrong-cluster'] ?? 0) === 1);
    internals.options = original;
    await connected([a, b]);
    assert.equal(a.collector.messages.length, 0);
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});
