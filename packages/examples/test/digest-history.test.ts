import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DigestHistory } from '../src/kv/digest-history.js';

const digest = (n: number): Buffer => Buffer.alloc(32, n & 0xff);

test('the digest history keeps the newest pairs, oldest dropped first, and finds them by index', () => {
  const history = new DigestHistory(4);
  assert.equal(history.newestIndex, 0);
  assert.equal(history.hexAt(1), undefined);
  // Indices with gaps, as applied commands have (configuration entries are not applied).
  const indices = [3, 4, 7, 8, 9, 12, 20];
  for (const index of indices) history.push(index, digest(index));
  assert.equal(history.size, 4);
  assert.equal(history.newestIndex, 20);
  for (const gone of [3, 4, 7]) assert.equal(history.hexAt(gone), undefined, `index ${gone} was dropped`);
  for (const kept of [8, 9, 12, 20]) assert.equal(history.hexAt(kept), digest(kept).toString('hex'));
  for (const absent of [0, 5, 10, 13, 21]) assert.equal(history.hexAt(absent), undefined);
  // Records come out oldest first, as the snapshot writes them.
  const records = history.toRecords();
  assert.equal(records.byteLength, 4 * 40);
  assert.deepEqual([0, 1, 2, 3].map((i) => records.readDoubleLE(i * 40)), [8, 9, 12, 20]);
  assert.deepEqual(records.subarray(3 * 40 + 8, 4 * 40), digest(20));
});

test('the digest history copies what it is given and refuses indices that do not increase', () => {
  const history = new DigestHistory(3);
  const rolling = digest(1);
  history.push(1, rolling);
  rolling.fill(2); // the state machine updates its rolling digest in place
  history.push(2, rolling);
  assert.equal(history.hexAt(1), digest(1).toString('hex'));
  assert.equal(history.hexAt(2), digest(2).toString('hex'));
  assert.throws(() => history.push(2, digest(3)), /does not follow 2/);
  assert.throws(() => history.push(1, digest(3)), /does not follow 2/);
  assert.throws(() => history.push(0, digest(3)), RangeError);
  assert.throws(() => history.push(3, Buffer.alloc(31)), /32 bytes/);
  assert.throws(() => new DigestHistory(0), RangeError);
  assert.equal(history.size, 2);
});

test('a KV snapshot whose digests are out of order is refused and changes nothing', async () => {
  const { KvStateMachine, encodeCommand, Op } = await import('@flotilla/examples');
  const kv = new KvStateMachine();
  kv.apply([1, 2, 3].map((index) => ({ index, term: 1, data: encodeCommand({ op: Op.Put, key: `k${index}`, value: Buffer.from('v') }) })));
  const chunks: Buffer[] = [];
  for await (const chunk of kv.snapshot()) chunks.push(Buffer.from(chunk));
  const stream = Buffer.concat(chunks);
  // MAGIC (8 bytes), the header record [type][u32 length][JSON], then the digests record.
  const digestsAt = 8 + 5 + stream.readUInt32LE(9);
  assert.equal(stream[digestsAt], 2, 'the digests record follows the header');
  assert.equal(stream.readUInt32LE(digestsAt + 1), 3);
  const first = digestsAt + 5;
  const swapped = Buffer.from(stream);
  swapped.writeDoubleLE(stream.readDoubleLE(first + 40), first);
  swapped.writeDoubleLE(stream.readDoubleLE(first), first + 40);
  const target = new KvStateMachine();
  target.apply([{ index: 1, term: 1, data: encodeCommand({ op: Op.Put, key: 'mine', value: Buffer.from('x') }) }]);
  const before = target.digest();
  await assert.rejects(target.restore((async function* () { yield swapped; })()), /out of order/);
  assert.deepEqual(target.digest(), before);
  await target.restore((async function* () { yield stream; })());
  assert.deepEqual(target.digest(), kv.digest());
  assert.equal(target.digestAt(2), kv.digestAt(2));
});
