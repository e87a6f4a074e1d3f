import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { chainDigest } from '../src/kv/state-machine.js';

test('the digest chain is sha256(previous ‖ decimal index ‖ command), for small and large commands', () => {
  let expected = Buffer.alloc(32);
  let actual: Buffer = Buffer.alloc(32);
  const sizes = [0, 1, 128, 4000, 5000, 70_000, 3];
  for (let i = 0; i < sizes.length; i++) {
    const data = new Uint8Array(sizes[i]!).map((_, j) => (j * 31 + i) & 0xff);
    const index = [1, 9, 10, 123456789, 2 ** 53 - 1, 42, 7][i]!;
    expected = createHash('sha256').update(expected).update(String(index), 'latin1').update(data).digest();
    actual = chainDigest(actual, index, data);
    assert.equal(actual.toString('hex'), expected.toString('hex'), `entry ${i} (${sizes[i]} bytes at index ${index})`);
  }
  // Each result is its own buffer: the history keeps them.
  const a = chainDigest(Buffer.alloc(32), 1, new Uint8Array([1]));
  const b = chainDigest(Buffer.alloc(32), 2, new Uint8Array([2]));
  assert.notEqual(a.toString('hex'), b.toString('hex'));
  assert.equal(a.toString('hex'), createHash('sha256').update(Buffer.alloc(32)).update('1', 'latin1').update(new Uint8Array([1])).digest('hex'));
});
