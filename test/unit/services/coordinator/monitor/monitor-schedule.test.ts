import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runToClaim } from "../../../../../services/coordinator/monitor/monitor-records.js";
import { DueQueue, MAX_SPREAD_MS, nextLookAt, runOffsetMs, runStartsAt } from "../../../../../services/coordinator/monitor/monitor-schedule.js";

const at = (first8: string, intervalMs: number, createdAt = 1_000) => ({ monitorId: `${first8}-2fa1-41d2-883f-0016d3cca427`, intervalMs, createdAt });

describe("runOffsetMs", () => {
  it.each([
    ["00000000", 60_000, 0],
    ["80000000", 60_000, 3_000], // half of a tenth of the interval
    ["ffffffff", 60_000, 5_999],
    ["80000000", 1_000, 50],
    ["80000000", 86_400_000, MAX_SPREAD_MS / 2], // a day: capped at MAX_SPREAD_MS
    ["ffffffff", 86_400_000, MAX_SPREAD_MS - 1],
  ])("a monitor id starting %s, every %i ms: %i ms into its interval", (first8, intervalMs, offset) => {
    expect(runOffsetMs(at(first8, intervalMs))).toBe(offset);
  });

  it("spreads monitors created at the same instant over the start of their interval", () => {
    fc.assert(
      fc.property(fc.uuid(), fc.integer({ min: 1_000, max: 86_400_000 }), (monitorId, intervalMs) => {
        const offset = runOffsetMs({ monitorId, intervalMs });
        expect(offset).toBeGreaterThanOrEqual(0);
        expect(offset).toBeLessThan(Math.max(1, Math.min(intervalMs / 10, MAX_SPREAD_MS)));
        // At its start, a run is the one claimed: well over a quarter of its interval left.
        const record = { monitorId, intervalMs, createdAt: 1_000 };
        expect(runToClaim(record, runStartsAt(record, 3))).toBe(3);
      }),
    );
  });
});

describe("nextLookAt", () => {
  const record = at("00000000", 60_000); // offset 0: run n starts at 1 000 + n × 60 000
  it.each([
    [0, false, 61_000], // before the first run: its start
    [61_000, false, 61_000], // run 1 started, not looked at yet: now
    [90_000, false, 61_000], // learnt of during run 1: at once (claimable while a quarter is left)
    [61_000, true, 121_000], // looked at: the next run's start
    [120_999, true, 121_000],
    [121_000, true, 181_000],
  ])("at %i ms, looked at %s: next at %i ms", (now, lookedAt, next) => {
    expect(nextLookAt(record, now, lookedAt)).toBe(next);
  });
});

describe("DueQueue", () => {
  it("gives the ids due, earliest first, and none before their time", () => {
    const queue = new DueQueue();
    for (const [id, time] of [["c", 30], ["a", 10], ["d", 40], ["b", 20]] as const) queue.schedule(id, time);
    expect(queue.peek()).toBe(10);
    expect(queue.popDue(5)).toBeUndefined();
    expect([queue.popDue(25), queue.popDue(25), queue.popDue(25)]).toEqual(["a", "b", undefined]);
    expect(queue.size).toBe(2);
  });

  it("a rescheduled id comes up at its new time only, a removed one never", () => {
    const queue = new DueQueue();
    queue.schedule("a", 10);
    queue.schedule("b", 20);
    queue.schedule("a", 30);
    queue.remove("b");
    expect(queue.popDue(25)).toBeUndefined();
    expect(queue.popDue(30)).toBe("a");
    expect(queue.popDue(1_000)).toBeUndefined();
    expect(queue.size).toBe(0);
  });

  it("pops in time order whatever the schedules, removals and reschedules", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 1_000 }), fc.boolean()), { maxLength: 200 }), (ops) => {
        const queue = new DueQueue();
        const expected = new Map<string, number>();
        for (const [n, time, remove] of ops) {
          const id = `m${n}`;
          if (remove) {
            queue.remove(id);
            expected.delete(id);
          } else {
            queue.schedule(id, time);
            expected.set(id, time);
          }
        }
        const popped: [string, number][] = [];
        for (let id = queue.popDue(1_000); id !== undefined; id = queue.popDue(1_000)) popped.push([id, expected.get(id)!]);
        expect(popped.map(([, time]) => time)).toEqual([...expected.values()].sort((a, b) => a - b));
        expect(new Set(popped.map(([id]) => id))).toEqual(new Set(expected.keys()));
      }),
    );
  });
});
