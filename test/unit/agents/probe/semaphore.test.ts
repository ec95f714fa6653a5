import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Semaphore, type Release } from "../../../../agents/probe/semaphore.js";

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("Semaphore", () => {
  it("grants up to its capacity at once and makes the rest wait", async () => {
    const s = new Semaphore(2);
    const granted: number[] = [];
    for (let i = 0; i < 5; i++) void s.acquire().then(() => granted.push(i));
    await tick();
    expect(granted).toEqual([0, 1]);
    expect(s.inUse).toBe(2);
    expect(s.waiting).toBe(3);
  });

  it("hands freed slots to the waiters in arrival order, and a newcomer cannot overtake them", async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: string[] = [];
    const waiters = ["a", "b", "c"].map((name) => s.acquire().then((release) => (order.push(name), release)));
    first();
    // Arrives after the release but before the waiter ran: still behind a, b and c.
    const late = s.acquire().then((release) => (order.push("late"), release));
    for (const w of waiters) (await w)();
    (await late)();
    expect(order).toEqual(["a", "b", "c", "late"]);
    expect(s.inUse).toBe(0);
    expect(s.waiting).toBe(0);
  });

  it("drops no caller: every task runs, never more than the capacity at once (any durations)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 30 }), async (capacity, durations) => {
        const s = new Semaphore(capacity);
        let running = 0;
        let peak = 0;
        const done: number[] = [];
        await Promise.all(
          durations.map(async (turns, i) => {
            const release = await s.acquire();
            running += 1;
            peak = Math.max(peak, running);
            for (let t = 0; t < turns; t++) await tick();
            running -= 1;
            done.push(i);
            release();
          }),
        );
        expect(done.sort((a, b) => a - b)).toEqual(durations.map((_, i) => i));
        expect(peak).toBeLessThanOrEqual(capacity);
        expect(s.inUse).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it("a waiter that gives up leaves the line without taking a slot", async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const controller = new AbortController();
    const quitter = s.acquire(controller.signal);
    const next = s.acquire();
    controller.abort("cancelled");
    await expect(quitter).rejects.toBe("cancelled");
    expect(s.waiting).toBe(1);
    first();
    const release = await next;
    expect(s.inUse).toBe(1);
    release();
    expect(s.inUse).toBe(0);
  });

  it("rejects at once with an aborted signal, and an abort after the grant changes nothing", async () => {
    const s = new Semaphore(1);
    await expect(s.acquire(AbortSignal.abort("gone"))).rejects.toBe("gone");
    const controller = new AbortController();
    const release: Release = await s.acquire(controller.signal);
    controller.abort();
    expect(s.inUse).toBe(1);
    release();
    release(); // twice: still one slot given back
    expect(s.inUse).toBe(0);
    const a = await s.acquire();
    expect(s.inUse).toBe(1);
    a();
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses a capacity of %s", (capacity) => {
    expect(() => new Semaphore(capacity)).toThrow(RangeError);
  });
});
