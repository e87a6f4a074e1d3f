import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineWheel, keysWithin } from '../src/runtime/deadlines.js';

function expired(wheel: DeadlineWheel, now: number): number[][] {
  const out: number[][] = [];
  wheel.expire(now, (lo, hi) => out.push([lo, hi]));
  return out;
}

test('increasing keys with deadlines in one bucket are held as one range', () => {
  const wheel = new DeadlineWheel(10);
  for (let key = 100; key < 10_100; key++) wheel.add(1_005, key);
  assert.deepStrictEqual(expired(wheel, 1_009), []);
  assert.deepStrictEqual(expired(wheel, 1_010), [[100, 10_099]]);
  assert.deepStrictEqual(expired(wheel, 2_000), [], 'a bucket is reported once');
});

test('a key below the current range starts another; one inside it adds nothing', () => {
  const wheel = new DeadlineWheel(10);
  wheel.add(50, 20);
  wheel.add(50, 30);
  wheel.add(50, 25);
  wheel.add(50, 5);
  assert.deepStrictEqual(expired(wheel, 50), [[20, 30], [5, 5]]);
});

test('every key is reported by the time its deadline passes, deadlines out of order included', () => {
  const wheel = new DeadlineWheel(10);
  const deadlines = new Map<number, number>();
  let seed = 7;
  for (let key = 1; key <= 500; key++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const deadline = 100 + (seed % 400);
    deadlines.set(key, deadline);
    wheel.add(deadline, key);
  }
  const seen = new Set<number>();
  for (let now = 0; now <= 600; now += 7) {
    wheel.expire(now, (lo, hi) => {
      for (let key = lo; key <= hi; key++) if (deadlines.get(key)! <= now) seen.add(key);
    });
    for (const [key, deadline] of deadlines) if (deadline <= now - 10) assert.ok(seen.has(key), `key ${key} due at ${deadline}, not reported by ${now}`);
  }
  assert.equal(seen.size, 500);
});

test('a deadline already past goes to the next bucket to expire', () => {
  const wheel = new DeadlineWheel(10);
  assert.deepStrictEqual(expired(wheel, 100), []);
  wheel.add(50, 1);
  assert.deepStrictEqual(expired(wheel, 105), []);
  assert.deepStrictEqual(expired(wheel, 110), [[1, 1]]);
});

test('keysWithin walks the shorter of the range and the map', () => {
  const map = new Map<number, string>([[3, 'a'], [7, 'b'], [1_000_000, 'c']]);
  assert.deepStrictEqual(keysWithin(map, 2, 8), [3, 7]);
  assert.deepStrictEqual(keysWithin(map, 0, 2_000_000).sort((a, b) => a - b), [3, 7, 1_000_000]);
  assert.deepStrictEqual(keysWithin(map, 8, 999_999), []);
});
