import { describe, expect, it } from "vitest";
import {
  notRunReason,
  notRunResult,
  relabelCallerDeadline,
  relabelShutdown,
  relabelStopped,
  type StopReason,
} from "../../../../agents/probe/stopped-task.js";
import { FailureSource, HandshakeResult, Outcome, Phase, PortRole, TargetResult, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";

const DEADLINE = new Date("2030-01-02T03:04:05.000Z");
const TASK = { host: "mx.example.org", port: 587, mx: true, tlsMode: TlsMode.TLS_MODE_REQUIRE, portRole: PortRole.PORT_ROLE_MX_RELAY, deadline: DEADLINE, deadlineFromCaller: false };
const { FAILURE_SOURCE_INTERNAL: INTERNAL, FAILURE_SOURCE_CALLER: CALLER } = FailureSource;
const WAITED = { arrivedLate: false, waitedMs: 1234, concurrency: 8 };

describe("notRunReason", () => {
  const cases: [string, StopReason, boolean, boolean, Outcome, FailureSource, string][] = [
    ["a deadline passed in the queue", "deadline", false, false, Outcome.OUTCOME_DEADLINE_EXCEEDED, INTERNAL, "the task's deadline passed after 1234 ms waiting for a free slot at the agent (all 8 busy)"],
    ["a deadline passed before arrival", "deadline", true, false, Outcome.OUTCOME_DEADLINE_EXCEEDED, INTERNAL, "the task's deadline (2030-01-02T03:04:05.000Z) had passed when it reached the agent"],
    ["the caller's deadline passed in the queue", "deadline", false, true, Outcome.OUTCOME_CALLER_DEADLINE, CALLER, "the caller's deadline passed after 1234 ms waiting for a free slot at the agent (all 8 busy)"],
    ["the caller's deadline passed before arrival", "deadline", true, true, Outcome.OUTCOME_CALLER_DEADLINE, CALLER, "the caller's deadline (2030-01-02T03:04:05.000Z) had passed when it reached the agent"],
    ["the agent's shutdown", "shutdown", false, true, Outcome.OUTCOME_CANCELLED, INTERNAL, "the agent shut down before the task got a free slot"],
    ["the caller's cancel", "cancelled", false, false, Outcome.OUTCOME_CANCELLED, CALLER, "cancelled by the caller while waiting for a free slot at the agent"],
  ];
  it.each(cases)("%s", (_, reason, arrivedLate, deadlineFromCaller, outcome, source, text) => {
    expect(notRunReason(reason, { ...TASK, deadlineFromCaller }, { ...WAITED, arrivedLate })).toEqual({ outcome, source, text });
  });
});

describe("notRunResult", () => {
  it("is one handshake that never connected, the caller's cancel, with the reason", () => {
    const result = notRunResult("cancelled", TASK, WAITED);
    expect(result).toMatchObject({ host: "mx.example.org", port: 587, mx: true, exchangers: [], totalMs: 0 });
    expect(result.handshakes).toHaveLength(1);
    expect(result.handshakes[0]).toMatchObject({
      host: "mx.example.org",
      port: 587,
      address: "",
      tlsMode: TlsMode.TLS_MODE_REQUIRE,
      // The role the task was given, not 587's default (submission).
      portRole: PortRole.PORT_ROLE_MX_RELAY,
      outcome: Outcome.OUTCOME_CANCELLED,
      phase: Phase.PHASE_UNSPECIFIED,
      failureSource: FailureSource.FAILURE_SOURCE_CALLER,
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

describe("relabelCallerDeadline", () => {
  it("turns the engine's deadline into the caller's, on those handshakes only: never the target's failure", () => {
    const result = TargetResult.fromPartial({
      handshakes: [
        HandshakeResult.fromPartial({
          address: "192.0.2.1",
          phase: Phase.PHASE_BANNER,
          outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED,
          failureSource: FailureSource.FAILURE_SOURCE_TARGET,
          reason: "the probe's deadline of 120 ms passed",
          totalMs: 119.6,
        }),
        HandshakeResult.fromPartial({ address: "192.0.2.2", phase: Phase.PHASE_CONNECT, outcome: Outcome.OUTCOME_REFUSED, failureSource: FailureSource.FAILURE_SOURCE_NETWORK, reason: "refused" }),
        HandshakeResult.fromPartial({ address: "192.0.2.3", phase: Phase.PHASE_DONE, outcome: Outcome.OUTCOME_OK }),
      ],
    });
    relabelCallerDeadline(result);
    expect(result.handshakes.map((h) => [h.outcome, h.failureSource])).toEqual([
      [Outcome.OUTCOME_CALLER_DEADLINE, FailureSource.FAILURE_SOURCE_CALLER],
      [Outcome.OUTCOME_REFUSED, FailureSource.FAILURE_SOURCE_NETWORK],
      [Outcome.OUTCOME_OK, FailureSource.FAILURE_SOURCE_UNSPECIFIED],
    ]);
    expect(result.handshakes[0]?.reason).toBe("the caller's deadline ended the probe at banner after 120 ms; it says nothing about the target");
    expect(result.handshakes[0]?.phase).toBe(Phase.PHASE_BANNER);
  });
});

describe("relabelStopped", () => {
  const stoppedResult = (): TargetResult =>
    TargetResult.fromPartial({
      handshakes: [
        HandshakeResult.fromPartial({ outcome: Outcome.OUTCOME_CANCELLED, failureSource: FailureSource.FAILURE_SOURCE_INTERNAL, reason: "cancelled by the caller" }),
        HandshakeResult.fromPartial({ outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED, failureSource: FailureSource.FAILURE_SOURCE_TARGET, reason: "the probe's deadline of 60000 ms passed" }),
      ],
    });
  it.each<[string, StopReason | undefined, boolean, [Outcome, FailureSource][]]>([
    ["not stopped, the request's own deadline", undefined, false, [[Outcome.OUTCOME_CANCELLED, INTERNAL], [Outcome.OUTCOME_DEADLINE_EXCEEDED, FailureSource.FAILURE_SOURCE_TARGET]]],
    ["the caller's deadline", undefined, true, [[Outcome.OUTCOME_CANCELLED, INTERNAL], [Outcome.OUTCOME_CALLER_DEADLINE, CALLER]]],
    ["the caller's cancel", "cancelled", false, [[Outcome.OUTCOME_CANCELLED, CALLER], [Outcome.OUTCOME_DEADLINE_EXCEEDED, FailureSource.FAILURE_SOURCE_TARGET]]],
    ["the agent's shutdown", "shutdown", false, [[Outcome.OUTCOME_CANCELLED, INTERNAL], [Outcome.OUTCOME_DEADLINE_EXCEEDED, FailureSource.FAILURE_SOURCE_TARGET]]],
  ])("%s", (_name, stopReason, callerDeadline, expected) => {
    const result = stoppedResult();
    relabelStopped(result, { stopReason, callerDeadline });
    expect(result.handshakes.map((h) => [h.outcome, h.failureSource])).toEqual(expected);
  });
});
