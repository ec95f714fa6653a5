// Faults through the gRPC API, with real processes: an agent SIGKILLed mid-probe, a region nobody
// serves, a caller that cancels, and nats-server going away and coming back mid-run. Agents and the
// coordinator are child processes of the real binary, started with known --agent-id and
// --heartbeat 200ms (an agent silent for 600 ms is lost); targets are servers of this test on
// 127.0.0.1 that never send a banner, so a probe is held open as long as the test needs.
import net from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase } from "../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, VerdictKind, type ProbeEvent, type ProbeReport, type TaskReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { callError, connectProbeApi, describeError, type ProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, startedAll, stopAll, type AgentProcess, type ChildHandle, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startScriptedServer, type ScriptedServer } from "../helpers/scripted-server.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { CROSS_PROCESS_SLACK_MS, endsBy, wellBefore } from "../helpers/timing.js";
import { closeServer, delay, listenLoopback, waitFor } from "../helpers/wait.js";

const nats = await need(natsServerAvailable);

const HEARTBEAT = "200ms";
const LOST_AFTER_MS = 600; // 3 heartbeats

/** A TCP server that never speaks and records when each connection opened and closed. */
interface HoldServer {
  port: number;
  sockets: { openedAt: number; closedAt?: number }[];
  /** Resolves when `count` connections have been accepted. */
  opened(count: number, timeoutMs: number): Promise<void>;
  /** Resolves when every connection accepted so far has closed. */
  allClosed(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

async function startHoldServer(): Promise<HoldServer> {
  const sockets: HoldServer["sockets"] = [];
  const live = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const entry: { openedAt: number; closedAt?: number } = { openedAt: performance.now() };
    sockets.push(entry);
    live.add(socket);
    socket.on("error", () => undefined);
    socket.resume(); // read and drop: never answer
    socket.once("close", () => {
      entry.closedAt = performance.now();
      live.delete(socket);
    });
  });
  const port = await listenLoopback(server);
  const poll = (ok: () => boolean, timeoutMs: number, what: () => string): Promise<void> =>
    waitFor(ok, timeoutMs, () => `hold server: ${what()}`, 10);
  return {
    port,
    sockets,
    opened: (count, timeoutMs) => poll(() => sockets.length >= count, timeoutMs, () => `${sockets.length} of ${count} connections`),
    allClosed: (timeoutMs) =>
      poll(() => sockets.every((s) => s.closedAt !== undefined), timeoutMs, () => `${sockets.filter((s) => s.closedAt === undefined).length} connections still open`),
    async stop() {
      for (const socket of live) socket.destroy();
      await closeServer(server);
    },
  };
}

function logsOf(processes: readonly (ChildHandle | undefined)[]): string {
  return processes
    .filter((p): p is ChildHandle => p !== undefined)
    .map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`)
    .join("\n");
}

function taskText(task: TaskReport | undefined): string {
  if (!task) return "no task";
  const h = task.result?.handshakes[0];
  return `${task.region}:${task.port} ${TaskStatus[task.status]} attempts=${task.attempts} agent=${task.agentId} ${task.detail} ${h ? `${Outcome[h.outcome]} at ${Phase[h.phase]}: ${h.reason}` : ""}`;
}

const taken = (e: ProbeEvent): boolean => e.progress !== undefined && e.progress.phase !== Phase.PHASE_UNSPECIFIED;

describe.skipIf(nats.skip)("ProbeService faults: agents die, regions are empty, callers cancel", () => {
  let server: NatsServer;
  let noBanner: ScriptedServer;
  let hold: HoldServer;
  let coordinator: CoordinatorProcess;
  let agents: AgentProcess[] = [];
  let api: ProbeApi;
  const logs = (): string => logsOf([coordinator, ...agents]);

  beforeAll(async () => {
    [server, noBanner, hold] = await Promise.all([startNatsServer(), startScriptedServer("no-banner"), startHoldServer()]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [noBanner.port, hold.port] };
    // The agents start while the coordinator does; they are ready once its ListRegions lists them.
    const coordinatorReady = startCoordinatorProcess({ nats: server.url, heartbeat: HEARTBEAT, ...policy }).then((c) => {
      coordinator = c;
      return (api = connectProbeApi(c.address));
    });
    agents = await startedAll(
      [
        { region: "eu-west", agentId: "eu-west-1" },
        { region: "eu-west", agentId: "eu-west-2" },
        { region: "us-east", agentId: "us-east-1" },
      ].map((a) => startAgentProcess({ ...a, nats: server.url, readyVia: coordinatorReady, grace: "1s", ...policy })),
    );
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([coordinator, ...agents]);
    await Promise.all([server?.stop(), noBanner?.stop(), hold?.stop()]);
  });

  it("a region no agent has ever served is UNKNOWN_REGION at once, named apart, never missing", async () => {
    const callDeadlineMs = 10_000;
    const started = performance.now();
    const report = await api.probe({ host: "127.0.0.1", ports: [noBanner.port, hold.port], regions: ["ap-north"] }, { deadlineMs: callDeadlineMs });
    const elapsed = performance.now() - started;
    expect(report.tasks.map((t) => t.status)).toEqual([TaskStatus.TASK_STATUS_UNKNOWN_REGION, TaskStatus.TASK_STATUS_UNKNOWN_REGION]);
    expect(report.tasks.map((t) => t.attempts)).toEqual([1, 1]);
    expect(report.tasks[0]?.detail).toBe("unknown region ap-north; live regions: eu-west, us-east");
    expect(report.comparison?.unknownRegions).toEqual(["ap-north"]);
    expect(report.comparison?.missing).toEqual([]);
    expect(elapsed).toBeLessThan(wellBefore(callDeadlineMs));
    expect(noBanner.connections()).toBe(0);
    expect(hold.sockets).toHaveLength(0);
  });

  it("a caller's short gRPC deadline is honoured: the report comes before it, the unfinished task is the caller's deadline's", async () => {
    const callDeadlineMs = 1_500;
    const started = performance.now();
    const report = await api
      .probe({ host: "127.0.0.1", ports: [noBanner.port], regions: ["eu-west"] }, { deadlineMs: callDeadlineMs })
      .catch((error: unknown) => {
        throw new Error(`the call failed instead of answering within its deadline: ${describeError(error)}\n${logs()}`);
      });
    expect(performance.now() - started).toBeLessThan(callDeadlineMs);
    expect(report.callerDeadlineBound).toBe(true);
    expect(report.deadlineMs).toBeLessThanOrEqual(callDeadlineMs - 50);
    const task = report.tasks[0];
    // Either the agent gave up by its own deadline (a result that says whose), or the coordinator stopped waiting.
    if (task?.status === TaskStatus.TASK_STATUS_DONE) {
      expect(task.result?.handshakes[0]?.outcome, taskText(task)).toBe(Outcome.OUTCOME_CALLER_DEADLINE);
    } else {
      expect(task?.status, taskText(task)).toBe(TaskStatus.TASK_STATUS_CALLER_DEADLINE);
    }
    expect(report.complete).toBe(task?.status === TaskStatus.TASK_STATUS_DONE);
  });

  it("a gRPC deadline of 200 ms through an agent process: the caller's deadline, never the target's failure; stored as such in the KV bucket", async () => {
    const before = noBanner.connections();
    let stream = api.streamProbe({ host: "127.0.0.1", ports: [noBanner.port], regions: ["eu-west"] }, { deadlineMs: 200 });
    // A call that reaches the coordinator with less than 150 ms left is refused: tried again, at most twice.
    for (let retries = 2; retries > 0; retries -= 1) {
      const { events, error } = await stream.done;
      if (events.length > 0 || !error?.details.startsWith("the call's deadline leaves")) break;
      stream = api.streamProbe({ host: "127.0.0.1", ports: [noBanner.port], regions: ["eu-west"] }, { deadlineMs: 200 });
    }
    const probeId = (await stream.next((e) => e.accepted !== undefined, 2_000)).accepted!.probeId;
    let report: ProbeReport | undefined;
    await waitFor(async () => (report = await api.getProbe(probeId).catch(() => undefined)) !== undefined, 5_000, "the stored report");
    expect(report!).toMatchObject({ callerDeadlineBound: true });
    expect(report!.request?.options?.timeouts?.deadlineMs).toBe(report!.deadlineMs);
    const task = report!.tasks[0];
    if (task?.status === TaskStatus.TASK_STATUS_DONE) {
      expect(task.result?.handshakes.map((h) => [h.outcome, h.failureSource]), taskText(task)).toEqual([[Outcome.OUTCOME_CALLER_DEADLINE, FailureSource.FAILURE_SOURCE_CALLER]]);
      expect(noBanner.connections()).toBeGreaterThan(before);
    } else {
      expect(task?.status, taskText(task)).toBe(TaskStatus.TASK_STATUS_CALLER_DEADLINE);
    }
    expect(report!.comparison?.cells.map((c) => [c.state, c.cause])).toEqual([[CellState.CELL_STATE_NO_ANSWER, "cut short by the caller's deadline"]]);
    expect(report!.comparison?.verdicts.map((v) => v.kind)).toEqual([VerdictKind.VERDICT_KIND_NO_DATA]);
  });

  it("a caller that cancels a StreamProbe: the agent closes its socket to the target at once", async () => {
    const stream = api.streamProbe(
      { host: "127.0.0.1", ports: [hold.port], regions: ["eu-west"], options: { timeouts: { bannerMs: 20_000, deadlineMs: 25_000 } } },
      { deadlineMs: 30_000 },
    );
    await hold.opened(1, 5_000);
    await stream.next(taken, 2_000);
    await delay(200); // well into the banner wait
    expect(hold.sockets[0]?.closedAt).toBeUndefined();

    const cancelledAt = performance.now();
    stream.call.cancel();
    const { error } = await stream.done;
    expect(error?.code).toBe(status.CANCELLED);

    // At once: the cancel crosses the coordinator, NATS and the agent, and waits for nothing (the
    // banner wait had 20 s to go).
    await hold.allClosed(CROSS_PROCESS_SLACK_MS).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs()}`);
    });
    const closedAfter = hold.sockets[0]!.closedAt! - cancelledAt;
    expect(closedAfter).toBeLessThan(CROSS_PROCESS_SLACK_MS);
    expect(hold.sockets).toHaveLength(1);

    // The agent is free again soon after: nothing in flight in eu-west (its stats lag the socket).
    let inFlight: number[] | undefined;
    await waitFor(
      async () => {
        const { regions } = await api.listRegions();
        inFlight = regions.find((r) => r.name === "eu-west")?.agents.map((a) => a.inFlight);
        return inFlight?.every((n) => n === 0) ?? false;
      },
      2_000,
      "eu-west's agents to have nothing in flight",
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(inFlight)}`);
    });
  });

  it("the only agent of a region SIGKILLed mid-probe: AGENT_LOST, long before the deadline", async () => {
    const before = noBanner.connections();
    const started = performance.now();
    const deadlineMs = 10_000;
    const stream = api.streamProbe(
      { host: "127.0.0.1", ports: [noBanner.port], regions: ["us-east"], options: { timeouts: { bannerMs: 8_000, deadlineMs } } },
      { deadlineMs: 15_000 },
    );
    const progress = (await stream.next(taken, 5_000)).progress!;
    expect(progress.agentId).toBe("us-east-1");
    await waitFor(() => noBanner.connections() > before, 5_000, "the probe's connection to the target");
    const victim = agents.find((a) => a.agentId === progress.agentId)!;
    await victim.kill();
    const killedAt = performance.now();

    const { events, error } = await stream.done;
    expect(error, error && describeError(error)).toBeUndefined();
    const report = events.at(-1)?.report;
    const task = report?.tasks[0];
    expect(task?.status, `${taskText(task)}\n${logs()}`).toBe(TaskStatus.TASK_STATUS_AGENT_LOST);
    expect(task?.detail).toMatch(/us-east-1/);
    expect(task?.attempts).toBeLessThanOrEqual(2);
    // Noticed by the missing heartbeats (600 ms), not by the deadline (10 s).
    const endedAfterKill = performance.now() - killedAt;
    expect(endedAfterKill).toBeLessThan(endsBy(LOST_AFTER_MS, CROSS_PROCESS_SLACK_MS));
    expect(performance.now() - started).toBeLessThan(deadlineMs);
    expect(noBanner.connections() - before).toBe(1);
    expect(report?.comparison?.missing.map((m) => m.region)).toEqual(["us-east"]);
  });

  it("an agent SIGKILLed mid-probe: the task is retried on the region's other agent, within the deadline", async () => {
    const before = noBanner.connections();
    const started = performance.now();
    const deadlineMs = 8_000;
    const stream = api.streamProbe(
      // The retry waits for a banner for 2 s, then reports the timeout: well within the deadline.
      { host: "127.0.0.1", ports: [noBanner.port], regions: ["eu-west"], options: { timeouts: { bannerMs: 2_000, deadlineMs } } },
      { deadlineMs: deadlineMs + 5_000 },
    );
    const first = (await stream.next(taken, 5_000)).progress!;
    await waitFor(() => noBanner.connections() > before, 5_000, "the probe's connection to the target");
    const victim = agents.find((a) => a.agentId === first.agentId);
    expect(victim, `progress from ${first.agentId}`).toBeDefined();
    const survivor = first.agentId === "eu-west-1" ? "eu-west-2" : "eu-west-1";
    await victim!.kill();
    const killedAt = performance.now();

    // The other agent takes the task once the victim's heartbeats stop.
    const retried = await stream.next((e) => e.progress?.agentId === survivor, 4_000);
    const retriedAfter = stream.times[stream.events.indexOf(retried)]! - killedAt;
    expect(retriedAfter).toBeLessThan(endsBy(LOST_AFTER_MS, CROSS_PROCESS_SLACK_MS));

    const { events, error } = await stream.done;
    const elapsed = performance.now() - started;
    expect(error, error && describeError(error)).toBeUndefined();
    const task = events.at(-1)?.report?.tasks[0];
    expect(task?.status, `${taskText(task)}\n${logs()}`).toBe(TaskStatus.TASK_STATUS_DONE);
    expect(task?.attempts).toBe(2);
    expect(task?.agentId).toBe(survivor);
    const handshake = task?.result?.handshakes[0];
    expect(handshake?.outcome, taskText(task)).toBe(Outcome.OUTCOME_NO_BANNER);
    expect(handshake?.phase).toBe(Phase.PHASE_BANNER);
    expect(elapsed).toBeLessThan(deadlineMs);
    expect(noBanner.connections() - before).toBe(2);
    // No progress from the victim after the retry was taken.
    const late = stream.events.filter((e, i) => e.progress?.agentId === first.agentId && stream.times[i]! > killedAt + 100);
    expect(late).toEqual([]);
  });

  it("a region whose agents went away is NO_AGENT (missing, an outage); one never served is UNKNOWN_REGION; a restarted coordinator still tells them apart", async () => {
    // us-east's only agent was SIGKILLed above.
    const expectApart = async (): Promise<void> => {
      const report = await api.probe({ host: "127.0.0.1", ports: [noBanner.port], regions: ["us-east", "eu-wst"] }, { deadlineMs: 10_000 });
      const byRegion = new Map(report.tasks.map((t) => [t.region, t]));
      expect(byRegion.get("us-east"), `${taskText(byRegion.get("us-east"))}\n${logs()}`).toMatchObject({ status: TaskStatus.TASK_STATUS_NO_AGENT, detail: "no agent serves region us-east" });
      expect(byRegion.get("eu-wst")?.status).toBe(TaskStatus.TASK_STATUS_UNKNOWN_REGION);
      expect(byRegion.get("eu-wst")?.detail).toMatch(/^unknown region eu-wst; live regions: .*eu-west/);
      expect(report.comparison?.missing).toEqual([{ region: "us-east", cause: "no agent" }]);
      expect(report.comparison?.unknownRegions).toEqual(["eu-wst"]);
    };
    await expectApart();

    // The regions served are kept in the JetStream KV bucket beside the reports.
    await coordinator.stop();
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [noBanner.port, hold.port] };
    coordinator = await startCoordinatorProcess({ nats: server.url, heartbeat: HEARTBEAT, ...policy });
    api.close();
    api = connectProbeApi(coordinator.address);
    await expectApart();
  });
});

describe.skipIf(nats.skip)("ProbeService faults: nats-server goes away mid-run and comes back", () => {
  let server: NatsServer;
  let noBanner: ScriptedServer;
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess;
  let agent: AgentProcess;
  let api: ProbeApi;
  const logs = (): string => logsOf([coordinator, agent]);

  beforeAll(async () => {
    [server, noBanner, fixture] = await Promise.all([startNatsServer(), startScriptedServer("no-banner"), startSmtpFixture()]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [noBanner.port, fixture.port] };
    const coordinatorReady = startCoordinatorProcess({ nats: server.url, heartbeat: HEARTBEAT, ...policy }).then((c) => {
      coordinator = c;
      return (api = connectProbeApi(c.address));
    });
    agent = await startAgentProcess({ region: "us-east", agentId: "us-east-1", nats: server.url, readyVia: coordinatorReady, grace: "1s", ...policy });
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([coordinator, agent]);
    await Promise.all([server?.stop(), noBanner?.stop(), fixture?.stop()]);
  });

  it("in-flight calls end with a clear status before their deadline; health goes NOT_SERVING and back; later probes succeed", async () => {
    const pids = [coordinator.pid, agent.pid];
    expect(await api.health()).toBe("SERVING");
    const request = {
      host: "127.0.0.1",
      ports: [noBanner.port],
      regions: ["us-east"],
      options: { timeouts: { bannerMs: 8_000, deadlineMs: 10_000 } },
    };
    const callDeadlineMs = 12_000;
    const started = performance.now();
    const stream = api.streamProbe(request, { deadlineMs: callDeadlineMs });
    // Another probe, not a duplicate: an identical request of the same caller would join the first.
    const unary = api.probe({ ...request, options: { timeouts: { bannerMs: 8_001, deadlineMs: 10_000 } } }, { deadlineMs: callDeadlineMs }).then(
      (report) => ({ report, error: undefined, at: performance.now() }),
      (error: unknown) => ({ report: undefined, error, at: performance.now() }),
    );
    await stream.next(taken, 5_000);
    await waitFor(() => noBanner.connections() >= 2, 5_000, "both probes connected");

    await server.kill();
    const killedAt = performance.now();
    const killedAtWall = Date.now();

    // Both calls end, soon, and say why.
    const streamed = await stream.done;
    const streamEndedAfter = performance.now() - killedAt;
    const unaryEnded = await unary;
    for (const [what, ended] of [
      ["StreamProbe", { report: streamed.events.at(-1)?.report, error: streamed.error }],
      ["Probe", unaryEnded],
    ] as const) {
      if (ended.error) {
        // A gRPC status is clear too, as long as it is not the caller's own deadline.
        expect(describeError(ended.error), `${what}\n${logs()}`).not.toMatch(/DEADLINE_EXCEEDED/);
      } else {
        const task = ended.report?.tasks[0];
        expect(task?.status, `${what}: ${taskText(task)}\n${logs()}`).toBe(TaskStatus.TASK_STATUS_AGENT_LOST);
        expect(task?.detail).toMatch(/NATS/);
        expect(ended.report?.complete).toBe(false);
      }
    }
    // The tasks end as soon as the connection is lost; the answer must not wait for anything
    // that needs NATS (such as storing the report) before it reaches the caller.
    const finishedAfterKill = (report: ProbeReport | undefined): string =>
      report?.finishedAt ? `${report.finishedAt.getTime() - killedAtWall} ms` : "?";
    // Soft: the rest of the story (NOT_SERVING, restart, a new probe) still runs when this fails.
    expect.soft(
      streamEndedAfter,
      `StreamProbe: report finished ${finishedAfterKill(streamed.events.at(-1)?.report)} after the kill, delivered ${Math.round(streamEndedAfter)} ms after it`,
    ).toBeLessThan(CROSS_PROCESS_SLACK_MS);
    expect.soft(
      unaryEnded.at - killedAt,
      `Probe: report finished ${finishedAfterKill(unaryEnded.report)} after the kill, delivered ${Math.round(unaryEnded.at - killedAt)} ms after it`,
    ).toBeLessThan(CROSS_PROCESS_SLACK_MS);
    expect(performance.now() - started).toBeLessThan(callDeadlineMs);

    await api.waitForHealth("NOT_SERVING", 2_000);
    await api.waitForHealth("NOT_SERVING", 2_000, "smtpprobe.v1.ProbeService");
    // While NATS is away, a new probe is refused at once, with a status that says so.
    const refusedAt = performance.now();
    const refusedCallMs = 5_000;
    const refused = await callError(api.probe({ host: "127.0.0.1", ports: [fixture.port], regions: ["us-east"] }, { deadlineMs: refusedCallMs }));
    expect(refused.code, describeError(refused)).toBe(status.UNAVAILABLE);
    expect(refused.details).toMatch(/NATS/);
    expect(performance.now() - refusedAt).toBeLessThan(wellBefore(refusedCallMs));

    await server.start();
    await api.waitForHealth("SERVING", 5_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs()}`);
    });
    // The agent reconnects on its own, and is listed again.
    await waitFor(
      async () => (await api.listRegions()).regions.some((r) => r.name === "us-east" && r.agents.some((a) => a.agentId === "us-east-1")),
      10_000,
      "us-east-1 listed again",
    );
    const report = await api.probe({ host: "127.0.0.1", ports: [fixture.port], regions: ["us-east"] }, { deadlineMs: 10_000 });
    const task = report.tasks[0];
    expect(task?.status, `${taskText(task)}\n${logs()}`).toBe(TaskStatus.TASK_STATUS_DONE);
    expect(task?.result?.handshakes[0]?.outcome).toBe(Outcome.OUTCOME_OK);
    expect(task?.agentId).toBe("us-east-1");
    expect((await api.getProbe(report.probeId)).probeId).toBe(report.probeId);

    // Nothing was restarted.
    expect([coordinator.running(), agent.running()]).toEqual([true, true]);
    expect([coordinator.pid, agent.pid]).toEqual(pids);
  });

  it("SIGTERM while NATS is away: the coordinator and the agent still exit, promptly and cleanly", async () => {
    await server.kill();
    await api.waitForHealth("NOT_SERVING", 2_000);
    const started = performance.now();
    // Budget: the agent's 1 s grace and the coordinator's drain, with room; SIGKILL after 5 s.
    const exits = await Promise.all(
      [coordinator, agent].map(async (p) => {
        await p.stop(5_000);
        return { name: p.name, ...(await p.exited), ms: Math.round(performance.now() - started) };
      }),
    );
    for (const exit of exits) {
      const ended = exit.signal ? `was killed (${exit.signal}) after ${exit.ms} ms` : `exited with code ${exit.code} after ${exit.ms} ms`;
      expect.soft({ code: exit.code, signal: exit.signal }, `${exit.name}: SIGTERM with NATS down; it ${ended}\n${logs()}`).toEqual({ code: 0, signal: null });
    }
    await server.start(); // for afterAll's stop()
  });
});
