import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Entry } from '@flotilla/core';
import { FileStorage, StorageIOError } from '@flotilla/storage';
import { payload, range, tempDir } from './helpers.js';

const dirs: (() => void)[] = [];
after(() => dirs.forEach((c) => c()));
function fresh(): string {
  const t = tempDir();
  dirs.push(t.cleanup);
  return t.dir;
}

function isIOError(code: string) {
  return (e: unknown) => e instanceof StorageIOError && e.code === code && e.errno === constants.errno[code as 'EIO'];
}

function checkAll(entries: readonly Entry[], first: number, last: number, term = 1): void {
  assert.equal(entries.length, last - first + 1);
  for (const e of entries) {
    assert.equal(e.term, term);
    assert.deepEqual(Buffer.from(e.data), Buffer.from(payload(e.index, e.term)));
  }
}

describe('I/O failures (injected through the addon\'s test hook)', () => {
  it('EIO on a write: the promise rejects with the errno, the log is unchanged and keeps working', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    await s.write(undefined, range(1, 100, 1));
    s.injectFault(constants.errno.EIO, 0);
    await assert.rejects(s.write(undefined, range(101, 300, 1)), isIOError('EIO'));
    assert.equal(s.lastIndex(), 100);
    await s.write(undefined, range(101, 150, 1));
    assert.equal(s.lastIndex(), 150);
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 16 * 1024 });
    assert.equal(r.lastIndex(), 150);
    checkAll(r.entries(1, 151, Infinity), 1, 150);
    await r.close();
  });

  it('writes queued behind a failed one are rejected too; later writes work', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.write(undefined, range(1, 10, 1));
    s.injectFault(constants.errno.ENOSPC, 0);
    const results = await Promise.allSettled([
      s.write(undefined, range(11, 20, 1)),
      s.write(undefined, range(21, 30, 1)),
      s.write({ term: 3, vote: 'x', commit: 5 }, range(31, 40, 1)),
    ]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(isIOError('ENOSPC')((r as PromiseRejectedResult).reason));
    }
    assert.equal(s.lastIndex(), 10);
    await s.write({ term: 2, vote: 'y', commit: 3 }, range(11, 12, 1));
    await s.close();
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 12);
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: 'y', commit: 3 });
    await r.close();
  });

  it('a failed hard-state write rolls back the entries written with it', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir);
    await s.write({ term: 1, vote: 'a', commit: 0 }, range(1, 10, 1));
    s.injectFault(constants.errno.EIO, 1); // the log write succeeds, the hard-state write fails
    await assert.rejects(s.write({ term: 9, vote: 'b', commit: 9 }, range(11, 20, 1)), isIOError('EIO'));
    assert.equal(s.lastIndex(), 10);
    await s.close();
    const r = await FileStorage.open(dir);
    assert.equal(r.lastIndex(), 10);
    assert.deepEqual(r.initialState().hardState, { term: 1, vote: 'a', commit: 0 });
    await r.close();
  });

  it('a failure while opening a new segment leaves no partial segment behind', async () => {
    const dir = fresh();
    const s = await FileStorage.open(dir, { segmentBytes: 8 * 1024, preallocate: false });
    await s.write(undefined, range(1, 60, 1)); // one segment holds 65 entries
    s.injectFault(constants.errno.EIO, 0); // the header write of the next segment fails
    await assert.rejects(s.write(undefined, range(61, 100, 1)), isIOError('EIO'));
    assert.equal(s.lastIndex(), 60);
    await s.write(undefined, range(61, 200, 1));
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 8 * 1024 });
    checkAll(r.entries(1, 201, Infinity), 1, 200);
    await r.close();
  });
});

function tryMount(dir: string, size: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ENOSPC on a real full file system (a 1 MiB tmpfs; skipped when it cannot be mounted)', () => {
  const root = fresh();
  const mnt = join(root, 'mnt');
  const mounted = process.platform === 'linux' && tryMount(mnt, '1m');
  after(() => {
    if (mounted) execFileSync('umount', [mnt]);
    rmSync(root, { recursive: true, force: true });
  });

  it('rejects with ENOSPC, keeps the log consistent, and works again once space is freed', { skip: !mounted }, async () => {
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(700 * 1024));
    const dir = join(mnt, 'node');
    const s = await FileStorage.open(dir, { segmentBytes: 64 * 1024 });
    let next = 1;
    let failure: unknown;
    for (let i = 0; i < 200 && !failure; i++) {
      try {
        await s.write(undefined, range(next, next + 99, 1));
        next += 100;
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(isIOError('ENOSPC')(failure), `expected ENOSPC, got ${String(failure)}`);
    const acked = next - 1;
    assert.equal(s.lastIndex(), acked);
    checkAll(s.entries(1, acked + 1, Infinity), 1, acked);
    unlinkSync(filler);
    await s.write(undefined, range(next, next + 99, 1));
    assert.equal(s.lastIndex(), acked + 100);
    await s.close();
    const r = await FileStorage.open(dir, { segmentBytes: 64 * 1024 });
    assert.equal(r.lastIndex(), acked + 100);
    checkAll(r.entries(1, acked + 101, Infinity), 1, acked + 100);
    await r.close();
  });
});
