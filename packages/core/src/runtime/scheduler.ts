/** The runtime's only source of time and deferral, so a simulator can substitute virtual time. */
export interface Scheduler {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once after `ms` unless the returned function is called first. */
  after(ms: number, fn: () => void): () => void;
  /** Calls `fn` after the current event-loop turn (after all I/O callbacks of this turn). */
  defer(fn: () => void): void;
  /**
   * Optional: calls `fn` once the microtasks queued so far have run (a microtask). The runtime uses
   * it to pick up, in the same turn, the proposals that callers make as soon as earlier ones
   * resolve; without it they wait for the next `defer`.
   */
  soon?(fn: () => void): void;
}

export const realScheduler: Scheduler = {
  now: () => performance.now(),
  every(ms, fn) {
    const handle = setInterval(fn, ms);
    return () => clearInterval(handle);
  },
  after(ms, fn) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
  defer(fn) {
    setImmediate(fn);
  },
  soon(fn) {
    queueMicrotask(fn);
  },
};
