import { describe, expect, it } from "vitest";
import { Outcome } from "../../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type AgentInfo, type EgressCheck, type TaskReport } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { agentDeadlineAt, attachEgress, retryBudgetMs, taskIdFor } from "../../../../services/coordinator/fan-out.js";

function check(port: number, ok: boolean, checkedAt = "2025-06-01T12:00:00Z"): EgressCheck {
  return { port, canary: `canary.example.net:${port}`, ok, outcome: ok ? Outcome.OUTCOME_OK : Outcome.OUTCOME_TIMED_OUT, detail: "", checkedAt: new Date(checkedAt), durationMs: 5 };
}

function agent(agentId: string, region: string, egress: EgressCheck[]): AgentInfo {
  return { agentId, region, version: "0.1.0", inFlight: 0, capacity: 32, lastSeen: undefined, startedAt: undefined, egress, tasksDone: 0, egressPosture: undefined, egressPostureCheckedAt: undefined };
}

function report(region: string, port: number, agentId: string): TaskReport {
  return {
    taskId: taskIdFor("p", region, port),
    region,
    port,
    status: agentId ? TaskStatus.TASK_STATUS_DONE : TaskStatus.TASK_STATUS_NO_AGENT,
    detail: "",
    agentId,
    attempts: 1,
    result: undefined,
    egress: undefined,
    agentEgressPosture: undefined,
    durationMs: 1,
  };
}

describe("attachEgress", () => {
  const agents = [
    agent("eu-1", "eu-west", [check(25, false), check(587, true)]),
    agent("eu-2", "eu-west", [check(25, true, "2025-06-01T12:05:00Z")]),
    agent("us-1", "us-east", [check(25, true)]),
  ];

  it.each<[string, TaskReport, EgressCheck | undefined]>([
    ["the check of the agent that ran the task", report("eu-west", 25, "eu-1"), check(25, false)],
    ["that agent's check on the task's port", report("eu-west", 587, "eu-1"), check(587, true)],
    ["nothing when the agent has no canary on the port", report("eu-west", 587, "eu-2"), undefined],
    ["the region's latest check when no agent ran the task", report("eu-west", 25, ""), check(25, true, "2025-06-01T12:05:00Z")],
    ["the region's check when the agent is gone from discovery", report("us-east", 25, "us-9"), check(25, true)],
    ["nothing for a region without agents", report("ap-south", 25, ""), undefined],
    ["never another region's check", report("ap-south", 25, "eu-1x"), undefined],
  ])("gives %s", (_name, r, expected) => {
    const reports = [r];
    expect(attachEgress(reports, agents)).toBe(reports);
    expect(r.egress).toEqual(expected);
  });
});

describe("attachEgress: the egress address's reading", () => {
  it("is the reading of the agent that ran the task, never another agent's", () => {
    const listedAddress = { address: "198.51.100.9", reverseDns: undefined, blocklists: [{ zone: "zen.example", listed: true, codes: ["127.0.0.2"], reason: "", error: "" }] };
    const agents = [{ ...agent("eu-1", "eu-west", []), egressPosture: listedAddress }, agent("eu-2", "eu-west", [])];
    const reports = [report("eu-west", 25, "eu-1"), report("eu-west", 587, "eu-2"), report("eu-west", 465, "")];
    attachEgress(reports, agents);
    expect(reports.map((r) => r.agentEgressPosture)).toEqual([listedAddress, undefined, undefined]);
  });
});

describe("agentDeadlineAt", () => {
  it.each<[number, number]>([
    [60_000, 60_000 - 250], // the margin is capped
    [500, 400], // a fifth of a short time
    [0, 0],
    [-10, -10], // already past: no margin to take
  ])("with %i ms left the agent stops at %i", (left, at) => {
    expect(agentDeadlineAt(1_000_000 + left, 1_000_000)).toBe(1_000_000 + at);
  });
});

describe("small helpers", () => {
  it("retries need at least a second, or two heartbeats", () => {
    expect(retryBudgetMs(100)).toBe(1000);
    expect(retryBudgetMs(1000)).toBe(2000);
  });

  it("task ids are unique per region and port", () => {
    expect(taskIdFor("p1", "eu-west", 25)).toBe("p1.eu-west.25");
    const ids = ["eu-west", "us-east"].flatMap((region) => [25, 587].map((port) => taskIdFor("p1", region, port)));
    expect(ids).toEqual(["p1.eu-west.25", "p1.eu-west.587", "p1.us-east.25", "p1.us-east.587"]);
    expect(new Set(ids).size).toBe(4);
    // And per probe.
    expect(taskIdFor("p2", "eu-west", 25)).not.toBe(taskIdFor("p1", "eu-west", 25));
  });
});
