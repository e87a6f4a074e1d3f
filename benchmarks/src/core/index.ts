import { PerformanceObserver } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { ArrayFloor, ProtocolCluster } from './protocol.js';
import { printTable, formatRate } from '../report.js';
import { runtimeThroughput } from './runtime.js';

const PAYLOAD = new Uint8Array(128).fill(7);

/** Heap bytes allocated per entry over `entries` entries, or undefined if a GC ran meanwhile. */
function allocationPerEntry(run: (batch: readonly Uint8Array[]) => void, batchSize: number, entries: number): number | undefined {
  const batch = Array.from({ length: batchSize }, () => PAYLOAD);
  for (let i = 0; i < 50; i++) run(batch); // warm up
  const gcFn = (globalThis as { gc?: () => void }).gc;
  gcFn?.();
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage().heapUsed;
  const rounds = Math.max(1, Math.floor(entries / batchSize));
  for (let i = 0; i < rounds; i++) run(batch);
  const after = process.memoryUsage().heapUsed;
  observer.disconnect();
  if (collections > 0 || !gcFn) return undefined;
  return (after - before) / (rounds * batchSize);
}

export async function runCoreBenchmarks(options: { quick: boolean }): Promise<void> {
  const time = options.quick ? 300 : 1500;
  const rows: string[][] = [];
  let ceiling = 0;
  for (const batchSize of [1, 64, 1024]) {
    const batch = Array.from({ length: batchSize }, () => PAYLOAD);
    const cluster = new ProtocolCluster();
    const floor = new ArrayFloor();
    const bench = new Bench({ time, warmupTime: time / 5 });
    bench.add('flotilla', () => cluster.round(batch));
    bench.add('floor', () => floor.round(batch));
    await bench.run();
    const [ours, base] = bench.tasks.map((t) => (t.result && 'throughput' in t.result ? t.result.throughput.mean : 0) * batchSize);
    if (batchSize === 1024) ceiling = ours!;
    const allocCluster = new ProtocolCluster();
    const alloc = allocationPerEntry((b) => allocCluster.round(b), batchSize, batchSize === 1 ? 5_000 : 50_000);
    rows.push([
      String(batchSize),
      formatRate(ours!),
      formatRate(base!),
      `${((ours! / base!) * 100).toFixed(1)}%`,
      alloc === undefined ? 'n/a (GC ran)' : `${Math.round(alloc)} B`,
    ]);
  }
  printTable(
    'Protocol ceiling: 3-node in-memory cluster, 128-byte entries, no I/O (entries committed and applied per second)',
    ['batch', 'flotilla', 'floor (array copies)', 'of floor', 'heap alloc/entry'],
    rows,
  );

  const runtimeRows: string[][] = [];
  for (const concurrency of [1, 32, 256, 4096]) {
    const r = await runtimeThroughput(concurrency, options.quick ? 500 : 3000);
    runtimeRows.push([String(concurrency), formatRate(r.opsPerSec), `${((r.opsPerSec / ceiling) * 100).toFixed(1)}%`, `${Math.round(r.p50Us)} µs`, `${Math.round(r.p99Us)} µs`]);
  }
  printTable(
    'Runtime: 3 RaftNodes in one process over MemoryStorage and MemoryNetwork, C closed-loop proposers on the leader',
    ['C', 'proposals', 'of protocol ceiling', 'p50', 'p99'],
    runtimeRows,
  );
}
