import type { Scheduler } from '../runtime/scheduler.js';
import type { EventQueue } from './event-queue.js';

/**
 * One node incarnation's view of virtual time. `alive` turns false at a crash: nothing scheduled
 * by the dead incarnation runs again. While `paused`, the node's events are held and run when it
 * resumes, as a SIGSTOPped process would.
 */
export class SimScheduler implements Scheduler {
  alive = true;
  paused = false;
  private held: (() => void)[] = [];

  constructor(
    private readonly queue: EventQueue,
    /** Clock skew: this node's clock runs at `rate` times real time. */
    private readonly rate = 1,
  ) {}

  now(): number {
    return this.queue.now * this.rate;
  }

  private guarded(fn: () => void): () => void {
    return () => {
      if (!this.alive) return;
      if (this.paused) {
        this.held.push(fn);
        return;
      }
      fn();
    };
  }

  every(ms: number, fn: () => void): () => void {
    let active = true;
    let heldOnce = false;
    const period = ms / this.rate;
    const loop = (): void => {
      if (!active || !this.alive) return;
      if (this.paused) {
        // Like setInterval after SIGSTOP: one callback on wake, not one per missed period.
        if (!heldOnce) {
          heldOnce = true;
          this.held.push(() => {
            heldOnce = false;
            if (active) fn();
          });
        }
      } else {
        fn();
      }
      this.queue.after(period, loop);
    };
    this.queue.after(period, loop);
    return () => {
      active = false;
    };
  }

  after(ms: number, fn: () => void): () => void {
    let active = true;
    this.queue.after(ms / this.rate, this.guarded(() => {
      if (active) fn();
    }));
    return () => {
      active = false;
    };
  }

  defer(fn: () => void): void {
    this.queue.after(0, this.guarded(fn));
  }

  /** Virtual time has no microtasks of its own: as soon as anything else queued now. */
  soon(fn: () => void): void {
    this.defer(fn);
  }

  /** Runs `fn` now, or when the node resumes if it is paused; never if it died. */
  run(fn: () => void): void {
    if (!this.alive) return;
    if (this.paused) this.held.push(fn);
    else fn();
  }

  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const fn of held) this.queue.after(0, this.guarded(fn));
  }
}
