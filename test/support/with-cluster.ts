import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, type LocalClusterOptions } from '@flotilla/examples';

/**
 * Timing for multi-process tests: the production defaults, so that a loaded CI machine does not
 * see spurious elections, with generous deadlines.
 */
export const TEST_TUNING = { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, proposalTimeoutMs: 5000 };

/** Runs `body` against a fresh local cluster in a temporary directory, then stops and removes it. */
export async function withCluster<T>(options: Omit<LocalClusterOptions, 'baseDir'>, body: (cluster: LocalCluster, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-test-'));
  const cluster = await LocalCluster.start({ tuning: TEST_TUNING, ...options, baseDir: dir });
  try {
    return await body(cluster, dir);
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
