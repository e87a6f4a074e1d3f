import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network, appliedTexts } from './support/network.js';

test('a node that times out is elected by a majority and commits a no-op of its term', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  assert.equal(net.raft('a').role, 'leader');
  assert.equal(net.raft('a').term, 1);
  for (const id of ['b', 'c']) {
    assert.equal(net.raft(id).role, 'follower');
    assert.equal(net.raft(id).leader, 'a');
  }
  assert.equal(net.raft('a').log.committed, 1);
});

test('proposals replicate to every node and apply in order', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'x', 'y');
  net.propose('a', 'z');
  net.tickAll(1); // a heartbeat carries the final commit index
  for (const id of ['a', 'b', 'c']) assert.deepEqual(appliedTexts(net.node(id)), ['x', 'y', 'z']);
});

test('election timeouts start an election without outside help', () => {
  const net = new Network(['a', 'b', 'c']);
  net.tickAll(25);
  const leader = net.leader();
  assert.ok(leader, 'a leader was elected');
  assert.equal([...net.nodes.values()].filter((n) => n.raft.role === 'leader').length, 1);
});
