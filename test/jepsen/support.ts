import type { NemesisTiming } from './nemesis.js';

/** Shorter quiet and fault intervals than the CLI's, for the short runs of the test suite. */
export const TEST_TIMING: NemesisTiming = { quietMs: [500, 1500], faultMs: [1500, 3000] };

/** The seed of a test run: $JEPSEN_SEED to repeat one, otherwise random (every report prints it). */
export function testSeed(): number {
  const fixed = process.env['JEPSEN_SEED'];
  return fixed ? Number(fixed) : Math.floor(Math.random() * 1_000_000);
}

/** Progress lines only with JEPSEN_VERBOSE=1. */
export const testLog = (line: string): void => {
  if (process.env['JEPSEN_VERBOSE'] === '1') console.log(line);
};
