import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { native } from '@flotilla/storage';
import { tempDir } from './helpers.js';

const t = tempDir();
after(t.cleanup);

const garbage: unknown[] = [undefined, null, -1, 1.5, 2 ** 60, NaN, 'x', {}, [], Buffer.alloc(3), Buffer.alloc(30), () => 1];

describe('the addon under wrong arguments', () => {
  it('throws (never crashes) for every method and garbage argument', async () => {
    const { wal } = await native.openWal(join(t.dir, 'wal'), { segmentSize: 65536, maxRecordBytes: 60_000 });
    const call = wal as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => wal.append(Buffer.alloc(0), 1, 0, null), /not started/);
    wal.start(() => undefined);
    let threw = 0;
    for (const method of ['append', 'compact', 'reset', 'read', 'injectFault']) {
      for (const a of garbage) {
        for (const b of garbage) {
          try {
            call[method]!(a, b, a, b);
          } catch {
            threw++;
          }
        }
      }
    }
    assert.ok(threw > 500);
    const lying = Buffer.alloc(30);
    lying.writeUInt32LE(0xffffffff, 0);
    assert.throws(() => wal.append(lying, 1, 1, null), RangeError);
    const shortRecord = Buffer.alloc(30);
    shortRecord.writeUInt32LE(30, 0);
    shortRecord.writeUInt32LE(7, 8); // index 7 where 1 was promised
    assert.throws(() => wal.append(shortRecord, 1, 1, null), RangeError);
    assert.throws(() => wal.append(Buffer.alloc(25), 1, 0, null), RangeError); // trailing bytes
    assert.throws(() => wal.append(Buffer.alloc(0), 1, 0, Buffer.alloc(1000)), RangeError); // hard state too large
    assert.throws(() => wal.append(Buffer.alloc(0), 1, 0, null, -1), TypeError); // commit hint not an index
    assert.throws(() => wal.append(Buffer.alloc(0), 1, 0, null, 'x' as unknown as number), TypeError);
    assert.throws(() => wal.append(Buffer.alloc(0), 1, 0, null, 0), /nothing to write/);
    assert.throws(() => native.crc32c('x' as unknown as Uint8Array), TypeError);
    assert.throws(() => native.openWal(join(t.dir, 'other'), { segmentSize: 10 }), RangeError);
    assert.throws(() => native.openWal(42 as unknown as string), TypeError);
    wal.close();
    wal.close();
    assert.throws(() => wal.read(1, 2, 3), /closed/);
  });
});
