import { describe, expect, it } from "vitest";
import { encodeAgentMessage, envelopeBytes } from "../../../../agents/probe/agent-message.js";
import { trimResult } from "../../../../agents/probe/trim-result.js";
import { AgentMessage } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { Outcome, Phase, TargetResult } from "../../../../gen/smtpprobe/v1/handshake.js";

function result(transcriptChars: number): TargetResult {
  return TargetResult.fromPartial({
    host: "198.51.100.7",
    port: 25,
    totalMs: 42,
    handshakes: [
      {
        host: "198.51.100.7",
        address: "198.51.100.7",
        port: 25,
        outcome: Outcome.OUTCOME_OK,
        phase: Phase.PHASE_DONE,
        transcript: { entries: [{ offsetMs: 1, tls: false, text: `220 ${"x".repeat(transcriptChars)}` }] },
      },
    ],
  });
}

describe("encodeAgentMessage", () => {
  it.each([
    ["a progress", { taskId: "t1", agentId: "a1", progress: { taskId: "t1", region: "eu", port: 25, agentId: "a1", phase: Phase.PHASE_BANNER, host: "h", address: "198.51.100.7", queued: false } }],
    ["an error", { taskId: "t1", agentId: "a1", error: "invalid task: port" }],
    ["a small result", { taskId: "t1", agentId: "a1", result: result(10) }],
    // Over 127 and over 16383 bytes: the result's length takes two and three varint bytes.
    ["a result of a few hundred bytes", { taskId: "t1", agentId: "a1", result: result(300) }],
    ["a result of tens of kilobytes", { taskId: "t1", agentId: "a1", result: result(40_000) }],
  ] as const)("%s decodes to the message AgentMessage.encode would have made", (_, message) => {
    const bytes = encodeAgentMessage(message);
    expect(AgentMessage.decode(bytes)).toEqual(AgentMessage.fromPartial(message));
    expect(bytes.length).toBe(AgentMessage.encode(AgentMessage.fromPartial(message)).finish().length);
  });

  it("sends a result that fit as the bytes trimming measured (encoded once)", () => {
    const input = result(500);
    const trimmed = trimResult(input, 64 * 1024);
    expect(trimmed.result).toBe(input);
    const bytes = encodeAgentMessage({ taskId: "t1", agentId: "a1", result: trimmed.result });
    expect(AgentMessage.decode(bytes).result).toEqual(input);
    expect(bytes.length).toBe(AgentMessage.encode(AgentMessage.fromPartial({ taskId: "t1", agentId: "a1", result: input })).finish().length);
  });
});

describe("envelopeBytes", () => {
  it.each<[string, string, string]>([
    ["both ids", "probe-1.eu-west.25", "eu-west-1"],
    ["no task id (an undecodable task's answer)", "", "eu-west-1"],
    ["both empty", "", ""],
    ["multi-byte characters", "tâche-é.ü.25", "agent-ö"],
    ["a task id of 200 bytes (two length bytes)", "t".repeat(200), "a1"],
    ["a task id of 20000 bytes (three length bytes)", "t".repeat(20_000), "a1"],
  ])("%s: as many bytes as AgentMessage.encode writes", (_, taskId, agentId) => {
    expect(envelopeBytes(taskId, agentId)).toBe(AgentMessage.encode(AgentMessage.fromPartial({ taskId, agentId })).finish().length);
  });
});
