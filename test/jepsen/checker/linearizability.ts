/**
 * Linearizability checking of one object's history: the Wing–Gong search with Lowe's memoisation
 * (as Porcupine does it). Calls and returns form a doubly linked list in time order; the search
 * repeatedly linearizes ("lifts") a call whose step the model accepts, and backtracks when it meets
 * the return of an operation it has not linearized. A cache of (set of linearized operations,
 * state) pairs already explored keeps it from exploring the same configuration twice.
 *
 * An operation whose outcome is unknown returns at +Infinity: it may be linearized anywhere after
 * its call, including after everything else, which is the same as not having happened (the model
 * must accept it from any state). Pure: no I/O, bounded by steps and time.
 */

export interface Timed {
  /** Invocation time (any monotonic unit). */
  readonly call: number;
  /** Completion time; Infinity when the outcome is unknown. */
  readonly ret: number;
}

export interface Model<S, Op extends Timed> {
  readonly init: S;
  /** The state after `op` from `state`, or undefined if `op` (with its output) cannot happen there. */
  step(state: S, op: Op): S | undefined;
  /** A string that is equal for equal states (the memoisation key). */
  key(state: S): string;
  /**
   * Operations of the same class (a non-undefined string) are interchangeable once both are
   * invoked: same step from every state and both return at Infinity. The search then only lifts
   * them in call order, which cuts 2^n orders to n without losing any linearization.
   */
  symmetryClass?(op: Op): string | undefined;
}

export interface CheckBudget {
  /** Give up (outcome 'unknown') after this many search steps (default 5,000,000). */
  readonly maxSteps?: number;
  /** Give up after this long in ms (default 10,000). */
  readonly timeoutMs?: number;
}

export type LinearizabilityResult =
  | { readonly outcome: 'ok'; readonly steps: number; readonly order: readonly number[] }
  | {
      readonly outcome: 'illegal';
      readonly steps: number;
      /** The longest sequence of operations (indexes into the input) the search could linearize. */
      readonly longest: readonly number[];
      /**
       * The operation that blocked that longest attempt: the earliest-returning operation not in it
       * (it returned before anything left could be linearized).
       */
      readonly blocking: number;
    }
  | { readonly outcome: 'unknown'; readonly steps: number; readonly reason: string };

interface Entry {
  readonly call: boolean;
  readonly op: number;
  readonly time: number;
  match: Entry | undefined; // on a call entry: its return entry
  prev: Entry | undefined;
  next: Entry | undefined;
}

class Bits {
  private readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) || 1);
  }
  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }
  key(): string {
    let out = '';
    for (const w of this.words) out += String.fromCharCode(w & 0xffff, w >>> 16);
    return out;
  }
}

/** Checks that `ops` (one object's history) is linearizable with respect to `model`. */
export function checkLinearizable<S, Op extends Timed>(ops: readonly Op[], model: Model<S, Op>, budget: CheckBudget = {}): LinearizabilityResult {
  const maxSteps = budget.maxSteps ?? 5_000_000;
  const deadline = performance.now() + (budget.timeoutMs ?? 10_000);
  for (const [i, op] of ops.entries()) {
    if (!(op.ret >= op.call)) throw new RangeError(`operation ${i} returns (${op.ret}) before its call (${op.call})`);
  }

  // The time-ordered list of calls and returns; on equal times calls go first (the operations are
  // then concurrent, the permissive reading).
  const entries: Entry[] = [];
  for (let i = 0; i < ops.length; i++) {
    const call: Entry = { call: true, op: i, time: ops[i]!.call, match: undefined, prev: undefined, next: undefined };
    const ret: Entry = { call: false, op: i, time: ops[i]!.ret, match: undefined, prev: undefined, next: undefined };
    call.match = ret;
    entries.push(call, ret);
  }
  entries.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Entry = { call: false, op: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }

  // Symmetry classes: members in call order, and how many of each are lifted (always a prefix).
  const classOf = new Array<string | undefined>(ops.length);
  const members = new Map<string, number[]>();
  const liftedInClass = new Map<string, number>();
  if (model.symmetryClass) {
    const byCall = ops.map((_, i) => i).sort((a, b) => ops[a]!.call - ops[b]!.call || a - b);
    for (const i of byCall) {
      const c = model.symmetryClass(ops[i]!);
      if (c === undefined) continue;
      if (ops[i]!.ret !== Infinity) throw new RangeError(`symmetry class ${c} given to operation ${i}, which has a known outcome`);
      classOf[i] = c;
      if (!members.has(c)) members.set(c, []);
      members.get(c)!.push(i);
      liftedInClass.set(c, 0);
    }
  }

  const lift = (e: Entry): void => {
    e.prev!.next = e.next;
    e.next!.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    e.next!.prev = e;
  };

  const linearized = new Bits(ops.length);
  const cache = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let state = model.init;
  let longest: number[] = [];
  let steps = 0;
  let entry = head.next;

  while (head.next !== undefined) {
    if (++steps > maxSteps) return { outcome: 'unknown', steps, reason: `gave up after ${maxSteps} steps` };
    if ((steps & 1023) === 0 && performance.now() > deadline) return { outcome: 'unknown', steps, reason: `gave up after ${budget.timeoutMs ?? 10_000} ms` };
    const e = entry!;
    if (e.call) {
      const c = classOf[e.op];
      const inOrder = c === undefined || members.get(c)![liftedInClass.get(c)!] === e.op;
      const next = inOrder ? model.step(state, ops[e.op]!) : undefined;
      if (next !== undefined) {
        linearized.set(e.op);
        const key = `${linearized.key()}\u0001${model.key(next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ entry: e, state });
          state = next;
          if (c !== undefined) liftedInClass.set(c, liftedInClass.get(c)! + 1);
          lift(e);
          if (stack.length > longest.length) longest = stack.map((s) => s.entry.op);
          entry = head.next;
          continue;
        }
        linearized.clear(e.op);
      }
      entry = e.next;
    } else {
      // The return of an operation not yet linearized: nothing left can go before it. Backtrack.
      const top = stack.pop();
      if (!top) {
        const done = new Set(longest);
        let blocking = -1;
        for (let i = 0; i < ops.length; i++) if (!done.has(i) && (blocking < 0 || ops[i]!.ret < ops[blocking]!.ret)) blocking = i;
        return { outcome: 'illegal', steps, longest, blocking };
      }
      state = top.state;
      linearized.clear(top.entry.op);
      const c = classOf[top.entry.op];
      if (c !== undefined) liftedInClass.set(c, liftedInClass.get(c)! - 1);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { outcome: 'ok', steps, order: stack.map((s) => s.entry.op) };
}
