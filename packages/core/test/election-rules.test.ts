import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from '../src/index.js';
import { Network, run } from './support/network.js';

// §5.2: each server votes for at most one candidate per term, first come first served.
test('a node grants at most one vote per term', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  net.isolate('c');
  net.elect('a'); // b votes for a in term 1
  assert.equal(net.raft('b').vote, 'a');
  const b = net.raft('b');
  b.step({ type: MessageType.Vote, from: 'c', to: 'b', term: 1, lastLogIndex: 100, lastLogTerm: 1, transfer: false });
  const responses = net.node('b').process().filter((m) => m.type === MessageType.VoteResponse);
  assert.equal(responses.length, 1);
  assert.equal(responses[0]!.type === MessageType.VoteResponse && responses[0]!.reject, true);
  assert.equal(b.vote, 'a');
});

// §5.4.1: a candidate whose log is less up-to-date than a majority's cannot win.
test('a candidate with a stale log loses the election', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  net.node('b').preload(run(1, 3, 2), { term: 2, vote: '', commit: 0 });
  net.node('c').preload(run(1, 3, 2), { term: 2, vote: '', commit: 0 });
  net.node('a').preload(run(1, 1, 1), { term: 2, vote: '', commit: 0 });
  net.elect('a');
  assert.notEqual(net.raft('a').role, 'leader');
  net.elect('b');
  assert.equal(net.raft('b').role, 'leader');
});

test('a longer log of an older last term is less up-to-date than a shorter one of a newer term', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  net.node('a').preload(run(1, 10, 1), { term: 3, vote: '', commit: 0 });
  net.node('b').preload([...run(1, 2, 1), ...run(3, 1, 3)], { term: 3, vote: '', commit: 0 });
  net.node('c').preload([...run(1, 2, 1), ...run(3, 1, 3)], { term: 3, vote: '', commit: 0 });
  net.elect('a');
  assert.notEqual(net.raft('a').role, 'leader');
});

test('split votes resolve through randomized election timeouts', () => {
  for (let seed = 0; seed < 20; seed++) {
    const net = new Network(['a', 'b', 'c', 'd', 'e'], { seed });
    net.tickAll(60);
    const leaders = [...net.nodes.values()].filter((n) => n.raft.role === 'leader');
    assert.equal(leaders.length, 1, `seed ${seed}: exactly one leader`);
  }
});

test('terms never go backwards and a node steps down on seeing a higher term', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.raft('a');
  a.step({ type: MessageType.Heartbeat, from: 'b', to: 'a', term: 7, commit: 0, context: 0 });
  assert.equal(a.role, 'follower');
  assert.equal(a.term, 7);
  a.step({ type: MessageType.Heartbeat, from: 'c', to: 'a', term: 3, commit: 0, context: 0 });
  assert.equal(a.term, 7);
});
