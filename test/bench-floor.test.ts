import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { measureReplicationRound } from '../benchmarks/src/cluster/floor.js';

test('the replication-round floor runs two follower processes, measures every round and leaves nothing behind', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-floor-test-'));
  try {
    const round = await measureReplicationRound(dir, 50);
    // A round includes at least one local fdatasync and one answer from another process.
    assert.ok(round.p50Us > 0 && Number.isFinite(round.p50Us), `p50 ${round.p50Us}`);
    assert.ok(round.p99Us >= round.p50Us, `p99 ${round.p99Us} below p50 ${round.p50Us}`);
    assert.deepEqual(await readdir(dir), [], 'the scratch files are removed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
