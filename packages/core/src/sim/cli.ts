import { DEFAULT_SIMULATION, simulate } from './simulation.js';

/**
 * `pnpm sim -- --seeds N --seed-start S [--nodes 3|5] [--fault-ms MS] [--snapshots] [--churn] [--verbose]`
 * Runs N seeded simulations; prints each failing seed with the command that replays it; exits
 * non-zero on any violation; ends with a line stating seeds run and violations found.
 */
function parse(argv: string[]): { seeds: number; seedStart: number; nodes: number; faultMs: number; verbose: boolean; snapshots: boolean; churn: boolean } {
  const out = { seeds: 100, seedStart: 1, nodes: DEFAULT_SIMULATION.nodes, faultMs: DEFAULT_SIMULATION.faultMs, verbose: false, snapshots: false, churn: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    if (arg === '--verbose') {
      out.verbose = true;
      continue;
    }
    if (arg === '--snapshots' || arg === '--churn') {
      out[arg === '--snapshots' ? 'snapshots' : 'churn'] = true;
      continue;
    }
    const value = Number(argv[++i]);
    const need = (ok: boolean, what: string): void => {
      if (!ok) {
        console.error(`sim: ${arg} needs ${what}, got ${argv[i] ?? 'nothing'}`);
        process.exit(2);
      }
    };
    switch (arg) {
      case '--seeds':
        need(Number.isSafeInteger(value) && value > 0, 'a positive integer');
        out.seeds = value;
        break;
      case '--seed-start':
        need(Number.isSafeInteger(value) && value >= 0, 'a non-negative integer');
        out.seedStart = value;
        break;
      case '--nodes':
        need(value === 3 || value === 5 || value === 7, '3, 5 or 7');
        out.nodes = value;
        break;
      case '--fault-ms':
        need(Number.isSafeInteger(value) && value > 0, 'a positive integer');
        out.faultMs = value;
        break;
      default:
        console.error(`sim: unknown argument ${arg}\nusage: pnpm sim -- --seeds N --seed-start S [--nodes 3|5|7] [--fault-ms MS] [--snapshots] [--churn] [--verbose]`);
        process.exit(2);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  let failed = 0;
  let events = 0;
  let proposals = 0;
  const started = performance.now();
  for (let seed = args.seedStart; seed < args.seedStart + args.seeds; seed++) {
    const result = await simulate(seed, { nodes: args.nodes, faultMs: args.faultMs, trace: args.verbose, snapshots: args.snapshots, churn: args.churn });
    events += result.stats.events;
    proposals += result.stats.acknowledged;
    if (result.violations.length > 0) {
      failed++;
      console.log(`seed ${seed} FAILED (${args.nodes} nodes):`);
      for (const v of result.violations) console.log(`  ${v}`);
      if (args.verbose) for (const line of result.trace) console.log(`    ${line}`);
      const flags = `${args.snapshots ? ' --snapshots' : ''}${args.churn ? ' --churn' : ''}`;
      console.log(`  replay: pnpm sim -- --seeds 1 --seed-start ${seed} --nodes ${args.nodes} --fault-ms ${args.faultMs}${flags} --verbose`);
    } else if (args.verbose || args.seeds <= 5) {
      console.log(`seed ${seed} ok: ${JSON.stringify(result.stats)}`);
    }
    if (!args.verbose && args.seeds > 5 && (seed - args.seedStart + 1) % 100 === 0) {
      console.log(`  ... ${seed - args.seedStart + 1}/${args.seeds} seeds, ${failed} failed`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const mode = `${args.nodes} nodes${args.snapshots ? ', snapshots' : ''}${args.churn ? ', membership churn' : ''}`;
  console.log(`sim: ${args.seeds} seeds run (${mode}, ${events} events, ${proposals} acknowledged proposals, ${seconds.toFixed(1)} s), ${failed} violations found`);
  process.exit(failed > 0 ? 1 : 0);
}

await main();
