import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from '../src/index.js';
import { Network, appliedTexts } from './support/network.js';

test('a partitioned old leader cannot commit; the majority elects a new one; after healing it follows', () => {
  const net = new Network(['a', 'b', 'c', 'd', 'e']);
  net.elect('a');
  net.propose('a', 'before');
  net.tickAll(1);
  net.isolate('a');
  const stale = net.raft('a').propose([new TextEncoder().encode('lost')]);
  for (let i = 0; i < 40 && !['b', 'c', 'd', 'e'].some((id) => net.raft(id).role === 'leader'); i++) {
    for (const id of ['b', 'c', 'd', 'e']) net.tick(id);
    net.deliverAll();
  }
  const newLeader = ['b', 'c', 'd', 'e'].find((id) => net.raft(id).role === 'leader');
  assert.ok(newLeader, 'the majority side elected a leader');
  assert.ok(net.raft('a').log.committed < stale.index, 'the isolated leader did not commit its proposal');
  net.propose(newLeader, 'after');
  net.heal();
  net.tickAll(5);
  assert.equal(net.raft('a').role, 'follower');
  assert.equal(net.raft('a').leader, newLeader);
  assert.deepEqual(appliedTexts(net.node('a')), ['before', 'after']);
});

test('check-quorum: a leader that hears from no majority within an election timeout steps down', () => {
  const net = new Network(['a', 'b', 'c'], { electionTicks: 10 });
  net.elect('a');
  net.isolate('a');
  for (let i = 0; i < 25; i++) net.tick('a');
  net.deliverAll();
  assert.equal(net.raft('a').role, 'follower');
});

test('without check-quorum an isolated leader would keep leading (the test can tell the difference)', () => {
  const net = new Network(['a', 'b', 'c'], { electionTicks: 10, checkQuorum: false });
  net.elect('a');
  net.isolate('a');
  for (let i = 0; i < 25; i++) net.tick('a');
  net.deliverAll();
  assert.equal(net.raft('a').role, 'leader');
});

test('pre-vote: a node rejoining after a partition does not bump the term of a healthy cluster', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 100; i++) {
    net.tick('c');
    net.tick('a');
    net.tick('b');
    net.deliverAll();
  }
  assert.equal(net.raft('c').term, 1, 'pre-vote kept the isolated node at term 1');
  net.heal();
  net.tickAll(5);
  assert.equal(net.raft('a').role, 'leader');
  assert.equal(net.raft('a').term, 1);
  assert.equal(net.raft('c').leader, 'a');
});

test('without pre-vote the same rejoin disrupts the cluster (contrast)', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 100; i++) {
    net.tick('c');
    net.deliverAll();
  }
  assert.ok(net.raft('c').term > 1);
  net.heal();
  net.tickAll(40);
  assert.ok(net.raft('a').term > 1, 'the healthy leader was forced into a new term');
});

test('check-quorum followers ignore vote requests while they hear from a leader', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  net.elect('a');
  const b = net.raft('b');
  b.step({ type: MessageType.Vote, from: 'c', to: 'b', term: 5, lastLogIndex: 99, lastLogTerm: 9, transfer: false });
  assert.equal(b.term, 1);
  assert.equal(b.leader, 'a');
});
