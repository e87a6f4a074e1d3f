import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tuneAllocator } from '@flotilla/storage';

test('tuneAllocator checks its options', () => {
  assert.throws(() => tuneAllocator(null as unknown as object), TypeError);
  assert.throws(() => tuneAllocator({ mmapThresholdBytes: 64 * 1024 * 1024 }), RangeError); // above glibc's 32 MiB
  assert.throws(() => tuneAllocator({ trimThresholdBytes: -1 }), RangeError);
  assert.throws(() => tuneAllocator({ topPadBytes: 1.5 }), RangeError);
});

// Process-wide, but harmless to the other tests of this file. Its effect (no page faults for
// megabyte frames) depends on when V8 frees buffers, so the benchmarks measure it, not this test.
test('tuneAllocator applies glibc malloc parameters and says what it set', { skip: process.platform !== 'linux' && 'glibc only' }, () => {
  assert.deepEqual(tuneAllocator({ mmapThresholdBytes: 8 * 1024 * 1024 }), { applied: true, mmapThresholdBytes: 8 * 1024 * 1024, trimThresholdBytes: 64 * 1024 * 1024, topPadBytes: 16 * 1024 * 1024 });
  assert.equal(tuneAllocator().mmapThresholdBytes, 4 * 1024 * 1024);
});
