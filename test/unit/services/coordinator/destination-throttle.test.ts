import { describe, expect, it } from "vitest";
import {
  DestinationThrottle,
  destinationOf,
  LEASE_GRACE_MS,
  type ThrottleAnswer,
  type ThrottleClock,
  type ThrottleLimits,
} from "../../../../services/coordinator/destination-throttle.js";

/** A clock the test moves by hand: timers fire in time order as it advances. */
class ManualClock implements ThrottleClock {
  private t = 1_000_000;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + Math.max(0, ms), fn, live: true };
    this.timers.push(timer);
    return () => (timer.live = false);
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      due.live = false;
      due.fn();
      await settle();
    }
    this.t = end;
    this.timers = this.timers.filter((x) => x.live);
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

const LIMITS: ThrottleLimits = { addressConcurrent: 2, addressPerMinute: 100, networkConcurrent: 3, networkPerMinute: 100, maxWaiters: 10, maxKeys: 100 };

type Step =
  | { acquire: string; address: string; within: number; abort?: AbortController }
  | { release: string }
  | { advance: number }
  /** name → "granted", "waiting", or a pattern the denial's reason matches. */
  | { expect: Record<string, "granted" | "waiting" | RegExp> };

interface Case {
  name: string;
  limits?: Partial<ThrottleLimits>;
  steps: Step[];
}

const A = "198.19.0.1";
const B = "198.19.0.2";
const C = "198.19.1.1"; // another /24

const cases: Case[] = [
  {
    name: "at most N open per address; a release lets the first waiter in (FIFO)",
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "a2", address: A, within: 5000 },
      { acquire: "a3", address: A, within: 5000 },
      { acquire: "a4", address: A, within: 5000 },
      { expect: { a1: "granted", a2: "granted", a3: "waiting", a4: "waiting" } },
      { release: "a2" },
      { expect: { a3: "granted", a4: "waiting" } },
      { release: "a1" },
      { expect: { a4: "granted" } },
    ],
  },
  {
    name: "a waiter past its deadline is denied, naming the limit and the wait",
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "a2", address: A, within: 5000 },
      { acquire: "a3", address: A, within: 1200 },
      { advance: 1199 },
      { expect: { a3: "waiting" } },
      { advance: 1 },
      { expect: { a3: /^throttled: 2 connections to 198\.19\.0\.1 already open \(limit 2\), waited 1200 ms$/ } },
    ],
  },
  {
    name: "the network limit counts every address of the /24, not another /24",
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "a2", address: A, within: 5000 },
      { acquire: "b1", address: B, within: 5000 },
      { acquire: "b2", address: B, within: 300 },
      { acquire: "c1", address: C, within: 5000 },
      { expect: { a1: "granted", a2: "granted", b1: "granted", b2: "waiting", c1: "granted" } },
      { advance: 300 },
      { expect: { b2: /^throttled: 3 connections to 198\.19\.0\.0\/24 already open \(limit 3\), waited 300 ms$/ } },
    ],
  },
  {
    name: "a waiter held by its own address does not hold back another address of its network",
    limits: { networkConcurrent: 4 },
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "a2", address: A, within: 5000 },
      { acquire: "a3", address: A, within: 5000 },
      { acquire: "b1", address: B, within: 5000 },
      { expect: { a3: "waiting", b1: "granted" } },
    ],
  },
  {
    name: "network waiters are served in order: a later address waits behind an earlier one",
    limits: { networkConcurrent: 2 },
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "c1", address: "198.19.0.3", within: 5000 },
      { acquire: "b1", address: B, within: 5000 },
      { acquire: "a2", address: A, within: 5000 },
      { expect: { a1: "granted", c1: "granted", b1: "waiting", a2: "waiting" } },
      { release: "c1" },
      { expect: { b1: "granted", a2: "waiting" } },
    ],
  },
  {
    name: "per minute per address: denied at once when the next slot is after the deadline",
    limits: { addressConcurrent: 10, addressPerMinute: 2 },
    steps: [
      { acquire: "a1", address: A, within: 1000 },
      { advance: 10_000 },
      { acquire: "a2", address: A, within: 1000 },
      { acquire: "a3", address: A, within: 30_000 },
      { expect: { a1: "granted", a2: "granted", a3: /^throttled: 2 connections per minute to 198\.19\.0\.1 \(limit\), 0 waiting before this one; the next slot is 50000 ms away, after the probe's deadline$/ } },
    ],
  },
  {
    name: "per minute per address: waits for the oldest grant to leave the window when the deadline allows",
    limits: { addressConcurrent: 10, addressPerMinute: 2 },
    steps: [
      { acquire: "a1", address: A, within: 1000 },
      { advance: 10_000 },
      { acquire: "a2", address: A, within: 1000 },
      { acquire: "a3", address: A, within: 55_000 },
      { expect: { a3: "waiting" } },
      { advance: 49_999 },
      { expect: { a3: "waiting" } },
      { advance: 1 },
      { expect: { a3: "granted" } },
    ],
  },
  {
    name: "per minute per network counts the whole /24",
    limits: { addressConcurrent: 10, networkConcurrent: 10, networkPerMinute: 2 },
    steps: [
      { acquire: "a1", address: A, within: 1000 },
      { acquire: "b1", address: B, within: 1000 },
      { acquire: "b2", address: B, within: 1000 },
      { acquire: "c1", address: C, within: 1000 },
      { expect: { a1: "granted", b1: "granted", b2: /^throttled: 2 connections per minute to 198\.19\.0\.0\/24 \(limit\)/, c1: "granted" } },
    ],
  },
  {
    name: "a lease nobody releases ends at its deadline plus the grace",
    limits: { addressConcurrent: 1 },
    steps: [
      { acquire: "a1", address: A, within: 1000 },
      { acquire: "a2", address: A, within: 60_000 },
      { advance: 1000 + LEASE_GRACE_MS - 1 },
      { expect: { a2: "waiting" } },
      { advance: 1 },
      { expect: { a2: "granted" } },
    ],
  },
  {
    name: "IPv6 counts per /48, and an IPv4-mapped address as its IPv4 address",
    limits: { addressConcurrent: 1, networkConcurrent: 2 },
    steps: [
      { acquire: "v4", address: A, within: 300 },
      { acquire: "mapped", address: `::ffff:${A}`, within: 300 },
      { acquire: "x1", address: "2001:db8:1:2::1", within: 300 },
      { acquire: "x2", address: "2001:db8:1:3::1", within: 300 },
      { acquire: "x3", address: "2001:db8:1:ffff::9", within: 300 },
      { acquire: "y1", address: "2001:db8:2::1", within: 300 },
      { expect: { v4: "granted", mapped: "waiting", x1: "granted", x2: "granted", x3: "waiting", y1: "granted" } },
      { advance: 300 },
      { expect: { mapped: /198\.19\.0\.1 already open/, x3: /2001:db8:1::\/48 already open \(limit 2\)/ } },
    ],
  },
  {
    name: "beyond the cap on waiters, a request is denied at once",
    limits: { addressConcurrent: 1, maxWaiters: 2 },
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "a2", address: A, within: 5000 },
      { acquire: "a3", address: A, within: 5000 },
      { acquire: "a4", address: A, within: 5000 },
      { expect: { a1: "granted", a2: "waiting", a3: "waiting", a4: /^throttled: 2 probes already wait for a connection slot \(limit\)$/ } },
    ],
  },
  {
    name: "the cap on keys: empty keys are dropped to make room, else the request is denied",
    limits: { maxKeys: 4, addressPerMinute: 100 },
    steps: [
      { acquire: "a1", address: A, within: 1000 },
      { acquire: "c1", address: C, within: 1000 },
      { acquire: "d1", address: "198.19.2.1", within: 1000 },
      { expect: { a1: "granted", c1: "granted", d1: /^throttled: tracking 4 destinations already \(limit\)/ } },
      { release: "a1" },
      { release: "c1" },
      { advance: 60_001 },
      { acquire: "d2", address: "198.19.2.1", within: 1000 },
      { expect: { d2: "granted" } },
    ],
  },
  {
    name: "an aborted waiter leaves the queue",
    limits: { addressConcurrent: 1 },
    steps: [
      { acquire: "a1", address: A, within: 5000 },
      { acquire: "a2", address: A, within: 5000, abort: new AbortController() },
      { acquire: "a3", address: A, within: 5000 },
      { expect: { a2: "waiting", a3: "waiting" } },
      { release: "a2" }, // aborts a2 (see the runner): a3 is next
      { release: "a1" },
      { expect: { a2: /^throttled: cancelled/, a3: "granted" } },
    ],
  },
  {
    name: "not an IP address",
    steps: [{ acquire: "x", address: "mail.example", within: 1000 }, { expect: { x: /is not an IP address/ } }],
  },
];

describe("DestinationThrottle", () => {
  it.each(cases)("$name", async ({ limits, steps }) => {
    const clock = new ManualClock();
    const throttle = new DestinationThrottle({ ...LIMITS, ...limits }, clock);
    const answers = new Map<string, ThrottleAnswer | "waiting">();
    const aborts = new Map<string, AbortController>();
    for (const step of steps) {
      if ("acquire" in step) {
        answers.set(step.acquire, "waiting");
        if (step.abort) aborts.set(step.acquire, step.abort);
        void throttle.acquire(step.address, clock.now() + step.within, step.abort?.signal).then((a) => answers.set(step.acquire, a));
      } else if ("release" in step) {
        const abort = aborts.get(step.release);
        const answer = answers.get(step.release);
        if (abort && answer === "waiting") abort.abort();
        else if (answer !== "waiting" && answer?.granted) expect(throttle.release(answer.leaseId)).toBe(true);
      } else if ("advance" in step) {
        await clock.advance(step.advance);
      } else {
        await settle();
        for (const [name, want] of Object.entries(step.expect)) {
          const got = answers.get(name);
          if (want === "waiting") expect(got, name).toBe("waiting");
          else if (want === "granted") expect(got, name).toMatchObject({ granted: true });
          else expect(got, name).toMatchObject({ granted: false, reason: expect.stringMatching(want) });
        }
      }
      await settle();
    }
    throttle.close();
    await settle();
    expect([...answers.values()].filter((a) => a === "waiting")).toEqual([]);
  });

  it("a lease released twice counts once", async () => {
    const clock = new ManualClock();
    const throttle = new DestinationThrottle({ ...LIMITS, addressConcurrent: 1 }, clock);
    const first = await throttle.acquire(A, clock.now() + 1000);
    expect(first.granted).toBe(true);
    if (!first.granted) return;
    expect(throttle.release(first.leaseId)).toBe(true);
    expect(throttle.release(first.leaseId)).toBe(false);
    expect(throttle.open).toBe(0);
    throttle.close();
  });

  describe("tryAcquire: a slot now or nothing (a permit granted with a task)", () => {
    it("grants while the limits allow, then gives nothing and changes nothing; a release makes room again", async () => {
      const clock = new ManualClock();
      const throttle = new DestinationThrottle(LIMITS, clock);
      const first = throttle.tryAcquire(A, clock.now() + 1000);
      const second = throttle.tryAcquire(A, clock.now() + 1000);
      expect(first).toBeDefined();
      expect(second).toBeDefined();
      expect(throttle.tryAcquire(A, clock.now() + 1000)).toBeUndefined(); // addressConcurrent 2
      expect(throttle.open).toBe(2);
      // The same leases as acquire()'s: a waiter of the address gets the slot a release frees.
      const waiting = throttle.acquire(A, clock.now() + 1000);
      expect(throttle.waiting).toBe(1);
      expect(throttle.release(first!.leaseId)).toBe(true);
      await expect(waiting).resolves.toMatchObject({ granted: true });
      expect(throttle.tryAcquire(A, clock.now() + 1000)).toBeUndefined();
      throttle.close();
    });

    it("never goes ahead of a waiter of the same network", async () => {
      const clock = new ManualClock();
      const throttle = new DestinationThrottle({ ...LIMITS, networkConcurrent: 1 }, clock);
      expect(throttle.tryAcquire(A, clock.now() + 1000)).toBeDefined();
      void throttle.acquire(B, clock.now() + 1000);
      expect(throttle.waiting).toBe(1);
      // C is another /24: free; B's network has a waiter: nothing for A's other addresses.
      expect(throttle.tryAcquire(C, clock.now() + 1000)).toBeDefined();
      expect(throttle.tryAcquire("198.19.0.3", clock.now() + 1000)).toBeUndefined();
      throttle.close();
    });

    it("counts against the per-minute limit, and its lease ends by itself at the deadline plus the grace", async () => {
      const clock = new ManualClock();
      const throttle = new DestinationThrottle({ ...LIMITS, addressPerMinute: 1 }, clock);
      expect(throttle.tryAcquire(A, clock.now() + 1000)).toBeDefined();
      await clock.advance(1000 + LEASE_GRACE_MS + 1);
      expect(throttle.open).toBe(0);
      expect(throttle.tryAcquire(A, clock.now() + 1000)).toBeUndefined(); // 1 a minute
      await expect(throttle.acquire(A, clock.now() + 1000)).resolves.toMatchObject({ granted: false });
      throttle.close();
    });

    it("gives nothing for what is not an IP address, or once closed", () => {
      const throttle = new DestinationThrottle(LIMITS, new ManualClock());
      expect(throttle.tryAcquire("mx.example", 1e9)).toBeUndefined();
      throttle.close();
      expect(throttle.tryAcquire(A, 1e9)).toBeUndefined();
    });
  });

  it("rejects a limit that is not a positive integer", () => {
    expect(() => new DestinationThrottle({ ...LIMITS, networkConcurrent: 0 })).toThrow("throttle limit networkConcurrent must be a positive integer, not 0");
  });
});

describe("destinationOf", () => {
  it.each<[string, { address: string; network: string } | undefined]>([
    ["198.51.100.7", { address: "198.51.100.7", network: "198.51.100.0/24" }],
    ["::ffff:198.51.100.7", { address: "198.51.100.7", network: "198.51.100.0/24" }],
    ["::ffff:c633:6407", { address: "198.51.100.7", network: "198.51.100.0/24" }],
    ["2001:DB8:a:b::1", { address: "2001:db8:a:b:0:0:0:1", network: "2001:db8:a::/48" }],
    ["::1", { address: "0:0:0:0:0:0:0:1", network: "0:0:0::/48" }],
    ["mail.example", undefined],
    ["198.51.100.7:25", undefined],
  ])("%s", (text, expected) => {
    expect(destinationOf(text)).toEqual(expected);
  });
});
