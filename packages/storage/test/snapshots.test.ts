import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClosedError, type SnapshotMeta } from '@flotilla/core';
import { CorruptSnapshotError, FileStorage, native } from '@flotilla/storage';
import { tempDir } from './helpers.js';

const dirs: (() => void)[] = [];
after(() => dirs.forEach((c) => c()));
function fresh(): string {
  const t = tempDir();
  dirs.push(t.cleanup);
  return t.dir;
}

const config = { voters: ['a', 'b', 'c'], learners: ['d'], outgoingVoters: [] };
function meta(index: number, term: number): SnapshotMeta {
  return { index, term, config };
}

describe('snapshots', () => {
  it('writes in chunks, commits atomically, and reads back in chunks after a reopen', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    assert.equal(s.snapshots.latest(), undefined);
    assert.equal(await s.snapshots.open(), undefined);
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const w = await s.snapshots.create(meta(100, 3));
    for (let off = 0; off < data.length; off += 65536) await w.write(data.subarray(off, off + 65536));
    assert.equal(s.snapshots.latest(), undefined); // nothing visible before commit
    await w.commit(native.crc32c(data));
    assert.deepEqual(s.snapshots.latest(), meta(100, 3));
    await s.close();

    const r = await FileStorage.open(dir);
    assert.deepEqual(r.initialState().snapshot, meta(100, 3));
    const reader = (await r.snapshots.open())!;
    assert.equal(reader.size, data.length);
    assert.equal(reader.checksum, native.crc32c(data));
    const parts: Uint8Array[] = [];
    for (let off = 0; off < reader.size; off += 50_000) parts.push(await reader.read(off, 50_000));
    assert.deepEqual(Buffer.concat(parts), data);
    assert.equal((await reader.read(reader.size, 10)).length, 0);
    await assert.rejects(reader.read(reader.size + 1, 1), RangeError);
    await reader.close();
    await assert.rejects(reader.read(0, 1), ClosedError);
    await r.close();
  });

  it('rejects a commit whose checksum does not match and leaves no file behind', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    const w = await s.snapshots.create(meta(5, 1));
    await w.write(Buffer.from('hello'));
    await assert.rejects(w.commit(12345), CorruptSnapshotError);
    assert.equal(s.snapshots.latest(), undefined);
    assert.deepEqual(readdirSync(join(dir, 'snapshots')), []);
    await s.close();
  });

  it('keeps only the newest snapshot; abort discards; concurrent writes stay ordered', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    for (const [index, term] of [[10, 1], [20, 2]] as const) {
      const w = await s.snapshots.create(meta(index, term));
      const chunks = [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')];
      await Promise.all(chunks.map((c) => w.write(c)));
      await w.commit(native.crc32c(Buffer.from('abc')));
    }
    const aborted = await s.snapshots.create(meta(30, 3));
    await aborted.write(Buffer.from('zzz'));
    await aborted.abort();
    assert.deepEqual(s.snapshots.latest(), meta(20, 2));
    assert.equal(readdirSync(join(dir, 'snapshots')).length, 1);
    const reader = (await s.snapshots.open())!;
    assert.equal(Buffer.from(await reader.read(0, 10)).toString(), 'abc');
    await reader.close();
    await assert.rejects(s.snapshots.create({ index: -1, term: 0, config } as SnapshotMeta), RangeError);
    await assert.rejects(s.snapshots.create({ index: 1, term: 0 } as unknown as SnapshotMeta), TypeError);
    await s.close();
  });
});
