import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstRequestId } from '../src/runtime/request-ids.js';

test('request ids of different starts do not overlap, and stay exact as numbers', () => {
  // Each start counts from its first id in the low 32 bits; a start's ids collide with another's
  // only if both drew the same tag.
  const seeded = new Set<number>();
  for (let seed = 0; seed < 2000; seed++) seeded.add(Math.floor(firstRequestId(seed) / 2 ** 32));
  assert.ok(seeded.size > 1980, `2000 seeds drew ${seeded.size} distinct tags`);
  assert.equal(firstRequestId(42), firstRequestId(42), 'seeded starts are reproducible');
  const unseeded = new Set<number>();
  for (let i = 0; i < 2000; i++) unseeded.add(Math.floor(firstRequestId(undefined) / 2 ** 32));
  assert.ok(unseeded.size > 1980, `2000 unseeded starts drew ${unseeded.size} distinct tags`);
  for (const id of [firstRequestId(1), firstRequestId(undefined)]) {
    assert.ok(id > 2 ** 32 && id + 2 ** 32 < 2 ** 53, `${id} leaves 2^32 ids below 2^53`);
    assert.equal(id % 2 ** 32, 1, 'the count starts at 1');
  }
});
