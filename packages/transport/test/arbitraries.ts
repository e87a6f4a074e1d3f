import fc from 'fast-check';
import { MessageType } from '@flotilla/core';
import type { ConfigState, Entry, Message } from '@flotilla/core';

export const FROM = 'node-a';
export const TO = 'node-b';
export const CLUSTER = 'cluster-1';

const u64 = fc.oneof(
  fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1),
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const id = fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }).filter((s) => Buffer.byteLength(s) <= 255);
const bytes = fc.uint8Array({ maxLength: 300 });
// '' included: the encoder must not turn an empty string into an absent vector element.
const configId = fc.oneof({ weight: 9, arbitrary: id }, { weight: 1, arbitrary: fc.constant('') });
// autoPromote is absent or names someone: the codec writes and reads it only when non-empty.
const config: fc.Arbitrary<ConfigState> = fc.record(
  {
    voters: fc.array(configId, { maxLength: 5 }),
    learners: fc.array(id, { maxLength: 3 }),
    outgoingVoters: fc.array(id, { maxLength: 5 }),
    autoPromote: fc.array(id, { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: ['voters', 'learners', 'outgoingVoters'] },
);

const env = { from: fc.constant(FROM), to: fc.constant(TO), term: u64 };

const entries = (prevIndex: number): fc.Arbitrary<Entry[]> =>
  fc
    .array(fc.record({ term: u64, type: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>, data: bytes }), { maxLength: 20 })
    .map((list) => list.map((e, i) => ({ index: prevIndex + 1 + i, ...e })));

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ ...env, type: fc.constantFrom(MessageType.Vote, MessageType.PreVote), lastLogIndex: u64, lastLogTerm: u64, transfer: fc.boolean() }),
  fc.record({ ...env, type: fc.constantFrom(MessageType.VoteResponse, MessageType.PreVoteResponse), reject: fc.boolean() }),
  fc
    .record({ ...env, prevIndex: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 100 }), prevTerm: u64, commit: u64 })
    .chain((m) => entries(m.prevIndex).map((list) => ({ ...m, type: MessageType.Append, entries: list }))),
  fc.record({ ...env, type: fc.constant(MessageType.AppendResponse), index: u64, reject: fc.boolean(), hintIndex: u64, hintTerm: u64 }),
  fc.record({ ...env, type: fc.constant(MessageType.Heartbeat), commit: u64, context: u64 }),
  fc.record({ ...env, type: fc.constant(MessageType.HeartbeatResponse), context: u64 }),
  fc.record({
    ...env,
    type: fc.constant(MessageType.Snapshot),
    meta: fc.record({ index: u64, term: u64, config }),
    offset: u64,
    data: bytes,
    done: fc.boolean(),
    checksum: u32,
  }),
  fc.record({ ...env, type: fc.constant(MessageType.SnapshotResponse), index: u64, nextOffset: u64, reject: fc.boolean() }),
  fc.record({ ...env, type: fc.constant(MessageType.TimeoutNow) }),
  fc.record({ ...env, type: fc.constant(MessageType.ReadIndex), requestId: u64 }),
  fc.record({ ...env, type: fc.constant(MessageType.ReadIndexResponse), requestId: u64, index: u64, reject: fc.boolean() }),
  fc.record({ ...env, type: fc.constant(MessageType.Propose), requestId: u64, data: bytes }),
  fc.record({
    ...env,
    type: fc.constant(MessageType.ProposeResponse),
    requestId: u64,
    error: fc.constantFrom(0, 1, 2, 3, 4, 5) as fc.Arbitrary<0 | 1 | 2 | 3 | 4 | 5>,
    index: u64,
    entryTerm: u64,
    leaderHint: fc.oneof(fc.constant(''), id),
    result: bytes,
  }),
) as fc.Arbitrary<Message>;

/** Normalises Uint8Array views so deepStrictEqual compares contents only. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
