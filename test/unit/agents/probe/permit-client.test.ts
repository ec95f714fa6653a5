import { describe, expect, it } from "vitest";
import { coordinatorDeadline, PERMIT_ANSWER_MARGIN_MS, readPermitReply, type PermitAnswer } from "../../../../agents/probe/permit-client.js";
import { PermitReply } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import type { ReplyEvent } from "../../../../lib/bus.js";

const message = (reply: Partial<PermitReply>): ReplyEvent => ({ kind: "message", data: PermitReply.encode(PermitReply.fromPartial(reply)).finish() });

describe("readPermitReply", () => {
  const cases: [string, ReplyEvent, PermitAnswer][] = [
    ["a grant with a lease", message({ granted: true, leaseId: "lease-1" }), { kind: "granted", leaseId: "lease-1" }],
    [
      "no responders",
      { kind: "no_responders" },
      { kind: "denied", reason: "throttled: no coordinator answers permit requests; no connection without a permit (fail closed)" },
    ],
    [
      "bytes that are not a PermitReply",
      { kind: "message", data: new Uint8Array([0xff, 0xff, 0xff]) },
      { kind: "denied", reason: "throttled: the coordinator's permit reply was not a PermitReply; no connection without a permit" },
    ],
    ["a denial with its reason", message({ granted: false, reason: "throttled: 4 connections open (limit 4)" }), { kind: "denied", reason: "throttled: 4 connections open (limit 4)" }],
    ["a denial without a reason", message({ granted: false }), { kind: "denied", reason: "throttled by the coordinator" }],
    ["a grant without a lease id", message({ granted: true, leaseId: "" }), { kind: "denied", reason: "throttled by the coordinator" }],
  ];
  it.each(cases)("%s", (_, event, answer) => {
    expect(readPermitReply(event)).toEqual(answer);
  });
});

describe("coordinatorDeadline", () => {
  it.each([
    [10_000, 10_000 - PERMIT_ANSWER_MARGIN_MS],
    [2_000, 2_000 - PERMIT_ANSWER_MARGIN_MS],
    [1_000, 900],
    [50, 45],
  ])("%i ms left: the coordinator answers within %i ms", (remainingMs, answerMs) => {
    expect(coordinatorDeadline(remainingMs, 1_000_000).getTime()).toBe(1_000_000 + answerMs);
  });
});
