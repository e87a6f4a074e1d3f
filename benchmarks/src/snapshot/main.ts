import { runSnapshotBenchmark } from './index.js';

/**
 * `node --import tsx --conditions=flotilla-source benchmarks/src/snapshot/main.ts [--quick] [--snapshot-mib N]
 * [--entries N] [--rounds N] [--chunk-kib N] [--window N] [--json FILE] [--cpu-prof-dir DIR] [--data-root DIR]`: the snapshot benchmark
 * alone, with its sizes and the transfer tuning open to change (`pnpm bench -- --only snapshot` runs the defaults).
 */
const args = process.argv.slice(2);
const valueOf = (flag: string): string | undefined => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const positive = (flag: string): number | undefined => {
  const raw = valueOf(flag);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!(value > 0)) throw new RangeError(`${flag} takes a positive number, got ${raw}`);
  return value;
};
const quick = args.includes('--quick');
const snapshotMiB = positive('--snapshot-mib');
const entries = positive('--entries');
const chunkKiB = positive('--chunk-kib');
const window = positive('--window');
const rounds = positive('--rounds');
const json = valueOf('--json');
const cpuProfileDir = valueOf('--cpu-prof-dir');
const dataRoot = valueOf('--data-root');
console.log(`Flotilla snapshot benchmark${quick ? ' (quick)' : ''}: node ${process.version}, ${process.platform}/${process.arch}`);
await runSnapshotBenchmark({
  quick,
  ...(snapshotMiB ? { snapshotBytes: Math.round(snapshotMiB * 1024 * 1024) } : {}),
  ...(entries ? { entries: Math.round(entries) } : {}),
  ...(rounds ? { rounds: Math.round(rounds) } : {}),
  tuning: {
    ...(chunkKiB ? { snapshotChunkBytes: Math.round(chunkKiB * 1024) } : {}),
    ...(window ? { snapshotWindowChunks: Math.round(window) } : {}),
  },
  ...(json ? { json } : {}),
  ...(cpuProfileDir ? { cpuProfileDir } : {}),
  ...(dataRoot ? { dataRoot } : {}),
});
