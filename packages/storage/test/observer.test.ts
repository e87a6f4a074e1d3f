import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FileStorage, RECORD_HEADER_BYTES } from '@flotilla/storage';
import { range, tempDir } from './helpers.js';

const dirs: (() => void)[] = [];
after(() => dirs.forEach((c) => c()));

describe('the storage observer (metrics hooks)', () => {
  it('hears of every native append with its entry count and bytes, and of every group commit with its duration', async () => {
    const t = tempDir();
    dirs.push(t.cleanup);
    const appends: [number, number][] = [];
    let syncs = 0;
    let seconds = 0;
    const s = await FileStorage.open(t.dir, {
      observer: {
        appended: (entries, bytes) => appends.push([entries, bytes]),
        synced: (n, s) => {
          syncs += n;
          seconds += s;
        },
      },
    });
    // The first write goes to the idle writer at once; the second waits for the microtask flush.
    const first = range(1, 10, 1);
    const second = range(11, 30, 1);
    await Promise.all([s.write(undefined, first), s.write(undefined, second)]);
    await s.write({ term: 1, vote: '', commit: 5 }, range(31, 31, 1));
    // A hard-state-only write is a group commit without entries.
    await s.write({ term: 2, vote: 'n1', commit: 5 }, []);
    await s.close();
    const entries = appends.reduce((a, [n]) => a + n, 0);
    const bytes = appends.reduce((a, [, b]) => a + b, 0);
    assert.equal(entries, 31);
    const payload = [...first, ...second, ...range(31, 31, 1)].reduce((a, e) => a + e.data.byteLength, 0);
    assert.equal(bytes, payload + 31 * RECORD_HEADER_BYTES);
    assert.deepEqual(appends.map(([n]) => n), [10, 20, 1]);
    assert.ok(appends.every(([n]) => n > 0));
    assert.ok(syncs >= 3, `syncs ${syncs}`);
    assert.ok(seconds > 0 && seconds < 10, `seconds ${seconds}`);
  });

  it('rejects an observer without both methods', async () => {
    const t = tempDir();
    dirs.push(t.cleanup);
    await assert.rejects(FileStorage.open(t.dir, { observer: { appended: () => undefined } as never }), /observer must have appended\(\) and synced\(\)/);
  });
});
