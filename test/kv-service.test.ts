import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withCluster } from './support/with-cluster.js';


test('the KV service: the HTTP API on every node, errors, reads on followers, transfer, metrics, digests', async () => {
  await withCluster({ size: 3, service: 'kv' }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const url = (id: string): string => `http://${cluster.configs.get(id)!.httpAddress}`;
    const follower = cluster.ids.find((id) => id !== leader)!;

    // Writes through a follower are forwarded; reads anywhere see them (linearizable by default).
    const put = await fetch(`${url(follower)}/v1/kv/greeting`, { method: 'PUT', body: 'hello' });
    assert.equal(put.status, 200);
    const written = (await put.json()) as { index: number; term: number };
    assert.ok(written.index > 0 && written.term > 0);
    for (const id of cluster.ids) {
      const got = await fetch(`${url(id)}/v1/kv/greeting`);
      assert.equal(got.status, 200);
      assert.equal(await got.text(), 'hello');
    }
    const stale = await fetch(`${url(leader)}/v1/kv/greeting?consistency=stale`);
    assert.equal(await stale.text(), 'hello');
    assert.equal((await fetch(`${url(leader)}/v1/kv/greeting?consistency=sometimes`)).status, 400);

    // Keys are one path segment, percent-decoded; binary values round-trip.
    const binary = Buffer.from([0, 255, 1, 254]);
    assert.equal((await fetch(`${url(leader)}/v1/kv/${encodeURIComponent('a/b c')}`, { method: 'PUT', body: binary })).status, 200);
    assert.deepEqual(Buffer.from(await (await fetch(`${url(follower)}/v1/kv/${encodeURIComponent('a/b c')}`)).arrayBuffer()), binary);

    // CAS: expect null means absent; value null deletes.
    const cas = async (key: string, body: unknown): Promise<{ ok: boolean }> =>
      (await (await fetch(`${url(follower)}/v1/kv/${key}/cas`, { method: 'POST', body: JSON.stringify(body) })).json()) as { ok: boolean };
    assert.equal((await cas('counter', { expect: null, value: '1' })).ok, true);
    assert.equal((await cas('counter', { expect: null, value: '2' })).ok, false);
    assert.equal((await cas('counter', { expect: '1', value: '2' })).ok, true);
    assert.equal((await cas('counter', { expect: '2', value: null })).ok, true);
    assert.equal((await fetch(`${url(leader)}/v1/kv/counter`)).status, 404);

    const del = (await (await fetch(`${url(leader)}/v1/kv/greeting`, { method: 'DELETE' })).json()) as { deleted: boolean };
    assert.equal(del.deleted, true);
    const again = (await (await fetch(`${url(leader)}/v1/kv/greeting`, { method: 'DELETE' })).json()) as { deleted: boolean };
    assert.equal(again.deleted, false);
    const missing = await fetch(`${url(follower)}/v1/kv/greeting`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: string }).error, 'not_found');

    // Bad input: clear errors, nothing done.
    assert.equal((await fetch(`${url(leader)}/v1/kv/${'k'.repeat(1025)}`, { method: 'PUT', body: 'x' })).status, 400);
    assert.equal((await fetch(`${url(leader)}/v1/kv/%E0%A4%A`, { method: 'PUT', body: 'x' })).status, 400);
    assert.equal((await fetch(`${url(leader)}/v1/kv/x/cas`, { method: 'POST', body: 'not json' })).status, 400);
    assert.equal((await fetch(`${url(leader)}/v1/kv/x/cas`, { method: 'POST', body: '{"expect":1}' })).status, 400);
    assert.equal((await fetch(`${url(leader)}/v1/kv/big`, { method: 'PUT', body: new Uint8Array(1024 * 1024 + 1) })).status, 413);
    assert.equal((await fetch(`${url(leader)}/v1/members`, { method: 'POST', body: '{}' })).status, 400);

    // Status lists every member with both addresses.
    const status = (await (await fetch(`${url(follower)}/v1/status`)).json()) as { leader: string; members: { id: string; raftAddress: string; httpAddress: string; voter: boolean }[] };
    assert.equal(status.leader, leader);
    assert.deepEqual(status.members.map((m) => m.id), ['n1', 'n2', 'n3']);
    assert.ok(status.members.every((m) => m.voter && m.raftAddress && m.httpAddress));

    // Metrics in the Prometheus text format.
    const metrics = await (await fetch(`${url(leader)}/metrics`)).text();
    assert.match(metrics, /^flotilla_is_leader\{node="n\d"\} 1$/m);
    assert.match(metrics, /^# TYPE flotilla_commit_index gauge$/m);

    // Transfer asked of a follower is carried out by the leader.
    const target = cluster.ids.find((id) => id !== leader && id !== follower)!;
    const transfer = await fetch(`${url(follower)}/v1/leader/transfer`, { method: 'POST', body: JSON.stringify({ to: target }) });
    assert.equal(transfer.status, 200, await transfer.clone().text());
    assert.equal(await cluster.waitForLeader(), target);

    // Every node has the same digest at a common index.
    const digests = await Promise.all(cluster.ids.map(async (id) => (await (await fetch(`${url(id)}/v1/digest`)).json()) as { appliedIndex: number; digest: string }));
    const common = Math.min(...digests.map((d) => d.appliedIndex));
    const atCommon = await Promise.all(cluster.ids.map(async (id) => ((await (await fetch(`${url(id)}/v1/digest?index=${common}`)).json()) as { digest: string }).digest));
    assert.ok(atCommon.every((d) => d === atCommon[0]), JSON.stringify(atCommon));
  });
});
