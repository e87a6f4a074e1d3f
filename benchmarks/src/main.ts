import { existsSync } from 'node:fs';
import { tuneAllocator } from '@flotilla/storage';
import { runClusterBenchmark } from './cluster/index.js';
import { runCoreBenchmarks } from './core/index.js';
import { runSimulation } from './sim.js';
import { runSnapshotBenchmark } from './snapshot/index.js';

/**
 * `pnpm bench [-- --quick] [--json FILE] [--cpu-prof-dir DIR] [--levels 1,32,256,4096] [--seconds S] [--only cluster,snapshot,core,storage,transport,sim]`: the benchmark suite. Every figure
 * is printed next to a baseline measured in the same run.
 */
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new Set((args[onlyArg + 1] ?? '').split(',')) : undefined;
const wanted = (name: string): boolean => !only || only.has(name);

const valueOf = (flag: string): string | undefined => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const json = valueOf('--json');
const cpuProfileDir = valueOf('--cpu-prof-dir');
const levelsArg = valueOf('--levels');
const secondsArg = valueOf('--seconds');
const seconds = secondsArg === undefined ? undefined : Number(secondsArg);
if (seconds !== undefined && !(seconds > 0)) throw new RangeError(`--seconds takes a positive number, got ${secondsArg}`);
const levels = levelsArg ? levelsArg.split(',').map(Number) : undefined;
if (levels && !levels.every((c) => Number.isSafeInteger(c) && c > 0)) throw new RangeError(`--levels takes positive integers, got ${levelsArg}`);

// As `flotilla start` does, for this process (the transport and storage benchmarks and their
// baselines run here) and every node process the benchmarks start.
const allocator = tuneAllocator();
console.log(`Flotilla benchmarks${quick ? ' (quick)' : ''}: node ${process.version}, ${process.platform}/${process.arch}; glibc malloc ${allocator.applied ? `tuned (mmap threshold ${allocator.mmapThresholdBytes >> 20} MiB, trim threshold ${allocator.trimThresholdBytes >> 20} MiB, top pad ${allocator.topPadBytes >> 20} MiB)` : 'not tuned'} in every process`);
if (wanted('cluster')) await runClusterBenchmark({ quick, ...(json ? { json } : {}), ...(cpuProfileDir ? { cpuProfileDir } : {}), ...(levels ? { levels } : {}), ...(seconds ? { seconds } : {}) });
if (wanted('snapshot')) await runSnapshotBenchmark({ quick, ...(json ? { json } : {}), ...(cpuProfileDir ? { cpuProfileDir } : {}) });
if (wanted('core')) await runCoreBenchmarks({ quick });
for (const suite of ['storage', 'transport'] as const) {
  if (!wanted(suite)) continue;
  const path = new URL(`./${suite}/index.ts`, import.meta.url);
  if (!existsSync(path)) continue;
  const module = (await import(path.href)) as Record<string, (o: { quick: boolean }) => Promise<void>>;
  const run = module[`run${suite[0]!.toUpperCase()}${suite.slice(1)}Benchmarks`];
  if (run) await run({ quick });
}
if (wanted('sim')) await runSimulation({ quick });
