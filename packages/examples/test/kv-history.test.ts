import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand, KvStateMachine, Op } from '@flotilla/examples';

/**
 * The digest history is bounded by dropping its oldest entries. Dropping one per apply from a Map
 * with `history.delete(history.keys().next().value)` made every apply walk over all the entries deleted
 * since V8 last rehashed the Map (tens of µs per apply once 100k digests were kept, on every node):
 * the KV benchmark's throughput fell the longer it ran. Counted here, not timed: no apply may open
 * an iterator on a Map per eviction (the history is now a ring and opens none).
 */
test('a full digest history drops its oldest digests without iterating a Map on every apply', () => {
  const kv = new KvStateMachine();
  const data = encodeCommand({ op: Op.Put, key: 'k', value: Buffer.from('v') });
  let index = 0;
  const batch = (n: number) => Array.from({ length: n }, () => ({ index: ++index, term: 1, data }));
  // Fill the history (100k digests) and go past it.
  for (let i = 0; i < 110; i++) kv.apply(batch(1000));
  assert.equal(kv.digestAt(1), undefined, 'the oldest digests are dropped');
  assert.match(kv.digestAt(index - 99_999)!, /^[0-9a-f]{64}$/, 'the last 100k digests are kept');

  const keys = Map.prototype.keys;
  let iterators = 0;
  Map.prototype.keys = function (this: Map<unknown, unknown>) {
    iterators++;
    return keys.call(this);
  };
  try {
    for (let i = 0; i < 2000; i++) kv.apply(batch(1));
  } finally {
    Map.prototype.keys = keys;
  }
  assert.ok(iterators <= 2, `2000 applies opened ${iterators} iterators on a Map`);
  assert.equal(kv.appliedIndex, index);
  assert.equal(kv.digestAt(index), kv.digest().digest);
  assert.match(kv.digestAt(index - 99_999)!, /^[0-9a-f]{64}$/);
});
