import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from '@flotilla/core';
import { Ledger } from '../src/node/ledger.js';

function commands(from: number, count: number): Command[] {
  return Array.from({ length: count }, (_, i) => ({ index: from + i, term: 1, type: 0, data: new Uint8Array([from + i, 7]) }) as Command);
}

async function* chunksOf(...chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* chunks;
}

test('a ledger restored from a snapshot agrees with the one that took it, and goes on agreeing', async () => {
  for (const keep of [false, true]) {
    const a = new Ledger(keep);
    a.apply(commands(1, 50));
    const snapshot = [...a.snapshot()];
    a.apply(commands(51, 5)); // the snapshot was taken before these
    const b = new Ledger(keep);
    b.apply(commands(1, 3)); // whatever it held is replaced
    // Split across chunks, as a snapshot streamed between nodes arrives.
    const bytes = Buffer.concat(snapshot);
    await b.restore(chunksOf(bytes.subarray(0, 10), bytes.subarray(10)));
    assert.equal(b.appliedIndex, 50);
    b.apply(commands(51, 5));
    assert.deepEqual(b.digest(), a.digest());
    assert.deepEqual(b.entries, a.entries);
    assert.equal(b.entries.length, keep ? 55 : 0);
  }
});

test('a malformed ledger snapshot is refused and the ledger keeps its state', async () => {
  const ledger = new Ledger(true);
  ledger.apply(commands(1, 4));
  const before = ledger.digest();
  const bad = ['not json', '{}', '{"appliedIndex":1,"count":1,"rolling":"xyz"}', `{"appliedIndex":-1,"count":1,"rolling":"${'0'.repeat(64)}"}`, `{"appliedIndex":1,"count":1,"rolling":"${'0'.repeat(64)}","entries":[[1]]}`];
  for (const text of bad) await assert.rejects(ledger.restore(chunksOf(Buffer.from(text))), /ledger snapshot/, text);
  assert.deepEqual(ledger.digest(), before);
  assert.equal(ledger.entries.length, 4);
});
