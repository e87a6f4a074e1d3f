import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryBuffer, SeededRandom, type Entry } from '../src/index.js';

const entry = (index: number): Entry => ({ index, term: 1, type: 0, data: new Uint8Array(0) });

test('EntryBuffer matches a plain array through random pushes, truncations and drops from the front', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new SeededRandom(seed);
    const buffer = new EntryBuffer(rng.int(1, 9));
    let model: Entry[] = [];
    let next = 1;
    for (let step = 0; step < 2000; step++) {
      const op = rng.int(0, 10);
      if (op < 4) {
        const e = entry(next++);
        buffer.pushAll([e]);
        model.push(e);
      } else if (op < 7) {
        const batch = Array.from({ length: rng.int(0, 301) }, () => entry(next++));
        buffer.pushAll(batch);
        model.push(...batch);
      } else if (op === 7) {
        const keep = rng.int(0, model.length + 1);
        buffer.truncate(keep);
        model = model.slice(0, keep);
      } else if (op === 8) {
        const drop = rng.int(0, model.length + 3);
        buffer.dropFront(drop);
        model = model.slice(drop);
      } else if (rng.chance(0.05)) {
        buffer.clear();
        model = [];
      }
      assert.equal(buffer.length, model.length, `seed ${seed} step ${step}`);
      if (model.length > 0) {
        const i = rng.int(0, model.length);
        assert.equal(buffer.at(i), model[i], `seed ${seed} step ${step} at(${i})`);
        const from = rng.int(0, model.length + 1);
        const to = rng.int(from, model.length + 1);
        assert.deepEqual(buffer.slice(from, to), model.slice(from, to), `seed ${seed} step ${step} slice`);
      }
    }
    assert.deepEqual(buffer.slice(0, buffer.length), model, `seed ${seed} at the end`);
  }
});

test('EntryBuffer.sliceWithin takes entries while their payloads fit, the first one always unless told not to', () => {
  const sized = (index: number, bytes: number): Entry => ({ index, term: 1, type: 0, data: new Uint8Array(bytes) });
  const buffer = new EntryBuffer(2);
  const all = [sized(1, 10), sized(2, 50), sized(3, 10), sized(4, 10), sized(5, 100)];
  buffer.pushAll(all);
  buffer.dropFront(1); // positions now start at the entry of index 2
  const indices = (es: Entry[]): number[] => es.map((e) => e.index);
  assert.deepEqual(indices(buffer.sliceWithin(0, 4, 70)), [2, 3, 4]);
  assert.deepEqual(indices(buffer.sliceWithin(0, 4, 60)), [2, 3]);
  assert.deepEqual(indices(buffer.sliceWithin(0, 4, 1)), [2], 'the first entry even if alone it is larger');
  assert.deepEqual(indices(buffer.sliceWithin(0, 4, 1, false)), [], 'nothing when the caller has taken some already');
  assert.deepEqual(indices(buffer.sliceWithin(1, 4, Infinity)), [3, 4, 5]);
  assert.deepEqual(indices(buffer.sliceWithin(3, 3, Infinity)), []);
  assert.deepEqual(indices(buffer.sliceWithin(2, 1, Infinity)), []);
});

test('EntryBuffer refuses positions and ranges outside what it holds', () => {
  const buffer = new EntryBuffer();
  buffer.pushAll([entry(1), entry(2)]);
  assert.throws(() => buffer.at(2), /outside/);
  assert.throws(() => buffer.at(-1), /outside/);
  assert.throws(() => buffer.slice(1, 3), /outside/);
  assert.throws(() => new EntryBuffer(0), /positive integer/);
});

test('EntryBuffer lets go of entries it no longer holds', () => {
  // Dropped entries must not stay reachable from the array (a tail cache would pin their payloads).
  const buffer = new EntryBuffer(4);
  const batch = Array.from({ length: 5000 }, (_, i) => entry(i + 1));
  buffer.pushAll(batch);
  buffer.dropFront(4990);
  const items = (): (Entry | undefined)[] => (buffer as unknown as { items: (Entry | undefined)[] }).items;
  assert.deepEqual(items().filter((e) => e !== undefined), batch.slice(4990, 5000));
  buffer.truncate(5);
  assert.deepEqual(items().filter((e) => e !== undefined), batch.slice(4990, 4995));
  // Once it needs room, a mostly dead array is replaced by a smaller one.
  const before = items().length;
  while (items().length === before) buffer.pushAll([entry(0)]);
  assert.ok(items().length <= 1024, `capacity ${items().length} after compaction`);
  assert.deepEqual(buffer.slice(0, 5), batch.slice(4990, 4995));
  buffer.clear();
  assert.equal(items().filter((e) => e !== undefined).length, 0);
});
