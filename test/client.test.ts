import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withCluster } from './support/with-cluster.js';
import { TimeoutError } from '@flotilla/core';
import { FlotillaClient, RejectedError } from '@flotilla/examples';


test('the client submits through any node and gets index, term and result; it rides out a leader crash', async () => {
  await withCluster({ size: 3 }, async (cluster) => {
    await cluster.waitForLeader();
    const endpoints = cluster.httpEndpoints();
    const results = [];
    for (let i = 0; i < 30; i++) {
      // Each call goes through a different node first; followers forward to the leader.
      const client = new FlotillaClient<number>({ endpoints: [endpoints[i % 3]!, ...endpoints], timeoutMs: 15_000 });
      results.push(await client.submit(Buffer.from(`c${i}`)));
    }
    for (let i = 1; i < results.length; i++) assert.ok(results[i]!.index > results[i - 1]!.index);
    for (const r of results) assert.equal(r.result, r.index, 'the ledger returns the index it applied at');

    const leader = await cluster.waitForLeader();
    await cluster.kill(leader);
    const client = new FlotillaClient<number>({ endpoints, timeoutMs: 5000 });
    // A command in flight when the leader died may end with "outcome unknown"; a client that
    // keeps submitting (new commands) gets through once a new leader is elected.
    let after: { index: number; term: number } | undefined;
    const deadline = Date.now() + 20_000;
    while (!after && Date.now() < deadline) {
      try {
        after = await client.submit(Buffer.from(`after-crash-${Date.now()}`));
      } catch (error) {
        assert.ok(error instanceof TimeoutError, String(error));
      }
    }
    assert.ok(after, 'a command committed after the crash');
    assert.ok(after.index > results[results.length - 1]!.index);
    assert.ok(after.term > results[0]!.term, 'a new term');
  });
});

test('without a quorum the client times out and says whether the outcome is known', async () => {
  await withCluster({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    for (const id of cluster.ids) if (id !== leader) await cluster.kill(id);
    const client = new FlotillaClient({ endpoints: cluster.httpEndpoints(), timeoutMs: 6000 });
    await assert.rejects(client.submit(Buffer.from('x')), (error: unknown) => {
      assert.ok(error instanceof TimeoutError, String(error));
      assert.equal(typeof error.outcomeUnknown, 'boolean');
      assert.match(error.message, error.outcomeUnknown ? /unknown/ : /not done/);
      return true;
    });
  });
});

test('bad requests get clear errors and change nothing', async () => {
  await withCluster({ size: 3 }, async (cluster) => {
    await cluster.waitForLeader();
    const [endpoint] = cluster.httpEndpoints();
    const empty = await fetch(`${endpoint}/v1/commands`, { method: 'POST', body: new Uint8Array(0) });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { error: string }).error, 'bad_request');
    const wrongMethod = await fetch(`${endpoint}/v1/commands`);
    assert.equal(wrongMethod.status, 405);
    const unknown = await fetch(`${endpoint}/v2/nothing`);
    assert.equal(unknown.status, 404);
    const huge = await fetch(`${endpoint}/v1/commands`, { method: 'POST', body: new Uint8Array(2 * 1024 * 1024) });
    assert.equal(huge.status, 413);
    const digest = await cluster.request('n1', 'digest');
    assert.equal(digest['count'], 0, 'nothing was applied');
    assert.throws(() => new FlotillaClient({ endpoints: [] }), TypeError);
    await assert.rejects(new FlotillaClient({ endpoints: [endpoint!] }).submit(new Uint8Array(0)), TypeError);
    assert.ok(RejectedError);
  });
});
