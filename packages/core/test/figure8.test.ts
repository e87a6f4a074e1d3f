import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from '../src/index.js';
import { Network, run } from './support/network.js';

// Figure 8 of the Raft paper: a leader must not commit an entry of an earlier term by counting
// replicas, because a later leader may still overwrite it. It commits it only indirectly, once an
// entry of its own term is stored on a majority.
test('a leader does not commit an earlier-term entry by counting replicas', () => {
  const net = new Network(['s1', 's2', 's3', 's4', 's5'], { preVote: false });
  // s1 holds an entry of term 2 that only s2 also has.
  const base = run(1, 1, 1);
  net.node('s1').preload([...base, ...run(2, 1, 2)], { term: 3, vote: '', commit: 1 });
  net.node('s2').preload([...base, ...run(2, 1, 2)], { term: 3, vote: '', commit: 1 });
  for (const id of ['s3', 's4', 's5']) net.node(id).preload(base, { term: 3, vote: '', commit: 1 });
  // s1 becomes leader of term 4; acknowledgements of its own no-op (index 3) are withheld.
  net.filter = (m) => !(m.type === MessageType.AppendResponse && !m.reject && m.index >= 3);
  net.elect('s1');
  const s1 = net.raft('s1');
  assert.equal(s1.role, 'leader');
  assert.equal(s1.term, 4);
  // A majority (s1, s2, s3) now stores index 2 (term 2): still it must not be committed.
  s1.step({ type: MessageType.AppendResponse, from: 's3', to: 's1', term: 4, index: 2, reject: false, hintIndex: 0, hintTerm: 0 });
  s1.step({ type: MessageType.AppendResponse, from: 's2', to: 's1', term: 4, index: 2, reject: false, hintIndex: 0, hintTerm: 0 });
  net.node('s1').process();
  assert.equal(s1.log.committed, 1, 'the term-2 entry is not committed by counting');
  // Once the term-4 no-op is on a majority, both commit together.
  s1.step({ type: MessageType.AppendResponse, from: 's2', to: 's1', term: 4, index: 3, reject: false, hintIndex: 0, hintTerm: 0 });
  s1.step({ type: MessageType.AppendResponse, from: 's3', to: 's1', term: 4, index: 3, reject: false, hintIndex: 0, hintTerm: 0 });
  net.node('s1').process();
  assert.equal(s1.log.committed, 3);
});

test('the Figure 8 history: an uncommitted entry replicated by an old leader may be overwritten', () => {
  const net = new Network(['s1', 's2', 's3', 's4', 's5'], { preVote: false });
  const base = run(1, 1, 1);
  // (c) s1 (term 4) has replicated its term-2 entry to s2 and s3, but nothing of term 4 yet.
  net.node('s1').preload([...base, ...run(2, 1, 2), ...run(3, 1, 4)], { term: 4, vote: '', commit: 1 });
  net.node('s2').preload([...base, ...run(2, 1, 2)], { term: 4, vote: '', commit: 1 });
  net.node('s3').preload([...base, ...run(2, 1, 2)], { term: 4, vote: '', commit: 1 });
  // (d) s5 got a term-3 entry from a leader of term 3; it can win with s2, s3, s4's votes.
  net.node('s5').preload([...base, ...run(2, 1, 3)], { term: 4, vote: '', commit: 1 });
  net.node('s4').preload(base, { term: 4, vote: '', commit: 1 });
  net.isolate('s1');
  net.elect('s5');
  assert.equal(net.raft('s5').role, 'leader');
  net.propose('s5', 'x');
  net.tickAll(2);
  // The term-2 entry at index 2 was overwritten everywhere s5 reached: it was never committed.
  for (const id of ['s2', 's3', 's4', 's5']) assert.equal(net.raft(id).log.term(2), 3, `${id} index 2`);
  net.heal();
  net.tickAll(3);
  assert.equal(net.raft('s1').log.term(2), 3, 's1 index 2 overwritten too');
  assert.equal(net.raft('s1').role, 'follower');
});
