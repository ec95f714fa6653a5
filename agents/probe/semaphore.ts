// Bounded concurrency for the agent's tasks: at most `capacity` hold a slot, the others wait in
// arrival order, and none is dropped. A waiter can give up (its AbortSignal), which takes it out
// of the line without ever taking a slot.

/** Gives the slot back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Semaphore {
  private held = 0;
  /** FIFO. A waiter that gave up is removed at once, so the head is always live. */
  private readonly line: Waiter[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a semaphore's capacity must be a positive integer, not ${capacity}`);
  }

  /** Slots held now. */
  get inUse(): number {
    return this.held;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.line.length;
  }

  /**
   * Resolves with a release function once a slot is free, in the order of the calls. Rejects with
   * `signal.reason` if the signal aborts first (then no slot was taken).
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Nobody may overtake the line: a free slot goes to a newcomer only when nobody waits.
    if (this.held < this.capacity && this.line.length === 0) {
      this.held += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, signal };
      if (signal) {
        waiter.onAbort = () => {
          const at = this.line.indexOf(waiter);
          if (at >= 0) this.line.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.line.push(waiter);
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.line.shift();
      if (next) {
        // The slot passes straight to the next in line: `held` stays the same.
        if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
        next.grant(this.releaser());
      } else {
        this.held -= 1;
      }
    };
  }
}
