import { describe, expect, it } from "vitest";
import { Phase } from "../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest, TaskStatus, VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { applyProbeEvent, cellKey, countDone, createLiveProbe, partialReport } from "../../../cli/live-probe.js";
import { done, ok, refused, report, silent } from "../../helpers/report-builders.js";

const request = ProbeRequest.fromPartial({ host: "mx.example.com", ports: [25, 587] });
const NOW = new Date("2026-03-01T12:00:00Z");

function accepted() {
  const state = createLiveProbe();
  applyProbeEvent(state, { accepted: { probeId: "p-1", regions: ["us-east", "eu-west"], ports: [25, 587], deadline: undefined } });
  return state;
}

describe("applyProbeEvent", () => {
  it("a DONE task is not replaced by a later report of the same cell that is not", () => {
    const state = accepted();
    applyProbeEvent(state, { task: done("us-east", 25, [ok()]) });
    applyProbeEvent(state, { task: silent("us-east", 25, TaskStatus.TASK_STATUS_AGENT_LOST) });
    expect(state.tasks.get(cellKey("us-east", 25))?.status).toBe(TaskStatus.TASK_STATUS_DONE);
  });

  it("a retry that answers replaces a first report that did not", () => {
    const state = accepted();
    applyProbeEvent(state, { task: silent("us-east", 25, TaskStatus.TASK_STATUS_AGENT_LOST) });
    applyProbeEvent(state, { task: done("us-east", 25, [ok()]) });
    expect(state.tasks.get(cellKey("us-east", 25))?.status).toBe(TaskStatus.TASK_STATUS_DONE);
  });

  it("progress is kept only while the task has not landed; the report is kept", () => {
    const state = accepted();
    const progress = { taskId: "t", region: "eu-west", port: 25, agentId: "a", phase: Phase.PHASE_BANNER, host: "h", address: "", queued: false };
    applyProbeEvent(state, { progress });
    expect(state.progress.get(cellKey("eu-west", 25))?.phase).toBe(Phase.PHASE_BANNER);
    applyProbeEvent(state, { task: done("eu-west", 25, [ok()]) });
    expect(state.progress.size).toBe(0);
    const r = report(["us-east"], [25], []);
    applyProbeEvent(state, { report: r });
    expect(state.report).toBe(r);
    expect(countDone(state, request)).toEqual({ done: 1, total: 4 });
  });
});

describe("partialReport", () => {
  it("undefined before the probe was accepted", () => {
    expect(partialReport(createLiveProbe(), request, TaskStatus.TASK_STATUS_CANCELLED, NOW)).toBeUndefined();
  });

  it("the landed tasks, the others marked as asked, compared like the coordinator does", () => {
    const state = accepted();
    applyProbeEvent(state, { task: done("us-east", 25, [ok()]) });
    applyProbeEvent(state, { task: done("eu-west", 25, [refused()]) });
    const partial = partialReport(state, request, TaskStatus.TASK_STATUS_CANCELLED, NOW);
    expect(partial?.probeId).toBe("p-1");
    expect(partial?.complete).toBe(false);
    expect(partial?.request?.regions).toEqual(["us-east", "eu-west"]);
    expect(partial?.tasks.map((t) => [t.region, t.port, t.status])).toEqual([
      ["us-east", 25, TaskStatus.TASK_STATUS_DONE],
      ["us-east", 587, TaskStatus.TASK_STATUS_CANCELLED],
      ["eu-west", 25, TaskStatus.TASK_STATUS_DONE],
      ["eu-west", 587, TaskStatus.TASK_STATUS_CANCELLED],
    ]);
    expect(partial?.comparison?.verdicts.map((v) => [v.port, v.kind])).toEqual([
      [25, VerdictKind.VERDICT_KIND_BLOCKED_FROM_REGIONS],
      [587, VerdictKind.VERDICT_KIND_NO_DATA],
    ]);
    expect(partial?.comparison?.missing).toEqual([
      { region: "us-east", cause: "cancelled on port 587" },
      { region: "eu-west", cause: "cancelled on port 587" },
    ]);
  });
});
