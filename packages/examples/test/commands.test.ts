import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCommand, encodeCommand, KvStateMachine, Op, type KvCommand } from '@flotilla/examples';

test('KV commands round-trip, and malformed ones are refused with a reason', () => {
  const commands: KvCommand[] = [
    { op: Op.Put, key: 'k', value: Buffer.from('v') },
    { op: Op.Put, key: 'ключ/🔑', value: new Uint8Array(0) },
    { op: Op.Delete, key: 'gone' },
    { op: Op.Cas, key: 'c', expect: null, value: Buffer.from([0, 255]) },
    { op: Op.Cas, key: 'c', expect: Buffer.from('old'), value: null },
  ];
  const plain = (c: KvCommand): Record<string, unknown> =>
    Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]));
  for (const command of commands) assert.deepEqual(plain(decodeCommand(encodeCommand(command))), plain(command));
  // A view into a larger buffer decodes the same.
  const inner = encodeCommand(commands[0]!);
  const outer = Buffer.concat([Buffer.from([9, 9]), inner, Buffer.from([9])]);
  assert.equal(decodeCommand(outer.subarray(2, 2 + inner.byteLength)).key, 'k');

  const put = encodeCommand(commands[0]!);
  assert.throws(() => decodeCommand(new Uint8Array(0)), /truncated command \(needs 1 bytes, has 0\)/);
  assert.throws(() => decodeCommand(put.subarray(0, put.byteLength - 1)), /truncated command/);
  assert.throws(() => decodeCommand(Buffer.concat([put, Buffer.from([0])])), /1 trailing bytes/);
  const unknown = Buffer.from(put);
  unknown[0] = 7;
  assert.throws(() => decodeCommand(unknown), /unknown op 7/);
  const cas = encodeCommand(commands[3]!);
  const badFlag = Buffer.from(cas);
  badFlag[5 + 1] = 2;
  assert.throws(() => decodeCommand(badFlag), /bad presence flag 2/);
});

test('the KV state machine applies commands, answers cas and delete, and keeps digests by index', () => {
  const kv = new KvStateMachine();
  const at = (index: number, command: KvCommand) => ({ index, term: 1, data: encodeCommand(command) });
  const results = kv.apply([
    at(1, { op: Op.Put, key: 'a', value: Buffer.from('1') }),
    at(2, { op: Op.Cas, key: 'a', expect: Buffer.from('1'), value: Buffer.from('2') }),
    at(3, { op: Op.Cas, key: 'a', expect: Buffer.from('1'), value: Buffer.from('3') }),
    at(4, { op: Op.Delete, key: 'b' }),
    { index: 5, term: 1, data: Buffer.from([42]) },
  ]);
  assert.deepEqual(results.slice(0, 4), [{}, { ok: true }, { ok: false }, { deleted: false }]);
  assert.match(results[4]!.error ?? '', /malformed command/);
  assert.equal(Buffer.from(kv.get('a')!).toString(), '2');
  assert.equal(kv.appliedIndex, 5);
  const digest = kv.digest();
  assert.equal(digest.appliedIndex, 5);
  assert.equal(kv.digestAt(5), digest.digest);
  assert.match(kv.digestAt(3)!, /^[0-9a-f]{64}$/);
  assert.notEqual(kv.digestAt(3), kv.digestAt(4));
  assert.equal(kv.digestAt(0), '0'.repeat(64));
  assert.equal(kv.digestAt(6), undefined);
  // The same commands give the same digests on another replica.
  const other = new KvStateMachine();
  other.apply([at(1, { op: Op.Put, key: 'a', value: Buffer.from('1') })]);
  const replica = new KvStateMachine();
  replica.apply([at(1, { op: Op.Put, key: 'a', value: Buffer.from('1') })]);
  assert.equal(other.digestAt(1), replica.digestAt(1));
  assert.equal(other.digestAt(1), kv.digestAt(1));
});
