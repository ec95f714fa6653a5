import { describe, expect, it } from "vitest";
import { notRunReason, notRunResult, relabelShutdown, type StopReason } from "../../../../agents/probe/stopped-task.js";
import { FailureSource, HandshakeResult, Outcome, Phase, TargetResult, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";

const DEADLINE = new Date("2030-01-02T03:04:05.000Z");
const TASK = { host: "mx.example.org", port: 587, mx: true, tlsMode: TlsMode.TLS_MODE_REQUIRE, deadline: DEADLINE };
const WAITED = { arrivedLate: false, waitedMs: 1234, concurrency: 8 };

describe("notRunReason", () => {
  const cases: [string, StopReason, boolean, Outcome, string][] = [
    ["a deadline passed in the queue", "deadline", false, Outcome.OUTCOME_DEADLINE_EXCEEDED, "the task's deadline passed after 1234 ms waiting for a free slot at the agent (all 8 busy)"],
    ["a deadline passed before arrival", "deadline", true, Outcome.OUTCOME_DEADLINE_EXCEEDED, "the task's deadline (2030-01-02T03:04:05.000Z) had passed when it reached the agent"],
    ["the agent's shutdown", "shutdown", false, Outcome.OUTCOME_CANCELLED, "the agent shut down before the task got a free slot"],
    ["the caller's cancel", "cancelled", false, Outcome.OUTCOME_CANCELLED, "cancelled by the caller while waiting for a free slot at the agent"],
  ];
  it.each(cases)("%s", (_, reason, arrivedLate, outcome, text) => {
    expect(notRunReason(reason, TASK, { ...WAITED, arrivedLate })).toEqual({ outcome, text });
  });
});

describe("notRunResult", () => {
  it("is one handshake that never connected, internal, with the reason", () => {
    const result = notRunResult("cancelled", TASK, WAITED);
    expect(result).toMatchObject({ host: "mx.example.org", port: 587, mx: true, exchangers: [], totalMs: 0 });
    expect(result.handshakes).toHaveLength(1);
    expect(result.handshakes[0]).toMatchObject({
      host: "mx.example.org",
      port: 587,
      address: "",
      tlsMode: TlsMode.TLS_MODE_REQUIRE,
      outcome: Outcome.OUTCOME_CANCELLED,
      phase: Phase.PHASE_UNSPECIFIED,
      failureSource: FailureSource.FAILURE_SOURCE_INTERNAL,
      reason: "cancelled by the caller while waiting for a free slot at the agent",
      totalMs: 0,
    });
    // It encodes as a TargetResult: the agent sends it as is.
    expect(TargetResult.decode(TargetResult.encode(result).finish()).handshakes[0]?.reason).toBe(result.handshakes[0]?.reason);
  });
});

describe("relabelShutdown", () => {
  it("names the agent's shutdown on cancelled handshakes only", () => {
    const result = TargetResult.fromPartial({
      handshakes: [
        HandshakeResult.fromPartial({ address: "192.0.2.1", outcome: Outcome.OUTCOME_CANCELLED, failureSource: FailureSource.FAILURE_SOURCE_TARGET, reason: "cancelled by the caller" }),
        HandshakeResult.fromPartial({ address: "192.0.2.2", outcome: Outcome.OUTCOME_OK, failureSource: FailureSource.FAILURE_SOURCE_UNSPECIFIED, reason: "" }),
      ],
    });
    relabelShutdown(result);
    expect(result.handshakes.map((h) => [h.outcome, h.failureSource, h.reason])).toEqual([
      [Outcome.OUTCOME_CANCELLED, FailureSource.FAILURE_SOURCE_INTERNAL, "the agent shut down before the probe finished"],
      [Outcome.OUTCOME_OK, FailureSource.FAILURE_SOURCE_UNSPECIFIED, ""],
    ]);
  });
});
