import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLinearizable, checkRegisterKey, checkRegisters, describeViolation, recheckWindow, type Model, type RegisterOp } from './checker/index.js';

// Hand-made register histories. Times are arbitrary units; `ret` of an unknown outcome is when the
// client gave up (the checker treats it as +Infinity).
let nextId = 0;
type Spec = { call: number; ret: number; outcome?: 'ok' | 'fail' | 'unknown'; key?: string; process?: number };
const base = (s: Spec) => ({ id: nextId++, process: s.process ?? 0, key: s.key ?? 'k', call: s.call, ret: s.ret, outcome: s.outcome ?? ('ok' as const) });
const read = (call: number, ret: number, value: string | null, s: Partial<Spec> = {}): RegisterOp => ({ ...base({ call, ret, ...s }), f: 'read', value });
const write = (call: number, ret: number, value: string, s: Partial<Spec> = {}): RegisterOp => ({ ...base({ call, ret, ...s }), f: 'write', value });
const cas = (call: number, ret: number, expect: string | null, value: string | null, ok: boolean | undefined, s: Partial<Spec> = {}): RegisterOp => ({
  ...base({ call, ret, ...s }),
  f: 'cas',
  expect,
  value,
  ...(ok === undefined ? {} : { ok }),
});
const del = (call: number, ret: number, deleted: boolean | undefined, s: Partial<Spec> = {}): RegisterOp => ({ ...base({ call, ret, ...s }), f: 'delete', ...(deleted === undefined ? {} : { deleted }) });
const unknown = { outcome: 'unknown' as const };
const failed = { outcome: 'fail' as const };

const outcome = (ops: RegisterOp[]): string => checkRegisterKey('k', ops).outcome;

test('sequential histories: writes, cas, delete, reads of absent keys', () => {
  assert.equal(outcome([read(0, 1, null), write(2, 3, 'a'), read(4, 5, 'a'), cas(6, 7, 'a', 'b', true), read(8, 9, 'b'), del(10, 11, true), read(12, 13, null), del(14, 15, false)]), 'ok');
  assert.equal(outcome([cas(0, 1, null, 'a', true), cas(2, 3, null, 'b', false), cas(4, 5, 'a', null, true), read(6, 7, null)]), 'ok');
  assert.equal(outcome([]), 'ok');
});

test('a stale read is not linearizable; the failing window is small and names the read', () => {
  const ops = [write(0, 1, 'a'), write(2, 3, 'b'), read(4, 5, 'a')];
  const result = checkRegisterKey('k', ops);
  assert.equal(result.outcome, 'illegal');
  const v = result.violation!;
  assert.equal(v.blocking.id, ops[2]!.id);
  assert.ok(v.window.some((w) => w.op.id === ops[2]!.id));
  assert.ok(v.window.length <= 3);
  assert.match(describeViolation(v), /not linearizable/);
});

test('concurrent operations may take effect in either order, but reads may not go back', () => {
  // write b runs from 2 to 10; reads during it see a, then b.
  const ok = [write(0, 1, 'a'), write(2, 10, 'b'), read(3, 4, 'a'), read(5, 6, 'b')];
  assert.equal(outcome(ok), 'ok');
  assert.equal(outcome([...ok, read(7, 8, 'a')]), 'illegal');
  // Two reads overlapping each other and the write may disagree.
  assert.equal(outcome([write(0, 1, 'a'), write(2, 10, 'b'), read(3, 8, 'b'), read(4, 9, 'a')]), 'ok');
});

test('an operation with an unknown outcome may or may not have taken effect', () => {
  // Taken effect: a later read sees it.
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'b', unknown), read(4, 5, 'b')]), 'ok');
  // Not taken effect.
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'b', unknown), read(4, 5, 'a')]), 'ok');
  // Taken effect long after the client gave up (it completes at +Infinity).
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'b', unknown), read(4, 5, 'a'), read(100, 101, 'b')]), 'ok');
  // But once seen it cannot be undone.
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'b', unknown), read(4, 5, 'b'), read(6, 7, 'a')]), 'illegal');
  // It cannot take effect before it was invoked.
  assert.equal(outcome([write(0, 1, 'a'), read(2, 3, 'b'), write(4, 5, 'b', unknown)]), 'illegal');
  // An unknown write that nobody saw still explains a failed cas.
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'x', unknown), cas(4, 5, 'a', 'c', false)]), 'ok');
  assert.equal(outcome([write(0, 1, 'a'), cas(4, 5, 'a', 'c', false)]), 'illegal');
  // Unknown reads carry no information.
  assert.equal(outcome([write(0, 1, 'a'), read(2, 3, 'zzz', unknown)]), 'ok');
});

test('an operation that definitely failed never takes effect', () => {
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'b', failed), read(4, 5, 'b')]), 'illegal');
  assert.equal(outcome([write(0, 1, 'a'), write(2, 3, 'b', failed), read(4, 5, 'a')]), 'ok');
  assert.equal(outcome([write(0, 1, 'a'), del(2, 3, undefined, failed), read(4, 5, 'a')]), 'ok');
});

test('cas: at most one of two concurrent cas from the same value succeeds; a failed cas saw another value', () => {
  assert.equal(outcome([cas(0, 10, null, 'a', true), cas(1, 11, null, 'b', true)]), 'illegal');
  assert.equal(outcome([cas(0, 10, null, 'a', true), cas(1, 11, null, 'b', false), read(12, 13, 'a')]), 'ok');
  assert.equal(outcome([cas(0, 10, null, 'a', true), cas(1, 11, null, 'b', false), read(12, 13, 'b')]), 'illegal');
  assert.equal(outcome([write(0, 1, 'a'), cas(2, 3, 'a', 'b', false)]), 'illegal');
  // An unknown cas may have applied (if its expectation held then) or not.
  assert.equal(outcome([write(0, 1, 'a'), cas(2, 3, 'a', 'b', undefined, unknown), read(4, 5, 'b')]), 'ok');
  assert.equal(outcome([write(0, 1, 'a'), cas(2, 3, 'a', 'b', undefined, unknown), read(4, 5, 'a')]), 'ok');
  assert.equal(outcome([write(0, 1, 'z'), cas(2, 3, 'a', 'b', undefined, unknown), read(4, 5, 'b')]), 'illegal');
  // cas to null deletes.
  assert.equal(outcome([write(0, 1, 'a'), cas(2, 3, 'a', null, true), read(4, 5, null), cas(6, 7, null, 'c', true)]), 'ok');
});

test('delete: its "deleted" answer must match the state', () => {
  assert.equal(outcome([del(0, 1, true)]), 'illegal');
  assert.equal(outcome([write(0, 1, 'a'), del(2, 3, false)]), 'illegal');
  assert.equal(outcome([write(0, 1, 'a'), del(2, 3, true), del(4, 5, false), read(6, 7, null)]), 'ok');
  assert.equal(outcome([write(0, 1, 'a'), del(2, 3, undefined, unknown), read(4, 5, null), write(6, 7, 'b'), read(8, 9, 'b')]), 'ok');
  assert.equal(outcome([write(0, 1, 'a'), del(2, 3, true), read(4, 5, 'a')]), 'illegal');
});

test('keys are checked independently', () => {
  const result = checkRegisters([write(0, 1, 'a', { key: 'x' }), read(2, 3, 'a', { key: 'x' }), write(0, 1, 'a', { key: 'y' }), read(2, 3, 'b', { key: 'y' }), read(2, 3, 'a', { key: 'z' })]);
  assert.equal(result.valid, false);
  assert.deepEqual(result.keys.map((k) => [k.key, k.outcome]), [['x', 'ok'], ['y', 'illegal'], ['z', 'illegal']]);
  assert.equal(checkRegisters([write(0, 1, 'a', { key: 'x' }), read(2, 3, 'a', { key: 'x' })]).valid, true);
});

test('many unknown writes nobody observed stay cheap (symmetry), and the answer is still exact', () => {
  const ops: RegisterOp[] = [write(0, 1, 'a')];
  for (let i = 0; i < 40; i++) ops.push(write(2 + i, 3 + i, `u${i}`, unknown));
  for (let i = 0; i < 40; i++) ops.push(read(100 + 2 * i, 101 + 2 * i, 'a'));
  const good = checkRegisterKey('k', ops, { maxSteps: 200_000 });
  assert.equal(good.outcome, 'ok');
  // A failed cas needs one of them to have happened; a later read of 'a' then needs... nothing else can
  // bring 'a' back, so the history is illegal; the search must prove it, not give up.
  const bad = checkRegisterKey('k', [...ops, cas(300, 301, 'a', 'b', false), read(302, 303, 'a')], { maxSteps: 2_000_000 });
  assert.equal(bad.outcome, 'illegal');
});

test('past its step bound the search answers unknown, never ok', () => {
  // Many concurrent writes and reads of the same few values: a hard search.
  const ops: RegisterOp[] = [];
  for (let i = 0; i < 30; i++) ops.push(write(i, 1000 + i, `v${i % 3}`));
  for (let i = 0; i < 30; i++) ops.push(read(i + 0.5, 1000 + i, `v${(i + 1) % 3}`));
  ops.push(read(2000, 2001, 'never-written'));
  const result = checkRegisterKey('k', ops, { maxSteps: 50 });
  assert.equal(result.outcome, 'unknown');
  assert.match(result.reason!, /gave up/);
  assert.equal(checkRegisters(ops, { maxSteps: 50 }).valid, 'unknown');
});

test('past its time bound the search answers unknown, never ok, and stops on time', () => {
  const ops: RegisterOp[] = [];
  for (let i = 0; i < 30; i++) ops.push(write(i, 1000 + i, `v${i % 3}`));
  for (let i = 0; i < 30; i++) ops.push(read(i + 0.5, 1000 + i, `v${(i + 1) % 3}`));
  ops.push(read(2000, 2001, 'never-written'));
  const started = performance.now();
  const result = checkRegisterKey('k', ops, { maxSteps: Number.POSITIVE_INFINITY, timeoutMs: 50 });
  const took = performance.now() - started;
  assert.equal(result.outcome, 'unknown');
  assert.match(result.reason!, /gave up after 50 ms/);
  assert.ok(took < 2000, `took ${took.toFixed(0)} ms`);
  // One key given up on makes the whole verdict unknown, even next to a key that is fine.
  const mixed = checkRegisters([...ops, write(0, 1, 'a', { key: 'fine' }), read(2, 3, 'a', { key: 'fine' })], { maxSteps: Number.POSITIVE_INFINITY, timeoutMs: 50 });
  assert.equal(mixed.valid, 'unknown');
  assert.deepEqual(mixed.keys.map((k) => [k.key, k.outcome]), [['k', 'unknown'], ['fine', 'ok']]);
});

test('a violation late in a long history is reported as a small window, which is itself not linearizable', () => {
  const ops: RegisterOp[] = [];
  let t = 0;
  for (let i = 0; i < 150; i++) {
    ops.push(write(t, t + 3, `w${i}`, { process: 0 }));
    ops.push(read(t + 1, t + 4, i === 0 ? null : `w${i - 1}`, { process: 1 }));
    ops.push(read(t + 4.5, t + 5, `w${i}`, { process: 2 }));
    t += 6;
  }
  assert.equal(outcome(ops), 'ok');
  const stale = read(t + 1, t + 2, 'w10', { process: 3 });
  const result = checkRegisterKey('k', [...ops, stale]);
  assert.equal(result.outcome, 'illegal');
  const v = result.violation!;
  assert.ok(v.window.length <= 3, `window of ${v.window.length}:\n${describeViolation(v)}`);
  assert.ok(v.window.some((w) => w.op.id === stale.id));
  assert.ok(v.longestPrefix >= 440, `longest prefix ${v.longestPrefix}`);
  // The window proves it on its own: re-check it (from any state if its head was cut).
  assert.equal(recheckWindow(v), 'illegal');
});

// --- Cross-check against brute force on random small histories ----------------------------------

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Tries every subset of unknown operations and every order consistent with real time, from the
 * absent key or (anyInitialState) from every value the history mentions and one it does not.
 */
function bruteForce(ops: RegisterOp[], anyInitialState = false): boolean {
  const live = ops.filter((o) => o.outcome !== 'fail' && !(o.outcome === 'unknown' && o.f === 'read'));
  const ret = (o: RegisterOp): number => (o.outcome === 'unknown' ? Infinity : o.ret);
  const stepOk = (s: string | null, o: RegisterOp): { ok: boolean; s: string | null } => {
    const known = o.outcome === 'ok';
    switch (o.f) {
      case 'read':
        return { ok: s === (o.value ?? null), s };
      case 'write':
        return { ok: true, s: o.value };
      case 'cas':
        if (!known) return { ok: true, s: s === o.expect ? o.value : s };
        return o.ok ? { ok: s === o.expect, s: o.value } : { ok: s !== o.expect, s };
      case 'delete':
        return { ok: !known || (s !== null) === o.deleted, s: null };
    }
  };
  const search = (remaining: RegisterOp[], s: string | null): boolean => {
    if (remaining.every((o) => o.outcome === 'unknown')) return true; // the rest may not have happened
    for (const o of remaining) {
      // o can go next only if nothing remaining returned before o was called.
      if (remaining.some((p) => p !== o && ret(p) < o.call)) continue;
      const r = stepOk(s, o);
      if (r.ok && search(remaining.filter((p) => p !== o), r.s)) return true;
    }
    return false;
  };
  if (!anyInitialState) return search(live, null);
  const values = new Set<string | null>([null, '\u0002other']);
  for (const o of live) {
    if (o.f === 'read' && o.value !== undefined) values.add(o.value);
    if (o.f === 'write' || o.f === 'cas') values.add(o.value);
    if (o.f === 'cas') values.add(o.expect);
  }
  return [...values].some((v) => search(live, v));
}

test('random small histories: the checker agrees with brute force, and every failing window is itself illegal', () => {
  const random = mulberry(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  let illegal = 0;
  let headCuts = 0;
  for (let round = 0; round < 2000; round++) {
    const ops: RegisterOp[] = [];
    const n = 2 + Math.floor(random() * 6);
    for (let i = 0; i < n; i++) {
      const call = Math.floor(random() * 10);
      const ret = call + 1 + Math.floor(random() * 4);
      const oc = pick(['ok', 'ok', 'ok', 'ok', 'unknown', 'fail'] as const);
      const value = pick(['a', 'b', 'c', null]);
      const kind = pick(['read', 'read', 'write', 'cas', 'delete'] as const);
      const s = { outcome: oc };
      if (kind === 'read') ops.push(read(call, ret, value, s));
      else if (kind === 'write') ops.push(write(call, ret, value ?? `w${i}`, s));
      else if (kind === 'cas') ops.push(cas(call, ret, pick(['a', 'b', null]), value, oc === 'ok' ? random() < 0.5 : undefined, s));
      else ops.push(del(call, ret, oc === 'ok' ? random() < 0.5 : undefined, s));
    }
    const expected = bruteForce(ops);
    const result = checkRegisterKey('k', ops);
    assert.equal(result.outcome, expected ? 'ok' : 'illegal', `round ${round}: ${JSON.stringify(ops)}`);
    if (expected) continue;
    illegal++;
    // The window alone must prove the violation, by brute force too.
    const v = result.violation!;
    if (v.fromAnyState) headCuts++;
    const windowOps = v.window.map(({ op, outcomeForgotten }) => (outcomeForgotten ? { ...op, outcome: 'unknown' as const } : op));
    assert.equal(bruteForce(windowOps, v.fromAnyState), false, `round ${round}: window ${JSON.stringify(v.window)} of ${JSON.stringify(ops)}`);
    assert.equal(recheckWindow(v), 'illegal');
  }
  assert.ok(illegal > 100 && illegal < 1900, `a mix of both: ${illegal} illegal`);
  assert.ok(headCuts > 10, `windows with a cut head: ${headCuts}`);
});

test('the generic search: a model that accepts nothing is illegal, an empty history is ok', () => {
  const never: Model<number, { call: number; ret: number }> = { init: 0, step: () => undefined, key: String };
  assert.equal(checkLinearizable([{ call: 0, ret: 1 }], never).outcome, 'illegal');
  assert.equal(checkLinearizable([], never).outcome, 'ok');
  assert.throws(() => checkLinearizable([{ call: 2, ret: 1 }], never), /returns/);
});
