import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkListAppend, type ListAnomalyKind, type ListOp } from './checker/index.js';

let nextId = 0;
type Outcome = 'ok' | 'fail' | 'unknown';
const append = (call: number, ret: number, value: string, outcome: Outcome = 'ok', key = 'k'): ListOp => ({ id: nextId++, process: 0, key, call, ret, outcome, f: 'append', value });
const read = (call: number, ret: number, list: string[] | undefined, outcome: Outcome = 'ok', key = 'k'): ListOp => ({ id: nextId++, process: 1, key, call, ret, outcome, f: 'read', ...(list ? { list } : {}) });
const kinds = (ops: ListOp[], final: string[] | undefined, key = 'k'): ListAnomalyKind[] => {
  const result = checkListAppend(ops, final ? new Map([[key, final]]) : new Map());
  assert.equal(result.valid, result.anomalies.length === 0);
  return [...new Set(result.anomalies.map((a) => a.kind))].sort();
};

test('a valid history: reads are growing prefixes, the final read holds every acknowledged append once', () => {
  const ops = [append(0, 1, 'a'), read(2, 3, ['a']), append(4, 10, 'b'), read(5, 6, ['a']), read(7, 8, ['a', 'b']), append(11, 12, 'c'), read(13, 14, ['a', 'b', 'c'])];
  assert.deepEqual(kinds(ops, ['a', 'b', 'c']), []);
  const result = checkListAppend(ops, new Map([['k', ['a', 'b', 'c']]]));
  assert.equal(result.acknowledgedAppends, 3);
  assert.equal(result.keys, 1);
});

test('appends with unknown outcomes may or may not appear; failed ones must not', () => {
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 3, 'x', 'unknown'), read(4, 5, ['a'])], ['a']), []);
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 3, 'x', 'unknown'), read(4, 5, ['a', 'x'])], ['a', 'x']), []);
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 3, 'x', 'fail'), read(4, 5, ['a', 'x'])], ['a', 'x']), ['failed-append-visible']);
  // Failed and unknown reads carry nothing.
  assert.deepEqual(kinds([append(0, 1, 'a'), read(2, 3, undefined, 'unknown'), read(2, 3, undefined, 'fail')], ['a']), []);
});

test('a lost append: acknowledged, then missing from the final read (and from reads after it)', () => {
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 3, 'b')], ['a']), ['lost']);
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 3, 'b'), read(4, 5, ['a'])], ['a']), ['lost', 'stale-read']);
  const result = checkListAppend([append(0, 1, 'a'), append(2, 3, 'b'), read(4, 5, ['a'])], new Map([['k', ['a']]]));
  assert.equal(result.anomalies[0]!.kind, 'lost', 'the root cause is reported first');
});

test('a duplicated value, a phantom value, a value seen before its append began', () => {
  assert.deepEqual(kinds([append(0, 1, 'a'), read(2, 3, ['a', 'a'])], ['a', 'a']), ['duplicate']);
  assert.deepEqual(kinds([append(0, 1, 'a'), read(2, 3, ['a'])], ['a', 'a']), ['duplicate']);
  assert.deepEqual(kinds([append(0, 1, 'a'), read(2, 3, ['a', 'zz'])], ['a', 'zz']), ['phantom']);
  assert.deepEqual(kinds([read(0, 1, ['a']), append(2, 3, 'a')], ['a']), ['from-the-future']);
});

test('reads that diverge, or go back in time', () => {
  // Neither is a prefix of the other.
  assert.deepEqual(kinds([append(0, 10, 'a'), append(0, 10, 'b'), read(11, 12, ['a', 'b']), read(13, 14, ['b', 'a'])], undefined), ['divergent', 'non-monotonic']);
  // Concurrent reads may see different prefixes; a read that starts after another ended may not see less.
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 20, 'b'), read(3, 10, ['a', 'b']), read(4, 11, ['a'])], ['a', 'b']), []);
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 20, 'b'), read(3, 5, ['a', 'b']), read(6, 11, ['a'])], ['a', 'b']), ['non-monotonic']);
});

test('appends in real-time order appear in that order', () => {
  assert.deepEqual(kinds([append(0, 1, 'a'), append(2, 3, 'b')], ['b', 'a']), ['order']);
  // Concurrent appends may land in either order.
  assert.deepEqual(kinds([append(0, 3, 'a'), append(1, 2, 'b')], ['b', 'a']), []);
});

test('keys are independent, and a key read only at the end is checked too', () => {
  const ops = [append(0, 1, 'a', 'ok', 'x'), append(0, 1, 'b', 'ok', 'y')];
  const result = checkListAppend(ops, new Map([['x', ['a']], ['y', []], ['z', []]]));
  assert.equal(result.valid, false);
  assert.deepEqual(result.anomalies.map((a) => [a.kind, a.key]), [['lost', 'y']]);
  assert.equal(result.keys, 3);
  assert.throws(() => checkListAppend([append(0, 1, 'a'), append(2, 3, 'a')], new Map()), /twice/);
});

test('the number of anomalies reported is bounded, the counts are not', () => {
  const ops: ListOp[] = [];
  for (let i = 0; i < 50; i++) ops.push(append(i, i + 0.5, `v${i}`));
  const result = checkListAppend(ops, new Map([['k', []]]), 5);
  assert.equal(result.counts['lost'], 50);
  assert.equal(result.anomalies.length, 5);
});
