import { describe, expect, it } from "vitest";
import { CALLER_REPLY_MARGIN_MS, MIN_PROBE_DEADLINE_MS, probeDeadline } from "../../../../services/coordinator/probe-deadline.js";

const NOW = 1_000_000;

describe("probeDeadline", () => {
  it.each<[string, number, number, { deadlineMs: number; callerBound: boolean }]>([
    ["no gRPC deadline: the request's", 60_000, Number.POSITIVE_INFINITY, { deadlineMs: 60_000, callerBound: false }],
    ["a gRPC deadline later than the request's", 10_000, NOW + 30_000, { deadlineMs: 10_000, callerBound: false }],
    ["a gRPC deadline exactly the request's plus the margin", 10_000, NOW + 10_000 + CALLER_REPLY_MARGIN_MS, { deadlineMs: 10_000, callerBound: false }],
    ["a gRPC deadline sooner: the caller's, less the margin", 60_000, NOW + 200, { deadlineMs: 150, callerBound: true }],
    ["a gRPC deadline at the minimum", 60_000, NOW + MIN_PROBE_DEADLINE_MS + CALLER_REPLY_MARGIN_MS, { deadlineMs: MIN_PROBE_DEADLINE_MS, callerBound: true }],
    ["a fractional gRPC deadline is rounded down", 60_000, NOW + 200.9, { deadlineMs: 150, callerBound: true }],
    ["a short request deadline is the request's, even under a short gRPC deadline", 100, NOW + 160, { deadlineMs: 100, callerBound: false }],
  ])("%s", (_name, requestDeadlineMs, callDeadline, expected) => {
    const decided = probeDeadline({ now: NOW, requestDeadlineMs, callDeadline });
    expect(decided).toEqual({ ok: true, deadline: { ...expected, deadlineAt: NOW + expected.deadlineMs } });
  });

  it.each<[string, number, number]>([
    ["20 ms", NOW + 20, 0],
    ["50 ms (all of it the margin)", NOW + 50, 0],
    ["120 ms", NOW + 120, 70],
    ["one ms short of the minimum", NOW + MIN_PROBE_DEADLINE_MS + CALLER_REPLY_MARGIN_MS - 1, MIN_PROBE_DEADLINE_MS - 1],
    ["already past", NOW - 5, 0],
  ])("refuses a gRPC deadline of %s, saying the minimum", (_name, callDeadline, leftMs) => {
    const decided = probeDeadline({ now: NOW, requestDeadlineMs: 60_000, callDeadline });
    expect(decided.ok).toBe(false);
    if (decided.ok) return;
    expect(decided.leftMs).toBe(leftMs);
    expect(decided.message).toBe(
      `the call's deadline leaves ${leftMs} ms for the probe (after the 50 ms the coordinator keeps to answer); ` +
        "a probe needs at least 100 ms: give the call a deadline of at least 150 ms",
    );
  });
});
