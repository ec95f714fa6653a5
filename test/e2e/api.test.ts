// The gRPC API end to end, as a caller sees it: a real nats-server on a free port, the coordinator
// and four agents (us-east, eu-west ×2, ap-south) as child processes of the real binary, and an
// smtp-server fixture with STARTTLS on 127.0.0.1. Nothing outside 127.0.0.1 is contacted: the
// processes allowlist 127.0.0.0/8 and only the fixture's port and a closed port.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome, Phase } from "../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, VerdictKind, type ProbeReport, type TaskReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { freePort } from "../helpers/free-port.js";
import { callError, connectProbeApi, describeError, summarize, type ProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, startedAll, stopAll, type AgentProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { wellBefore } from "../helpers/timing.js";

const nats = await need(natsServerAvailable);

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
const REGIONS = ["ap-south", "eu-west", "us-east"];
/** The gRPC deadline of the probe calls: every probe here ends long before it. */
const CALL_DEADLINE_MS = 15_000;
const AGENTS = [
  { region: "us-east", agentId: "us-east-1" },
  { region: "eu-west", agentId: "eu-west-1" },
  { region: "eu-west", agentId: "eu-west-2" },
  { region: "ap-south", agentId: "ap-south-1" },
];

/** Fails with the processes' last words, so that a red test says what the services logged. */
function withLogs(report: ProbeReport | TaskReport[] | string, processes: readonly { name: string; output(): string }[]): string {
  const what = typeof report === "string" ? report : JSON.stringify(Array.isArray(report) ? report : report.tasks, taskReplacer, 1).slice(0, 4000);
  return `${what}\n${processes.map((p) => `--- ${p.name}\n${p.output().slice(-2000)}`).join("\n")}`;
}

function taskReplacer(key: string, value: unknown): unknown {
  // Transcripts and chains make a failure message unreadable.
  return key === "transcript" || key === "chain" || key === "timings" ? "…" : value;
}

describe.skipIf(nats.skip)("ProbeService end to end (NATS, four agents in three regions)", () => {
  let server: NatsServer;
  let fixture: SmtpFixture;
  let closedPort: number;
  let coordinator: CoordinatorProcess;
  let agents: AgentProcess[] = [];
  let api: ProbeApi;
  const all = (): { name: string; output(): string }[] => [coordinator, ...agents].filter(Boolean);

  beforeAll(async () => {
    [server, fixture, closedPort] = await Promise.all([startNatsServer(), startSmtpFixture(), freePort()]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port, closedPort] };
    // The agents start while the coordinator does; they are ready once its ListRegions lists them.
    const coordinatorReady = startCoordinatorProcess({ nats: server.url, heartbeat: "200ms", ...policy }).then((c) => {
      coordinator = c;
      return (api = connectProbeApi(c.address));
    });
    agents = await startedAll(AGENTS.map((a) => startAgentProcess({ ...a, nats: server.url, readyVia: coordinatorReady, grace: "2s", ...policy })));
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([coordinator, ...agents]);
    await Promise.all([server?.stop(), fixture?.stop()]);
  });

  it("Probe: every live region probes both ports; open everywhere on the fixture, refused everywhere on the closed port", async () => {
    const started = performance.now();
    const report = await api.probe({ host: "127.0.0.1", ports: [fixture.port, closedPort], regions: [] }, { deadlineMs: CALL_DEADLINE_MS });
    const elapsed = performance.now() - started;

    // Empty regions: every region with a live agent, in name order.
    expect(report.regions).toEqual(REGIONS);
    expect(report.probeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(report.request?.ports).toEqual([fixture.port, closedPort]);
    expect(report.tasks.map((t) => `${t.region}:${t.port}`)).toEqual(REGIONS.flatMap((r) => [`${r}:${fixture.port}`, `${r}:${closedPort}`]));
    for (const task of report.tasks) {
      expect(task.status, withLogs(report, all())).toBe(TaskStatus.TASK_STATUS_DONE);
      expect(task.attempts).toBe(1);
      expect(AGENTS.filter((a) => a.region === task.region).map((a) => a.agentId)).toContain(task.agentId);
      const [handshake] = task.result?.handshakes ?? [];
      if (task.port === fixture.port) {
        expect(handshake?.outcome, withLogs(report, all())).toBe(Outcome.OUTCOME_OK);
        expect(handshake?.phase).toBe(Phase.PHASE_DONE);
        expect(handshake?.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
        expect(handshake?.banner?.code).toBe(220);
      } else {
        expect(handshake?.outcome).toBe(Outcome.OUTCOME_REFUSED);
      }
    }
    expect(report.complete).toBe(true);

    const verdict = (port: number) => report.comparison?.verdicts.find((v) => v.port === port);
    expect(verdict(fixture.port)).toMatchObject({ kind: VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: REGIONS });
    expect(verdict(closedPort)).toMatchObject({ kind: VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE, regions: REGIONS });
    expect(verdict(closedPort)?.causes.map((c) => c.cause)).toEqual(["refused", "refused", "refused"]);
    expect(verdict(closedPort)?.summary).toContain("refused");
    // No difference between the regions: same server, same certificate, same banner.
    expect(report.comparison?.verdicts.map((v) => v.kind)).toEqual([
      VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE,
      VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
    ]);
    expect(report.comparison?.missing).toEqual([]);
    expect(report.comparison?.cells).toHaveLength(6);
    // Done when every task answered, not when the deadline passed.
    expect(elapsed).toBeLessThan(wellBefore(CALL_DEADLINE_MS));

    // GetProbe: the stored report, as returned.
    const stored = await api.getProbe(report.probeId);
    expect(stored.probeId).toBe(report.probeId);
    expect(stored.tasks).toEqual(report.tasks);
    expect(stored.comparison).toEqual(report.comparison);
    expect(stored).toEqual(report);
  });

  it("StreamProbe: accepted first, progress, one task event per region × port, the report last", async () => {
    const startedWall = Date.now();
    const stream = api.streamProbe({ host: "127.0.0.1", ports: [fixture.port, closedPort] }, { deadlineMs: CALL_DEADLINE_MS });
    const { events, error } = await stream.done;
    expect(error, error && withLogs(describeError(error), all())).toBeUndefined();

    const kinds = summarize(events).split(", ");
    expect(kinds[0], kinds.join(" ")).toBe("accepted");
    expect(kinds.at(-1)).toBe("report");
    expect(kinds.filter((k) => k === "accepted" || k === "report")).toHaveLength(2);
    const accepted = events[0]!.accepted!;
    expect(accepted.probeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(accepted.regions).toEqual(REGIONS);
    expect(accepted.ports).toEqual([fixture.port, closedPort]);
    // The probe's deadline is the caller's (less a margin for the reply), not a default of its own.
    expect(accepted.deadline!.getTime()).toBeGreaterThan(startedWall + wellBefore(CALL_DEADLINE_MS));
    expect(accepted.deadline!.getTime()).toBeLessThanOrEqual(Date.now() + CALL_DEADLINE_MS);

    const progress = events.flatMap((e) => (e.progress ? [e.progress] : []));
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) {
      expect(REGIONS).toContain(p.region);
      expect(p.taskId).toBe(`${accepted.probeId}.${p.region}.${p.port}`);
      expect(AGENTS.filter((a) => a.region === p.region).map((a) => a.agentId)).toContain(p.agentId);
    }
    // The fixture's port goes through the handshake: some progress names a phase past the queue.
    expect(progress.some((p) => p.port === fixture.port && p.phase !== Phase.PHASE_UNSPECIFIED)).toBe(true);

    const tasks = events.flatMap((e) => (e.task ? [e.task] : []));
    expect(tasks.map((t) => `${t.region}:${t.port}`).sort()).toEqual(REGIONS.flatMap((r) => [`${r}:${closedPort}`, `${r}:${fixture.port}`]).sort());
    // A task's progress comes before its result.
    const indexOf = (e: object) => events.indexOf(e as never);
    for (const task of tasks) {
      const taskEvent = events.find((e) => e.task === task)!;
      const after = events.filter((e) => e.progress?.taskId === task.taskId && indexOf(e) > indexOf(taskEvent));
      expect(after, `progress after the result of ${task.taskId}`).toEqual([]);
    }

    const report = events.at(-1)!.report!;
    expect(report.probeId).toBe(accepted.probeId);
    expect(report.tasks.map((t) => t.status)).toEqual(Array(6).fill(TaskStatus.TASK_STATUS_DONE));
    // The task events are the report's tasks.
    expect([...report.tasks].sort((a, b) => a.taskId.localeCompare(b.taskId))).toEqual([...tasks].sort((a, b) => a.taskId.localeCompare(b.taskId)));
    expect((await api.getProbe(report.probeId)).probeId).toBe(report.probeId);
  });

  it("the same idempotency key returns the same probe", async () => {
    const request = { host: "127.0.0.1", ports: [closedPort], regions: ["us-east"], idempotencyKey: `key-${randomUUID()}` };
    const first = await api.probe(request);
    const again = await api.probe(request);
    expect(again.probeId).toBe(first.probeId);
    expect(again.tasks).toEqual(first.tasks);
    const other = await api.probe({ ...request, idempotencyKey: `key-${randomUUID()}` });
    expect(other.probeId).not.toBe(first.probeId);
  });

  it("GetProbe: an unknown id is NOT_FOUND", async () => {
    const error = await callError(api.getProbe(randomUUID()));
    expect(error.code, describeError(error)).toBe(status.NOT_FOUND);
  });

  it("ListRegions: the three regions, eu-west with its two agents, with version and capacity", async () => {
    // One probe first, so that every region has done a task whatever ran before.
    await api.probe({ host: "127.0.0.1", ports: [closedPort] });
    const { regions } = await api.listRegions();
    expect(regions.map((r) => r.name)).toEqual(REGIONS);
    const agentsOf = (name: string) => regions.find((r) => r.name === name)?.agents ?? [];
    expect(agentsOf("eu-west").map((a) => a.agentId)).toEqual(["eu-west-1", "eu-west-2"]);
    expect(agentsOf("us-east").map((a) => a.agentId)).toEqual(["us-east-1"]);
    expect(agentsOf("ap-south").map((a) => a.agentId)).toEqual(["ap-south-1"]);
    for (const agent of regions.flatMap((r) => r.agents)) {
      expect(agent.version).toBe(version);
      expect(agent.capacity).toBe(32);
      expect(agent.inFlight).toBe(0);
      expect(REGIONS).toContain(agent.region);
      expect(agent.startedAt).toBeInstanceOf(Date);
      expect(agent.lastSeen).toBeInstanceOf(Date);
      expect(Math.abs(agent.lastSeen!.getTime() - Date.now())).toBeLessThan(10_000);
    }
    const done = (name: string) => agentsOf(name).reduce((sum, a) => sum + Number(a.tasksDone), 0);
    for (const name of REGIONS) expect(done(name), `tasks done in ${name}`).toBeGreaterThanOrEqual(1);
  });

  it("a named region no agent has ever served is UNKNOWN_REGION at once, named apart, never counted as blocked", async () => {
    const started = performance.now();
    const stream = api.streamProbe({ host: "127.0.0.1", ports: [fixture.port, closedPort], regions: ["us-east", "sa-east"] }, { deadlineMs: CALL_DEADLINE_MS });
    const noAgent = await stream.next((e) => e.task?.region === "sa-east", 3_000);
    const noAgentMs = stream.times[stream.events.indexOf(noAgent)]! - started;
    const { events, error } = await stream.done;
    expect(error, error && describeError(error)).toBeUndefined();
    const report = events.at(-1)!.report!;

    // At once: NATS says nobody serves sa-east; nothing waits for the deadline, nor for us-east's
    // handshake with the fixture (whose greeting alone takes smtp-server's 100 ms).
    expect(noAgentMs).toBeLessThan(wellBefore(CALL_DEADLINE_MS));
    const usEastOnFixture = events.findIndex((e) => e.task?.region === "us-east" && e.task.port === fixture.port);
    expect(events.indexOf(noAgent), summarize(events)).toBeLessThan(usEastOnFixture);
    expect(report.regions).toEqual(["us-east", "sa-east"]);
    const saEast = report.tasks.filter((t) => t.region === "sa-east");
    expect(saEast.map((t) => t.status)).toEqual([TaskStatus.TASK_STATUS_UNKNOWN_REGION, TaskStatus.TASK_STATUS_UNKNOWN_REGION]);
    for (const t of saEast) {
      expect(t.durationMs).toBeLessThan(wellBefore(CALL_DEADLINE_MS));
      expect(t.detail).toBe("unknown region sa-east; live regions: ap-south, eu-west, us-east");
      expect(t.result).toBeUndefined();
    }
    expect(report.tasks.filter((t) => t.region === "us-east").map((t) => t.status)).toEqual([TaskStatus.TASK_STATUS_DONE, TaskStatus.TASK_STATUS_DONE]);
    expect(report.complete).toBe(false);

    const comparison = report.comparison!;
    expect(comparison.missing).toEqual([]);
    expect(comparison.unknownRegions).toEqual(["sa-east"]);
    expect(comparison.cells.filter((c) => c.region === "sa-east").map((c) => c.state)).toEqual([CellState.CELL_STATE_NO_ANSWER, CellState.CELL_STATE_NO_ANSWER]);
    for (const verdict of comparison.verdicts) {
      expect(verdict.regions, verdict.summary).not.toContain("sa-east");
      expect(verdict.kind).not.toBe(VerdictKind.VERDICT_KIND_BLOCKED_FROM_REGIONS);
    }
    expect(comparison.verdicts.find((v) => v.port === fixture.port)?.kind).toBe(VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE);
    expect(comparison.verdicts.find((v) => v.port === closedPort)?.kind).toBe(VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE);
  });

  it("health: SERVING for the server and for the ProbeService", async () => {
    expect(await api.health("")).toBe("SERVING");
    expect(await api.health("smtpprobe.v1.ProbeService")).toBe("SERVING");
    expect(await api.health("no.such.Service")).toBe("SERVICE_UNKNOWN");
  });
});
