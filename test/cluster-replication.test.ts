import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import type { LocalCluster } from '@flotilla/examples';
import { withCluster } from './support/with-cluster.js';


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
  await withCluster({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    // A third of the proposals go through a follower, which forwards them to the leader. A refusal
    // (no leader known for a moment) did nothing, so it is retried, as a client would.
    const propose = async (i: number): Promise<Record<string, unknown>> => {
      for (let attempt = 0; ; attempt++) {
        const current = attempt === 0 ? leader : await cluster.waitForLeader();
        const via = i % 3 === 0 ? cluster.ids.filter((id) => id !== current)[i % 2]! : current;
        const reply = await cluster.request(via, 'propose', { data: Buffer.from(`cmd-${i}`).toString('base64'), forward: true });
        if (reply.ok || (reply['error'] as { code: string }).code !== 'NOT_LEADER' || attempt >= 20) return reply;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => propose(i)));
    const failed = replies.filter((r) => !r.ok);
    assert.deepEqual(failed, []);
    const indexes = replies.map((r) => r['index'] as number);
    assert.equal(new Set(indexes).size, 300, 'every proposal got its own index');
    const digests = await digestsAgree(cluster, 300);
    for (const d of digests) assert.equal(d['digest'], digests[0]!['digest'], JSON.stringify(digests));
    assert.equal(digests[0]!['count'], 300);
  });
});

test('a node restarts from its data directory on the same port and catches up', async () => {
  await withCluster({ size: 3 }, async (cluster) => {
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
  });
});

test('a request to a node whose IPC channel has just closed answers DOWN instead of ending the test process', async () => {
  await withCluster({ size: 1 }, async (cluster) => {
    const id = cluster.ids[0]!;
    await cluster.waitForLeader();
    // The window in which a node has died but its exit event has not arrived: the channel is closed
    // while the cluster still counts the node as running.
    const children = (cluster as unknown as { children: Map<string, { process: ChildProcess }> }).children;
    children.get(id)!.process.disconnect();
    const reply = await cluster.request(id, 'status', {}, 5000);
    assert.equal(reply.ok, false);
    assert.equal((reply as { error?: { code: string } }).error?.code, 'DOWN', JSON.stringify(reply));
  });
});
