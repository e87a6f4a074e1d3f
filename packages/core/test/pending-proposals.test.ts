import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingProposals } from '../src/runtime/pending-proposals.js';

const run = (name: string, count = 1) => ({ name, count });

test('pending proposals: found by first index, removed from either end or the middle, oldest first', () => {
  const pending = new PendingProposals<{ name: string; count: number }>();
  assert.deepEqual(pending.add(3, run('a')), []);
  assert.deepEqual(pending.add(4, run('b', 3)), []);
  assert.deepEqual(pending.add(9, run('c')), []);
  assert.deepEqual(pending.add(10, run('d')), []);
  assert.equal(pending.size, 4);
  assert.equal(pending.get(4)?.name, 'b');
  assert.equal(pending.get(5), undefined, 'only first indices are keys');
  assert.equal(pending.get(11), undefined);
  assert.equal(pending.delete(9), true, 'a hole in the middle');
  assert.equal(pending.delete(9), false);
  assert.equal(pending.get(9), undefined);
  assert.deepEqual([...pending.values()].map((p) => p.name), ['a', 'b', 'd']);
  assert.equal(pending.delete(3), true);
  assert.equal(pending.delete(10), true);
  assert.deepEqual([...pending.values()].map((p) => p.name), ['b']);
  assert.equal(pending.delete(4), true);
  assert.equal(pending.size, 0);
  assert.deepEqual([...pending.values()], []);
  assert.deepEqual(pending.add(20, run('e')), []);
  assert.equal(pending.get(20)?.name, 'e');
});

test('pending proposals: appending at an index already covered returns the proposals cut from the log', () => {
  const pending = new PendingProposals<{ name: string; count: number }>();
  pending.add(10, run('a', 2)); // 10..11
  pending.add(12, run('b')); // 12
  pending.add(13, run('c', 5)); // 13..17
  pending.add(18, run('d')); // 18
  pending.delete(18);
  // The log was cut after 12 and this node appends at 13 again: c is gone (d already was).
  assert.deepEqual(pending.add(13, run('e')).map((p) => p.name), ['c']);
  assert.equal(pending.get(13)?.name, 'e');
  // Cut inside a batch: the batch is gone too, and everything after it.
  assert.deepEqual(pending.add(11, run('f')).map((p) => p.name), ['a', 'b', 'e']);
  assert.deepEqual([...pending.values()].map((p) => p.name), ['f']);
  assert.equal(pending.size, 1);
  assert.throws(() => pending.add(0, run('bad')), /bad pending proposal/);
});

test('pending proposals: a long run settled from the front keeps its memory bounded and every lookup right', () => {
  const pending = new PendingProposals<{ name: string; count: number }>();
  let next = 1;
  let oldest = 1;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 300; i++) pending.add(next, run(String(next++)));
    // A timeout in the middle now and then, the rest settled in order.
    pending.delete(oldest + 150);
    for (let i = 0; i < 280; i++, oldest++) pending.delete(oldest);
    assert.equal(pending.get(oldest)?.name, String(oldest));
    assert.equal(pending.get(next - 1)?.name, String(next - 1));
  }
  const left = [...pending.values()].map((p) => Number(p.name));
  assert.equal(left.length, pending.size);
  assert.ok(left.every((v, i) => i === 0 || v > left[i - 1]!));
  assert.ok((pending as unknown as { items: unknown[] }).items.length < 4096, 'the dead prefix was reclaimed');
});

test('firstsWithin lists the pending proposals that start within a range, skipping removed ones', () => {
  const q = new PendingProposals<{ count: number }>();
  for (const first of [10, 11, 13, 20, 21]) q.add(first, { count: first === 11 ? 2 : 1 });
  q.delete(20);
  assert.deepStrictEqual(q.firstsWithin(0, 100), [10, 11, 13, 21]);
  assert.deepStrictEqual(q.firstsWithin(12, 20), [13]);
  assert.deepStrictEqual(q.firstsWithin(14, 19), []);
  q.delete(10);
  assert.deepStrictEqual(q.firstsWithin(10, 11), [11]);
});
