import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { SUBJECTS, type Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { Phase, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ProbeReport, type TaskReport } from "../../../../gen/smtpprobe/v1/probe_service.js";
import {
  dispatchProbe,
  NATS_LOST_DETAIL,
  type DispatchDeps,
  type DispatchEvent,
  type ProbePlan,
} from "../../../../services/coordinator/fan-out.js";
import { openReportStore } from "../../../../services/coordinator/report-store.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { delay, waitFor, withTimeout } from "../../../helpers/wait.js";
import {
  answers,
  byAttempt,
  heartbeatsForever,
  progressThenDies,
  progressThenSilent,
  resultFor,
  silent,
  startScriptedAgent,
  type Script,
  type ScriptedAgent,
} from "./scripted-agent.js";

const nats = await need(natsServerAvailable);

const HEARTBEAT_MS = 100; // lost after 300 ms; a retry needs 1 s left
const { TASK_STATUS_DONE: DONE } = TaskStatus;

interface Harness {
  coordinatorBus(): Promise<Bus>;
  agentBus(): Promise<Bus>;
  cleanup(): Promise<void>;
}

function memoryHarness(): Harness {
  let bus = new MemoryBus();
  return {
    coordinatorBus: async () => bus,
    agentBus: async () => bus,
    cleanup: async () => {
      await bus.drain();
      bus = new MemoryBus();
    },
  };
}

function natsHarness(url: () => string): Harness {
  const buses: Bus[] = [];
  const connect = async (name: string): Promise<Bus> => {
    const bus = await connectNatsBus({ servers: url(), name });
    buses.push(bus);
    return bus;
  };
  return {
    coordinatorBus: () => connect("test-coordinator"),
    agentBus: () => connect("test-agent"),
    cleanup: async () => void (await Promise.all(buses.splice(0).map((b) => b.drain().catch(() => undefined)))),
  };
}

interface Run {
  reports: TaskReport[];
  events: (DispatchEvent & { at: number })[];
  elapsedMs: number;
  began: number;
  deadlineAt: number;
}

/** `ports` and `tlsModes` build the targets: each port with its mode, else TLS_MODE_AUTO. */
function makePlan(over: Partial<ProbePlan> & { deadlineInMs?: number; ports?: number[]; tlsModes?: Map<number, TlsMode> } = {}): ProbePlan {
  const { deadlineInMs = 3000, ports = [25], tlsModes = new Map<number, TlsMode>(), ...rest } = over;
  const options = { tlsMode: TlsMode.TLS_MODE_AUTO, ehloName: "", sni: "", addressFamily: 0, maxExchangers: 0, maxAddresses: 0, timeouts: undefined, limits: undefined, portRole: 0, tlsScan: false, checkStarttlsEnforcement: false, policyDomain: "", posture: undefined };
  return {
    probeId: `probe-${Math.random().toString(36).slice(2, 10)}`,
    host: "mx.example.com",
    mx: false,
    targets: ports.map((port) => ({ port, options: { ...options, tlsMode: tlsModes.get(port) ?? options.tlsMode } })),
    regions: ["eu-west"],
    deadlineAt: Date.now() + deadlineInMs,
    heartbeatMs: HEARTBEAT_MS,
    ...rest,
  };
}

async function runProbe(bus: Bus, plan: ProbePlan, deps: Partial<DispatchDeps> = {}): Promise<Run> {
  const events: Run["events"] = [];
  const began = Date.now();
  const reports = await withTimeout(
    dispatchProbe(plan, {
      bus,
      logger: silentLogger(),
      onEvent: (e) => events.push({ ...e, at: Date.now() - began }),
      ...deps,
    }),
    plan.deadlineAt - began + 1000,
    "dispatchProbe",
  );
  return { reports, events, elapsedMs: Date.now() - began, began, deadlineAt: plan.deadlineAt };
}

// The scripted agents answer within milliseconds: poll often, give up after 2 s.
const POLL_MS = 10;
const EVENTUALLY_MS = 2000;

function fanOutScenarios(name: string, makeHarness: () => Harness): void {
  describe(`dispatchProbe over the ${name} bus`, () => {
    let harness: Harness;
    const agents: ScriptedAgent[] = [];

    beforeAll(() => {
      harness = makeHarness();
    });

    afterEach(async () => {
      for (const agent of agents.splice(0)) agent.stop();
      await harness.cleanup();
    });

    async function agent(region: string, script: Script, id?: string): Promise<ScriptedAgent> {
      const a = startScriptedAgent(await harness.agentBus(), region, script, id);
      agents.push(a);
      await a.ready();
      return a;
    }

    it("collects results from 3 regions × 2 ports, in plan order, each reported once", async () => {
      const regions = ["us-east", "eu-west", "ap-south"];
      const served = await Promise.all(regions.map((r) => agent(r, answers(20))));
      const bus = await harness.coordinatorBus();
      const plan = makePlan({ regions, ports: [25, 587], tlsModes: new Map([[587, TlsMode.TLS_MODE_REQUIRE]]) });
      const run = await runProbe(bus, plan);

      expect(run.reports.map((r) => [r.region, r.port, r.status])).toEqual(regions.flatMap((r) => [[r, 25, DONE], [r, 587, DONE]]));
      for (const [i, report] of run.reports.entries()) {
        const owner = served[Math.floor(i / 2)]!;
        expect(report).toMatchObject({ taskId: `${plan.probeId}.${report.region}.${report.port}`, agentId: owner.id, attempts: 1, detail: "" });
        expect(report.result).toMatchObject({ host: "mx.example.com", port: report.port });
      }
      const taskEvents = run.events.filter((e) => e.kind === "task");
      expect(taskEvents).toHaveLength(6);
      expect(new Set(taskEvents.map((e) => e.kind === "task" && e.report.taskId)).size).toBe(6);
      const progress = run.events.flatMap((e) => (e.kind === "progress" ? [e.progress] : []));
      expect(progress).toHaveLength(6);
      expect(progress[0]).toMatchObject({ phase: Phase.PHASE_CONNECT, host: "mx.example.com" });

      // What the agents received.
      for (const a of served) {
        expect(a.tasks.map((t) => t.port).sort()).toEqual([25, 587]);
        for (const task of a.tasks) {
          expect(task).toMatchObject({ probeId: plan.probeId, region: a.region, host: "mx.example.com", attempt: 1, heartbeatMs: HEARTBEAT_MS });
          expect(task.options?.tlsMode).toBe(task.port === 587 ? TlsMode.TLS_MODE_REQUIRE : TlsMode.TLS_MODE_AUTO);
          // The agent stops a little before the caller's deadline, so its result arrives in time.
          expect(task.deadline!.getTime()).toBeLessThan(plan.deadlineAt);
          expect(task.deadline!.getTime()).toBeGreaterThanOrEqual(plan.deadlineAt - 250);
        }
      }
    });

    it("reports a region nobody serves as NO_AGENT at once, next to the regions that answered", async () => {
      await agent("eu-west", answers(200));
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan({ regions: ["eu-west", "nowhere"] }));
      expect(run.reports.map((r) => [r.region, r.status])).toEqual([
        ["eu-west", DONE],
        ["nowhere", TaskStatus.TASK_STATUS_NO_AGENT],
      ]);
      expect(run.reports[1]).toMatchObject({ detail: "no agent serves region nowhere", attempts: 1, agentId: "" });
      const noAgent = run.events.find((e) => e.kind === "task" && e.report.region === "nowhere")!;
      expect(noAgent.at).toBeLessThan(100);
    });

    it("tells a region no agent has ever served (UNKNOWN_REGION, naming the live regions) from one whose agents went away (NO_AGENT)", async () => {
      await agent("eu-west", answers(20));
      await agent("us-east", answers(20));
      const bus = await harness.coordinatorBus();
      const plan = makePlan({ regions: ["eu-west", "eu-wst", "sa-east"], servedRegions: new Set(["eu-west", "us-east", "sa-east"]), liveRegions: ["us-east", "eu-west"] });
      const run = await runProbe(bus, plan);
      expect(run.reports.map((r) => [r.region, r.status, r.detail])).toEqual([
        ["eu-west", DONE, ""],
        ["eu-wst", TaskStatus.TASK_STATUS_UNKNOWN_REGION, "unknown region eu-wst; live regions: eu-west, us-east"],
        ["sa-east", TaskStatus.TASK_STATUS_NO_AGENT, "no agent serves region sa-east"],
      ]);
      const none = await runProbe(bus, makePlan({ regions: ["mars"], servedRegions: new Set(), liveRegions: [] }));
      expect(none.reports[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_UNKNOWN_REGION, detail: "unknown region mars; no region has a live agent" });
    });

    it("retries a task whose agent went silent on the region's other agent", async () => {
      const script = byAttempt(progressThenDies, answers());
      const [a1, a2] = [await agent("eu-west", script), await agent("eu-west", script)];
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan({ deadlineInMs: 3000 }));
      const [report] = run.reports;
      const dead = a1!.stopped ? a1! : a2!;
      const survivor = dead === a1 ? a2! : a1!;
      expect(report).toMatchObject({ status: DONE, attempts: 2, agentId: survivor.id });
      expect(dead.tasks.map((t) => t.attempt)).toEqual([1]);
      expect(survivor.tasks.map((t) => t.attempt)).toEqual([2]);
      expect(run.elapsedMs).toBeGreaterThanOrEqual(290);
      expect(run.elapsedMs).toBeLessThan(1500);
    });

    it("reports AGENT_LOST when the region's only agent dies: the retry finds nobody", async () => {
      const only = await agent("eu-west", progressThenDies);
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan({ deadlineInMs: 3000 }));
      expect(run.reports[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_AGENT_LOST, attempts: 2 });
      expect(run.reports[0]!.detail).toBe(
        `agent ${only.id} stopped sending heartbeats (last phase seen: banner), and no other agent of region eu-west was there to retry on`,
      );
      expect(run.elapsedMs).toBeLessThan(1000);
    });

    it("reports AGENT_LOST without a retry when too little time remains, and cancels at the agent", async () => {
      const hung = await agent("eu-west", progressThenSilent);
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan({ deadlineInMs: 1000 }));
      expect(run.reports[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_AGENT_LOST, attempts: 1, agentId: hung.id });
      expect(run.reports[0]!.detail).toBe(`agent ${hung.id} stopped sending heartbeats (last phase seen: banner), and too little time remained to retry`);
      expect(run.elapsedMs).toBeGreaterThanOrEqual(290);
      expect(run.elapsedMs).toBeLessThan(700);
      await waitFor(() => hung.cancels.some((c) => c.taskId === run.reports[0]!.taskId), EVENTUALLY_MS, "the CancelTask", POLL_MS);
    });

    it("gives up after the retry when the agent that takes it is silent too", async () => {
      const mute = await agent("eu-west", silent);
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan({ deadlineInMs: 3000 }));
      expect(run.reports[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_AGENT_LOST, attempts: 2, agentId: "" });
      expect(run.reports[0]!.detail).toMatch(/sent nothing for 300 ms on the retry, after the agent of region eu-west that took the task sent nothing/);
      expect(mute.tasks.map((t) => t.attempt)).toEqual([1, 2]);
      expect(run.elapsedMs).toBeLessThan(1200);
    });

    it("ends an unfinished task TIMED_OUT at the deadline and cancels it at the agent", async () => {
      const busy = await agent("eu-west", heartbeatsForever(Phase.PHASE_STARTTLS));
      const bus = await harness.coordinatorBus();
      const plan = makePlan({ deadlineInMs: 500 });
      const run = await runProbe(bus, plan);
      expect(run.reports[0]).toMatchObject({
        status: TaskStatus.TASK_STATUS_TIMED_OUT,
        detail: "no result within the deadline; last phase seen: starttls",
        agentId: busy.id,
        attempts: 1,
      });
      // Ended at the deadline: not before, and no more than a few ms after.
      const endedAt = run.began + run.elapsedMs;
      expect(endedAt).toBeGreaterThanOrEqual(plan.deadlineAt - 2);
      expect(endedAt - plan.deadlineAt).toBeLessThan(75);
      await waitFor(() => busy.cancels.length > 0, EVENTUALLY_MS, "the CancelTask", POLL_MS);
      expect(busy.cancels).toEqual([{ taskId: run.reports[0]!.taskId, probeId: plan.probeId }]);
    });

    it("ends an unfinished task CALLER_DEADLINE when the deadline is the caller's, and tells the agent so", async () => {
      const busy = await agent("eu-west", heartbeatsForever(Phase.PHASE_BANNER));
      const bus = await harness.coordinatorBus();
      const plan = makePlan({ deadlineInMs: 300, deadlineFromCaller: true });
      const run = await runProbe(bus, plan);
      expect(run.reports[0]).toMatchObject({
        status: TaskStatus.TASK_STATUS_CALLER_DEADLINE,
        detail: "no result within the caller's deadline; last phase seen: banner",
        agentId: busy.id,
      });
      expect(busy.tasks.map((t) => t.deadlineFromCaller)).toEqual([true]);
      await waitFor(() => busy.cancels.length > 0, EVENTUALLY_MS, "the CancelTask", POLL_MS);
      // The request's own deadline is not the caller's: the task says so.
      const own = await runProbe(bus, makePlan({ deadlineInMs: 300 }));
      expect(own.reports[0]?.status).toBe(TaskStatus.TASK_STATUS_TIMED_OUT);
      expect(busy.tasks.map((t) => t.deadlineFromCaller)).toEqual([true, false]);
    });

    it("cancels the agents' work when the caller goes away", async () => {
      const busy = await agent("eu-west", heartbeatsForever());
      const other = await agent("us-east", heartbeatsForever());
      const bus = await harness.coordinatorBus();
      const controller = new AbortController();
      const plan = makePlan({ regions: ["eu-west", "us-east"], deadlineInMs: 5000 });
      const running = runProbe(bus, plan, { signal: controller.signal });
      await waitFor(() => busy.tasks.length === 1 && other.tasks.length === 1, EVENTUALLY_MS, "the tasks at the agents", POLL_MS);
      const abortedAt = Date.now();
      controller.abort();
      const run = await running;
      expect(Date.now() - abortedAt).toBeLessThan(100);
      expect(run.reports.map((r) => [r.status, r.detail])).toEqual([
        [TaskStatus.TASK_STATUS_CANCELLED, "the caller cancelled the probe"],
        [TaskStatus.TASK_STATUS_CANCELLED, "the caller cancelled the probe"],
      ]);
      await waitFor(() => busy.cancels.length === 1 && other.cancels.length === 1, EVENTUALLY_MS, "the CancelTasks", POLL_MS);
      expect(busy.cancels[0]).toEqual({ taskId: `${plan.probeId}.eu-west.25`, probeId: plan.probeId });
      expect(other.cancels[0]).toEqual({ taskId: `${plan.probeId}.us-east.25`, probeId: plan.probeId });
    });

    it("cancels at once, sending nothing, when the signal has already aborted", async () => {
      const a = await agent("eu-west", answers());
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan(), { signal: AbortSignal.abort() });
      expect(run.reports[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_CANCELLED, attempts: 0 });
      await delay(50);
      expect(a.tasks).toEqual([]);
    });

    it("does not trust an invalid result: INVALID_REPORT with the reason", async () => {
      const liar = await agent("eu-west", (h) => h.result(resultFor(h.task, { port: h.task.port + 1 })));
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan());
      expect(run.reports[0]).toMatchObject({
        status: TaskStatus.TASK_STATUS_INVALID_REPORT,
        detail: `agent ${liar.id} sent a result that failed validation: result.port is 26, the task's port is 25`,
        result: undefined,
      });
    });

    it("reports an agent's refusal as AGENT_ERROR in its words", async () => {
      await agent("eu-west", (h) => h.error("shutting down\nnow"));
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan());
      expect(run.reports[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_AGENT_ERROR, detail: "shutting down\\x0anow" });
    });

    it("ignores messages about another task, or from an agent that did not take the task", async () => {
      const honest = await agent("eu-west", (h) => {
        h.progress(Phase.PHASE_CONNECT);
        h.send({ taskId: "someone-else.eu-west.25", result: resultFor(h.task, { totalMs: 1 }) });
        h.send({ agentId: "intruder", result: resultFor(h.task, { totalMs: 2 }) });
        h.send({ agentId: "intruder", error: "stop" });
        h.later(30, () => h.result(resultFor(h.task, { totalMs: 3 })));
      });
      const bus = await harness.coordinatorBus();
      const run = await runProbe(bus, makePlan());
      expect(run.reports[0]).toMatchObject({ status: DONE, agentId: honest.id });
      expect(run.reports[0]!.result!.totalMs).toBe(3);
    });

    it("reports a message that is not protobuf as INVALID_REPORT", async () => {
      // A raw responder, not a scripted agent: it answers bytes that are not protobuf.
      const raw = await harness.agentBus();
      const sub = raw.subscribe(SUBJECTS.task("garbage"), (msg) => void msg.respond(Uint8Array.from([0x0f, 0x01])), { queue: SUBJECTS.queue("garbage") });
      const pinger = startScriptedAgent(raw, "garbage-ping", silent);
      agents.push(pinger);
      await pinger.ready();
      try {
        const bus = await harness.coordinatorBus();
        const run = await runProbe(bus, makePlan({ regions: ["garbage"] }));
        expect(run.reports[0]!.status).toBe(TaskStatus.TASK_STATUS_INVALID_REPORT);
        expect(run.reports[0]!.detail).toMatch(/^the agent sent a message that is not valid: not a valid AgentMessage/);
      } finally {
        sub.unsubscribe();
      }
    });
  });
}

fanOutScenarios("in-process", memoryHarness);

describe("dispatchProbe leaves nothing behind", () => {
  it("clears its timers and reply subscriptions", async () => {
    // Real timers, watched: every timeout started from here on must have fired or been cleared.
    const live = new Set<NodeJS.Timeout>();
    const realSetTimeout = globalThis.setTimeout;
    const realClearTimeout = globalThis.clearTimeout;
    const watchSet = vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const timer = realSetTimeout(() => {
        live.delete(timer);
        fn(...args);
      }, ms);
      live.add(timer);
      return timer;
    }) as typeof setTimeout);
    const watchClear = vi.spyOn(globalThis, "clearTimeout").mockImplementation((timer) => {
      live.delete(timer as NodeJS.Timeout);
      realClearTimeout(timer);
    });
    const bus = new MemoryBus();
    // The memory bus's subject table (private): a reply subscription left behind is an inbox there.
    const inboxes = (): string[] => [...(bus as unknown as { subjects: Map<string, unknown> }).subjects.keys()].filter((s) => s.startsWith("_INBOX."));
    try {
      const agents = [
        startScriptedAgent(bus, "eu-west", answers()),
        startScriptedAgent(bus, "us-east", progressThenDies),
        startScriptedAgent(bus, "ap-south", heartbeatsForever()),
      ];
      const reports = await dispatchProbe(makePlan({ regions: ["eu-west", "us-east", "ap-south", "nowhere"], ports: [25, 587], deadlineInMs: 700 }), {
        bus,
        logger: silentLogger(),
      });
      expect(reports.map((r) => r.status)).toEqual([
        DONE,
        DONE,
        TaskStatus.TASK_STATUS_AGENT_LOST,
        TaskStatus.TASK_STATUS_AGENT_LOST,
        TaskStatus.TASK_STATUS_TIMED_OUT,
        TaskStatus.TASK_STATUS_TIMED_OUT,
        TaskStatus.TASK_STATUS_NO_AGENT,
        TaskStatus.TASK_STATUS_NO_AGENT,
      ]);
      expect(inboxes()).toEqual([]);
      for (const a of agents) a.stop();
      expect(live.size).toBe(0);
    } finally {
      watchSet.mockRestore();
      watchClear.mockRestore();
      await bus.drain();
    }
  });

  it("rejects a plan with an unsafe region before sending anything", async () => {
    await expect(dispatchProbe(makePlan({ regions: ["EU WEST"] }), { bus: new MemoryBus(), logger: silentLogger() })).rejects.toMatchObject({
      name: "InvalidPlanError",
    });
  });

  it("rejects a plan whose port has no TLS mode: an agent must never pick one itself", async () => {
    const plan = makePlan({ tlsModes: new Map([[25, TlsMode.TLS_MODE_UNSPECIFIED]]) });
    await expect(dispatchProbe(plan, { bus: new MemoryBus(), logger: silentLogger() })).rejects.toMatchObject({
      name: "InvalidPlanError",
      reason: "port 25 has no TLS mode",
    });
  });

  it("ends every task at once when the bus is not connected", async () => {
    const bus = new MemoryBus();
    await bus.drain();
    const reports = await dispatchProbe(makePlan({ ports: [25, 465] }), { bus, logger: silentLogger() });
    expect(reports.map((r) => [r.status, r.detail])).toEqual([
      [TaskStatus.TASK_STATUS_AGENT_LOST, NATS_LOST_DETAIL],
      [TaskStatus.TASK_STATUS_AGENT_LOST, NATS_LOST_DETAIL],
    ]);
  });
});

describe.skipIf(nats.skip)("with a real nats-server", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  fanOutScenarios("NATS", () => natsHarness(() => server.url));

  describe("a NATS outage", () => {
    let outage: NatsServer;
    const buses: Bus[] = [];
    const agents: ScriptedAgent[] = [];
    beforeAll(async () => {
      outage = await startNatsServer({ jetstream: false });
    });
    afterAll(async () => {
      for (const a of agents) a.stop();
      await Promise.all(buses.map((b) => b.drain().catch(() => undefined)));
      await outage?.stop();
    });

    it("ends the tasks with AGENT_LOST as soon as the connection drops, then works again after it returns", async () => {
      const agentBus = await connectNatsBus({ servers: outage.url, name: "test-agent" });
      const bus = await connectNatsBus({ servers: outage.url, name: "test-coordinator" });
      buses.push(agentBus, bus);
      const regions = ["eu-west", "us-east"];
      let restored = false;
      const script: Script = (h) => (restored ? answers() : heartbeatsForever())(h);
      const scripted = regions.map((r) => startScriptedAgent(agentBus, r, script));
      agents.push(...scripted);
      for (const a of scripted) await a.ready();

      const plan = makePlan({ regions, ports: [25, 587], deadlineInMs: 8000 });
      const running = runProbe(bus, plan);
      await waitFor(() => scripted.every((a) => a.tasks.length === 2), EVENTUALLY_MS, "the tasks at the agents", POLL_MS);
      const killedAt = Date.now();
      await outage.kill();
      const run = await running;
      expect(run.reports.map((r) => [r.status, r.detail])).toEqual(Array(4).fill([TaskStatus.TASK_STATUS_AGENT_LOST, NATS_LOST_DETAIL]));
      expect(Date.now() - killedAt).toBeLessThan(2000);
      expect(Date.now()).toBeLessThan(plan.deadlineAt - 4000);

      await outage.start();
      restored = true;
      await waitFor(() => bus.isConnected() && agentBus.isConnected(), 10_000, "reconnection", POLL_MS);
      for (const a of scripted) await a.ready();
      // The agents' subscriptions came back with their connection; a new probe succeeds.
      const again = await runProbe(bus, makePlan({ regions, deadlineInMs: 3000 }));
      expect(again.reports.map((r) => r.status)).toEqual([DONE, DONE]);
    });
  });

  describe("the report store", () => {
    it("round-trips a report and an idempotency key through the JetStream KV bucket", async () => {
      const bus = await connectNatsBus({ servers: server.url, name: "test-store" });
      try {
        const store = await openReportStore(bus, { ttlMs: 60_000, maxBytes: 8 * 1024 * 1024, logger: silentLogger() });
        expect(store.kind).toBe("kv");
        const report: ProbeReport = {
          domainCheck: undefined,
          probeId: "0b9d6f2e-8f6e-4a8e-9a53-1c7c3f0f6a11",
          request: { host: "mx.example.com", mx: false, ports: [25], regions: ["eu-west"], options: undefined, tlsModes: { 25: TlsMode.TLS_MODE_AUTO }, idempotencyKey: "order 42 / *", portRoles: {} },
          regions: ["eu-west"],
          tasks: [
            {
              taskId: "t1",
              region: "eu-west",
              port: 25,
              status: DONE,
              detail: "",
              agentId: "agent-1",
              attempts: 1,
              result: resultFor({ taskId: "t1", probeId: "p", region: "eu-west", host: "mx.example.com", mx: false, port: 25, options: undefined, deadline: undefined, attempt: 1, heartbeatMs: 100, deadlineFromCaller: false, permitLeaseId: "" }),
              egress: undefined,
              agentEgressPosture: undefined,
              durationMs: 42,
            },
          ],
          comparison: undefined,
          startedAt: new Date("2025-06-01T12:00:00Z"),
          finishedAt: new Date("2025-06-01T12:00:01Z"),
          durationMs: 1000,
          complete: true,
          deadlineMs: 0,
          callerDeadlineBound: false,
        };
        await store.put(report);
        await store.putIdempotency("order 42 / *", { probeId: report.probeId, request: "caller\u0000hash" });
        expect(await store.get(report.probeId)).toEqual(report);
        expect(await store.getIdempotency("order 42 / *")).toEqual({ probeId: report.probeId, request: "caller\u0000hash" });
        expect(await store.get("no such probe")).toBeUndefined();
        expect(await store.get("a.b.*")).toBeUndefined();
        expect(await store.getIdempotency("never used")).toBeUndefined();
        // Another coordinator replica sees the same store.
        const replicaBus = await connectNatsBus({ servers: server.url, name: "test-store-2" });
        try {
          const replica = await openReportStore(replicaBus, { ttlMs: 60_000, maxBytes: 8 * 1024 * 1024 });
          expect((await replica.get(report.probeId))?.tasks[0]?.result?.host).toBe("mx.example.com");
        } finally {
          await replicaBus.drain();
        }
      } finally {
        await bus.drain();
      }
    });

    it("falls back to memory on a server without JetStream", async () => {
      const plain = await startNatsServer({ jetstream: false });
      const bus = await connectNatsBus({ servers: plain.url, name: "test-store" });
      try {
        const store = await openReportStore(bus, { ttlMs: 60_000, maxBytes: 1 << 20, logger: silentLogger() });
        expect(store.kind).toBe("memory");
      } finally {
        await bus.drain();
        await plain.stop();
      }
    });
  });
});
