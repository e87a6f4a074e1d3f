/**
 * Linearizability of the KV service seen as one register per key (read / write / cas / delete),
 * keys checked independently. When a key's history is not linearizable the checker shrinks it to a
 * small window that is still not linearizable, by transformations that cannot turn a linearizable
 * history into a non-linearizable one, so the window alone proves the violation:
 *
 * - cut the tail at time T: drop operations invoked after T, and forget the outcome of those still
 *   running at T (they become unknown: may or may not have happened);
 * - cut the head at time T0: drop operations that returned before T0, forget the outcome of those
 *   running at T0, and start from any state;
 * - drop operations without an effect: reads, failed cas, deletes of an absent key.
 *
 * Pure: no I/O.
 */
import { checkLinearizable, type CheckBudget, type Model, type Timed } from './linearizability.js';
import { describeRegisterOp, type RegisterOp } from './history.js';

/** The register's state: a value, null (absent), or one of the two markers below. */
type State = string | null;
/** Any state at all: the start of a window cut from the middle of a history. */
const ANY = '\u0000any';
/** A value no operation of the (sub)history reads or expects: all such values behave alike. */
const UNSEEN = '\u0000unseen';

/** An operation as the model sees it: failed operations and unknown reads are left out. */
interface MOp extends Timed {
  readonly src: RegisterOp;
  /** The outcome is unknown (ret is Infinity), originally or after a cut. */
  readonly unknown: boolean;
}

function toModelOps(ops: readonly RegisterOp[]): MOp[] {
  const out: MOp[] = [];
  for (const op of ops) {
    if (op.outcome === 'fail') continue; // definitely not done
    if (op.outcome === 'unknown' && op.f === 'read') continue; // no effect and no information
    out.push({ src: op, call: op.call, ret: op.outcome === 'unknown' ? Infinity : op.ret, unknown: op.outcome === 'unknown' });
  }
  return out;
}

const weaken = (op: MOp): MOp => ({ ...op, ret: Infinity, unknown: true });

/** The model for one (sub)history: values it never observes are merged into UNSEEN. */
function registerModel(ops: readonly MOp[], anyInitialState: boolean): Model<State, MOp> {
  const mentioned = new Set<string>();
  for (const { src, unknown } of ops) {
    if (src.f === 'read' && !unknown && typeof src.value === 'string') mentioned.add(src.value);
    if (src.f === 'cas' && src.expect !== null) mentioned.add(src.expect);
  }
  const canon = (v: string | null): State => (v === null || mentioned.has(v) ? v : UNSEEN);
  return {
    init: anyInitialState ? ANY : null,
    key: (s) => (s === null ? '\u0000null' : s),
    step(s, { src, unknown }) {
      switch (src.f) {
        case 'read': {
          const seen = src.value ?? null;
          return s === ANY || s === seen ? seen : undefined;
        }
        case 'write':
          return canon(src.value);
        case 'cas': {
          if (unknown) {
            if (s === ANY) return ANY; // done (→ value) or not (→ unchanged): ANY covers both
            return s === src.expect ? canon(src.value) : s;
          }
          if (src.ok) return s === ANY || s === src.expect ? canon(src.value) : undefined;
          if (s === ANY) return ANY;
          return s !== src.expect ? s : undefined;
        }
        case 'delete': {
          if (unknown || s === ANY) return null;
          return (s !== null) === (src.deleted === true) ? null : undefined;
        }
      }
    },
    symmetryClass({ src, unknown }) {
      if (!unknown) return undefined;
      if (src.f === 'write' && canon(src.value) === UNSEEN) return 'write-unseen';
      if (src.f === 'delete') return 'delete';
      if (src.f === 'cas') return `cas\u0001${src.expect}\u0001${canon(src.value) ?? '\u0000null'}`;
      return undefined;
    },
  };
}

export interface RegisterCheckOptions extends CheckBudget {
  /** Time spent shrinking a failing key's history (default 10 s). */
  readonly minimizeTimeoutMs?: number;
}

export interface RegisterViolation {
  readonly key: string;
  /** The smallest window found that is still not linearizable, in call order. */
  readonly window: readonly { readonly op: RegisterOp; readonly outcomeForgotten: boolean }[];
  /** The window starts from any state (its head was cut), or from the absent key. */
  readonly fromAnyState: boolean;
  /** How many of the key's operations the longest linearizable attempt covered, of how many. */
  readonly longestPrefix: number;
  readonly keyOps: number;
  /** The operation that blocked the longest attempt (it returned before it could be explained). */
  readonly blocking: RegisterOp;
  /** Context, not part of the proof: the operations outside the window that wrote the values it reads or expects. */
  readonly writers: readonly RegisterOp[];
}

export interface KeyResult {
  readonly key: string;
  readonly outcome: 'ok' | 'illegal' | 'unknown';
  /** Operations checked (after leaving out failed ones and unknown reads). */
  readonly ops: number;
  readonly steps: number;
  readonly reason?: string;
  readonly violation?: RegisterViolation;
}

export interface RegisterCheckResult {
  /** true: every key linearizable; false: some key is not; 'unknown': the search gave up somewhere. */
  readonly valid: boolean | 'unknown';
  readonly keys: readonly KeyResult[];
}

type Verdict = 'illegal' | 'ok' | 'unknown';

function verdict(ops: readonly MOp[], anyInitialState: boolean, budget: CheckBudget): Verdict {
  return checkLinearizable(ops, registerModel(ops, anyInitialState), budget).outcome;
}

/** Drop what is invoked after T; what runs at T becomes unknown (unknown reads are dropped). */
function cutTail(ops: readonly MOp[], t: number): MOp[] {
  return ops.filter((op) => op.call <= t && !(op.ret > t && op.src.f === 'read')).map((op) => (op.ret > t ? weaken(op) : op));
}

/** Drop what returned before T0; what runs at T0 becomes unknown (unknown reads are dropped). */
function cutHead(ops: readonly MOp[], t0: number): MOp[] {
  return ops.filter((op) => op.ret >= t0 && !(op.call < t0 && op.src.f === 'read')).map((op) => (op.call < t0 ? weaken(op) : op));
}

const withoutEffect = (op: MOp): boolean =>
  !op.unknown && (op.src.f === 'read' || (op.src.f === 'cas' && op.src.ok !== true) || (op.src.f === 'delete' && op.src.deleted !== true));

/** Shrinks a non-linearizable history; every candidate kept was itself found not linearizable. */
function shrink(full: readonly MOp[], budget: CheckBudget, deadline: number): { ops: MOp[]; anyInitialState: boolean } {
  const small: CheckBudget = { maxSteps: Math.min(budget.maxSteps ?? 5_000_000, 1_000_000), timeoutMs: Math.min(budget.timeoutMs ?? 10_000, 2000) };
  const illegal = (ops: readonly MOp[], anyInitialState: boolean): boolean => performance.now() < deadline && verdict(ops, anyInitialState, small) === 'illegal';
  let best: MOp[] = [...full];

  // 1. The earliest tail cut that is still illegal (illegal at T implies illegal at every later T:
  //    cutting at T' then at T < T' is cutting at T).
  const rets = [...new Set(full.map((op) => op.ret).filter(Number.isFinite))].sort((a, b) => a - b);
  let lo = 0;
  let hi = rets.length - 1;
  if (hi >= 0 && illegal(cutTail(full, rets[hi]!), false)) {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (illegal(cutTail(full, rets[mid]!), false)) hi = mid;
      else lo = mid + 1;
    }
    best = cutTail(full, rets[hi]!);
  }

  // 2. The latest head cut that is still illegal. Not monotone in T0 (an operation weakened by an
  //    earlier cut loses its completion time), so scan from the latest cut back.
  let anyInitialState = false;
  const times = [...new Set(best.flatMap((op) => [op.call, op.ret]).filter(Number.isFinite))].sort((a, b) => b - a);
  for (const t0 of times) {
    if (performance.now() > deadline) break;
    const candidate = cutHead(best, t0);
    if (illegal(candidate, true)) {
      best = candidate;
      anyInitialState = true;
      break;
    }
  }

  // 3. Drop operations without an effect, one at a time, while it stays illegal.
  for (let i = best.length - 1; i >= 0 && performance.now() < deadline; i--) {
    if (!withoutEffect(best[i]!)) continue;
    const candidate = best.filter((_, j) => j !== i);
    if (illegal(candidate, anyInitialState)) best = candidate;
  }
  return { ops: best.sort((a, b) => a.call - b.call), anyInitialState };
}

/** Checks one key's operations. */
export function checkRegisterKey(key: string, ops: readonly RegisterOp[], options: RegisterCheckOptions = {}): KeyResult {
  const mops = toModelOps(ops.filter((op) => op.key === key));
  const result = checkLinearizable(mops, registerModel(mops, false), options);
  if (result.outcome === 'ok') return { key, outcome: 'ok', ops: mops.length, steps: result.steps };
  if (result.outcome === 'unknown') return { key, outcome: 'unknown', ops: mops.length, steps: result.steps, reason: result.reason };
  const { ops: window, anyInitialState } = shrink(mops, options, performance.now() + (options.minimizeTimeoutMs ?? 10_000));
  const inWindow = new Set(window.map((op) => op.src.id));
  const observed = new Set<string>();
  for (const { src } of window) {
    if (src.f === 'read' && typeof src.value === 'string') observed.add(src.value);
    if (src.f === 'cas' && src.expect !== null) observed.add(src.expect);
  }
  const writers = ops.filter((op) => op.key === key && !inWindow.has(op.id) && (op.f === 'write' || op.f === 'cas') && op.value !== null && observed.has(op.value));
  return {
    key,
    outcome: 'illegal',
    ops: mops.length,
    steps: result.steps,
    violation: {
      key,
      window: window.map((op) => ({ op: op.src, outcomeForgotten: op.unknown && op.src.outcome !== 'unknown' })),
      fromAnyState: anyInitialState,
      longestPrefix: result.longest.length,
      keyOps: mops.length,
      blocking: mops[result.blocking]!.src,
      writers,
    },
  };
}

/** Checks every key of a register history independently. */
export function checkRegisters(ops: readonly RegisterOp[], options: RegisterCheckOptions = {}): RegisterCheckResult {
  const byKey = new Map<string, RegisterOp[]>();
  for (const op of ops) {
    if (!byKey.has(op.key)) byKey.set(op.key, []);
    byKey.get(op.key)!.push(op);
  }
  const keys = [...byKey].map(([key, keyOps]) => checkRegisterKey(key, keyOps, options));
  const valid = keys.some((k) => k.outcome === 'illegal') ? false : keys.some((k) => k.outcome === 'unknown') ? 'unknown' : true;
  return { valid, keys };
}

/**
 * Checks a reported window on its own (from any state if its head was cut): 'illegal' confirms
 * that the window alone proves the violation.
 */
export function recheckWindow(v: RegisterViolation, budget: CheckBudget = {}): Verdict {
  const ops = v.window.map(({ op, outcomeForgotten }) => ({ src: op, call: op.call, ret: outcomeForgotten || op.outcome === 'unknown' ? Infinity : op.ret, unknown: outcomeForgotten || op.outcome === 'unknown' }));
  return verdict(ops, v.fromAnyState, budget);
}

/** A readable account of one violation. */
export function describeViolation(v: RegisterViolation, origin = 0): string {
  const lines = [
    `key ${JSON.stringify(v.key)}: not linearizable. The longest linearizable attempt covered ${v.longestPrefix} of ${v.keyOps} operations; it was blocked by`,
    `  ${describeRegisterOp(v.blocking, origin)}`,
    `Smallest failing window found (${v.window.length} operations, starting from ${v.fromAnyState ? 'any state' : 'the key absent'}); no order of these is a legal register history:`,
    ...v.window.map(({ op, outcomeForgotten }) => `  ${describeRegisterOp(op, origin)}${outcomeForgotten ? '   (outcome ignored: still running at a cut)' : ''}`),
  ];
  if (v.writers.length > 0) lines.push('Where the values it reads or expects were written (context):', ...v.writers.map((op) => `  ${describeRegisterOp(op, origin)}`));
  return lines.join('\n');
}
