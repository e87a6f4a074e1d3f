import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBuffers } from '../src/record-buffers.js';
import { FileStorage } from '../src/index.js';
import { range, tempDir } from './helpers.js';

describe('RecordBuffers', () => {
  it('reuses a buffer only once the append that took it is done', () => {
    const pool = new RecordBuffers();
    const a = pool.take(1000);
    assert.equal(a.byteLength, 1000);
    pool.lend(1, a);
    const b = pool.take(1000);
    assert.notEqual(b.buffer, a.buffer, 'lent out: not reused');
    pool.lend(2, b);
    pool.returned(1);
    const c = pool.take(2000);
    assert.equal(c.buffer, a.buffer, 'returned: reused');
    assert.equal(c.byteLength, 2000);
    const d = pool.take(500);
    assert.notEqual(d.buffer, b.buffer, 'append 2 is not done yet');
  });

  it('keeps at most maxFreeBytes, and never buffers above maxPooledBytes', () => {
    const pool = new RecordBuffers(128 * 1024, 256 * 1024);
    const big = pool.take(300 * 1024);
    const small = [pool.take(10), pool.take(10), pool.take(10)];
    pool.lend(1, big);
    small.forEach((b, i) => pool.lend(2 + i, b));
    pool.returned(10);
    // 64 KiB each: two fit in 128 KiB, the third and the big one are dropped.
    const again = [pool.take(10), pool.take(10), pool.take(10)];
    const reused = again.filter((b) => small.some((s) => s.buffer === b.buffer)).length;
    assert.equal(reused, 2);
    assert.ok(!again.some((b) => b.buffer === big.buffer));
  });

  it('a buffer given back without being lent is reused at once', () => {
    const pool = new RecordBuffers();
    const a = pool.take(100);
    pool.giveBack(a);
    assert.equal(pool.take(100).buffer, a.buffer);
  });
});

describe('FileStorage with reused record buffers', () => {
  it('many appends in flight, batches of different sizes: every byte reads back after a reopen', async () => {
    const t = tempDir();
    try {
      const s = await FileStorage.open(t.dir, { segmentBytes: 1024 * 1024 });
      let next = 1;
      const writes: Promise<void>[] = [];
      for (let round = 0; round < 200; round++) {
        const size = 1 + ((round * 7) % 50); // entries per write
        const entries = range(next, next + size - 1, 1, 50 + (round % 5) * 40);
        next += size;
        // Each write in its own turn: one native append each, up to 20 of them in flight.
        writes.push(s.write(undefined, entries));
        await new Promise((resolve) => setImmediate(resolve));
        if (writes.length === 20) await writes.shift();
      }
      await Promise.all(writes);
      await s.close();
      const r = await FileStorage.open(t.dir, { segmentBytes: 1024 * 1024 });
      try {
        assert.equal(r.lastIndex(), next - 1);
        let index = 1;
        for (let round = 0; round < 200; round++) {
          const size = 1 + ((round * 7) % 50);
          const expected = range(index, index + size - 1, 1, 50 + (round % 5) * 40);
          const got = r.entries(index, index + size, Infinity);
          assert.deepStrictEqual(got.map((e) => Buffer.from(e.data)), expected.map((e) => Buffer.from(e.data)), `write ${round}`);
          index += size;
        }
      } finally {
        await r.close();
      }
    } finally {
      t.cleanup();
    }
  });
});
