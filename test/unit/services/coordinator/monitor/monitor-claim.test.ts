import { describe, expect, it } from "vitest";
import { decideClaim, decodeClaim, encodeClaim, leaseMs, MAX_LEASE_MS, type HeldClaim } from "../../../../../services/coordinator/monitor/monitor-claim.js";

const NOW = 1_000_000;

describe("decideClaim", () => {
  const cases: { name: string; held: HeldClaim | undefined; run: number; want: ReturnType<typeof decideClaim> }[] = [
    { name: "nothing held", held: undefined, run: 3, want: { take: true } },
    { name: "an earlier run held", held: { run: 2, by: "a", until: NOW + 5_000 }, run: 3, want: { take: true } },
    { name: "an earlier run held and not done (its coordinator died): the new run is taken", held: { run: 2, by: "a", until: NOW - 1 }, run: 3, want: { take: true } },
    { name: "a later run held", held: { run: 4, by: "a", until: NOW - 1 }, run: 3, want: { take: false } },
    { name: "the run held, its lease running", held: { run: 3, by: "a", until: NOW + 500 }, run: 3, want: { take: false, recheckAt: NOW + 500 } },
    { name: "the run held, its lease ending now: taken over", held: { run: 3, by: "a", until: NOW }, run: 3, want: { take: true } },
    { name: "the run held, its lease run out: taken over", held: { run: 3, by: "a", until: NOW - 1 }, run: 3, want: { take: true } },
    { name: "the run done: never taken over", held: { run: 3, by: "a", until: NOW - 1, done: true }, run: 3, want: { take: false } },
    { name: "the run held by a claim without a lease (written before leases): never taken over", held: { run: 3, by: "a" }, run: 3, want: { take: false } },
  ];
  it.each(cases)("$name", ({ held, run, want }) => {
    expect(decideClaim(held, run, NOW)).toEqual(want);
  });
});

describe("leaseMs", () => {
  it.each([
    [1_000, 250],
    [2_000, 500],
    [60_000, MAX_LEASE_MS],
    [86_400_000, MAX_LEASE_MS],
  ])("interval %i ms: %i ms", (interval, lease) => {
    expect(leaseMs(interval)).toBe(lease);
  });
});

describe("encodeClaim / decodeClaim", () => {
  it.each<[string, HeldClaim]>([
    ["with a lease", { run: 7, by: "coord-1.ab12", until: NOW }],
    ["done", { run: 7, by: "coord-1.ab12", until: NOW, done: true }],
    ["without a lease", { run: 7, by: "coord-1.ab12" }],
  ])("%s: read back as written", (_name, claim) => {
    expect(decodeClaim(encodeClaim(claim))).toEqual(claim);
  });

  it.each([
    ["not JSON", "run 7"],
    ["no run", JSON.stringify({ by: "a" })],
    ["a run that is not a count", JSON.stringify({ run: -1, by: "a" })],
  ])("%s: not a claim", (_name, text) => {
    expect(decodeClaim(Buffer.from(text))).toBeUndefined();
  });

  it("a lease that is not a count is dropped (never taken over), done only when true", () => {
    expect(decodeClaim(Buffer.from(JSON.stringify({ run: 2, by: "a", until: "soon", done: "yes" })))).toEqual({ run: 2, by: "a" });
  });
});
