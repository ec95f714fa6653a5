import { describe, expect, it } from "vitest";
import { checkTask, heartbeatPeriodMs, MAX_HOST, MAX_TASK_ID } from "../../../../agents/probe/task-check.js";
import { Task } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import type { DeepPartial } from "../../../../gen/smtpprobe/v1/probe_service.js";

const AGENT = { region: "eu-west", defaultEhloName: "probe.example.org" };

function task(fields: DeepPartial<Task> = {}): Task {
  return Task.fromPartial({ taskId: "t-1", probeId: "p-1", region: "eu-west", host: "mx.example.org", port: 25, deadline: new Date(Date.now() + 5000), ...fields });
}

describe("checkTask", () => {
  it("resolves the options of a good task with the agent's EHLO name and the port's TLS mode", () => {
    const checked = checkTask(task({ port: 465 }), AGENT);
    expect(checked).toMatchObject({ kind: "ok", options: { ehloName: "probe.example.org", tlsMode: TlsMode.TLS_MODE_IMPLICIT } });
  });

  const invalid: [string, DeepPartial<Task>, string | RegExp][] = [
    ["another region", { region: "us-east" }, 'region: "us-east" is not this agent\'s region "eu-west"'],
    ["no task id", { taskId: "" }, "task_id: missing"],
    ["a task id too long", { taskId: "t".repeat(MAX_TASK_ID + 1) }, `task_id: longer than ${MAX_TASK_ID} characters`],
    ["no host", { host: "" }, "host: missing"],
    ["a host too long", { host: "h".repeat(MAX_HOST + 1) }, `host: longer than ${MAX_HOST} characters`],
    ["port 0", { port: 0 }, "port: must be from 1 to 65535, not 0"],
    ["port 65536", { port: 65536 }, "port: must be from 1 to 65535, not 65536"],
    ["no deadline", { deadline: undefined }, "deadline: missing"],
    ["an invalid deadline", { deadline: new Date(Number.NaN) }, "deadline: missing"],
    ["a bad EHLO name", { options: { ehloName: "not a name" } }, /^options\.ehlo_name: /],
    ["two bad options", { options: { ehloName: "not a name", sni: "bad sni!" } }, /^options\.ehlo_name: .+; options\.sni: /],
  ];

  it.each(invalid)("refuses %s, naming the field first", (_, fields, problem) => {
    const checked = checkTask(task(fields), AGENT);
    expect(checked.kind).toBe("invalid");
    if (checked.kind !== "invalid") return;
    if (typeof problem === "string") expect(checked.problem).toBe(problem);
    else expect(checked.problem).toMatch(problem);
  });

  it("checks the region before anything else", () => {
    expect(checkTask(task({ region: "us-east", taskId: "", host: "" }), AGENT)).toMatchObject({ kind: "invalid", problem: expect.stringMatching(/^region: /) });
  });
});

describe("heartbeatPeriodMs", () => {
  it.each([
    [0, 1000, 1000],
    [250, 1000, 250],
    [1, 1000, 50],
    [0, 10, 50],
    [120_000, 1000, 60_000],
  ])("task %i ms, agent %i ms: every %i ms", (taskMs, agentMs, period) => {
    expect(heartbeatPeriodMs(taskMs, agentMs)).toBe(period);
  });
});
