import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType, TransferInProgressError } from '../src/index.js';
import { Network, appliedTexts } from './support/network.js';

test('transfer to a lagging follower catches it up first, then hands over with TimeoutNow', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 20; i++) net.propose('a', `x${i}`);
  net.heal();
  const order: string[] = [];
  net.filter = (m) => {
    if (m.to === 'c' && m.type === MessageType.Append && m.entries.length > 0) order.push('append');
    if (m.type === MessageType.TimeoutNow) order.push('timeout-now');
    return true;
  };
  net.raft('a').transferLeadership('c');
  net.tickAll(3);
  assert.equal(net.raft('c').role, 'leader');
  assert.equal(net.raft('a').role, 'follower');
  assert.ok(order.indexOf('timeout-now') > order.indexOf('append'), 'caught up before TimeoutNow');
  assert.equal(appliedTexts(net.node('c')).length >= 20, true);
});

test('a leader being transferred away refuses proposals', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c'); // the transfer cannot finish
  net.raft('a').transferLeadership('c');
  assert.throws(() => net.raft('a').propose([new Uint8Array(1)]), TransferInProgressError);
});

test('a transfer that cannot finish within an election timeout is abandoned', () => {
  const net = new Network(['a', 'b', 'c'], { electionTicks: 10 });
  net.elect('a');
  net.cutLink('a', 'c');
  net.raft('a').transferLeadership('c');
  net.tickAll(12);
  assert.equal(net.raft('a').role, 'leader');
  assert.doesNotThrow(() => net.raft('a').propose([new Uint8Array(1)]));
});
