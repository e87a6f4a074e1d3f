import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeConfig, encodeConfig, firstStep, leaveJoint, MembershipError, sameConfig } from '../src/raft/config.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test('a configuration with learners to promote survives its log entry, and one without keeps its old bytes', () => {
  const marked = { voters: ['a', 'b', 'c'], learners: ['d', 'e'], outgoingVoters: [], autoPromote: ['e'] };
  assert.deepEqual(decodeConfig(encodeConfig(marked)), marked);
  const plain = { voters: ['a'], learners: ['d'], outgoingVoters: [] };
  assert.equal(new TextDecoder().decode(encodeConfig(plain)), '{"voters":["a"],"learners":["d"],"outgoingVoters":[]}');
  assert.deepEqual(decodeConfig(encodeConfig(plain)), plain);
  // An entry written before the field existed decodes as "none marked".
  assert.equal(decodeConfig(bytes('{"voters":["a"],"learners":["d"],"outgoingVoters":[]}')).autoPromote, undefined);
  assert.deepEqual(decodeConfig(bytes('{"voters":["a"],"learners":["d"],"outgoingVoters":[],"autoPromote":[]}')), plain);
});

test('only learners can be marked for promotion, each once', () => {
  const bad = (autoPromote: unknown): Uint8Array => bytes(JSON.stringify({ voters: ['a'], learners: ['d'], outgoingVoters: [], autoPromote }));
  for (const value of [['a'], ['x'], ['d', 'd'], 'd', [7]]) {
    assert.throws(() => decodeConfig(bad(value)), (error: unknown) => error instanceof MembershipError && error.code === 'BAD_MEMBERSHIP', JSON.stringify(value));
  }
  assert.throws(() => firstStep({ voters: ['a'], learners: [], outgoingVoters: [] }, ['a'], [], ['d']), MembershipError);
});

test('the mark is part of the configuration: through the joint step and out of it', () => {
  const current = { voters: ['a', 'b', 'c'], learners: ['d', 'e'], outgoingVoters: [] };
  assert.equal(sameConfig(current, { ...current, autoPromote: ['e'] }), false);
  const joint = firstStep(current, ['a', 'b', 'c', 'd'], ['e'], ['e']);
  assert.deepEqual(joint.outgoingVoters, ['a', 'b', 'c']);
  assert.deepEqual(joint.autoPromote, ['e']);
  assert.deepEqual(leaveJoint(joint), { voters: ['a', 'b', 'c', 'd'], learners: ['e'], outgoingVoters: [], autoPromote: ['e'] });
  assert.equal(firstStep(current, ['a', 'b', 'c'], ['d', 'e']).autoPromote, undefined);
});
