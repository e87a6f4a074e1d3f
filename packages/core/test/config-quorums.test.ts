import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType, MessageType, type ConfigState } from '../src/index.js';
import { encodeConfig } from '../src/raft/config.js';
import { quorumsCanBeDisjoint } from '../src/raft/config.js';
import { InvariantError } from '../src/errors.js';
import { Network } from './support/network.js';

const simple = (...voters: string[]): ConfigState => ({ voters, learners: [], outgoingVoters: [] });
const joint = (voters: string[], outgoing: string[]): ConfigState => ({ voters, learners: [], outgoingVoters: outgoing });

test('two configurations can have disjoint quorums exactly when a single step would be unsafe', () => {
  // Replacing every voter at once, or adding two voters to three, is unsafe in one step.
  assert.equal(quorumsCanBeDisjoint(simple('a', 'b', 'c'), simple('d', 'e', 'f')), true);
  assert.equal(quorumsCanBeDisjoint(simple('a', 'b', 'c'), simple('a', 'b', 'c', 'd', 'e')), true); // {a,b} and {c,d,e}
  assert.equal(quorumsCanBeDisjoint(simple('a', 'b'), simple('c')), true);
  // One voter added or removed is safe; so is the same configuration.
  assert.equal(quorumsCanBeDisjoint(simple('a', 'b', 'c'), simple('a', 'b', 'c', 'd')), false);
  assert.equal(quorumsCanBeDisjoint(simple('a', 'b', 'c'), simple('a', 'b')), false);
  assert.equal(quorumsCanBeDisjoint(simple('a', 'b', 'c'), simple('a', 'b', 'c')), false);
  assert.equal(quorumsCanBeDisjoint(simple('a'), simple('a', 'b')), false);
  // Joint consensus: old → joint → new, each step shares a quorum with the one before.
  const old = simple('a', 'b', 'c');
  const both = joint(['d', 'e', 'f'], ['a', 'b', 'c']);
  const next = simple('d', 'e', 'f');
  assert.equal(quorumsCanBeDisjoint(old, both), false);
  assert.equal(quorumsCanBeDisjoint(both, next), false);
  assert.equal(quorumsCanBeDisjoint(both, old), false);
  // Two different joint configurations over the same old voters still overlap through them...
  assert.equal(quorumsCanBeDisjoint(both, joint(['g', 'h', 'i'], ['a', 'b', 'c'])), false);
  // ...but a joint configuration and an unrelated one do not.
  assert.equal(quorumsCanBeDisjoint(both, simple('g', 'h', 'i')), true);
  // Learners never count; a configuration without voters has no quorum at all.
  assert.equal(quorumsCanBeDisjoint({ voters: ['a'], learners: ['b', 'c'], outgoingVoters: [] }, simple('b', 'c', 'd')), true);
  assert.equal(quorumsCanBeDisjoint(simple(), simple('a', 'b', 'c')), false);
});

test('the answer agrees with brute force over every pair of quorums for small configurations', () => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const subsets = (n: number): string[][] => Array.from({ length: 1 << n }, (_, mask) => ids.slice(0, n).filter((_, i) => mask & (1 << i)));
  const isQuorum = (q: Set<string>, c: ConfigState): boolean => {
    const majority = (set: readonly string[]): boolean => set.filter((id) => q.has(id)).length > set.length / 2;
    return majority(c.voters) && (c.outgoingVoters.length === 0 || majority(c.outgoingVoters));
  };
  const configs: ConfigState[] = [];
  for (const v of subsets(5)) if (v.length > 0) configs.push(simple(...v));
  for (const v of subsets(4)) for (const o of [['a', 'b', 'c'], ['d', 'e']]) if (v.length > 0) configs.push(joint(v, o));
  const all = subsets(5).map((s) => new Set(s));
  let checked = 0;
  for (let i = 0; i < configs.length; i += 3) {
    for (let j = 0; j < configs.length; j += 2) {
      const a = configs[i]!;
      const b = configs[j]!;
      const expected = all.some((q1) => isQuorum(q1, a) && all.some((q2) => isQuorum(q2, b) && [...q1].every((id) => !q2.has(id))));
      assert.equal(quorumsCanBeDisjoint(a, b), expected, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      checked++;
    }
  }
  assert.ok(checked > 400);
});

test('a follower refuses a log in which the configuration jumps to one with a disjoint quorum', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const b = net.raft('b');
  const last = b.log.lastIndex();
  const term = b.term;
  const entry = { index: last + 1, term, type: EntryType.Config, data: encodeConfig(simple('d', 'e', 'f')) };
  assert.throws(
    () => b.step({ type: MessageType.Append, from: 'a', to: 'b', term, prevIndex: last, prevTerm: b.log.term(last)!, entries: [entry], commit: 0 }),
    (error: unknown) => error instanceof InvariantError && /disjoint/.test(error.message),
  );
});
