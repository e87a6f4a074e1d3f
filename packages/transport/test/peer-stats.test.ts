import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@flotilla/core';
import type { NodeId } from '@flotilla/core';
import { connected, mesh, startNode, waitFor } from './helpers.js';

test('per-peer traffic adds up to the totals, and link changes are reported both ways', async () => {
  const events: Record<string, [NodeId, boolean][]> = { a: [], b: [], c: [] };
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => startNode(id, { onLinkChange: (peer, up) => events[id]!.push([peer, up]) })));
  try {
    mesh([a!, b!, c!]);
    await connected([a!, b!, c!]);
    for (let i = 0; i < 5; i++) a!.transport.send('b', [{ type: MessageType.TimeoutNow, from: 'a', to: 'b', term: 1 }]);
    await new Promise((r) => setImmediate(r));
    a!.transport.send('c', [{ type: MessageType.TimeoutNow, from: 'a', to: 'c', term: 1 }]);
    await waitFor('delivery', () => b!.collector.messages.length === 5 && c!.collector.messages.length === 1);
    const stats = a!.transport.peerStats();
    assert.deepEqual(Object.keys(stats).sort(), ['b', 'c']);
    assert.ok(stats['b']!.connected && stats['c']!.connected);
    assert.ok(stats['b']!.framesSent >= 1 && stats['c']!.framesSent === 1, JSON.stringify(stats));
    const totals = a!.transport.stats();
    assert.equal(stats['b']!.bytesSent + stats['c']!.bytesSent, totals.bytesSent);
    assert.equal(stats['b']!.framesSent + stats['c']!.framesSent, totals.framesSent);
    assert.equal(b!.transport.peerStats()['a']!.bytesReceived, stats['b']!.bytesSent);
    assert.equal(c!.transport.peerStats()['a']!.bytesReceived, stats['c']!.bytesSent);
    assert.deepEqual(events['a']!.filter(([, up]) => up).map(([p]) => p).sort(), ['b', 'c']);

    await c!.transport.close();
    await waitFor('a to see c go', () => events['a']!.some(([p, up]) => p === 'c' && !up));
    assert.equal(a!.transport.peerStats()['c']!.connected, false);
    assert.equal(a!.transport.peerStats()['b']!.connected, true);
  } finally {
    await Promise.all([a, b, c].map((n) => n!.transport.close()));
  }
});
