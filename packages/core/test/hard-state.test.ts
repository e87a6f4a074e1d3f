import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from '../src/index.js';
import { Network, appliedTexts } from './support/network.js';

// The commit index is part of the hard state so that a restart replays what was known committed.
test('every node hands its advancing commit index to storage, and a restart alone replays up to it', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'x', 'y');
  net.tickAll(2); // heartbeats carry the leader's commit to the followers
  for (const id of ['a', 'b', 'c']) {
    const node = net.node(id);
    assert.equal(node.hardState.commit, node.raft.log.committed, `${id}: stored commit`);
    assert.equal(node.hardState.commit, 3, `${id}: the no-op and both proposals`);
  }
  const b = net.node('b');
  const term = b.hardState.term;
  net.isolate('b');
  b.restart();
  b.process();
  assert.deepEqual(appliedTexts(b), ['x', 'y'], 'applied from its own log, with nobody to ask');
  assert.equal(b.raft.term, term);
});

test('a Ready whose hard state moves only the commit index holds no message back', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  net.elect('a');
  const a = net.raft('a');
  a.propose([new TextEncoder().encode('x')]);
  let rd = a.ready();
  net.node('a').disk.append(rd.entries);
  a.persisted(rd.entries[rd.entries.length - 1]!.index, rd.entries[rd.entries.length - 1]!.term);
  const appends: Message[] = [...rd.messages, ...rd.messagesAfterPersist];
  for (const m of appends) net.deliver(m);
  for (const id of ['b', 'c']) for (const m of net.node(id).process()) net.deliver(m);
  a.propose([new TextEncoder().encode('y')]);
  rd = a.ready();
  assert.ok(rd.hardState, 'the commit moved');
  assert.equal(rd.hardState.term, net.node('a').hardState.term);
  assert.equal(rd.hardState.vote, net.node('a').hardState.vote);
  assert.equal(rd.hardState.commit, 2);
  assert.ok(rd.messages.length > 0, 'the appends of y go out at once');
  assert.equal(rd.messagesAfterPersist.length, 0);
  // A term change still holds back what speaks for it.
  net.node('a').hardState = rd.hardState;
  const c = net.raft('c');
  c.campaign();
  const crd = c.ready();
  assert.ok(crd.hardState && crd.hardState.term > rd.hardState.term);
  assert.equal(crd.messages.length, 0);
  assert.ok(crd.messagesAfterPersist.length > 0);
});
