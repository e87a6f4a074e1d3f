import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileStorage } from '../src/index.js';
import { range, tempDir } from './helpers.js';

const SEGMENT = 64 * 1024;

/**
 * Appends `batches` batches of 40 entries (~5 KiB) one after another, pausing now and then so
 * the background preallocator keeps a zero-filled segment ready, then reopens the log and checks
 * every entry, the segments' sizes and that everything after the last record is zeros.
 */
async function rollOver(dir: string): Promise<void> {
  const s = await FileStorage.open(dir, { segmentBytes: SEGMENT });
  const batches = 60;
  for (let b = 0; b < batches; b++) {
    await s.write(undefined, range(b * 40 + 1, b * 40 + 40, 1, 100));
    if (b % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await s.close();
  const wal = join(dir, 'wal');
  const segments = readdirSync(wal).filter((f) => f.endsWith('.wal')).sort();
  assert.ok(segments.length >= 5, `${segments.length} segments`);
  // Segments made from a preallocated file keep its size.
  const full = segments.filter((f) => statSync(join(wal, f)).size === SEGMENT).length;
  assert.ok(full >= segments.length - 1, `${full} of ${segments.length} segments preallocated`);
  const r = await FileStorage.open(dir, { segmentBytes: SEGMENT });
  try {
    assert.equal(r.lastIndex(), batches * 40);
    assert.equal(r.recovery.torn, undefined);
    const all = r.entries(1, batches * 40 + 1, Infinity);
    assert.equal(all.length, batches * 40);
    const expected = range(1, batches * 40, 1, 100);
    for (let i = 0; i < all.length; i++) assert.deepStrictEqual(Buffer.from(all[i]!.data), Buffer.from(expected[i]!.data), `entry ${i + 1}`);
  } finally {
    await r.close();
  }
  // The last segment holds records up to some offset and zeros after it, to its end.
  const last = readFileSync(join(wal, segments[segments.length - 1]!));
  let end = last.length;
  while (end > 0 && last[end - 1] === 0) end--;
  assert.ok(end < last.length, 'no zero tail');
  assert.ok(last.subarray(end).every((b) => b === 0));
}

describe('segment preallocation', () => {
  it('segments zero-filled in the background hold every entry after a reopen', async () => {
    const t = tempDir();
    try {
      await rollOver(t.dir);
    } finally {
      t.cleanup();
    }
  });

  it('on tmpfs as well (sync_file_range does nothing there)', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, async () => {
    const dir = mkdtempSync('/dev/shm/flotilla-storage-');
    try {
      await rollOver(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
