import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from '../src/index.js';
import { Network, SeededRandom, appliedTexts, run } from './support/network.js';

// §5.3: the leader forces followers' logs to duplicate its own; conflicting entries are overwritten.
test('a follower with conflicting uncommitted entries is overwritten by the leader', () => {
  const net = new Network(['a', 'b', 'c']);
  net.node('a').preload(run(1, 3, 1), { term: 2, vote: '', commit: 0 });
  net.node('b').preload(run(1, 3, 1), { term: 2, vote: '', commit: 0 });
  net.node('c').preload([...run(1, 1, 1), ...run(2, 5, 2)], { term: 2, vote: '', commit: 0 });
  // c has the newest last term, so it must lead; to test overwrite, let a lead with b's vote only.
  net.cutLink('a', 'c');
  net.elect('a');
  assert.equal(net.raft('a').role, 'leader');
  net.heal();
  net.propose('a', 'p');
  net.tickAll(2);
  const a = net.raft('a');
  const c = net.raft('c');
  assert.equal(c.log.lastIndex(), a.log.lastIndex());
  for (let i = 1; i <= a.log.lastIndex(); i++) assert.equal(c.log.term(i), a.log.term(i), `entry ${i}`);
  assert.deepEqual(appliedTexts(net.node('c')).slice(-1), ['p']);
});

// Conflict hints: a follower far behind on a divergent branch is repaired in O(terms) round trips.
test('fast backtracking repairs a long divergent follower in a few round trips', () => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  const common = run(1, 5, 1);
  net.node('a').preload([...common, ...run(6, 100, 3)], { term: 4, vote: '', commit: 5 });
  net.node('b').preload([...common, ...run(6, 100, 3)], { term: 4, vote: '', commit: 5 });
  net.node('c').preload([...common, ...run(6, 200, 2)], { term: 4, vote: '', commit: 5 });
  net.elect('a');
  assert.equal(net.raft('a').role, 'leader');
  const rejections = net.delivered.filter((m) => m.type === MessageType.AppendResponse && m.from === 'c' && m.reject);
  assert.ok(rejections.length <= 2, `expected at most 2 rejections, got ${rejections.length}`);
  assert.equal(net.raft('c').log.lastIndex(), net.raft('a').log.lastIndex());
  assert.equal(net.raft('c').log.term(105), 3);
});

test('a follower missing a long suffix catches up without one round trip per entry', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 300; i++) net.propose('a', `e${i}`);
  net.heal();
  const before = net.delivered.length;
  net.tickAll(3);
  const appendsToC = net.delivered.slice(before).filter((m) => m.type === MessageType.Append && m.to === 'c');
  assert.ok(appendsToC.length < 20, `caught up with ${appendsToC.length} appends`);
  assert.equal(appliedTexts(net.node('c')).length, 300);
});

test('pipelining: the leader sends up to the inflight window without waiting for acks', () => {
  const net = new Network(['a', 'b', 'c'], { maxInflightMessages: 4, maxAppendBytes: 1 });
  net.elect('a');
  // Hold every acknowledgement: the leader must keep at most 4 appends in flight per follower.
  net.filter = (m) => m.type !== MessageType.AppendResponse;
  for (let i = 0; i < 10; i++) net.raft('a').propose([new TextEncoder().encode(`x${i}`)]);
  const sent = net.node('a').process().filter((m) => m.type === MessageType.Append && m.to === 'b');
  assert.equal(sent.length, 4);
  assert.ok(sent.every((m) => m.type === MessageType.Append && m.entries.length === 1));
});

test('the inflight window is also bounded by bytes', () => {
  const net = new Network(['a', 'b', 'c'], { maxInflightMessages: 100, maxInflightBytes: 1000, maxAppendBytes: 400 });
  net.elect('a');
  net.filter = (m) => m.type !== MessageType.AppendResponse;
  for (let i = 0; i < 10; i++) net.raft('a').propose([new Uint8Array(400)]);
  const sent = net.node('a').process().filter((m) => m.type === MessageType.Append && m.to === 'b');
  const bytes = sent.reduce((n, m) => n + (m.type === MessageType.Append ? m.entries.reduce((k, e) => k + e.data.byteLength, 0) : 0), 0);
  assert.ok(bytes <= 1000 + 400, `sent ${bytes} bytes with a 1000-byte window`);
  assert.ok(sent.length < 10);
});

// Regression (simulator seed 1): appends lost while the window was full left the follower stalled
// forever: in replicate state nothing freed the window and heartbeats do not carry entries.
test('a follower whose inflight window filled with lost appends recovers on heartbeats', () => {
  const net = new Network(['a', 'b', 'c'], { maxInflightMessages: 2, maxAppendBytes: 1 });
  net.elect('a');
  net.filter = (m) => !(m.type === MessageType.Append && m.to === 'c');
  for (let i = 0; i < 6; i++) net.propose('a', `x${i}`);
  net.filter = undefined;
  net.tickAll(10);
  assert.deepEqual(appliedTexts(net.node('c')), ['x0', 'x1', 'x2', 'x3', 'x4', 'x5']);
});

test('duplicated and reordered messages change nothing: logs and applied commands agree', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const net = new Network(['a', 'b', 'c', 'd', 'e'], { seed });
    net.chaos = { random: new SeededRandom(seed), duplicateRate: 0.3 };
    net.tickAll(40);
    for (let round = 0; round < 10; round++) {
      const leader = net.leader();
      if (leader) {
        try {
          net.propose(leader, `s${seed}r${round}`);
        } catch {
          // a leader that just stepped down refuses: fine
        }
      }
      net.tickAll(3);
    }
    const reference = appliedTexts(net.node('a'));
    assert.ok(reference.length > 0, `seed ${seed}: something committed`);
    for (const id of ['b', 'c', 'd', 'e']) {
      const other = appliedTexts(net.node(id));
      const n = Math.min(reference.length, other.length);
      assert.deepEqual(other.slice(0, n), reference.slice(0, n), `seed ${seed}: ${id} agrees with a`);
    }
  }
});

test('rpc timeout: a follower that leaves appends unanswered is probed instead of pipelined into', () => {
  const net = new Network(['a', 'b', 'c'], { rpcTimeoutTicks: 3, electionTicks: 20 });
  net.elect('a');
  net.propose('a', 'x');
  // c receives appends but its answers are lost; heartbeats still flow both ways.
  net.filter = (m) => !(m.type === MessageType.AppendResponse && m.from === 'c');
  net.propose('a', 'y');
  const before = net.raft('a').status().progress.find((p) => p.id === 'c')!;
  assert.equal(before.state, 'replicate');
  net.filter = (m) => !(m.from === 'c' || m.to === 'c');
  for (let i = 0; i < 3; i++) net.tick('a');
  net.deliverAll();
  assert.equal(net.raft('a').status().progress.find((p) => p.id === 'c')!.state, 'probe');
  net.filter = undefined;
  net.tickAll(3);
  assert.equal(net.raft('a').status().progress.find((p) => p.id === 'c')!.state, 'replicate');
  assert.deepEqual(appliedTexts(net.node('c')), ['x', 'y']);
});
