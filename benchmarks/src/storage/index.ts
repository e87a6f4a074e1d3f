import { mkdtempSync, openSync, closeSync, readdirSync, readSync, rmSync, writeSync, fdatasyncSync } from 'node:fs';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import type { Entry } from '@flotilla/core';
import { FileStorage, native, RECORD_HEADER_BYTES } from '@flotilla/storage';
import { formatRate, printTable } from '../report.js';
import type { RssRun } from './rss-child.js';

/**
 * Storage benchmarks: durable appends against a plain C write+fdatasync baseline measured in the
 * same run, reads from the in-memory tail and from disk against a plain pread of the same bytes,
 * and peak RSS over a long append run with prefix compaction.
 */

const PAYLOAD_BYTES = 128;
const RECORD_BYTES = RECORD_HEADER_BYTES + PAYLOAD_BYTES;

function tempDir(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function us(ns: number): string {
  return ns >= 10_000_000 ? `${(ns / 1e6).toFixed(1)} ms` : `${Math.round(ns / 1000)} µs`;
}

/** Table cells for the given percentiles of sorted latencies (ns), then their maximum. */
function latencyCells(sorted: Float64Array, percentiles: readonly number[]): string[] {
  return [...percentiles.map((p) => us(percentile(sorted, p))), us(sorted[sorted.length - 1] ?? 0)];
}

interface AppendResult {
  readonly perSec: number;
  readonly p50: number; // ns
  readonly p99: number;
  /** Entries per group commit (write + fdatasync) the writer thread made; 1 for the C baseline's unbatched loop. */
  readonly perSync: number;
}

/** Closed loop: `inflight` single-entry write() calls outstanding until `total` are durable. */
async function flotillaAppends(inflight: number, measured: number): Promise<AppendResult> {
  const t = tempDir();
  let syncs = 0;
  const s = await FileStorage.open(t.dir, { observer: { appended: () => undefined, synced: (n) => void (syncs += n) } });
  const data = new Uint8Array(PAYLOAD_BYTES).fill(0xab);
  const latencies = new Float64Array(measured);
  // Warm up: let the background preallocator finish the next segment before measuring. The first
  // entry goes to a growing segment (nothing is preallocated yet when a new log is opened); the
  // second moves the log to the preallocated one and starts the preallocation of the segment after
  // it, which must not run during the measured appends either.
  for (const index of [1, 2]) {
    await s.write(undefined, [{ index, term: 1, type: 0, data }]);
    await new Promise((r) => setTimeout(r, 400));
  }
  const first = 3;
  const last = first + measured - 1;
  let next = first;
  let completed = 0;
  syncs = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    if (measured <= 0) resolve();
    const issue = (): void => {
      const index = next++;
      const at = performance.now();
      const entries: Entry[] = [{ index, term: 1, type: 0, data }];
      s.write(undefined, entries).then(() => {
        latencies[completed++] = (performance.now() - at) * 1e6;
        if (completed === measured) resolve();
        else if (next <= last) issue();
      }, reject);
    };
    for (let i = 0; i < Math.min(inflight, measured); i++) issue();
  });
  const elapsed = (performance.now() - started) * 1e6;
  await s.close();
  t.done();
  latencies.sort();
  return { perSec: (measured / elapsed) * 1e9, p50: percentile(latencies, 50), p99: percentile(latencies, 99), perSync: measured / Math.max(1, syncs) };
}

/** The C baseline: `batch` records per write() + fdatasync(), into a zero-filled file. */
async function baseline(batch: number, total: number): Promise<AppendResult> {
  const t = tempDir();
  const r = await native.baselineWriteSync(join(t.dir, 'baseline'), RECORD_BYTES, total, batch);
  t.done();
  const lat = Float64Array.from(r.batchLatencyNs).sort();
  return { perSec: (total / r.elapsedNs) * 1e9, p50: percentile(lat, 50), p99: percentile(lat, 99), perSync: batch };
}

/** Runs `run` `times` times, alternating with the other measurements, and keeps the median run. */
function median(results: AppendResult[]): AppendResult {
  return [...results].sort((a, b) => a.perSec - b.perSec)[Math.floor(results.length / 2)]!;
}

async function appendBenchmarks(quick: boolean): Promise<void> {
  const rows: string[][] = [];
  const reps = quick ? 1 : 3; // quick: one run per row, so that `pnpm bench -- --quick` stays under a minute
  const unbatchedRuns: AppendResult[] = [];
  for (let i = 0; i < reps; i++) unbatchedRuns.push(await baseline(1, quick ? 500 : 4000));
  const unbatched = median(unbatchedRuns);
  for (const inflight of [1, 16, 256, 4096]) {
    const total = Math.max(quick ? 2000 : 5000, Math.min(inflight * (quick ? 200 : 1000), quick ? 200_000 : 2_000_000));
    const oursRuns: AppendResult[] = [];
    const batchedRuns: AppendResult[] = [];
    const sameRuns: AppendResult[] = [];
    for (let i = 0; i < reps; i++) {
      const ours = await flotillaAppends(inflight, inflight === 1 ? (quick ? 500 : 4000) : total);
      oursRuns.push(ours);
      if (inflight > 1) batchedRuns.push(await baseline(inflight, total));
      // The C loop again with the batch size flotilla's writer reached in this very run: what the
      // same group commits cost without the library around them.
      sameRuns.push(await baseline(Math.max(1, Math.round(ours.perSync)), inflight === 1 ? (quick ? 500 : 4000) : total));
    }
    const ours = median(oursRuns);
    const batched = inflight === 1 ? unbatched : median(batchedRuns);
    const same = median(sameRuns);
    rows.push([
      String(inflight),
      formatRate(ours.perSec),
      `${us(ours.p50)} / ${us(ours.p99)}`,
      formatRate(batched.perSec),
      `${us(batched.p50)} / ${us(batched.p99)}`,
      `${(ours.perSec / batched.perSec).toFixed(2)}×`,
      ours.perSync.toFixed(1),
      formatRate(same.perSec),
      `${(ours.perSec / same.perSec).toFixed(2)}×`,
      formatRate(unbatched.perSec),
      `${(ours.perSec / unbatched.perSec).toFixed(1)}×`,
    ]);
  }
  printTable(
    `Durable appends, ${PAYLOAD_BYTES}-byte entries (one write() per entry; C baseline: write+fdatasync of the same ${RECORD_BYTES}-byte records, as many per call as are in flight ("C batched"), as many as flotilla's group commits held in the same run ("C same batches"), or one; its latency is per write+fdatasync; ${reps === 1 ? "one run each" : `median of ${reps} runs`})`,
    ['in flight', 'flotilla', 'p50 / p99', 'C batched', 'p50 / p99', 'vs batched', 'entries per sync', 'C same batches', 'vs same', 'C unbatched', 'vs unbatched'],
    rows,
  );
}

/**
 * Append latency while the log is compacted as it grows (what a node's snapshot policy does),
 * against the same run without compaction. Dropping a 64 MiB segment gives its blocks back to the
 * filesystem, which on ext4 holds the journal long enough to stall every write behind it unless it
 * is done a little at a time off the writer thread.
 */
async function compactionBenchmark(quick: boolean): Promise<void> {
  const total = quick ? 1_000_000 : 4_000_000;
  const run = async (compacting: boolean): Promise<{ perSec: number; latencies: Float64Array; dropped: number }> => {
    const t = tempDir();
    const s = await FileStorage.open(t.dir);
    const data = new Uint8Array(PAYLOAD_BYTES).fill(0xce);
    for (const index of [1, 2]) {
      await s.write(undefined, [{ index, term: 1, type: 0, data }]);
      await new Promise((r) => setTimeout(r, 400)); // the preallocations, as in the append runs
    }
    const latencies = new Float64Array(total);
    let next = 3;
    let completed = 0;
    let dropped = 0;
    let compaction: Promise<void> | undefined;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const issue = (): void => {
        const at = performance.now();
        s.write(undefined, [{ index: next++, term: 1, type: 0, data }]).then(() => {
          latencies[completed++] = (performance.now() - at) * 1e6;
          // Keep 100,000 entries once more than 600,000 are held (a 64 MiB segment is ~438,000).
          if (compacting && !compaction && s.lastIndex() - s.firstIndex() > 600_000) {
            const first = s.firstIndex();
            compaction = s.compact(s.lastIndex() - 100_000).then(() => {
              if (s.firstIndex() !== first) dropped++;
              compaction = undefined;
            }, reject);
          }
          if (completed === total) resolve();
          else if (next <= total + 2) issue();
        }, reject);
      };
      for (let i = 0; i < 256; i++) issue();
    });
    const elapsed = performance.now() - started;
    await compaction;
    await s.close();
    t.done();
    return { perSec: (total / elapsed) * 1000, latencies: latencies.sort(), dropped };
  };
  const without = await run(false);
  const withCompaction = await run(true);
  const row = (name: string, r: { perSec: number; latencies: Float64Array; dropped: number }): string[] => [
    name,
    formatRate(r.perSec),
    String(r.dropped),
    ...latencyCells(r.latencies, [50, 99, 99.9, 99.99]),
    `${(percentile(r.latencies, 99.99) / percentile(without.latencies, 99.99)).toFixed(2)}×`,
  ];
  printTable(
    `Appends while the log is compacted: ${total.toLocaleString('en')} appends, 256 in flight, 64 MiB segments, 100,000 entries kept whenever 600,000 are held (latency of each append)`,
    ['log', 'appends/s', 'compactions', 'p50', 'p99', 'p99.9', 'p99.99', 'max', 'p99.99 vs without'],
    [row('never compacted (baseline)', without), row('compacted as it grows', withCompaction)],
  );
}

async function readBenchmarks(quick: boolean): Promise<void> {
  const t = tempDir();
  const count = 20_000;
  const range = 10_000;
  const data = new Uint8Array(PAYLOAD_BYTES).fill(1);
  const build = await FileStorage.open(t.dir, { preallocate: false }); // one segment: the pread baseline reads the same bytes
  for (let i = 1; i <= count; i += 1000) {
    const entries: Entry[] = [];
    for (let k = i; k < i + 1000; k++) entries.push({ index: k, term: 1, type: 0, data });
    await build.write(undefined, entries);
  }
  // Tail: entries still in memory. Disk: a store reopened with no tail cache (pread, page cache).
  const disk = build;
  await disk.close();
  // A tail cache large enough for all of them: with the default (1 MiB, about 6,900 entries) the
  // range below would mostly come from the segment files and the row would measure the disk.
  const tail = await FileStorage.open(join(t.dir, 'tail'), { tailCacheBytes: 2 * count * (PAYLOAD_BYTES + 64) });
  for (let i = 1; i <= count; i += 1000) {
    const entries: Entry[] = [];
    for (let k = i; k < i + 1000; k++) entries.push({ index: k, term: 1, type: 0, data });
    await tail.write(undefined, entries);
  }
  const cold = await FileStorage.open(t.dir, { tailCacheBytes: 0, preallocate: false });
  // Baseline: one plain pread of the same bytes (what the disk path must at least do).
  const segment = join(t.dir, 'wal', '00000000000000000001.wal');
  const fd = openSync(segment, 'r');
  const buf = Buffer.allocUnsafe(range * RECORD_BYTES);
  const time = quick ? 400 : 2000;
  const bench = new Bench({ time, warmupTime: time / 5 });
  bench.add('tail', () => void tail.entries(5001, 5001 + range, Infinity));
  bench.add('disk', () => void cold.entries(5001, 5001 + range, Infinity));
  bench.add('pread', () => {
    if (readSync(fd, buf, 0, buf.length, 64 + 5000 * RECORD_BYTES) !== buf.length) throw new Error('short baseline read');
  });
  await bench.run();
  const rate = (name: string): number => {
    const task = bench.tasks.find((x) => x.name === name);
    return task?.result && 'throughput' in task.result ? task.result.throughput.mean * range : 0;
  };
  const base = rate('pread');
  printTable(
    `Reads of a range of ${range.toLocaleString('en')} entries (${PAYLOAD_BYTES}-byte payloads); baseline: one plain pread of the same bytes (no parsing)`,
    ['source', 'entries/s', 'MB/s of records', 'vs pread'],
    ['tail', 'disk'].map((name) => [
      name === 'tail' ? 'in-memory tail' : 'disk (pread + CRC check + decode)',
      formatRate(rate(name)),
      ((rate(name) * RECORD_BYTES) / 1e6).toFixed(0),
      `${(rate(name) / base).toFixed(2)}×`,
    ]).concat([['plain pread', formatRate(base), ((base * RECORD_BYTES) / 1e6).toFixed(0), '1.00×']]),
  );
  closeSync(fd);
  await tail.close();
  await cold.close();
  t.done();
}

async function rssBenchmark(quick: boolean): Promise<void> {
  const total = quick ? 1_000_000 : 10_000_000;
  const child = fork(fileURLToPath(new URL('./rss-child.ts', import.meta.url)), [String(total)], {
    execArgv: ['--expose-gc', '--import', 'tsx', '--conditions=flotilla-source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [run] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => Promise.reject(new Error(`the RSS benchmark process exited with ${String(code)}`))),
  ])) as [RssRun];
  await once(child, 'exit');
  const mb = (n: number): string => `${(n / 1048576).toFixed(0)} MiB`;
  const half = Math.floor(run.peakByTenth.length / 2);
  const peakFirst = Math.max(...run.peakByTenth.slice(0, half));
  const peakSecond = Math.max(...run.peakByTenth.slice(half));
  const live = run.liveByTenth;
  printTable(
    `Peak RSS appending ${total.toLocaleString('en')} ${PAYLOAD_BYTES}-byte entries (1000 per write, 16 writes in flight, compaction every 500k; a process with Node's default heap settings)`,
    ['entries/s', 'RSS at start', 'peak, first half', 'peak, second half', 'second / first', 'live heap after GC, first / last tenth', `reopen (${run.reopenedEntries.toLocaleString('en')} entries)`],
    [[
      formatRate(total / run.seconds), mb(run.rssStart), mb(peakFirst), mb(peakSecond), `${(peakSecond / peakFirst).toFixed(2)}×`,
      `${(live[0]! / 1048576).toFixed(1)} / ${(live[live.length - 1]! / 1048576).toFixed(1)} MiB`, `${run.reopenMs.toFixed(0)} ms`,
    ]],
  );
}

/**
 * Reopening a log of 1,000,000 entries (the target: under a second), next to reading the same
 * segment files once with plain read() calls: open must read and check every record, so that
 * read is its floor. Both run on a warm page cache; median of 3.
 */
async function reopenBenchmark(): Promise<void> {
  const t = tempDir();
  const total = 1_000_000;
  const s = await FileStorage.open(t.dir);
  const data = new Uint8Array(PAYLOAD_BYTES).fill(5);
  const pending: Promise<void>[] = [];
  for (let i = 1; i <= total; i += 5000) {
    const entries: Entry[] = [];
    for (let k = i; k < i + 5000; k++) entries.push({ index: k, term: 1 + Math.floor(k / 100_000), type: 0, data });
    pending.push(s.write(undefined, entries));
    if (pending.length >= 8) await pending.shift();
  }
  await Promise.all(pending);
  await s.close();
  const walDir = join(t.dir, 'wal');
  const chunk = Buffer.allocUnsafe(1 << 20);
  const opens: number[] = [];
  const reads: number[] = [];
  let held = 0;
  for (let round = 0; round < 3; round++) {
    let started = performance.now();
    const reopened = await FileStorage.open(t.dir);
    opens.push(performance.now() - started);
    held = reopened.lastIndex() - reopened.firstIndex() + 1;
    await reopened.close();
    started = performance.now();
    for (const name of readdirSync(walDir).filter((n) => n.endsWith('.wal'))) {
      const fd = openSync(join(walDir, name), 'r');
      while (readSync(fd, chunk, 0, chunk.length, null) > 0);
      closeSync(fd);
    }
    reads.push(performance.now() - started);
  }
  t.done();
  if (held !== total) throw new Error(`reopened log holds ${held} entries, not ${total}`);
  const mid = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
  printTable(
    `Reopening a log of ${total.toLocaleString('en')} ${PAYLOAD_BYTES}-byte entries (scan and CRC check of every record; target under 1 s), against reading its segment files once (median of 3)`,
    ['open', 'plain read of the segments', 'vs read', 'vs the 1 s target'],
    [[`${mid(opens).toFixed(0)} ms`, `${mid(reads).toFixed(0)} ms`, `${(mid(opens) / mid(reads)).toFixed(2)}×`, `${(mid(opens) / 1000).toFixed(2)}×`]],
  );
}

/** fdatasync after overwriting preallocated (zero-filled) blocks vs after appending to a growing file. */
function preallocationCheck(quick: boolean): void {
  const t = tempDir();
  const n = quick ? 500 : 2000;
  const rec = Buffer.alloc(RECORD_BYTES * 16, 7);
  const measure = (path: string, prefill: boolean): number => {
    const fd = openSync(path, 'w+');
    if (prefill) {
      const zeros = Buffer.alloc(1 << 20);
      for (let off = 0; off < n * rec.length + zeros.length; off += zeros.length) writeSync(fd, zeros, 0, zeros.length, off);
      fdatasyncSync(fd);
    }
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      writeSync(fd, rec, 0, rec.length, i * rec.length);
      fdatasyncSync(fd);
    }
    const ns = ((performance.now() - started) * 1e6) / n;
    closeSync(fd);
    return ns;
  };
  const grow = measure(join(t.dir, 'grow'), false);
  const pre = measure(join(t.dir, 'pre'), true);
  t.done();
  printTable('Why segments are zero-filled ahead of time: write+fdatasync of 16 records', ['file', 'per write+fdatasync', 'vs growing'], [
    ['growing (append)', us(grow), '1.00×'],
    ['zero-filled ahead', us(pre), `${(pre / grow).toFixed(2)}×`],
  ]);
}

/**
 * Group commits while the log rolls over to new segments: 256 appends in flight through several
 * 16 MiB segments, with the next segment zero-filled in the background (the default) and, as the
 * baseline in the same run, without (each segment grows as it is written).
 */
async function rolloverBenchmark(quick: boolean): Promise<void> {
  const total = quick ? 300_000 : 2_000_000;
  const segmentBytes = 16 * 1024 * 1024;
  const run = async (preallocate: boolean): Promise<{ perSec: number; syncs: Float64Array; segments: number }> => {
    const t = tempDir();
    const syncs: number[] = [];
    const s = await FileStorage.open(t.dir, { segmentBytes, preallocate, observer: { appended: () => undefined, synced: (n, seconds) => syncs.push((seconds / n) * 1e9) } });
    const data = new Uint8Array(PAYLOAD_BYTES).fill(0xcd);
    await s.write(undefined, [{ index: 1, term: 1, type: 0, data }]);
    await new Promise((r) => setTimeout(r, 400)); // the first preallocation
    syncs.length = 0;
    let next = 2;
    let completed = 0;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const issue = (): void => {
        s.write(undefined, [{ index: next++, term: 1, type: 0, data }]).then(() => {
          if (++completed === total) resolve();
          else if (next <= total + 1) issue();
        }, reject);
      };
      for (let i = 0; i < 256; i++) issue();
    });
    const elapsed = performance.now() - started;
    await s.close();
    const segments = readdirSync(join(t.dir, 'wal')).filter((n) => n.endsWith('.wal')).length;
    t.done();
    return { perSec: (total / elapsed) * 1000, syncs: Float64Array.from(syncs).sort(), segments };
  };
  const without = await run(false);
  const withPrealloc = await run(true);
  const row = (name: string, r: { perSec: number; syncs: Float64Array; segments: number }): string[] => [
    name,
    formatRate(r.perSec),
    String(r.segments),
    ...latencyCells(r.syncs, [50, 99, 99.9]),
  ];
  printTable(
    `Group commits across segment rollovers: ${total.toLocaleString('en')} appends, 256 in flight, ${segmentBytes >> 20} MiB segments (latency of each write + fdatasync on the writer thread)`,
    ['next segment', 'appends/s', 'segments', 'p50', 'p99', 'p99.9', 'max'],
    [row('grows as written (baseline)', without), row('zero-filled ahead (default)', withPrealloc)],
  );
}

export async function runStorageBenchmarks(options: { quick: boolean }): Promise<void> {
  console.log(`\nStorage (CRC32C in hardware: ${native.crc32cHardware ? 'yes' : 'no'})`);
  preallocationCheck(options.quick);
  await appendBenchmarks(options.quick);
  await rolloverBenchmark(options.quick);
  await compactionBenchmark(options.quick);
  await readBenchmarks(options.quick);
  await reopenBenchmark();
  await rssBenchmark(options.quick);
}
