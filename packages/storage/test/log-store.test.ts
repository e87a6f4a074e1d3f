import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { BusyError, ClosedError, CompactedError, EMPTY_HARD_STATE, LogEntry, type Entry } from '@flotilla/core';
import { FileStorage, LockedError } from '@flotilla/storage';
import { entry, payload, range, tempDir } from './helpers.js';

const dirs: (() => void)[] = [];
after(() => dirs.forEach((c) => c()));
function fresh(): string {
  const t = tempDir();
  dirs.push(t.cleanup);
  return t.dir;
}

function same(actual: readonly Entry[], expected: readonly Entry[]): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.equal(actual[i]!.index, expected[i]!.index);
    assert.equal(actual[i]!.term, expected[i]!.term);
    assert.equal(actual[i]!.type, expected[i]!.type);
    assert.deepEqual(Buffer.from(actual[i]!.data), Buffer.from(expected[i]!.data));
  }
}

describe('FileStorage as a LogStore', () => {
  it('starts empty', async () => {
    const s = await FileStorage.open(fresh());
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.equal(s.term(1), undefined);
    assert.deepEqual(s.initialState(), { hardState: EMPTY_HARD_STATE, snapshot: undefined });
    assert.deepEqual(s.entries(1, 1, 100), []);
    await s.close();
  });

  // LogEntry (core's types.ts): object literals would let V8 pretenure every entry read back.
  it('entries read back from disk are LogEntry instances', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { tailCacheBytes: 0 });
    await s.write(undefined, range(1, 20, 1));
    const read = s.entries(1, 21, Infinity);
    assert.equal(read.length, 20);
    for (const e of read) assert.ok(e instanceof LogEntry, `entry ${e.index} is a ${e.constructor.name}`);
    await s.close();
  });

  it('appends, reads from the tail and from disk, and survives a reopen', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { segmentBytes: 64 * 1024, tailCacheBytes: 10_000 });
    const all = range(1, 3000, 1).map((e) => (e.index > 2000 ? { ...e, term: 2, data: payload(e.index, 2) } : e));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < all.length; i += 100) writes.push(s.write({ term: 2, vote: 'n1', commit: i }, all.slice(i, i + 100)));
    await Promise.all(writes);
    assert.equal(s.lastIndex(), 3000);
    assert.equal(s.term(2000), 1);
    assert.equal(s.term(2001), 2);
    same(s.entries(1, 3001, Infinity), all); // mostly from disk
    same(s.entries(2990, 3001, Infinity), all.slice(2989)); // from the tail
    // maxBytes: stops early, always at least one entry
    assert.equal(s.entries(10, 100, 250).length, 2);
    assert.equal(s.entries(10, 100, 0).length, 1);
    assert.equal(s.entries(2995, 3000, 0).length, 1);
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 64 * 1024 });
    assert.equal(r.firstIndex(), 1);
    assert.equal(r.lastIndex(), 3000);
    assert.equal(r.term(2001), 2);
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: 'n1', commit: 2900 });
    same(r.entries(1, 3001, Infinity), all);
    await r.close();
  });

  it('replaces a conflicting suffix, durably, across segments', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    await s.write(undefined, range(1, 1000, 1));
    await s.write(undefined, range(300, 320, 3));
    assert.equal(s.lastIndex(), 320);
    assert.equal(s.term(299), 1);
    assert.equal(s.term(300), 3);
    assert.equal(s.term(321), undefined);
    await s.write(undefined, range(321, 400, 3));
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    assert.equal(r.lastIndex(), 400);
    same(r.entries(1, 401, Infinity), [...range(1, 299, 1), ...range(300, 400, 3)]);
    await r.close();
  });

  it('orders writes queued back to back, including a truncation in the same batch', async () => {
    const s = await FileStorage.open(fresh(), { segmentBytes: 16 * 1024 });
    const order: number[] = [];
    const ps = [
      s.write(undefined, range(1, 50, 1)).then(() => order.push(1)),
      s.write(undefined, range(51, 60, 1)).then(() => order.push(2)),
      s.write(undefined, range(40, 45, 2)).then(() => order.push(3)),
      s.write({ term: 2, vote: '', commit: 0 }, []).then(() => order.push(4)),
      s.write(undefined, []).then(() => order.push(5)),
    ];
    await Promise.all(ps);
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
    assert.equal(s.lastIndex(), 45);
    same(s.entries(1, 46, Infinity), [...range(1, 39, 1), ...range(40, 45, 2)]);
    await s.close();
  });

  it('compacts whole segments and keeps the term before the first index', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    await s.write(undefined, range(1, 2000, 1));
    await s.compact(1000);
    const first = s.firstIndex();
    assert.ok(first <= 1001 && first > 1, `first index ${first}`);
    assert.equal(s.term(first - 1), 1);
    assert.throws(() => s.entries(first - 1, first + 1, Infinity), CompactedError);
    await s.compact(10); // already gone: nothing to do
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    assert.equal(r.firstIndex(), first);
    assert.equal(r.term(first - 1), 1);
    same(r.entries(first, 2001, Infinity), range(first, 2000, 1));
    await r.close();
  });

  it('compacts over and over while the log is written and read from disk: what is kept stays intact, what is dropped is gone', async () => {
    // Dropped segments are closed, and their blocks given back, on the WAL's reaper thread while
    // the writer goes on with the segments after them.
    const dir = fresh();
    const options = { segmentBytes: 16 * 1024, tailCacheBytes: 4 * 1024 };
    const s = await FileStorage.open(dir, options);
    let last = 0;
    for (let round = 0; round < 60; round++) {
      const batch = range(last + 1, last + 300, 1 + Math.floor(round / 10));
      const written = s.write(undefined, batch);
      if (last > 0) {
        const from = s.firstIndex();
        const read = s.entries(from, last + 1, Infinity);
        assert.equal(read.length, last + 1 - from);
        assert.equal(read[0]!.index, from);
      }
      await written;
      last += 300;
      if (last > 500) await s.compact(last - 500);
    }
    const first = s.firstIndex();
    assert.ok(first > last - 2000, `first index ${first} of ${last}`);
    const segments = readdirSync(join(dir, 'wal')).filter((n) => n.endsWith('.wal'));
    assert.ok(segments.length <= Math.ceil(((last - first + 1) * 180) / (16 * 1024)) + 2, `${segments.length} segment files left for ${last - first + 1} entries`);
    await s.close();
    const r = await FileStorage.open(dir, options);
    assert.equal(r.firstIndex(), first);
    assert.equal(r.lastIndex(), last);
    const kept = r.entries(first, last + 1, Infinity);
    for (const e of kept) {
      const round = Math.floor((e.index - 1) / 300);
      same([e], range(e.index, e.index, 1 + Math.floor(round / 10)));
    }
    await r.close();
  });

  it('resets to a snapshot and continues after it', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    await s.write(undefined, range(1, 500, 1));
    const snap = { index: 10_000, term: 5, config: { voters: ['a'], learners: [], outgoingVoters: [] } };
    await s.reset(snap);
    assert.equal(s.firstIndex(), 10_001);
    assert.equal(s.lastIndex(), 10_000);
    assert.equal(s.term(10_000), 5);
    assert.equal(s.term(500), undefined);
    await s.write(undefined, range(10_001, 10_010, 6));
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    assert.equal(r.firstIndex(), 10_001);
    assert.equal(r.lastIndex(), 10_010);
    assert.equal(r.term(10_000), 5);
    same(r.entries(10_001, 10_011, Infinity), range(10_001, 10_010, 6));
    await r.close();
  });

  it('takes writes after a reset to a snapshot below the compaction point before the reset resolves', async () => {
    const s = await FileStorage.open(fresh(), { segmentBytes: 16 * 1024 });
    await s.write(undefined, range(1, 1000, 1));
    await s.compact(900);
    assert.ok(s.firstIndex() > 100);
    const reset = s.reset({ index: 50, term: 4, config: { voters: ['a'], learners: [], outgoingVoters: [] } });
    const write = s.write(undefined, range(51, 60, 4));
    await Promise.all([reset, write]);
    assert.equal(s.firstIndex(), 51);
    assert.equal(s.lastIndex(), 60);
    assert.equal(s.term(50), 4);
    same(s.entries(51, 61, Infinity), range(51, 60, 4));
    await s.close();
  });

  it('rejects wrong arguments with TypeError or RangeError', async () => {
    const s = await FileStorage.open(fresh());
    await s.write(undefined, range(1, 10, 1));
    const bad = (x: unknown) => x as never;
    await assert.rejects(s.write(undefined, bad('nope')), TypeError);
    await assert.rejects(s.write(undefined, bad([{ index: 11, term: 1, type: 0, data: 'x' }])), TypeError);
    await assert.rejects(s.write(undefined, bad([null])), TypeError);
    await assert.rejects(s.write(undefined, [entry(13, 1)]), RangeError); // gap
    await assert.rejects(s.write(undefined, [entry(11, 1), entry(13, 1)]), RangeError); // not consecutive
    await assert.rejects(s.write(undefined, bad([{ index: 11, term: -1, type: 0, data: new Uint8Array() }])), RangeError);
    await assert.rejects(s.write(undefined, bad([{ index: 1.5, term: 1, type: 0, data: new Uint8Array() }])), RangeError);
    await assert.rejects(s.write(undefined, bad([{ index: 11, term: 1, type: 300, data: new Uint8Array() }])), RangeError);
    await assert.rejects(s.write(bad({ term: 'x', vote: '', commit: 0 }), []), TypeError);
    await assert.rejects(s.write(bad({ term: 1, vote: 7, commit: 0 }), []), TypeError);
    await assert.rejects(s.write({ term: 1, vote: 'v'.repeat(300), commit: 0 }, []), RangeError);
    await assert.rejects(s.compact(bad('1')), TypeError);
    await assert.rejects(s.compact(100), RangeError);
    await assert.rejects(s.reset(bad(null)), TypeError);
    assert.throws(() => s.entries(bad('1'), 2, 10), TypeError);
    assert.throws(() => s.entries(1, 20, 10), RangeError);
    assert.throws(() => s.entries(5, 2, 10), RangeError);
    assert.throws(() => s.entries(0, 2, 10), CompactedError);
    assert.throws(() => s.term(bad(-1)), RangeError);
    await assert.rejects(FileStorage.open(bad(42)), TypeError);
    await assert.rejects(FileStorage.open(fresh(), { segmentBytes: 100 }), RangeError);
    await assert.rejects(FileStorage.open(fresh(), { maxEntryBytes: 2 ** 40 }), RangeError);
    // still usable
    await s.write(undefined, [entry(11, 1)]);
    assert.equal(s.lastIndex(), 11);
    await s.close();
  });

  it('rejects an entry above maxEntryBytes and applies backpressure with BusyError', async () => {
    const s = await FileStorage.open(fresh(), { maxEntryBytes: 1000, maxPendingBytes: 10_000 });
    await assert.rejects(s.write(undefined, [entry(1, 1, 1001)]), RangeError);
    const first = s.write(undefined, range(1, 60, 1)); // ~7.5 KB pending
    await assert.rejects(s.write(undefined, range(61, 100, 1)), BusyError);
    await first;
    await s.write(undefined, range(61, 100, 1));
    assert.equal(s.lastIndex(), 100);
    await s.close();
  });

  it('locks the directory: a second open fails with LOCKED until the first closes', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await assert.rejects(FileStorage.open(dir), (e: unknown) => e instanceof LockedError && e.code === 'LOCKED');
    await s.close();
    const again = await FileStorage.open(dir);
    await again.close();
  });

  it('locks the directory against another process', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    const script = `import('@flotilla/storage').then(({ FileStorage }) => FileStorage.open(${JSON.stringify(dir)}))
      .then(() => console.log('opened'), (e) => console.log(e.code))`;
    const run = (): string =>
      execFileSync(process.execPath, ['--import', 'tsx', '--conditions=flotilla-source', '--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
      }).trim();
    assert.equal(run(), 'LOCKED');
    await s.close();
    assert.equal(run(), 'opened');
  });

  it('close drains pending writes, is idempotent, and later use throws ClosedError', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    const w = s.write(undefined, range(1, 1000, 1));
    const c1 = s.close();
    const c2 = s.close();
    await w;
    await c1;
    await c2;
    await s.close();
    assert.throws(() => s.lastIndex(), ClosedError);
    assert.throws(() => s.entries(1, 2, 10), ClosedError);
    await assert.rejects(s.write(undefined, [entry(1001, 1)]), ClosedError);
    await assert.rejects(s.compact(1), ClosedError);
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 1000);
    await r.close();
  });

  it('keeps entry types and empty payloads', async () => {
    const s = await FileStorage.open(fresh(), { tailCacheBytes: 0 });
    const es: Entry[] = [
      { index: 1, term: 1, type: 1, data: new Uint8Array(0) },
      { index: 2, term: 1, type: 2, data: new Uint8Array([1, 2, 3]) },
      { index: 3, term: 2 ** 40, type: 0, data: new Uint8Array([9]) },
    ];
    await s.write(undefined, es);
    same(s.entries(1, 4, Infinity), es);
    assert.equal(s.term(3), 2 ** 40);
    await s.close();
  });

  it('keeps indices and terms above 2^32 through the disk and a reopen', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { tailCacheBytes: 0 });
    const base = 2 ** 33 + 2 ** 32 - 3; // the low 32 bits wrap inside the written range
    await s.reset({ index: base, term: 2 ** 35 + 1, config: { voters: ['a'], learners: [], outgoingVoters: [] } });
    const es: Entry[] = [];
    for (let i = 1; i <= 6; i++) es.push({ index: base + i, term: 2 ** 35 + 1 + (i > 3 ? 2 ** 32 : 0), type: 0, data: new Uint8Array([i]) });
    await s.write(undefined, es);
    same(s.entries(base + 1, base + 7, Infinity), es);
    await s.close();
    const r = await FileStorage.open(dir, { tailCacheBytes: 0 });
    assert.equal(r.lastIndex(), base + 6);
    assert.equal(r.term(base + 5), 2 ** 35 + 1 + 2 ** 32);
    same(r.entries(base + 1, base + 7, Infinity), es);
    await r.close();
  });
});
