import { simulate } from '@flotilla/core/sim';
import { printTable } from './report.js';

/** A short simulated cluster run: seeds of faults and healing, every step checked. */
export async function runSimulation(options: { quick: boolean }): Promise<void> {
  const seeds = options.quick ? 4 : 50;
  const rows: string[][] = [];
  let events = 0;
  let acknowledged = 0;
  let violations = 0;
  const started = performance.now();
  for (let seed = 1; seed <= seeds; seed++) {
    const result = await simulate(seed, { nodes: seed % 2 === 0 ? 5 : 3 });
    events += result.stats.events;
    acknowledged += result.stats.acknowledged;
    violations += result.violations.length > 0 ? 1 : 0;
  }
  const seconds = (performance.now() - started) / 1000;
  rows.push([String(seeds), String(violations), String(events), String(acknowledged), `${(events / seconds / 1000).toFixed(0)} k/s`]);
  printTable('Simulated cluster: 3 and 5 nodes under crashes, partitions, pauses, drops, duplicates', ['seeds', 'violations', 'events', 'acked proposals', 'events/s'], rows);
  if (violations > 0) throw new Error(`${violations} simulated seeds violated an invariant: run pnpm sim to see them`);
}
