import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalCluster } from '@flotilla/examples';

const TUNING = { electionTimeoutMs: 400, heartbeatIntervalMs: 50 };

async function digestsAgree(cluster: LocalCluster, atLeast: number, timeoutMs = 10_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const digests = await Promise.all(cluster.ids.map((id) => cluster.request(id, 'digest')));
    const same = digests.every((d) => d.ok && d['appliedIndex'] === digests[0]!['appliedIndex'] && d['digest'] === digests[0]!['digest']);
    if (same && (digests[0]!['count'] as number) >= atLeast) return digests;
    if (Date.now() > deadline) return digests;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('three processes elect a leader, replicate over the WAL and WebSockets, and apply the same sequence', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-repl-'));
  const cluster = await LocalCluster.start({ size: 3, baseDir: dir, tuning: TUNING });
  try {
    const leader = await cluster.waitForLeader();
    const followers = cluster.ids.filter((id) => id !== leader);
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        // A third of the proposals go through a follower, which forwards them to the leader.
        const via = i % 3 === 0 ? followers[i % 2]! : leader;
        return cluster.request(via, 'propose', { data: Buffer.from(`cmd-${i}`).toString('base64'), forward: true });
      }),
    );
    const failed = replies.filter((r) => !r.ok);
    assert.deepEqual(failed, []);
    const indexes = replies.map((r) => r['index'] as number);
    assert.equal(new Set(indexes).size, 300, 'every proposal got its own index');
    const digests = await digestsAgree(cluster, 300);
    for (const d of digests) assert.equal(d['digest'], digests[0]!['digest'], JSON.stringify(digests));
    assert.equal(digests[0]!['count'], 300);
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a node restarts from its data directory on the same port and catches up', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-restart-'));
  const cluster = await LocalCluster.start({ size: 3, baseDir: dir, tuning: TUNING });
  try {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    for (let i = 0; i < 50; i++) assert.ok((await cluster.request(leader, 'propose', { data: Buffer.from(`a${i}`).toString('base64') })).ok);
    await cluster.kill(follower);
    for (let i = 0; i < 50; i++) assert.ok((await cluster.request(leader, 'propose', { data: Buffer.from(`b${i}`).toString('base64') })).ok);
    await cluster.startNode(follower); // same data directory, same port, immediately
    const status = await cluster.request(follower, 'status');
    assert.ok(status.ok);
    assert.ok((status['term'] as number) >= 1, 'hard state survived');
    const digests = await digestsAgree(cluster, 100);
    for (const d of digests) assert.equal(d['digest'], digests[0]!['digest'], JSON.stringify(digests));
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
