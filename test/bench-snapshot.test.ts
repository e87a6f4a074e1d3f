import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SnapshotBenchResult } from '../benchmarks/src/snapshot/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const positive = (value: unknown, what: string): void => {
  assert.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${what} should be a positive number, got ${String(value)}`);
};

test('the snapshot benchmark, tiny: a 4 MiB snapshot between two processes and a learner joining 5,000 entries, by log and by snapshot', { timeout: 240_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-snapshot-test-'));
  const json = join(dir, 'snapshot.json');
  const dataRoot = join(dir, 'data');
  try {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataRoot);
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--conditions=flotilla-source', 'benchmarks/src/snapshot/main.ts', '--snapshot-mib', '4', '--entries', '5000', '--rounds', '1', '--json', json, '--data-root', dataRoot],
        { cwd: ROOT, timeout: 200_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${out}\n${err}`)) : resolve({ stdout: out })),
      );
    });
    const { snapshot } = JSON.parse(await readFile(json, 'utf8')) as { snapshot: SnapshotBenchResult };
    const t = snapshot.transfer;
    assert.equal(t.snapshotBytes, 4 * 1024 * 1024);
    assert.equal(t.rounds, 1);
    assert.equal(t.samples.length, 1);
    for (const key of ['takeSeconds', 'firstChunkSeconds', 'installedSeconds', 'restoredSeconds', 'installedMBps', 'restoredMBps', 'installedOfRaw', 'restoredOfRaw', 'installedOfDisk', 'restoredOfDisk', 'learnerRssBytes'] as const) positive(t[key], `transfer.${key}`);
    for (const key of ['rawLoopbackMBps', 'rawLoopbackSeconds', 'diskWriteFsyncMBps', 'diskWriteFsyncSeconds'] as const) positive(t.baseline[key], `transfer.baseline.${key}`);
    // The stream is written before it is durable, and durable before it is restored.
    assert.ok(t.firstChunkSeconds <= t.installedSeconds && t.installedSeconds <= t.restoredSeconds, JSON.stringify(t));
    // The figures agree with each other: throughput is the size over the time, the ratio is of the baseline.
    assert.ok(Math.abs(t.restoredMBps - t.snapshotBytes / t.restoredSeconds / 1e6) < 1e-6 * t.restoredMBps);
    assert.ok(Math.abs(t.restoredOfRaw - t.baseline.rawLoopbackSeconds / t.restoredSeconds) < 1e-9);
    assert.ok(Math.abs(t.installedOfDisk - t.baseline.diskWriteFsyncSeconds / t.installedSeconds) < 1e-9);
    // Sane: loopback moves 4 MiB faster than 10 MB/s, and under a minute.
    assert.ok(t.baseline.rawLoopbackMBps > 10 && t.restoredSeconds < 60, JSON.stringify(t));

    const c = snapshot.catchUp;
    assert.equal(c.entries, 5000);
    assert.equal(c.commandBytes, 128);
    positive(c.fillEntriesPerSec, 'catchUp.fillEntriesPerSec');
    assert.deepEqual(c.runs.map((r) => r.mode), ['log replay', 'snapshot + tail']);
    const [replay, snap] = c.runs as [SnapshotBenchResult['catchUp']['runs'][0], SnapshotBenchResult['catchUp']['runs'][0]];
    for (const r of c.runs) {
      assert.ok(r.targetIndex >= 5000, JSON.stringify(r));
      positive(r.seconds, `${r.mode} seconds`);
      positive(r.entriesPerSec, `${r.mode} entries/s`);
      assert.equal(r.tailEntries, r.targetIndex - r.snapshotIndex);
    }
    assert.equal(replay.snapshotIndex, 0);
    assert.ok(snap.snapshotIndex >= 5000 && snap.snapshotBytes >= 8 + 5000 * 128, JSON.stringify(snap));
    positive(c.snapshotOfReplay, 'catchUp.snapshotOfReplay');

    assert.match(stdout, /Snapshot transfer: 4\.0 MiB/);
    assert.match(stdout, /raw loopback TCP, 1 MiB writes \(baseline\)\s+\S+ s\s+\d+ MB\/s\s+1\.00×/);
    assert.match(stdout, /Learner catch-up: 3 processes holding 5,000 entries/);
    assert.match(stdout, /^\s*snapshot \+ tail\s.*×$/m);
    // Every temporary directory was removed.
    assert.deepEqual(await readdir(dataRoot), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the snapshot benchmark state machines stream and restore their state, and reject a short stream', async () => {
  const { ArenaStateMachine, GeneratedStateMachine, fillCommand } = await import('../benchmarks/src/snapshot/machines.js');
  const { segmentBytesFor } = await import('../benchmarks/src/snapshot/index.js');
  // Re-cut a stream: chunks of up to 8 bytes (the arena's header) into pieces of 5, others into `piece`.
  async function* split(chunks: Iterable<Uint8Array>, piece: number): AsyncGenerator<Uint8Array> {
    for (const chunk of chunks) {
      const n = chunk.byteLength <= 8 ? 5 : piece;
      for (let at = 0; at < chunk.byteLength; at += n) yield chunk.subarray(at, at + n);
    }
  }
  const size = 3 * 1024 * 1024 + 5;
  const source = new GeneratedStateMachine(size);
  const target = new GeneratedStateMachine(size);
  await target.restore(split(source.snapshot(), 300_000));
  assert.deepEqual(target.restored, source.generated);
  await assert.rejects(new GeneratedStateMachine(size + 1).restore(split(new GeneratedStateMachine(size).snapshot(), 1 << 20)), /restored 3145733 bytes, expected 3145734/);

  const arena = new ArenaStateMachine();
  const commands = Array.from({ length: 140_000 }, (_, i) => ({ index: i + 1, term: 1, data: fillCommand(i, 128, Buffer.alloc(128)) }));
  assert.deepEqual(arena.apply(commands.slice(0, 3)), [1, 2, 3]);
  arena.apply(commands.slice(3));
  const copy = new ArenaStateMachine();
  // The 8-byte header arrives split; the state crosses a 16 MiB arena.
  await copy.restore(split(arena.snapshot(), 333_333));
  assert.deepEqual(copy.digest(), arena.digest());
  assert.equal(copy.digest().count, 140_000);
  const other = new ArenaStateMachine();
  other.apply(commands.slice(1));
  assert.notEqual(other.digest().crc, arena.digest().crc);

  assert.equal(segmentBytesFor(1_000_000), 4 * 1024 * 1024);
  assert.equal(segmentBytesFor(5000), 64 * 1024);
});
