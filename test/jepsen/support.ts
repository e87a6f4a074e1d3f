import type { NemesisTiming } from './nemesis.js';
import { summarize } from './report.js';
import { runJepsen, type JepsenOptions, type JepsenReport } from './run.js';

/** Shorter quiet and fault intervals than the CLI's, for the short runs of the test suite. */
export const TEST_TIMING: NemesisTiming = { quietMs: [500, 1500], faultMs: [1500, 3000] };

/** The seed of a test run: $JEPSEN_SEED to repeat one, otherwise random (every report prints it). */
export function testSeed(): number {
  const fixed = process.env['JEPSEN_SEED'];
  return fixed ? Number(fixed) : Math.floor(Math.random() * 1_000_000);
}

/**
 * For the runs that must be caught (an UNSAFE switch on, or clocks beyond the stated drift bound): a
 * violation shows only if a fault and the clients' operations on one key line up, which timing
 * decides, so one run in a few may happen to be clean. Runs up to `attempts` times, with fresh
 * seeds, until `caught(report)`; returns that run (or the last) and the summaries of the misses.
 */
export async function runUntilCaught(options: Omit<JepsenOptions, 'seed'>, caught: (report: JepsenReport) => boolean, attempts = 3): Promise<{ report: JepsenReport; missed: string[] }> {
  const first = testSeed();
  const missed: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const report = await runJepsen({ ...options, seed: first + attempt });
    if (caught(report) || attempt + 1 >= attempts) return { report, missed };
    missed.push(`attempt ${attempt + 1} was not caught:\n${summarize(report)}`);
  }
}

/** Progress lines only with JEPSEN_VERBOSE=1. */
export const testLog = (line: string): void => {
  if (process.env['JEPSEN_VERBOSE'] === '1') console.log(line);
};
