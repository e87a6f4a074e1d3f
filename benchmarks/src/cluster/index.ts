import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalCluster } from '@flotilla/examples';
import { printTable, formatRate } from '../report.js';
import { defaultDataRoot, measureFdatasync, measureReplicationRound, measureRoundTrip } from './floor.js';

export interface ClusterBenchOptions {
  readonly quick: boolean;
  /** Write the results as JSON to this file. */
  readonly json?: string;
  readonly levels?: readonly number[];
  /** Directory for the nodes' data (default: the OS temp dir, on the local disk). */
  readonly dataRoot?: string;
  /** Write a CPU profile of every node into this directory (node --cpu-prof). */
  readonly cpuProfileDir?: string;
  /** Measured seconds per level (default 10, quick 2). */
  readonly seconds?: number;
}

export interface ClusterResult {
  concurrency: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  leaderRssBytes: number;
  /** Leader RSS sampled every second while measuring (flat means no leak). */
  leaderRssSamples: number[];
  failures: number;
}

/**
 * W-propose: 3 voters, each its own process on 127.0.0.1 with its own data directory, the durable
 * WAL (fdatasync before a follower acknowledges and before the leader counts itself), the
 * WebSocket transport, 128-byte commands, closed-loop proposers inside the leader process.
 */
export async function runClusterBenchmark(options: ClusterBenchOptions): Promise<ClusterResult[]> {
  const root = options.dataRoot ?? defaultDataRoot();
  const warmupMs = options.quick ? 500 : 2000;
  const durationMs = options.seconds !== undefined ? options.seconds * 1000 : options.quick ? 2000 : 10_000;
  const levels = options.levels ?? [1, 32, 256, 4096];

  const fsync = measureFdatasync(root, options.quick ? 200 : 1000);
  const rtt = await measureRoundTrip(options.quick ? 2000 : 10_000);
  const round = await measureReplicationRound(root, options.quick ? 300 : 2000);
  console.log(`\nFloor, measured now: fdatasync after a 4 KiB append p50 ${fsync.p50Us.toFixed(0)} µs (p99 ${fsync.p99Us.toFixed(0)}), loopback TCP round trip in one process p50 ${rtt.p50Us.toFixed(0)} µs (p99 ${rtt.p99Us.toFixed(0)})`);
  console.log(`Round floor: 128 bytes from this process to two follower processes, each side writing it into a zero-filled file and fdatasyncing, until the local write and one follower's answer are done: p50 ${round.p50Us.toFixed(0)} µs (p99 ${round.p99Us.toFixed(0)})`);

  const dir = await mkdtemp(join(root, 'flotilla-bench-'));
  const results: ClusterResult[] = [];
  let progressLine = '';
  const cluster = await LocalCluster.start({
    size: 3,
    baseDir: dir,
    // The workload measures the engine: the state machine only counts what it applies.
    ledgerHashing: false,
    requestTimeoutMs: warmupMs + durationMs + 60_000,
    nodeArgs: options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [],
    onEvent: (event) => {
      if (event['event'] === 'progress' && process.stdout.isTTY) {
        progressLine = `  ${formatRate((event['completed'] as number) / ((event['elapsedMs'] as number) / 1000))} so far, ${((event['elapsedMs'] as number) / 1000).toFixed(0)} s`;
        process.stdout.write(`\r${progressLine}   `);
      }
    },
  });
  try {
    const leader = await cluster.waitForLeader(15_000);
    for (const concurrency of levels) {
      if (!process.stdout.isTTY) console.log(`  C=${concurrency}: ${warmupMs / 1000} s warm-up, ${durationMs / 1000} s measured ...`);
      const reply = await cluster.request(leader, 'load', { concurrency, warmupMs, durationMs, payloadBytes: 128 });
      if (process.stdout.isTTY) process.stdout.write(`\r${' '.repeat(progressLine.length + 3)}\r`);
      if (!reply.ok) throw new Error(`load at C=${concurrency} failed: ${JSON.stringify(reply['error'])}`);
      results.push({
        concurrency,
        opsPerSec: reply['opsPerSec'] as number,
        p50Us: reply['p50Us'] as number,
        p99Us: reply['p99Us'] as number,
        p999Us: reply['p999Us'] as number,
        maxUs: reply['maxUs'] as number,
        leaderRssBytes: reply['rssBytes'] as number,
        leaderRssSamples: (reply['rssSamples'] as number[]) ?? [],
        failures: reply['failures'] as number,
      });
    }
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
  printTable(
    `Cluster (W-propose): 3 processes, durable WAL, WebSocket transport, 128-byte commands, ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s`,
    ['C', 'proposals/s', 'p50 µs', 'p99 µs', 'p99.9 µs', 'p50 / round floor p50', 'p50 / fdatasync p50', 'leader RSS (first → last s)'],
    results.map((r) => [
      String(r.concurrency),
      formatRate(r.opsPerSec),
      String(r.p50Us),
      String(r.p99Us),
      String(r.p999Us),
      `${(r.p50Us / round.p50Us).toFixed(2)}×`,
      `${(r.p50Us / fsync.p50Us).toFixed(2)}×`,
      r.leaderRssSamples.length > 1
        ? `${(r.leaderRssSamples[0]! / 1048576).toFixed(0)} → ${(r.leaderRssSamples[r.leaderRssSamples.length - 1]! / 1048576).toFixed(0)} MiB`
        : `${(r.leaderRssBytes / 1048576).toFixed(0)} MiB`,
    ]),
  );
  if (options.json) {
    const floor = {
      fdatasyncP50Us: fsync.p50Us,
      fdatasyncP99Us: fsync.p99Us,
      roundTripP50Us: rtt.p50Us,
      roundTripP99Us: rtt.p99Us,
      replicationRoundP50Us: round.p50Us,
      replicationRoundP99Us: round.p99Us,
    };
    await writeFile(options.json, JSON.stringify(results.map((r) => ({ ...r, floor })), null, 2) + '\n');
    console.log(`results written to ${options.json}`);
  }
  return results;
}
