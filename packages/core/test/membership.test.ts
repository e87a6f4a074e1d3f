import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MembershipError, NotLeaderError, type ConfigState } from '../src/index.js';
import { closeAll, leaderOf, proposeMany, startCluster, startNode, waitFor, type TestNode } from './support/cluster.js';

const sorted = (ids: readonly string[]): string[] => [...ids].sort();

function agreeOn(nodes: readonly TestNode[], voters: string[], learners: string[] = []): boolean {
  return nodes.every((n) => {
    const c: ConfigState = n.node.members();
    return c.outgoingVoters.length === 0 && sorted(c.voters).join() === sorted(voters).join() && sorted(c.learners).join() === sorted(learners).join();
  });
}

test('a joining learner receives the log but does not count for commit, then is promoted', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c']);
  const all = [...nodes];
  try {
    await proposeMany(nodes, 'before-', 10);
    const d = await startNode(network, 'd', [], {}, true);
    all.push(d);
    assert.deepEqual(d.node.members().voters, [], 'a joining node starts with no configuration');
    const leader = leaderOf(nodes)!;
    const changes: ConfigState[] = [];
    d.node.on('membershipChange', (c) => changes.push(c));
    await leader.node.addLearner('d');
    await waitFor('d caught up', () => d.sm.items.length === 10);
    assert.deepEqual(d.sm.items, leader.sm.items);
    assert.ok(changes.some((c) => c.learners.includes('d')));
    assert.equal(d.node.role, 'follower');
    // With d cut off, a quorum of a, b, c still commits: learners are not counted.
    network.isolate('d');
    await proposeMany(nodes, 'without-d-', 3);
    network.heal();
    await leaderOf(nodes)!.node.promote('d');
    await waitFor('all agree d is a voter', () => agreeOn(all, ['a', 'b', 'c', 'd']));
    await proposeMany(all, 'after-', 3);
    await waitFor('d applied everything', () => d.sm.items.length === 16);
  } finally {
    await closeAll(all);
  }
});

test('one change at a time: a second request while one is in flight gets a clear error', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c']);
  const all = [...nodes];
  try {
    const leader = await waitFor('a leader', () => leaderOf(nodes));
    await proposeMany(nodes, 'x', 1);
    all.push(await startNode(network, 'd', [], {}, true), await startNode(network, 'e', [], {}, true));
    const first = leader.node.addLearner('d');
    await assert.rejects(leader.node.addLearner('e'), (error: unknown) => error instanceof MembershipError && error.code === 'CONFIG_CHANGE_IN_PROGRESS');
    await first;
    await leader.node.addLearner('e');
    const follower = nodes.find((n) => n !== leader)!;
    await assert.rejects(follower.node.removeMember('e'), NotLeaderError);
    await assert.rejects(leader.node.changeMembership({ voters: [] }), (error: unknown) => error instanceof MembershipError && error.code === 'BAD_MEMBERSHIP');
    await assert.rejects(leader.node.promote('zz'), MembershipError);
  } finally {
    await closeAll(all);
  }
});

test('replacing all three voters in one request, by joint consensus', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c']);
  const all = [...nodes];
  try {
    await proposeMany(nodes, 'x', 5);
    const newcomers = await Promise.all(['d', 'e', 'f'].map((id) => startNode(network, id, [], {}, true)));
    all.push(...newcomers);
    for (const id of ['d', 'e', 'f']) await leaderOf(nodes)!.node.addLearner(id);
    await waitFor('learners caught up', () => newcomers.every((n) => n.sm.items.length === 5));
    const sawJoint = new Promise<void>((resolve) => newcomers[0]!.node.on('membershipChange', (c) => c.outgoingVoters.length > 0 && resolve()));
    await leaderOf(nodes)!.node.changeMembership({ voters: ['d', 'e', 'f'], learners: [] });
    await sawJoint;
    await waitFor('the new voters lead', () => leaderOf(newcomers));
    await waitFor('the new members agree', () => agreeOn(newcomers, ['d', 'e', 'f']));
    // The old voters are gone: shut them down; the new cluster goes on.
    await closeAll(nodes);
    await proposeMany(newcomers, 'new-', 5);
    const leader = leaderOf(newcomers)!;
    await waitFor('all new members applied', () => newcomers.every((n) => n.sm.items.length === 10));
    for (const n of newcomers) assert.deepEqual(n.sm.items, leader.sm.items);
  } finally {
    await closeAll(all);
  }
});

test('replacing all three voters one request at a time', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c']);
  const all = [...nodes];
  try {
    await proposeMany(nodes, 'x', 3);
    const pairs: [string, string][] = [['a', 'd'], ['b', 'e'], ['c', 'f']];
    for (const [out, incoming] of pairs) {
      const fresh = await startNode(network, incoming, [], {}, true);
      all.push(fresh);
      await leaderOf(all)!.node.addLearner(incoming);
      await leaderOf(all)!.node.promote(incoming);
      await waitFor(`a leader after adding ${incoming}`, () => leaderOf(all));
      await leaderOf(all)!.node.removeMember(out);
      await proposeMany(all, `after-${out}-`, 2);
    }
    const survivors = all.filter((n) => ['d', 'e', 'f'].includes(n.id));
    await waitFor('d, e, f agree', () => agreeOn(survivors, ['d', 'e', 'f']));
    await closeAll(all.filter((n) => !survivors.includes(n)));
    await proposeMany(survivors, 'end-', 3);
    await waitFor('converged', () => survivors.every((n) => n.sm.items.length === 12));
    const leader = leaderOf(survivors)!;
    for (const n of survivors) assert.deepEqual(n.sm.items, leader.sm.items);
  } finally {
    await closeAll(all);
  }
});

test('removing the leader: it leads until the change commits, then steps down and stays quiet', async () => {
  const { nodes } = await startCluster(['a', 'b', 'c']);
  try {
    await proposeMany(nodes, 'x', 3);
    const leader = leaderOf(nodes)!;
    const others = nodes.filter((n) => n !== leader);
    await leader.node.removeMember(leader.id);
    await waitFor('a new leader among the others', () => leaderOf(others));
    assert.notEqual(leader.node.role, 'leader');
    await waitFor('the others agree', () => agreeOn(others, others.map((n) => n.id)));
    const term = leaderOf(others)!.node.term;
    // The removed node never campaigns: the term stays put while it sits there.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(leader.node.role, 'follower');
    await proposeMany(others, 'y', 3);
    assert.equal(leaderOf(others)!.node.term, term, 'the removed node disturbed the cluster');
  } finally {
    await closeAll(nodes);
  }
});

test('a learner added with promote is promoted by the next leader when the one asked crashes before it caught up', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c'], { learnerPromotionLag: 0 });
  const all = [...nodes];
  try {
    await proposeMany(nodes, 'x', 5);
    const d = await startNode(network, 'd', [], {}, true);
    all.push(d);
    // d cannot catch up yet, so the leader that was asked cannot promote it before it crashes.
    network.isolate('d');
    const first = leaderOf(nodes)!;
    await first.node.addLearner('d', { promote: true });
    assert.deepEqual(first.node.members().autoPromote, ['d']);
    network.isolate(first.id);
    await first.node.close();
    const rest = nodes.filter((n) => n !== first);
    const next = await waitFor('a new leader', () => leaderOf(rest), 10_000);
    assert.deepEqual(next.node.members().autoPromote, ['d'], 'the promise to promote d is part of the configuration');
    network.heal();
    network.isolate(first.id);
    await waitFor('d promoted by the new leader', () => agreeOn([...rest, d], ['a', 'b', 'c', 'd']), 10_000);
    assert.equal(rest[0]!.node.members().autoPromote, undefined, 'a voter is no longer marked');
    await proposeMany([...rest, d], 'y', 3);
  } finally {
    await closeAll(all);
  }
});

test('promote marks a learner already added, and removing it clears the mark', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c'], { learnerPromotionLag: 0 });
  const all = [...nodes];
  try {
    await proposeMany(nodes, 'x', 2);
    all.push(await startNode(network, 'd', [], {}, true));
    network.isolate('d');
    const leader = leaderOf(nodes)!;
    await leader.node.addLearner('d');
    assert.equal(leader.node.members().autoPromote, undefined);
    await leader.node.addLearner('d', { promote: true });
    await waitFor('every voter knows d is marked', () => nodes.every((n) => n.node.members().autoPromote?.join() === 'd'));
    await leader.node.removeMember('d');
    await waitFor('d gone, and its mark with it', () => agreeOn(nodes, ['a', 'b', 'c']) && nodes.every((n) => n.node.members().autoPromote === undefined));
  } finally {
    await closeAll(all);
  }
});

test('a learner promoted while the leader crashes: the cluster ends in one agreed configuration', async () => {
  const { network, nodes } = await startCluster(['a', 'b', 'c'], { learnerPromotionLag: 0 });
  const all = [...nodes];
  try {
    await proposeMany(nodes, 'x', 5);
    const d = await startNode(network, 'd', [], {}, true);
    all.push(d);
    const leader = leaderOf(nodes)!;
    await leader.node.addLearner('d', { promote: true });
    // Crash the leader as soon as the joint configuration (the promotion) is appended anywhere.
    await waitFor('the promotion started', () => all.some((n) => n.node.members().outgoingVoters.length > 0 || n.node.members().voters.includes('d')));
    network.isolate(leader.id);
    await leader.node.close();
    const rest = all.filter((n) => n !== leader);
    await waitFor('a new leader', () => leaderOf(rest), 10_000);
    await proposeMany(rest, 'y', 3);
    await waitFor('one agreed, non-joint configuration', () => {
      const configs = rest.map((n) => n.node.members());
      return configs.every((c) => c.outgoingVoters.length === 0 && sorted(c.voters).join() === sorted(configs[0]!.voters).join()) ? configs[0] : undefined;
    }, 10_000);
    const voters = sorted(rest[0]!.node.members().voters);
    assert.ok(voters.join() === 'a,b,c,d' || voters.join() === 'a,b,c', `unexpected voters ${voters.join()}`);
  } finally {
    await closeAll(all);
  }
});
