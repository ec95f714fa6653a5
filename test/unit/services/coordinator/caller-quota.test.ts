import { describe, expect, it } from "vitest";
import { CallerQuota, IN_FLIGHT_RETRY_HINT_MS, SWEEP_INTERVAL_MS, type QuotaLease, type QuotaLimitName, type QuotaLimits } from "../../../../services/coordinator/caller-quota.js";

/** One step of a scenario: at time `at`, admit or release (by the index of the admitting step). */
type Step =
  | { at: number; admit: [caller: string, executions: number, endsAt?: number]; ok: true }
  | { at: number; admit: [caller: string, executions: number, endsAt?: number]; refused: QuotaLimitName; retryAfterMs: number | undefined }
  | { at: number; release: number };

const OFF: QuotaLimits = { callerExecutionsPerMinute: 0, callerExecutionsInFlight: 0, maxExecutionsInFlight: 0 };

function run(limits: Partial<QuotaLimits>, steps: Step[]): void {
  let now = 0;
  const quota = new CallerQuota({ ...OFF, ...limits }, { now: () => now });
  const leases = new Map<number, QuotaLease>();
  steps.forEach((step, index) => {
    now = step.at;
    const where = `step ${index} ${JSON.stringify(step)}`;
    if ("release" in step) {
      const lease = leases.get(step.release);
      if (!lease) throw new Error(`${where}: no lease from step ${step.release}`);
      lease.release();
      return;
    }
    const [caller, executions, endsAt] = step.admit;
    const admission = quota.admit(caller, executions, endsAt);
    if ("ok" in step) {
      expect(admission.ok, `${where}: ${admission.ok ? "" : admission.refusal.description}`).toBe(true);
      if (admission.ok) leases.set(index, admission.lease);
    } else {
      expect(admission.ok, where).toBe(false);
      if (!admission.ok) {
        expect(admission.refusal.limit, where).toBe(step.refused);
        expect(admission.refusal.retryAfterMs, where).toBe(step.retryAfterMs);
        expect(admission.refusal.description, where).toContain(step.refused);
      }
    }
  });
}

describe("CallerQuota", () => {
  it.each<[string, Partial<QuotaLimits>, Step[]]>([
    ["no limits: anything goes", {}, [{ at: 0, admit: ["a", 10_000], ok: true }, { at: 0, admit: ["a", 10_000], ok: true }]],
    [
      "per minute: a minute's worth at once, then refused with the exact wait for the missing tokens",
      { callerExecutionsPerMinute: 60 },
      [
        { at: 0, admit: ["a", 60], ok: true },
        // 1 token per second: 6 tokens are 6 s away.
        { at: 0, admit: ["a", 6], refused: "caller_executions_per_minute", retryAfterMs: 6000 },
        { at: 5999, admit: ["a", 6], refused: "caller_executions_per_minute", retryAfterMs: 1 },
        { at: 6000, admit: ["a", 6], ok: true },
      ],
    ],
    [
      "per minute: one caller's bucket does not touch another's",
      { callerExecutionsPerMinute: 10 },
      [
        { at: 0, admit: ["a", 10], ok: true },
        { at: 0, admit: ["b", 10], ok: true },
        { at: 0, admit: ["a", 1], refused: "caller_executions_per_minute", retryAfterMs: 6000 },
      ],
    ],
    [
      "per minute: a refused call takes no tokens; the bucket never holds more than a minute's worth",
      { callerExecutionsPerMinute: 60 },
      [
        { at: 0, admit: ["a", 50], ok: true },
        { at: 0, admit: ["a", 20], refused: "caller_executions_per_minute", retryAfterMs: 10_000 },
        { at: 0, admit: ["a", 10], ok: true },
        { at: 3_600_000, admit: ["a", 60], ok: true },
        { at: 3_600_000, admit: ["a", 1], refused: "caller_executions_per_minute", retryAfterMs: 1000 },
      ],
    ],
    [
      "per minute: a request larger than the bucket can never pass: no retry delay",
      { callerExecutionsPerMinute: 10 },
      [{ at: 0, admit: ["a", 11], refused: "caller_executions_per_minute", retryAfterMs: undefined }],
    ],
    [
      "caller in flight: released executions make room; other callers are not affected",
      { callerExecutionsInFlight: 4 },
      [
        { at: 0, admit: ["a", 3], ok: true },
        { at: 0, admit: ["a", 2], refused: "caller_executions_in_flight", retryAfterMs: IN_FLIGHT_RETRY_HINT_MS },
        { at: 0, admit: ["b", 4], ok: true },
        { at: 1, release: 0 },
        { at: 1, admit: ["a", 4], ok: true },
      ],
    ],
    [
      "caller in flight: the hint is sooner when a lease is due to end sooner",
      { callerExecutionsInFlight: 4 },
      [
        { at: 0, admit: ["a", 2, 5000], ok: true },
        { at: 0, admit: ["a", 2, 300], ok: true },
        // Needs 2 more: the lease ending at 300 frees them.
        { at: 100, admit: ["a", 2], refused: "caller_executions_in_flight", retryAfterMs: 200 },
        // Needs 4: only both leases together, the later at 5000: the hint caps it.
        { at: 100, admit: ["a", 4], refused: "caller_executions_in_flight", retryAfterMs: IN_FLIGHT_RETRY_HINT_MS },
      ],
    ],
    [
      "coordinator-wide bound: every caller together, checked first",
      { maxExecutionsInFlight: 5, callerExecutionsInFlight: 4, callerExecutionsPerMinute: 1 },
      [
        { at: 0, admit: ["a", 1], ok: true },
        { at: 0, admit: ["b", 1], ok: true },
        { at: 0, admit: ["c", 1], ok: true },
        // d is over its rate too (1 per minute, asks 3): the coordinator's bound is named first.
        { at: 0, admit: ["d", 3], refused: "max_executions_in_flight", retryAfterMs: IN_FLIGHT_RETRY_HINT_MS },
        { at: 0, admit: ["d", 6], refused: "max_executions_in_flight", retryAfterMs: undefined },
        { at: 0, release: 1 },
        { at: 0, admit: ["d", 1], ok: true },
      ],
    ],
    [
      "a lease released twice gives its executions back once",
      { callerExecutionsInFlight: 2 },
      [
        { at: 0, admit: ["a", 2], ok: true },
        { at: 0, release: 0 },
        { at: 0, release: 0 },
        { at: 0, admit: ["a", 2], ok: true },
        { at: 0, admit: ["a", 1], refused: "caller_executions_in_flight", retryAfterMs: IN_FLIGHT_RETRY_HINT_MS },
      ],
    ],
  ])("%s", (_, limits, steps) => run(limits, steps));

  it("names the caller, the limit and what the request needs in the description", () => {
    const quota = new CallerQuota({ ...OFF, callerExecutionsPerMinute: 6 }, { now: () => 0 });
    const admission = quota.admit("ci-bot", 8);
    expect(admission).toMatchObject({ ok: false });
    if (admission.ok) return;
    expect(admission.refusal).toEqual({
      limit: "caller_executions_per_minute",
      caller: "ci-bot",
      executions: 8,
      allowed: 6,
      retryAfterMs: undefined,
      description: "caller_executions_per_minute: the request needs 8 probe executions (regions × ports), more than the limit of 6; split it",
    });
  });

  it("forgets idle callers whose bucket is full again (bounded memory); keeps those with work in flight", () => {
    let now = 0;
    const quota = new CallerQuota({ ...OFF, callerExecutionsPerMinute: 60 }, { now: () => now });
    for (let i = 0; i < 1000; i += 1) {
      const admission = quota.admit(`caller-${i}`, 1);
      if (admission.ok) admission.lease.release();
    }
    const held = quota.admit("busy", 1);
    expect(quota.trackedCallers).toBe(1001);
    now = SWEEP_INTERVAL_MS;
    quota.admit("new", 1);
    // The 1000 callers got their token back within 1 s: forgotten; "busy" still holds one.
    expect(quota.trackedCallers).toBe(2);
    expect(quota.inFlight("busy")).toBe(1);
    expect(quota.inFlight()).toBe(2);
    if (held.ok) held.lease.release();
    expect(quota.inFlight("busy")).toBe(0);
  });

  it.each([
    [{ ...OFF, callerExecutionsPerMinute: -1 }, "callerExecutionsPerMinute"],
    [{ ...OFF, maxExecutionsInFlight: 1.5 }, "maxExecutionsInFlight"],
  ])("refuses a bad limit %j, naming it", (limits, name) => {
    expect(() => new CallerQuota(limits)).toThrow(name);
  });

  it("refuses a bad execution count", () => {
    expect(() => new CallerQuota(OFF).admit("a", 0)).toThrow("executions");
  });
});
