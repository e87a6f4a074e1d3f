import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BusyError, MessageType, NotLeaderError } from '../src/index.js';
import { Network } from './support/network.js';

test('proposals beyond maxUncommittedBytes fail with BusyError and append nothing', () => {
  const net = new Network(['a', 'b', 'c'], { maxUncommittedBytes: 1000 });
  net.elect('a');
  net.filter = (m) => m.type !== MessageType.AppendResponse; // nothing commits
  const a = net.raft('a');
  a.propose([new Uint8Array(600)]);
  a.propose([new Uint8Array(300)]);
  const last = a.log.lastIndex();
  assert.throws(() => a.propose([new Uint8Array(200)]), BusyError);
  assert.equal(a.log.lastIndex(), last);
  net.filter = undefined;
  net.tickAll(2);
  assert.doesNotThrow(() => a.propose([new Uint8Array(200)]), 'room again once committed');
});

test('a commit releases the bytes of exactly the proposals it covers', () => {
  // One entry per append message, so that the first proposal can commit while the others cannot.
  const net = new Network(['a', 'b', 'c'], { maxUncommittedBytes: 1000, maxAppendBytes: 300 });
  net.elect('a');
  const a = net.raft('a');
  const first = a.propose([new Uint8Array(300)]).index;
  a.propose([new Uint8Array(300)]);
  a.propose([new Uint8Array(300)]);
  net.filter = (m) => m.type !== MessageType.Append || m.entries.every((e) => e.index <= first);
  net.deliverAll();
  assert.equal(a.log.committed, first);
  assert.doesNotThrow(() => a.propose([new Uint8Array(300)]), '900 bytes uncommitted');
  assert.throws(() => a.propose([new Uint8Array(200)]), BusyError);
  net.filter = undefined;
  net.tickAll(2);
  assert.equal(a.log.committed, a.log.lastIndex());
  assert.doesNotThrow(() => a.propose([new Uint8Array(1000)]), 'all released once everything committed');
});

test('a follower refuses proposals with NotLeaderError carrying the leader id', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  assert.throws(() => net.raft('b').propose([new Uint8Array(1)]), (e: unknown) => e instanceof NotLeaderError && e.leaderId === 'a');
});

test('reads beyond maxPendingReads fail with busy', () => {
  const net = new Network(['a', 'b', 'c'], { maxPendingReads: 3 });
  net.elect('a');
  net.isolate('a');
  for (let i = 1; i <= 5; i++) net.raft('a').readIndex(i);
  net.node('a').process();
  assert.deepEqual(net.node('a').readFailures.map((f) => f.reason), ['busy', 'busy']);
});
