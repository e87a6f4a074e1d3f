import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TUNING, type RaftNodeTuning } from '@flotilla/core';
import { freePorts } from '@flotilla/examples';
import { printTable, formatRate } from '../report.js';
import { BenchProcess, waitFor, wallMs, type NodeChildConfig, type Reply } from './harness.js';

export interface SnapshotBenchOptions {
  readonly quick: boolean;
  /** Write the results as JSON to this file (merged with what the cluster suite wrote there in this run). */
  readonly json?: string;
  /** Write a CPU profile of every process into this directory (node --cpu-prof). */
  readonly cpuProfileDir?: string;
  /** Directory for the temporary data (default: the OS temp dir); removed afterwards. */
  readonly dataRoot?: string;
  /** Size of the transferred snapshot (default 256 MiB, quick 32 MiB). */
  readonly snapshotBytes?: number;
  /** Entries the cluster holds when the learner joins (default 1,000,000, quick 100,000). */
  readonly entries?: number;
  /** Transfer rounds, each next to its own baselines (default 3, quick 1); the medians are reported. */
  readonly rounds?: number;
  /** Tuning for every node (to try other snapshotChunkBytes / snapshotWindowChunks). */
  readonly tuning?: Partial<RaftNodeTuning>;
}

/** One round of the transfer: seconds of each path for the same bytes, measured one after another. */
export interface TransferRound {
  rawSeconds: number;
  diskSeconds: number;
  firstChunkSeconds: number;
  installedSeconds: number;
  restoredSeconds: number;
  learnerRssBytes: number;
}

/** Medians over the rounds (ratios: the median of each round's ratio). */
export interface TransferResult {
  snapshotBytes: number;
  chunkBytes: number;
  windowChunks: number;
  rounds: number;
  /** Leader: snapshot() generating, writing and fsyncing the snapshot (not part of the transfer). */
  takeSeconds: number;
  /** addLearner → the learner's first chunk written. */
  firstChunkSeconds: number;
  /** addLearner → the snapshot durable in the learner's store (checksum verified, fsynced, renamed). */
  installedSeconds: number;
  /** addLearner → snapshotRestored on the learner (its restore() read and checked the whole stream). */
  restoredSeconds: number;
  installedMBps: number;
  restoredMBps: number;
  /** Measured in the same run: the same bytes between two processes over a plain TCP socket, 1 MiB writes. */
  baseline: { rawLoopbackMBps: number; rawLoopbackSeconds: number; diskWriteFsyncMBps: number; diskWriteFsyncSeconds: number };
  installedOfRaw: number;
  restoredOfRaw: number;
  /** Of the disk floor (write + fsync of the same bytes): the bound a snapshot that must be durable cannot beat. */
  installedOfDisk: number;
  restoredOfDisk: number;
  /** The largest learner RSS seen. */
  learnerRssBytes: number;
  samples: TransferRound[];
}

export interface CatchUpRun {
  mode: 'log replay' | 'snapshot + tail';
  /** The leader's commit index when addLearner was called: what the learner had to reach. */
  targetIndex: number;
  seconds: number;
  entriesPerSec: number;
  /** Index of the snapshot the learner received (0: none). */
  snapshotIndex: number;
  snapshotBytes: number;
  /** Entries the learner received through the log. */
  tailEntries: number;
  learnerRssBytes: number;
}

export interface CatchUpResult {
  entries: number;
  commandBytes: number;
  fillSeconds: number;
  fillEntriesPerSec: number;
  runs: CatchUpRun[];
  /** snapshot + tail time over log replay time (below 1: the snapshot is faster). */
  snapshotOfReplay: number;
}

export interface SnapshotBenchResult {
  transfer: TransferResult;
  catchUp: CatchUpResult;
}

const MB = 1e6;
const mbps = (v: number): string => `${v.toFixed(0)} MB/s`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
const COMMAND_BYTES = 128;

function nodeArgs(options: SnapshotBenchOptions): string[] {
  return options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
}

async function waitForLeader(procs: readonly BenchProcess[], timeoutMs = 20_000): Promise<BenchProcess> {
  let leader: BenchProcess | undefined;
  await waitFor(
    'a leader',
    async () => {
      const statuses = await Promise.all(procs.map((p) => p.request('status')));
      const i = statuses.findIndex((s) => s['role'] === 'leader');
      if (i < 0) return false;
      const agree = statuses.filter((s) => s['leader'] === statuses[i]!['leader']).length;
      if (agree <= procs.length / 2) return false;
      leader = procs[i];
      return true;
    },
    timeoutMs,
  );
  return leader!;
}

/** Two processes with a plain TCP socket between them: the loopback baseline. */
async function rawLoopback(args: string[]): Promise<{ push: (bytes: number) => Promise<number>; stop: () => Promise<void> }> {
  const sink = await BenchProcess.start('net-sink', { role: 'net' }, args);
  const source = await BenchProcess.start('net-source', { role: 'net' }, args);
  return {
    /** Seconds to push `bytes` in 1 MiB writes, from the first write until the sink counted them all. */
    push: async (bytes) => {
      const { port } = (await sink.request('listen')) as { port: number };
      const arrived = sink.request('wait', { bytes });
      const { started } = (await source.request('push', { port, bytes, writeBytes: 1024 * 1024 })) as { started: number };
      const { at } = (await arrived) as { at: number };
      return (at - started) / 1000;
    },
    stop: async () => {
      await Promise.all([sink.stop(), source.stop()]);
    },
  };
}

/** Seconds to write `bytes` to a new file in 1 MiB writes, then fsync (what a receiving store must do). */
async function diskWriteFsync(dir: string, bytes: number): Promise<number> {
  const file = join(dir, 'disk-floor');
  const fh = await open(file, 'w');
  const started = wallMs();
  try {
    for (let offset = 0; offset < bytes; offset += 1024 * 1024) {
      const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, bytes - offset)).fill(offset % 251);
      await fh.write(chunk, 0, chunk.byteLength, offset);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  const seconds = (wallMs() - started) / 1000;
  await rm(file, { force: true });
  return seconds;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Part 1: a snapshot of `size` bytes from a leader process to a joining learner process, `rounds`
 * times (a new learner process each time), each round next to a raw loopback push and a disk write
 * of the same size measured just before it: the machine is shared, so medians of interleaved rounds.
 */
async function measureTransfer(dir: string, size: number, rounds: number, options: SnapshotBenchOptions, progress: (line: string) => void): Promise<TransferResult> {
  const args = nodeArgs(options);
  await mkdir(dir, { recursive: true });
  const tuning: Partial<RaftNodeTuning> = { snapshotEntries: 0, snapshotBytes: 0, snapshotKeepEntries: 0, ...options.tuning };
  const ports = await freePorts(1 + rounds);
  const address = (i: number): string => `127.0.0.1:${ports[i]!}`;
  // Segments of 64 KiB and 2,000 entries: the snapshot (keeping no entries) compacts the leader's
  // log from below, so a learner cannot be caught up from the log and must take the snapshot.
  const base = { role: 'node', machine: 'generated', generatedBytes: size, tuning, segmentBytes: 64 * 1024 } as const;
  const raw = await rawLoopback(args);
  const procs: BenchProcess[] = [];
  try {
    const a = await BenchProcess.start('leader', { ...base, id: 'a', dataDir: join(dir, 'a'), port: ports[0]!, members: ['a'], join: false, peers: {} }, args);
    procs.push(a);
    await waitForLeader([a]);
    await a.request('fill', { entries: 2000, bytes: COMMAND_BYTES, batch: 100, concurrency: 4 });
    const taken = await a.request('snapshot');
    if ((taken['firstIndex'] as number) <= 1) throw new Error(`the leader's log was not compacted below its snapshot at ${String(taken['index'])}`);
    const generated = taken['generated'] as { bytes: number; crc: number };
    await raw.push(Math.min(size, 64 * 1024 * 1024)); // warm-up
    const samples: TransferRound[] = [];
    for (let round = 1; round <= rounds; round++) {
      const rawSeconds = await raw.push(size);
      const diskSeconds = await diskWriteFsync(dir, size);
      const id = `b${round}`;
      const b = await BenchProcess.start(`learner ${id}`, { ...base, id, dataDir: join(dir, id), port: ports[round]!, members: [], join: true, peers: { a: address(0) } }, args);
      procs.push(b);
      await a.request('addPeer', { peer: id, address: address(round) });
      const target = (await a.request('status'))['commitIndex'] as number;
      const applied = b.request('waitApplied', { index: target });
      const { started } = (await a.request('addLearner', { peer: id })) as { started: number };
      const done = await applied;
      const marks = done['marks'] as Record<string, number>;
      const restored = done['restored'] as { bytes: number; crc: number } | undefined;
      if (!restored || marks['restored'] === undefined || marks['received'] === undefined) throw new Error(`learner ${id} caught up without a snapshot: ${JSON.stringify(done)}`);
      if (restored.bytes !== size || restored.crc !== generated.crc)
        throw new Error(`learner ${id} restored ${restored.bytes} bytes (crc ${restored.crc}), the leader generated ${generated.bytes} (crc ${generated.crc})`);
      const rss = (await b.request('status'))['rssBytes'] as number;
      await a.request('removeMember', { peer: id });
      await b.stop();
      const sample: TransferRound = {
        rawSeconds,
        diskSeconds,
        firstChunkSeconds: ((marks['firstChunk'] ?? Number.NaN) - started) / 1000,
        installedSeconds: (marks['received']! - started) / 1000,
        restoredSeconds: (marks['restored']! - started) / 1000,
        learnerRssBytes: rss,
      };
      samples.push(sample);
      progress(
        `round ${round}/${rounds}: raw ${mbps(size / sample.rawSeconds / MB)}, disk ${mbps(size / sample.diskSeconds / MB)}, snapshot installed ${mbps(size / sample.installedSeconds / MB)}, restored ${mbps(size / sample.restoredSeconds / MB)}`,
      );
    }
    const m = (key: keyof TransferRound): number => median(samples.map((x) => x[key]));
    const rawSeconds = m('rawSeconds');
    return {
      snapshotBytes: size,
      chunkBytes: tuning.snapshotChunkBytes ?? DEFAULT_TUNING.snapshotChunkBytes,
      windowChunks: tuning.snapshotWindowChunks ?? DEFAULT_TUNING.snapshotWindowChunks,
      rounds,
      takeSeconds: taken['seconds'] as number,
      firstChunkSeconds: m('firstChunkSeconds'),
      installedSeconds: m('installedSeconds'),
      restoredSeconds: m('restoredSeconds'),
      installedMBps: size / m('installedSeconds') / MB,
      restoredMBps: size / m('restoredSeconds') / MB,
      baseline: { rawLoopbackMBps: size / rawSeconds / MB, rawLoopbackSeconds: rawSeconds, diskWriteFsyncMBps: size / m('diskSeconds') / MB, diskWriteFsyncSeconds: m('diskSeconds') },
      installedOfRaw: median(samples.map((x) => x.rawSeconds / x.installedSeconds)),
      restoredOfRaw: median(samples.map((x) => x.rawSeconds / x.restoredSeconds)),
      installedOfDisk: median(samples.map((x) => x.diskSeconds / x.installedSeconds)),
      restoredOfDisk: median(samples.map((x) => x.diskSeconds / x.restoredSeconds)),
      learnerRssBytes: Math.max(...samples.map((x) => x.learnerRssBytes)),
      samples,
    };
  } finally {
    await Promise.all([...procs.map((p) => p.stop()), raw.stop()]);
  }
}

/** A power of two between 64 KiB and 64 MiB, about 1/40 of the log of `entries` 128-byte commands. */
export function segmentBytesFor(entries: number): number {
  const target = (entries * (COMMAND_BYTES + 64)) / 40;
  let bytes = 64 * 1024;
  while (bytes * 2 <= target && bytes < 64 * 1024 * 1024) bytes *= 2;
  return bytes;
}

/** Part 2: a 3-process cluster holding `entries` entries; a 4th process joins as a learner, by log replay and then by snapshot. */
async function measureCatchUp(dir: string, entries: number, options: SnapshotBenchOptions, progress: (line: string) => void): Promise<CatchUpResult> {
  const args = nodeArgs(options);
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const ports = await freePorts(ids.length);
  const address = (id: string): string => `127.0.0.1:${ports[ids.indexOf(id)]!}`;
  // No snapshot policy while filling: the log keeps every entry, so the first learner replays it all.
  // snapshotKeepEntries: the default 10,000 for 1M entries, 1% of the log for fewer.
  const keep = Math.min(DEFAULT_TUNING.snapshotKeepEntries, Math.floor(entries / 100));
  const tuning: Partial<RaftNodeTuning> = { snapshotEntries: 0, snapshotBytes: 0, snapshotKeepEntries: keep, ...options.tuning };
  // The WAL compacts whole segments: size them so that the log spans ~40 of them (4 MiB for 1M
  // entries), or much of it would stay after the snapshot (the default 64 MiB holds ~400k entries).
  const segmentBytes = segmentBytesFor(entries);
  const config = (id: string, joining: boolean, peers: readonly string[]): NodeChildConfig => ({
    role: 'node',
    id,
    dataDir: join(dir, id),
    port: ports[ids.indexOf(id)]!,
    members: joining ? [] : peers.concat(id),
    join: joining,
    peers: Object.fromEntries(peers.map((p) => [p, address(p)])),
    machine: 'arena',
    tuning,
    segmentBytes,
  });
  const voters = ['n1', 'n2', 'n3'];
  const procs = new Map<string, BenchProcess>();
  try {
    await Promise.all(
      voters.map(async (id) => {
        procs.set(id, await BenchProcess.start(id, config(id, false, voters.filter((v) => v !== id)), args));
      }),
    );
    const leader = await waitForLeader(voters.map((id) => procs.get(id)!));
    progress(`filling ${entries.toLocaleString('en')} entries of ${COMMAND_BYTES} bytes`);
    const fill = await leader.request('fill', { entries, bytes: COMMAND_BYTES, batch: 1000, concurrency: 8 });
    const leaderDigest = await leader.request('digest');
    if (leaderDigest['count'] !== entries) throw new Error(`the leader applied ${String(leaderDigest['count'])} commands, not ${entries}`);

    const join1 = async (id: string, mode: CatchUpRun['mode']): Promise<CatchUpRun> => {
      const learner = await BenchProcess.start(id, config(id, true, voters), args);
      procs.set(id, learner);
      await Promise.all(voters.map((v) => procs.get(v)!.request('addPeer', { peer: id, address: address(id) })));
      const status = await leader.request('status');
      const target = status['commitIndex'] as number;
      const applied = learner.request('waitApplied', { index: target });
      const { started } = (await leader.request('addLearner', { peer: id })) as { started: number };
      const done = await applied;
      const seconds = ((done['at'] as number) - started) / 1000;
      const digest = await learner.request('digest');
      if (digest['count'] !== leaderDigest['count'] || digest['crc'] !== leaderDigest['crc'])
        throw new Error(`learner ${id} holds ${String(digest['count'])} commands (crc ${String(digest['crc'])}), the leader ${String(leaderDigest['count'])} (crc ${String(leaderDigest['crc'])})`);
      const snapshotIndex = (done['snapshotIndex'] as number) ?? 0;
      const rss = (await learner.request('status'))['rssBytes'] as number;
      // The learner is done: take it out of the cluster so it costs nothing in the next run.
      await leader.request('removeMember', { peer: id });
      await learner.stop();
      procs.delete(id);
      return { mode, targetIndex: target, seconds, entriesPerSec: target / seconds, snapshotIndex, snapshotBytes: 0, tailEntries: target - snapshotIndex, learnerRssBytes: rss };
    };

    progress('learner n4 catching up by log replay');
    const replay = await join1('n4', 'log replay');
    if (replay.snapshotIndex !== 0) throw new Error(`the replay learner received a snapshot at ${replay.snapshotIndex}`);
    // Snapshot now, on the leader: the log is compacted to index − snapshotKeepEntries.
    const taken = await leader.request('snapshot');
    progress(`leader snapshot at ${String(taken['index'])} (${mib(taken['bytes'] as number)}, log now from ${String(taken['firstIndex'])}); learner n5 catching up by snapshot + tail`);
    const snap = await join1('n5', 'snapshot + tail');
    if (snap.snapshotIndex === 0) throw new Error('the snapshot learner caught up without a snapshot');
    snap.snapshotBytes = taken['bytes'] as number;
    return {
      entries,
      commandBytes: COMMAND_BYTES,
      fillSeconds: fill['seconds'] as number,
      fillEntriesPerSec: entries / (fill['seconds'] as number),
      runs: [replay, snap],
      snapshotOfReplay: snap.seconds / replay.seconds,
    };
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
  }
}

/** Writes `result` under the key `snapshot` of the JSON file, keeping what another suite wrote there in this run. */
async function writeJson(file: string, result: SnapshotBenchResult): Promise<void> {
  let out: Record<string, unknown> = {};
  const startedAt = performance.timeOrigin;
  if (existsSync(file) && statSync(file).mtimeMs >= startedAt) {
    const earlier = JSON.parse(await readFile(file, 'utf8')) as unknown;
    // The cluster suite writes an array of its results.
    out = Array.isArray(earlier) ? { cluster: earlier } : (earlier as Record<string, unknown>);
  }
  out['snapshot'] = result;
  await writeFile(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`results written to ${file}`);
}

const secs = (v: number): string => `${v.toFixed(2)} s`;

/**
 * Snapshot transfer throughput next to raw loopback TCP, and a learner's catch-up by log replay and
 * by snapshot: real processes, FileStorage + FileSnapshotStore in temporary directories, the
 * WebSocket transport on 127.0.0.1.
 */
export async function runSnapshotBenchmark(options: SnapshotBenchOptions): Promise<SnapshotBenchResult> {
  const size = options.snapshotBytes ?? (options.quick ? 32 : 256) * 1024 * 1024;
  const entries = options.entries ?? (options.quick ? 100_000 : 1_000_000);
  const rounds = options.rounds ?? (options.quick ? 1 : 3);
  const progress = (line: string): void => console.log(`  ${line} ...`);
  const dir = await mkdtemp(join(options.dataRoot ?? tmpdir(), 'flotilla-snapshot-bench-'));
  let result: SnapshotBenchResult;
  try {
    console.log(`\nSnapshot benchmark: a ${mib(size)} snapshot, then a learner joining a cluster of ${entries.toLocaleString('en')} entries`);
    progress('raw loopback, disk floor and snapshot transfer');
    const transfer = await measureTransfer(join(dir, 'transfer'), size, rounds, options, progress);
    const catchUp = await measureCatchUp(join(dir, 'catch-up'), entries, options, progress);
    result = { transfer, catchUp };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const t = result.transfer;
  printTable(
    `Snapshot transfer: ${mib(t.snapshotBytes)}, leader process → joining learner process, FileSnapshotStore on disk, WebSocket transport (chunks ${t.chunkBytes / 1024} KiB, window ${t.windowChunks}); medians of ${t.rounds} interleaved rounds; the leader took the snapshot in ${secs(t.takeSeconds)}`,
    ['path', 'time', 'throughput', 'of raw loopback', 'target ≥ 0.50×', 'of disk floor'],
    [
      ['raw loopback TCP, 1 MiB writes (baseline)', secs(t.baseline.rawLoopbackSeconds), mbps(t.baseline.rawLoopbackMBps), '1.00×', '', ''],
      ['disk: write 1 MiB at a time + fsync (floor)', secs(t.baseline.diskWriteFsyncSeconds), mbps(t.baseline.diskWriteFsyncMBps), `${(t.baseline.diskWriteFsyncMBps / t.baseline.rawLoopbackMBps).toFixed(2)}×`, '', '1.00×'],
      ['addLearner → snapshot durable on the learner', secs(t.installedSeconds), mbps(t.installedMBps), `${t.installedOfRaw.toFixed(2)}×`, t.installedOfRaw >= 0.5 ? 'met' : 'not met', `${t.installedOfDisk.toFixed(2)}×`],
      ['addLearner → snapshotRestored (restore checked it)', secs(t.restoredSeconds), mbps(t.restoredMBps), `${t.restoredOfRaw.toFixed(2)}×`, t.restoredOfRaw >= 0.5 ? 'met' : 'not met', `${t.restoredOfDisk.toFixed(2)}×`],
    ],
  );
  const c = result.catchUp;
  printTable(
    `Learner catch-up: 3 processes holding ${c.entries.toLocaleString('en')} entries of ${c.commandBytes} bytes (filled at ${formatRate(c.fillEntriesPerSec)}), a 4th process added with addLearner, until it applied the leader's commit index`,
    ['mode', 'time', 'entries/s', 'snapshot', 'entries via log', 'learner RSS', 'of log replay'],
    c.runs.map((r) => [
      r.mode,
      secs(r.seconds),
      formatRate(r.entriesPerSec),
      r.snapshotIndex > 0 ? `${mib(r.snapshotBytes)} at ${r.snapshotIndex}` : 'none',
      r.tailEntries.toLocaleString('en'),
      mib(r.learnerRssBytes),
      `${(r.seconds / c.runs[0]!.seconds).toFixed(2)}×`,
    ]),
  );
  if (options.json) await writeJson(options.json, result);
  return result;
}
