import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withCluster } from './support/with-cluster.js';
import { Proposers, converge, hashOf } from './support/cluster-client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('stress: leader SIGKILLed and restarted three times and a follower once, under concurrent proposers; nothing acknowledged is lost or applied twice', async () => {
  await withCluster({ size: 3, keepEntries: true }, async (cluster) => {
    await cluster.waitForLeader();
    const proposers = new Proposers(cluster, 16);
    for (let round = 0; round < 3; round++) {
      await sleep(700);
      const leader = await cluster.waitForLeader();
      await cluster.kill(leader);
      await sleep(300);
      await cluster.startNode(leader);
    }
    await sleep(500);
    const current = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== current)!;
    await cluster.kill(follower);
    await sleep(400);
    await cluster.startNode(follower);
    await sleep(700);
    await proposers.stop();
    assert.ok(proposers.acknowledged.length > 100, `only ${proposers.acknowledged.length} proposals were acknowledged`);

    const digests = await converge(cluster);
    const lists = await Promise.all(cluster.ids.map(async (id) => (await cluster.request(id, 'entries'))['entries'] as [number, string][]));
    for (const list of lists) assert.deepEqual(list, lists[0], 'every node applied the same commands at the same indexes');
    const applied = new Map(lists[0]!.map(([index, hash]) => [index, hash]));
    for (const { payload, index } of proposers.acknowledged) {
      assert.equal(applied.get(index), hashOf(payload), `acknowledged ${payload} is applied at ${index}`);
    }
    const hashes = lists[0]!.map(([, hash]) => hash);
    assert.equal(new Set(hashes).size, hashes.length, 'no command was applied twice');
    assert.equal(digests[0]!['count'], lists[0]!.length);
  });
});

test('a partitioned leader cannot commit, steps down by check-quorum; the majority elects a new leader; after healing the old leader follows', async () => {
  await withCluster({ size: 3 }, async (cluster) => {
    const old = await cluster.waitForLeader();
    const others = cluster.ids.filter((id) => id !== old);
    await cluster.request(old, 'block', { peers: others });
    for (const id of others) await cluster.request(id, 'block', { peers: [old] });
    const stuck = await cluster.request(old, 'propose', { data: Buffer.from('lost').toString('base64'), timeoutMs: 1500 });
    assert.equal(stuck.ok, false, 'the isolated leader could not commit');
    // Check-quorum deposes it within two election timeouts.
    const stepDownBy = Date.now() + 5000;
    let role = (await cluster.request(old, 'status'))['role'];
    while (role === 'leader' && Date.now() < stepDownBy) {
      await sleep(100);
      role = (await cluster.request(old, 'status'))['role'];
    }
    assert.notEqual(role, 'leader', 'it stepped down');
    const fresh = await cluster.waitForLeader(10_000, others);
    assert.ok((await cluster.request(fresh, 'propose', { data: Buffer.from('after').toString('base64') })).ok);
    for (const id of cluster.ids) await cluster.request(id, 'heal');
    const deadline = Date.now() + 10_000;
    let follows = false;
    while (!follows && Date.now() < deadline) {
      const s = await cluster.request(old, 'status');
      follows = s['role'] === 'follower' && s['leader'] === fresh;
      if (!follows) await sleep(100);
    }
    assert.ok(follows, 'the old leader follows the new one');
    await converge(cluster);
  });
});

test('a node with the wrong cluster id or secret is refused and cannot disturb the cluster', async () => {
  await withCluster({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const before = await cluster.request(leader, 'status');
    const victim = cluster.ids.find((id) => id !== leader)!;
    const good = cluster.configs.get(victim)!;
    const refusals = async (): Promise<number> => {
      let total = 0;
      for (const id of cluster.ids) {
        const status = await cluster.request(id, 'status');
        if (!status.ok) continue;
        const refused = (status['transport'] as { refusedHandshakes: Record<string, number> }).refusedHandshakes;
        total += Object.values(refused).reduce((a, b) => a + b, 0);
      }
      return total;
    };
    // The same node, data directory and port, restarted with a wrong secret, then a wrong cluster id.
    for (const change of [{ secret: 'not-the-secret' }, { clusterId: 'another-cluster' }]) {
      await cluster.kill(victim);
      await cluster.startNode(victim, { ...good, ...change });
      await sleep(2500); // several election timeouts: it campaigns, and its links are refused
      const intruder = await cluster.request(victim, 'status');
      assert.equal(intruder['leader'], '', `the node with ${JSON.stringify(change)} never hears from the leader`);
      assert.ok((await refusals()) > 0, 'handshakes were refused');
      const now = await cluster.request(leader, 'status');
      assert.equal(now['role'], 'leader');
      assert.equal(now['term'], before['term'], 'the cluster never changed term');
    }
    // With the right configuration it rejoins at once.
    await cluster.kill(victim);
    await cluster.startNode(victim, good);
    assert.ok((await cluster.request(leader, 'propose', { data: Buffer.from('x').toString('base64') })).ok);
    await converge(cluster);
  });
});
