import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClosedError, type SnapshotMeta } from '@flotilla/core';
import { CorruptSnapshotError, FileSnapshotStore, FileStorage, native } from '@flotilla/storage';
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

/** One background flush asked for by a writer, held until the test settles it. */
interface Flush {
  readonly fh: FileHandle;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Options for FileSnapshotStore.open whose datasync() records each background flush and leaves
 * it in flight until the test resolves or rejects it: no real fdatasync, no timing.
 */
function heldFlushes(backgroundSyncBytes: number): { flushes: Flush[]; options: { backgroundSyncBytes: number; datasync: (fh: FileHandle) => Promise<void> } } {
  const flushes: Flush[] = [];
  const datasync = (fh: FileHandle): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      flushes.push({ fh, resolve, reject });
    });
  return { flushes, options: { backgroundSyncBytes, datasync } };
}

/** Lets every pending promise callback run (a macrotask comes after all queued microtasks). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function eio(): Error {
  return Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });
}

const CHUNK = 64 * 1024;
function chunk(i: number): Buffer {
  return Buffer.alloc(CHUNK, i + 1);
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

  it('flushes in the background every backgroundSyncBytes while a snapshot streams in, one flush at a time, without holding up writes', async () => {
    const dir = join(fresh(), 'snapshots');
    const { flushes, options } = heldFlushes(2 * CHUNK);
    const store = await FileSnapshotStore.open(dir, options);
    const w = await store.create(meta(40, 2));
    const written: Buffer[] = [];
    const write = async (): Promise<void> => {
      const c = chunk(written.length);
      written.push(c);
      await w.write(c);
      await settle();
    };
    await write();
    assert.equal(flushes.length, 0, 'under backgroundSyncBytes: no flush yet');
    await write();
    assert.equal(flushes.length, 1, 'a flush starts once backgroundSyncBytes are written');
    // The flush stays in flight: writes go on without waiting for it, and no second one starts.
    for (let i = 0; i < 3; i++) await write();
    assert.equal(flushes.length, 1, 'at most one background flush at a time');
    flushes[0]!.resolve();
    await settle();
    await write();
    assert.equal(flushes.length, 2, 'the next write after the flush finished starts another');
    flushes[1]!.resolve();
    await settle();
    await write();
    assert.equal(flushes.length, 2, 'counting starts again from the last flush');
    await write();
    assert.equal(flushes.length, 3);
    const fh = flushes[0]!.fh;
    assert.ok(flushes.every((f) => f.fh === fh));

    // commit touches the file only once the flush in flight is over. Its first step would be
    // the trailer's write: count this handle's writes (an own property, on this object only).
    let fileWrites = 0;
    const fhWrite = fh.write.bind(fh) as (...args: unknown[]) => unknown;
    Object.defineProperty(fh, 'write', {
      configurable: true,
      value: (...args: unknown[]) => {
        fileWrites++;
        return fhWrite(...args);
      },
    });
    let committed = false;
    const commit = w.commit(native.crc32c(Buffer.concat(written))).then(() => {
      committed = true;
    });
    await settle();
    assert.equal(committed, false);
    assert.equal(fileWrites, 0, 'no trailer written while a flush is in flight');
    assert.ok(fh.fd >= 0, 'the file is still open while a flush is in flight');
    flushes[2]!.resolve();
    await commit;
    assert.equal(fileWrites, 1);
    assert.equal(fh.fd, -1);
    assert.equal(flushes.length, 3, 'commit does its own fsync, not a background flush');
    assert.deepEqual(store.latest(), meta(40, 2));

    const reopened = await FileSnapshotStore.open(dir);
    assert.deepEqual(reopened.latest(), meta(40, 2));
    const reader = (await reopened.open())!;
    const data = Buffer.concat(written);
    assert.equal(reader.size, data.length);
    assert.equal(reader.checksum, native.crc32c(data));
    assert.deepEqual(Buffer.from(await reader.read(0, reader.size)), data);
    await reader.close();
  });

  it('a failed background flush fails the commit with its error and keeps the previous snapshot', async () => {
    const dir = join(fresh(), 'snapshots');
    const { flushes, options } = heldFlushes(2 * CHUNK);
    const store = await FileSnapshotStore.open(dir, options);
    const previous = await store.create(meta(10, 1));
    await previous.write(Buffer.from('old')); // under backgroundSyncBytes: no flush
    await previous.commit(native.crc32c(Buffer.from('old')));
    assert.equal(flushes.length, 0);
    const before = readdirSync(dir);
    assert.equal(before.length, 1);

    const w = await store.create(meta(20, 2));
    const written = [chunk(0), chunk(1), chunk(2)];
    for (const c of written) await w.write(c);
    await settle();
    assert.equal(flushes.length, 1);
    assert.ok(readdirSync(dir).some((n) => n.endsWith('.tmp')));
    const error = eio();
    flushes[0]!.reject(error);
    await settle();
    await assert.rejects(w.commit(native.crc32c(Buffer.concat(written))), (e) => e === error);
    assert.deepEqual(readdirSync(dir), before, 'the temporary file is removed; only the previous snapshot is left');
    assert.deepEqual(store.latest(), meta(10, 1));
    const reader = (await store.open())!;
    assert.equal(Buffer.from(await reader.read(0, 10)).toString(), 'old');
    await reader.close();
    await assert.rejects(w.commit(), ClosedError);

    const reopened = await FileSnapshotStore.open(dir);
    assert.deepEqual(reopened.latest(), meta(10, 1));
  });

  it('a write after a failed background flush rejects with its error, and so does the commit', async () => {
    const dir = join(fresh(), 'snapshots');
    const { flushes, options } = heldFlushes(CHUNK);
    const store = await FileSnapshotStore.open(dir, options);
    const w = await store.create(meta(20, 2));
    await w.write(chunk(0));
    await settle();
    assert.equal(flushes.length, 1);
    const error = eio();
    flushes[0]!.reject(error);
    await settle();
    await assert.rejects(w.write(chunk(1)), (e) => e === error);
    await assert.rejects(w.write(chunk(2)), (e) => e === error);
    assert.equal(flushes.length, 1);
    await assert.rejects(w.commit(), (e) => e === error);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(store.latest(), undefined);
  });

  it('abort waits for the background flush in flight, then closes and removes the temporary file', async () => {
    const dir = join(fresh(), 'snapshots');
    const { flushes, options } = heldFlushes(CHUNK);
    const store = await FileSnapshotStore.open(dir, options);
    const w = await store.create(meta(20, 2));
    await w.write(chunk(0));
    await settle();
    assert.equal(flushes.length, 1);
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    const temp = files[0]!;
    assert.ok(temp.endsWith('.tmp'));
    let aborted = false;
    const abort = w.abort().then(() => {
      aborted = true;
    });
    await settle();
    assert.equal(aborted, false, 'abort is waiting for the flush');
    assert.ok(flushes[0]!.fh.fd >= 0, 'the file is not closed under the flush');
    assert.ok(existsSync(join(dir, temp)));
    flushes[0]!.resolve();
    await abort;
    assert.equal(flushes[0]!.fh.fd, -1, 'closed after the flush');
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(store.latest(), undefined);
    await assert.rejects(w.write(chunk(1)), ClosedError);
  });

  it('validates the store options', async () => {
    const dir = join(fresh(), 'snapshots');
    const open = (options: unknown): Promise<FileSnapshotStore> => FileSnapshotStore.open(dir, options as Parameters<typeof FileSnapshotStore.open>[1]);
    await assert.rejects(open(null), TypeError);
    await assert.rejects(open({ backgroundSyncBytes: '8' }), TypeError);
    await assert.rejects(open({ backgroundSyncBytes: 0 }), RangeError);
    await assert.rejects(open({ backgroundSyncBytes: 1.5 }), RangeError);
    await assert.rejects(open({ backgroundSyncBytes: NaN }), RangeError);
    await assert.rejects(open({ backgroundSyncBytes: -Infinity }), RangeError);
    await assert.rejects(open({ datasync: 'no' }), TypeError);
    await open({ backgroundSyncBytes: Infinity });
    await open({ backgroundSyncBytes: 1, datasync: async () => undefined });
  });

  it('flushes through the real fdatasync and commits what it flushed', async () => {
    const dir = join(fresh(), 'snapshots');
    const started: Promise<void>[] = [];
    const store = await FileSnapshotStore.open(dir, {
      backgroundSyncBytes: CHUNK,
      datasync: (fh) => {
        const p = fh.datasync();
        started.push(p);
        return p;
      },
    });
    const w = await store.create(meta(30, 2));
    const written: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      written.push(chunk(i));
      await w.write(written[i]!);
      await started.at(-1); // let the flush finish, so that the next write starts another
      await settle();
    }
    assert.equal(started.length, 8);
    await w.commit(native.crc32c(Buffer.concat(written)));
    const reader = (await store.open())!;
    assert.equal(reader.size, 8 * CHUNK);
    assert.equal(reader.checksum, native.crc32c(Buffer.concat(written)));
    await reader.close();
  });

  it('a chunk that failed to write fails the commit, even with the checksum of every chunk (no snapshot with a hole)', async () => {
    const dir = join(fresh(), 'snapshots');
    // A background flush after the first chunk hands the test the writer's file handle.
    const { flushes, options } = heldFlushes(CHUNK);
    const store = await FileSnapshotStore.open(dir, options);
    const w = await store.create(meta(30, 3));
    const written = [chunk(0), chunk(1), chunk(2)];
    await w.write(written[0]!);
    await settle();
    assert.equal(flushes.length, 1);
    flushes[0]!.resolve();
    const fh = flushes[0]!.fh as FileHandle & { write: unknown };
    const realWrite = fh.write;
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    fh.write = () => Promise.reject(enospc);
    await assert.rejects(w.write(written[1]!), (e) => e === enospc);
    fh.write = realWrite; // space is back: the next chunk would write fine
    await assert.rejects(w.write(written[2]!), (e) => e === enospc);
    await assert.rejects(w.commit(native.crc32c(Buffer.concat(written))), (e) => e === enospc);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(store.latest(), undefined);
  });

  it('once commit has begun, writes are refused and the snapshot holds exactly what came before it', async () => {
    const dir = join(fresh(), 'snapshots');
    const store = await FileSnapshotStore.open(dir, { backgroundSyncBytes: Infinity });
    const w = await store.create(meta(40, 4));
    await w.write(chunk(0));
    const committing = w.commit(native.crc32c(chunk(0)));
    await assert.rejects(w.write(chunk(1)), ClosedError);
    await assert.rejects(w.commit(), ClosedError);
    await w.abort(); // too late to abort: the commit goes on
    await committing;
    const reader = (await store.open())!;
    assert.equal(reader.size, CHUNK);
    assert.deepEqual(Buffer.from(await reader.read(0, CHUNK)), chunk(0));
    await reader.close();
  });

  it('keeps the learners to promote in the configuration of a snapshot, and refuses a malformed list', async () => {
    const dir = join(fresh(), 'snapshots');
    const store = await FileSnapshotStore.open(dir);
    const marked: SnapshotMeta = { index: 7, term: 2, config: { ...config, autoPromote: ['d'] } };
    const w = await store.create(marked);
    await w.write(Buffer.from('state'));
    await w.commit();
    assert.deepEqual((await FileSnapshotStore.open(dir)).latest(), marked);
    await assert.rejects(store.create({ index: 8, term: 2, config: { ...config, autoPromote: 'd' } } as unknown as SnapshotMeta), TypeError);
  });

  it('a snapshot committed after a newer one is dropped: the newer stays latest and no older file is left behind', async () => {
    const dir = join(fresh(), 'snapshots');
    const store = await FileSnapshotStore.open(dir);
    const older = await store.create(meta(10, 1));
    const newer = await store.create(meta(20, 2));
    await newer.write(Buffer.from('new'));
    await newer.commit();
    await older.write(Buffer.from('old'));
    await older.commit();
    assert.deepEqual(store.latest(), meta(20, 2));
    assert.deepEqual(readdirSync(dir), ['00000000000000000020-2.snap']);
    const reader = (await store.open())!;
    assert.equal(Buffer.from(await reader.read(0, 3)).toString(), 'new');
    await reader.close();
  });

  it('Infinity turns background flushes off', async () => {
    const dir = join(fresh(), 'snapshots');
    let calls = 0;
    const store = await FileSnapshotStore.open(dir, {
      backgroundSyncBytes: Infinity,
      datasync: async () => {
        calls++;
      },
    });
    const w = await store.create(meta(5, 1));
    for (let i = 0; i < 4; i++) await w.write(chunk(i));
    await w.commit();
    assert.equal(calls, 0);
    assert.deepEqual(store.latest(), meta(5, 1));
  });
});
