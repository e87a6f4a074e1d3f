import { runCodecBenchmarks } from './codec.js';
import { runLoopbackBenchmarks } from './loopback.js';

/** The transport suite: frame codec cost and loopback latency/throughput, each next to a baseline measured in the same run. */
export async function runTransportBenchmarks(options: { quick: boolean }): Promise<void> {
  await runCodecBenchmarks(options.quick);
  await runLoopbackBenchmarks(options.quick);
}
