import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileStorage } from '@flotilla/storage';
import { range, tempDir } from './helpers.js';

const dirs: (() => void)[] = [];
after(() => dirs.forEach((c) => c()));

// The STATE file: two 512-byte hard-state slots, then two 512-byte commit-hint slots.
const HINT_SLOTS = 1024;
const HINT_SLOT = 512;

function fresh(): string {
  const t = tempDir();
  dirs.push(t.cleanup);
  return t.dir;
}

async function openCounting(dir: string): Promise<{ s: FileStorage; syncs: () => number }> {
  let syncs = 0;
  const s = await FileStorage.open(dir, { observer: { appended: () => undefined, synced: (n) => (syncs += n) } });
  return { s, syncs: () => syncs };
}

function patchState(dir: string, offset: number, bytes: Buffer): void {
  const fd = openSync(join(dir, 'wal', 'STATE'), 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

function flipStateByte(dir: string, offset: number): void {
  const fd = openSync(join(dir, 'wal', 'STATE'), 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0]! ^= 0xff;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

/** The commit index of the newest valid hint slot in STATE, 0 if none (checksums not verified). */
function newestHint(dir: string): number {
  const fd = openSync(join(dir, 'wal', 'STATE'), 'r');
  const b = Buffer.alloc(HINT_SLOTS + 2 * HINT_SLOT);
  readSync(fd, b, 0, b.length, 0);
  closeSync(fd);
  let seq = 0n;
  let commit = 0;
  for (const at of [HINT_SLOTS, HINT_SLOTS + HINT_SLOT]) {
    if (b.readUInt32LE(at) !== 0x31484346 || b.readBigUInt64LE(at + 8) <= seq) continue; // "FCH1"
    seq = b.readBigUInt64LE(at + 8);
    commit = Number(b.readBigUInt64LE(at + 16));
  }
  return commit;
}

/** A commit-only hard state without entries is written commitHintIntervalMs (2 ms) later. */
function idleHintWritten(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

async function reopenedHardState(dir: string): Promise<{ term: number; vote: string; commit: number }> {
  const r = await FileStorage.open(dir);
  const hs = r.initialState().hardState;
  await r.close();
  return { ...hs };
}

describe('commit index: a hard state that changes only the commit', () => {
  it('is recorded without a sync of its own and survives a reopen', async () => {
    const dir = fresh();
    const { s, syncs } = await openCounting(dir);
    await s.write({ term: 1, vote: 'a', commit: 0 }, range(1, 10, 1));
    const before = syncs();
    await s.write({ term: 1, vote: 'a', commit: 7 }, []);
    assert.equal(newestHint(dir), 0, 'not yet: it waits for commitHintIntervalMs');
    await idleHintWritten();
    assert.equal(newestHint(dir), 7, 'in the STATE file while the log is open (a process crash keeps it)');
    assert.equal(syncs(), before, 'a commit-only hard state costs no fdatasync');
    await s.write({ term: 1, vote: 'a', commit: 9 }, range(11, 12, 1));
    assert.equal(syncs(), before + 1, 'written with entries, it rides on their group commit');
    await s.close();
    assert.deepEqual(await reopenedHardState(dir), { term: 1, vote: 'a', commit: 9 });
  });

  it('never writes the slots that hold term and vote: with the hints gone, the synced hard state stands', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.write({ term: 3, vote: 'b', commit: 2 }, range(1, 10, 1));
    for (let c = 3; c <= 7; c++) await s.write({ term: 3, vote: 'b', commit: c }, []);
    await s.close();
    assert.deepEqual(await reopenedHardState(dir), { term: 3, vote: 'b', commit: 7 });
    patchState(dir, HINT_SLOTS, Buffer.alloc(2 * HINT_SLOT));
    assert.deepEqual(await reopenedHardState(dir), { term: 3, vote: 'b', commit: 2 });
  });

  it('a torn newest hint falls back to the one before it', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.write({ term: 2, vote: 'c', commit: 1 }, range(1, 10, 1));
    for (let c = 3; c <= 7; c++) {
      await s.write({ term: 2, vote: 'c', commit: c }, []);
      await idleHintWritten();
    }
    await s.close();
    // Five hints: sequence numbers 1..5 alternate slots 1, 0, 1, 0, 1; the newest (commit 7) is in slot 1.
    flipStateByte(dir, HINT_SLOTS + HINT_SLOT + 20);
    assert.deepEqual(await reopenedHardState(dir), { term: 2, vote: 'c', commit: 6 });
  });

  it('without entries, while a write is in flight: completes after it and is recorded once it is durable', async () => {
    const dir = fresh();
    const { s, syncs } = await openCounting(dir);
    await s.write({ term: 1, vote: 'a', commit: 0 }, range(1, 5, 1));
    const before = syncs();
    const order: number[] = [];
    const entries = s.write(undefined, range(6, 10, 1)).then(() => order.push(1));
    const commit = s.write({ term: 1, vote: 'a', commit: 8 }, []).then(() => order.push(2));
    const closing = Promise.all([entries, commit]).then(() => s.close());
    await closing;
    assert.deepEqual(order, [1, 2]);
    assert.equal(syncs(), before + 1, 'one group commit, for the entries');
    assert.deepEqual(await reopenedHardState(dir), { term: 1, vote: 'a', commit: 8 });
  });

  it('under a steady stream of writes goes with an append at most once per commitHintIntervalMs, and the newest is kept', async () => {
    const run = async (commitHintIntervalMs: number): Promise<{ appends: number; withHint: number; commit: number; newest: number }> => {
      const dir = fresh();
      const s = await FileStorage.open(dir, { commitHintIntervalMs });
      await s.write({ term: 1, vote: 'a', commit: 0 }, range(1, 1, 1));
      // Count the native appends, and those that carry a commit hint.
      const wal = (s as unknown as { wal: { append: (...args: unknown[]) => number } }).wal;
      const append = wal.append.bind(wal);
      let appends = 0;
      let withHint = 0;
      Object.defineProperty(wal, 'append', {
        value: (...args: unknown[]) => {
          appends++;
          if (typeof args[4] === 'number' && args[4] > 0) withHint++;
          return append(...args);
        },
      });
      let next = 2;
      const issue = (): Promise<void> => {
        const at = next++;
        return s.write({ term: 1, vote: 'a', commit: at - 1 }, range(at, at, 1)).then(() => (at < 40 ? issue() : undefined));
      };
      await Promise.all([issue(), issue()]);
      await s.close();
      return { appends, withHint, commit: (await reopenedHardState(dir)).commit, newest: next - 2 };
    };
    const every = await run(0);
    assert.equal(every.withHint, every.appends, 'with an interval of 0, every append carries the newest commit');
    const throttled = await run(60_000);
    assert.ok(throttled.appends > 1);
    assert.equal(throttled.withHint, 1, 'one per minute: only the first append carries one');
    // The newest is written once no write is in flight.
    assert.equal(every.commit, every.newest);
    assert.equal(throttled.commit, throttled.newest);
    await assert.rejects(FileStorage.open(fresh(), { commitHintIntervalMs: 60_001 }), RangeError);
  });

  it('is never recovered past the end of the log', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.write({ term: 1, vote: '', commit: 0 }, range(1, 10, 1));
    await s.write({ term: 1, vote: '', commit: 50 }, []);
    await s.close();
    assert.deepEqual(await reopenedHardState(dir), { term: 1, vote: '', commit: 10 });
  });

  it('a change of term or vote is synced, and coalesced writes keep the highest commit', async () => {
    const dir = fresh();
    const { s, syncs } = await openCounting(dir);
    await s.write({ term: 1, vote: 'a', commit: 0 }, range(1, 10, 1));
    const before = syncs();
    await s.write({ term: 1, vote: 'b', commit: 4 }, []);
    assert.equal(syncs(), before + 1, 'a new vote is a synced write');
    // In one tick: a new term, then only the commit moves, then only the commit again.
    await Promise.all([
      s.write({ term: 2, vote: '', commit: 5 }, range(11, 11, 2)),
      s.write({ term: 2, vote: '', commit: 8 }, range(12, 12, 2)),
      s.write({ term: 2, vote: '', commit: 11 }, []),
    ]);
    await s.close();
    patchState(dir, HINT_SLOTS, Buffer.alloc(2 * HINT_SLOT));
    // Without hints the synced slot speaks: it carries term 2 and whichever commit went with it.
    const synced = await reopenedHardState(dir);
    assert.equal(synced.term, 2);
    assert.equal(synced.vote, '');
    assert.ok(synced.commit >= 5 && synced.commit <= 11, `commit ${synced.commit}`);
  });

  it('hints from before the write of a new term do not lower its commit', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.write({ term: 1, vote: 'a', commit: 0 }, range(1, 20, 1));
    await s.write({ term: 1, vote: 'a', commit: 15 }, []);
    await s.write({ term: 2, vote: 'a', commit: 18 }, []);
    await s.close();
    assert.deepEqual(await reopenedHardState(dir), { term: 2, vote: 'a', commit: 18 });
  });
});
