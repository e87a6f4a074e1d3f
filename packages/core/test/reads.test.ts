import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from '../src/index.js';
import { Network } from './support/network.js';

test('ReadIndex answers with the commit index after a quorum confirms leadership', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'x');
  net.raft('a').readIndex(1);
  net.deliverAll();
  assert.deepEqual(net.node('a').readStates, [{ requestId: 1, index: net.raft('a').log.committed }]);
});

test('many reads in one turn share a single heartbeat round', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const before = net.delivered.length;
  for (let i = 1; i <= 100; i++) net.raft('a').readIndex(i);
  net.deliverAll();
  const heartbeats = net.delivered.slice(before).filter((m) => m.type === MessageType.Heartbeat);
  assert.equal(heartbeats.length, 2, 'one heartbeat per follower');
  assert.equal(net.node('a').readStates.length, 100);
});

test('ReadIndex never answers without a quorum (an isolated leader cannot serve reads)', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('a');
  net.raft('a').readIndex(1);
  net.deliverAll();
  assert.equal(net.node('a').readStates.length, 0);
  for (let i = 0; i < 25; i++) net.tick('a');
  net.deliverAll();
  assert.deepEqual(net.node('a').readFailures.map((f) => f.reason), ['leadership-lost']);
});

test('ReadIndex after a leader change waits until the new leader commits an entry of its term', () => {
  // Without check-quorum and pre-vote, so b can be elected at once while c still hears from a.
  const net = new Network(['a', 'b', 'c'], { checkQuorum: false, preVote: false });
  net.elect('a');
  net.propose('a', 'x');
  net.isolate('a');
  // b wins but its no-op cannot commit yet: c's acknowledgements are held back.
  net.filter = (m) => !(m.type === MessageType.AppendResponse && m.to === 'b');
  net.elect('b');
  assert.equal(net.raft('b').role, 'leader');
  net.raft('b').readIndex(7);
  net.deliverAll();
  assert.equal(net.node('b').readStates.length, 0, 'no answer before the no-op commits');
  net.filter = undefined;
  net.tickAll(2);
  const state = net.node('b').readStates[0];
  assert.ok(state);
  assert.equal(state.requestId, 7);
  assert.ok(state.index >= 3, `read index ${state.index} covers the new term's no-op`);
});

test('a follower forwards ReadIndex to the leader and gets its commit index', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'x');
  net.raft('b').readIndex(3);
  net.deliverAll();
  assert.deepEqual(net.node('b').readStates, [{ requestId: 3, index: net.raft('a').log.committed }]);
});

test('lease reads answer without a round trip while the lease holds, and not after it expires', () => {
  const net = new Network(['a', 'b', 'c'], { leaseRead: true, electionTicks: 10, leaseDriftTicks: 1 });
  net.elect('a');
  net.tickAll(1); // a heartbeat round acknowledged by both followers starts the lease
  net.isolate('a');
  net.raft('a').readIndex(1, true);
  net.node('a').process();
  assert.equal(net.node('a').readStates.length, 1, 'served from the lease');
  for (let i = 0; i < 9; i++) net.tick('a');
  net.raft('a').readIndex(2, true);
  net.node('a').process();
  assert.equal(net.node('a').readStates.length, 1, 'lease expired: no answer without a quorum');
});
