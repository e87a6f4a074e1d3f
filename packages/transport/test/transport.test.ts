import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageType } from '@flotilla/core';
import type { Message } from '@flotilla/core';
import { messageArb, plain } from './arbitraries.js';
import { backoffDelay } from '../src/index.js';
import { connected, mesh, startNode, waitFor } from './helpers.js';

test('two nodes exchange every message type, one frame per turn', async () => {
  const a = await startNode('a');
  const b = await startNode('b');
  try {
    mesh([a, b]);
    await connected([a, b]);
    // at most one heartbeat and one heartbeat response: queued ones coalesce (tested separately)
    const seen = new Set<number>();
    const sample = fc.sample(fc.array(messageArb, { minLength: 15, maxLength: 30 }), { numRuns: 1, seed: 42 })[0]!.filter((m) => {
      if (m.type !== MessageType.Heartbeat && m.type !== MessageType.HeartbeatResponse) return true;
      if (seen.has(m.type)) return false;
      seen.add(m.type);
      return true;
    });
    const toB = sample.map((m) => ({ ...m, from: 'a', to: 'b' }) as Message);
    const toA = sample.map((m) => ({ ...m, from: 'b', to: 'a' }) as Message);
    const before = a.transport.stats().framesSent;
    a.transport.send('b', toB.slice(0, 10));
    a.transport.send('b', toB.slice(10));
    b.transport.send('a', toA);
    await waitFor('delivery', () => b.collector.messages.length === toB.length && a.collector.messages.length === toA.length).catch((e) => {
      throw new Error(`${String(e)}: ${[...a.logs.lines, ...b.logs.lines].join('; ')}`);
    });
    assert.equal(a.transport.stats().framesSent - before, 1, 'two sends in one turn make one frame');
    assert.equal(b.collector.frames.length, 1);
    assert.deepStrictEqual(plain(b.collector.messages), plain(toB));
    assert.deepStrictEqual(plain(a.collector.messages), plain(toA));
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});

test('a mesh of three delivers in both directions over one connection per pair', async () => {
  const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(id)));
  try {
    mesh(nodes);
    await connected(nodes);
    for (const from of nodes) for (const to of nodes) if (from !== to) {
      from.transport.send(to.id, [{ type: MessageType.TimeoutNow, from: from.id, to: to.id, term: 7 }]);
    }
    await waitFor('delivery', () => nodes.every((n) => n.collector.messages.length === 2));
    for (const n of nodes) assert.equal(n.transport.stats().openConnections, 2);
  } finally {
    await Promise.all(nodes.map((n) => n.transport.close()));
  }
});

test('sending to a peer without a connection drops and reports it unreachable', async () => {
  const a = await startNode('a', { connectTimeoutMs: 200, backoff: { initialMs: 20, maxMs: 50 } });
  try {
    a.transport.addPeer('b', 'ws://127.0.0.1:1');
    await waitFor('a failed dial', () => a.transport.stats().connectFailures > 0);
    a.transport.send('b', [{ type: MessageType.TimeoutNow, from: 'a', to: 'b', term: 1 }]);
    a.transport.send('nobody', [{ type: MessageType.TimeoutNow, from: 'a', to: 'nobody', term: 1 }]);
    await waitFor('unreachable reports', () => a.collector.unreachable.includes('b') && a.collector.unreachable.includes('nobody'));
    assert.ok(a.transport.stats().droppedMessages >= 2);
  } finally {
    await a.transport.close();
  }
});

test('a restarted peer is reconnected within one backoff step and can rebind its port at once', async () => {
  const a = await startNode('a', { backoff: { initialMs: 20, maxMs: 100 } });
  let b = await startNode('b');
  try {
    mesh([a, b]);
    await connected([a, b]);
    const port = b.transport.port;
    await b.transport.close();
    await waitFor('the link to go down', () => a.transport.connectedPeers().length === 0);
    const downAt = Date.now();
    b = await startNode('b', { listen: { host: '127.0.0.1', port } });
    b.transport.addPeer('a', `ws://127.0.0.1:${a.transport.port}`);
    await waitFor('reconnection', () => a.transport.connectedPeers().length === 1, 2000);
    assert.ok(Date.now() - downAt < 1000);
    a.transport.send('b', [{ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 2, commit: 1, context: 0 }]);
    await waitFor('delivery after restart', () => b.collector.messages.length === 1);
    assert.ok(a.transport.stats().reconnects >= 1);
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});

test('a second process cannot bind a port in use', async () => {
  const a = await startNode('a');
  try {
    await assert.rejects(startNode('x', { listen: { host: '127.0.0.1', port: a.transport.port } }), /cannot listen/);
  } finally {
    await a.transport.close();
  }
});

test('heartbeats queued in one turn coalesce into the newest', async () => {
  const a = await startNode('a');
  const b = await startNode('b');
  try {
    mesh([a, b]);
    await connected([a, b]);
    const hb = (context: number): Message => ({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 1, commit: context, context });
    a.transport.send('b', [hb(1), { type: MessageType.TimeoutNow, from: 'a', to: 'b', term: 1 }, hb(2)]);
    a.transport.send('b', [hb(3)]);
    await waitFor('delivery', () => b.collector.messages.length === 2);
    assert.deepStrictEqual(b.collector.messages.map((m) => m.type), [MessageType.Heartbeat, MessageType.TimeoutNow]);
    assert.equal((b.collector.messages[0] as { context: number }).context, 3);
    assert.equal(a.transport.stats().coalescedHeartbeats, 2);
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});

test('removePeer closes the connection, refuses the peer and drops what is sent to it', async () => {
  const a = await startNode('a');
  const b = await startNode('b');
  try {
    mesh([a, b]);
    await connected([a, b]);
    assert.equal(a.transport.addressOf('b'), `ws://127.0.0.1:${b.transport.port}`);
    b.transport.removePeer('a');
    await waitFor('the link to go down', () => a.transport.connectedPeers().length === 0 && b.transport.connectedPeers().length === 0);
    await waitFor('a redial to be refused', () => (b.transport.stats().refusedHandshakes['unknown-node'] ?? 0) > 0);
    b.transport.send('a', [{ type: MessageType.TimeoutNow, from: 'b', to: 'a', term: 1 }]);
    await waitFor('an unreachable report', () => b.collector.unreachable.includes('a'));
    assert.equal(b.transport.addressOf('a'), undefined);
    assert.equal(b.transport.stats().openConnections, 0);
  } finally {
    await Promise.all([a.transport.close(), b.transport.close()]);
  }
});

test('reconnect delays grow exponentially from initialMs, are capped at maxMs and jittered within a step', () => {
  const steps = [10, 20, 40, 80, 100, 100, 100];
  for (let attempt = 0; attempt < steps.length; attempt++) {
    const step = steps[attempt]!;
    assert.equal(backoffDelay(attempt, 10, 100, () => 0), step / 2);
    assert.equal(backoffDelay(attempt, 10, 100, () => 0.999999) <= step, true);
    assert.ok(backoffDelay(attempt, 10, 100, () => 0.999999) > step * 0.99);
  }
  assert.equal(backoffDelay(1000, 10, 100, () => 0.5), 75);
});

test('a dialer keeps retrying an unreachable peer at the capped rate', async () => {
  const a = await startNode('a', { backoff: { initialMs: 5, maxMs: 20 } });
  try {
    a.transport.addPeer('b', 'ws://127.0.0.1:1');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const failures = a.transport.stats().connectFailures;
    // delays are 2.5..20 ms: at most ~500 / 10 + a few, at least a handful even on a loaded machine
    assert.ok(failures >= 5 && failures <= 80, `${failures} attempts in 500 ms`);
  } finally {
    await a.transport.close();
  }
});
