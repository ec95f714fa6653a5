// The per-destination throttle end to end: a real coordinator (embedded, and over a nats-server on
// a free port with agents of two regions) limited to 2 connections at once per address, several
// probes at once at one smtp-server fixture whose greeting is slowed. The fixture counts the
// connections it has open: never more than 2. Probes with time to wait all finish OK; one without
// gets THROTTLED, naming the limit. Only 127.0.0.1 is contacted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { FailureSource, Outcome, Phase, type TargetResult } from "../../../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, type ProbeReport } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { AgentMessage, Task } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget, type ConnectGate } from "../../../../agents/smtp/probe-target.js";
import { SUBJECTS, type Bus } from "../../../../lib/bus.js";
import { startCoordinator, type CoordinatorConfig, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { connectProbeApi, type ProbeApi } from "../../../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { waitFor } from "../../../helpers/wait.js";

const nats = await need(natsServerAvailable);

const GREETING_DELAY_MS = 300;
const LIMIT = 2;

function config(port: number, natsUrl?: string): CoordinatorConfig {
  const base = testCoordinatorConfig([port]);
  return testCoordinatorConfig([port], {
    nats: natsUrl ? { servers: natsUrl } : undefined,
    maxDeadlineMs: 30_000,
    throttle: { ...base.throttle, addressConcurrent: LIMIT, addressPerMinute: 1_000, networkConcurrent: 100, networkPerMinute: 1_000 },
    embedded: { ...base.embedded, concurrency: 16 },
  });
}

/** Every handshake of the report, with its region. */
function handshakesOf(report: ProbeReport): { region: string; outcome: Outcome; reason: string; phase: Phase; failureSource: FailureSource }[] {
  return report.tasks.flatMap((t) => (t.result?.handshakes ?? []).map((h) => ({ region: t.region, outcome: h.outcome, reason: h.reason, phase: h.phase, failureSource: h.failureSource })));
}

/** The shared cases, for a coordinator whose regions are `regions`. */
function throttleCases(setup: () => { api: ProbeApi; fixture: SmtpFixture; slowFixture: SmtpFixture; regions: string[] }): void {
  it(`several probes at once: the fixture never sees more than ${LIMIT} connections, and all finish OK`, async () => {
    const { api, fixture, regions } = setup();
    const probes = await Promise.all(
      // Each with its own EHLO name: identical requests of one caller would join one probe.
      Array.from({ length: 5 }, (_, i) =>
        api.probe({ host: "127.0.0.1", ports: [fixture.port], options: { ehloName: `p${i}.probe.test`, timeouts: { deadlineMs: 20_000 } } }, { deadlineMs: 25_000 }),
      ),
    );
    const handshakes = probes.flatMap(handshakesOf);
    expect(handshakes).toHaveLength(5 * regions.length);
    expect(handshakes.filter((h) => h.outcome !== Outcome.OUTCOME_OK)).toEqual([]);
    expect(probes.flatMap((p) => p.tasks.map((t) => t.status))).toEqual(Array(5 * regions.length).fill(TaskStatus.TASK_STATUS_DONE));
    expect(fixture.connections()).toBe(5 * regions.length);
    // Exactly the limit: the probes did run side by side, up to it.
    expect(fixture.peakConnections()).toBe(LIMIT);
  });

  it("a probe whose deadline comes before a slot: THROTTLED, naming the limit, and no connection", async () => {
    const { api, slowFixture } = setup();
    // Two probes hold both slots for over a second (their greeting is slow)...
    const holders = Array.from({ length: LIMIT }, (_, i) =>
      api.probe(
        { host: "127.0.0.1", ports: [slowFixture.port], regions: [setup().regions[0]!], options: { ehloName: `holder${i}.probe.test`, timeouts: { deadlineMs: 10_000 } } },
        { deadlineMs: 15_000 },
      ),
    );
    await waitFor(() => slowFixture.connections() >= LIMIT, 5_000, "the holders' connections", 10);
    expect(slowFixture.connections()).toBe(LIMIT);
    // ...so one with half a second to live waits, then gives up.
    const late = await api.probe({ host: "127.0.0.1", ports: [slowFixture.port], regions: [setup().regions[0]!], options: { timeouts: { deadlineMs: 500 } } }, { deadlineMs: 5_000 });
    const [handshake] = handshakesOf(late);
    expect(handshake).toMatchObject({ outcome: Outcome.OUTCOME_THROTTLED, phase: Phase.PHASE_POLICY, failureSource: FailureSource.FAILURE_SOURCE_POLICY });
    expect(handshake?.reason).toMatch(/^throttled: 2 connections to 127\.0\.0\.1 already open \(limit 2\), waited \d+ ms$/);
    // Not tried is no data, never "blocked".
    expect(late.comparison?.cells[0]).toMatchObject({ state: CellState.CELL_STATE_NO_ANSWER, cause: "throttled" });
    expect(slowFixture.connections()).toBe(LIMIT);
    const held = await Promise.all(holders);
    expect(held.flatMap(handshakesOf).map((h) => h.outcome)).toEqual([Outcome.OUTCOME_OK, Outcome.OUTCOME_OK]);
    expect(slowFixture.peakConnections()).toBe(LIMIT);
  });
}

describe("the destination throttle, embedded coordinator", () => {
  let fixture: SmtpFixture;
  let slowFixture: SmtpFixture;
  let coordinator: RunningCoordinator;
  let api: ProbeApi;

  beforeAll(async () => {
    fixture = await startSmtpFixture({ greetingDelayMs: GREETING_DELAY_MS });
    slowFixture = await startSmtpFixture({ greetingDelayMs: 1_500 });
    // Both fixtures share 127.0.0.1: the cases run one after the other, each with its own fixture.
    coordinator = await startCoordinator({ ...config(fixture.port), allowPorts: [fixture.port, slowFixture.port] }, silentLogger());
    api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
  });

  afterAll(async () => {
    api?.close();
    await coordinator?.stop(1_000);
    await fixture?.stop();
    await slowFixture?.stop();
  });

  throttleCases(() => ({ api, fixture, slowFixture, regions: ["local"] }));
});

describe.skipIf(nats.skip)("the destination throttle, over NATS with agents of two regions", () => {
  const REGIONS = ["r-one", "r-two"];
  let server: NatsServer;
  let fixture: SmtpFixture;
  let slowFixture: SmtpFixture;
  let coordinator: RunningCoordinator;
  let api: ProbeApi;
  const agents: { agent: RunningAgent; bus: Bus }[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    fixture = await startSmtpFixture({ greetingDelayMs: GREETING_DELAY_MS });
    slowFixture = await startSmtpFixture({ greetingDelayMs: 1_500 });
    const ports = [fixture.port, slowFixture.port];
    coordinator = await startCoordinator({ ...config(fixture.port, server.url), allowPorts: ports }, silentLogger());
    for (const region of REGIONS) {
      const bus = await connectNatsBus({ servers: server.url, name: `test-agent-${region}` });
      const agent = await startAgent(
        { region, agentId: `${region}-1`, version: "9.9.9", concurrency: 16, heartbeatMs: 200, defaultEhloName: "probe.test" },
        { bus, policy: createTargetPolicy({ allowCidrs: ["127.0.0.0/8"], allowPorts: ports }), logger: silentLogger() },
      );
      agents.push({ agent, bus });
    }
    api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
    let listed: string[] = [];
    await waitFor(
      async () => {
        listed = (await api.listRegions()).regions.map((r) => r.name);
        return REGIONS.every((r) => listed.includes(r));
      },
      10_000,
      () => `both regions listed (the coordinator lists ${listed.join(", ") || "no region"})`,
      100,
    );
  });

  afterAll(async () => {
    api?.close();
    for (const { agent, bus } of agents) {
      await agent.stop(1_000);
      await bus.drain();
    }
    await coordinator?.stop(1_000);
    await fixture?.stop();
    await slowFixture?.stop();
    await server?.stop();
  });

  throttleCases(() => ({ api, fixture, slowFixture, regions: REGIONS }));

  it("a probe of an IP literal gets its permit with the task: no PermitRequest on the bus, and the lease ends with the result", async () => {
    const watcher = await connectNatsBus({ servers: server.url, name: "test-permit-watcher" });
    const seen: string[] = [];
    watcher.subscribe(SUBJECTS.permitAll, (msg) => seen.push(msg.subject));
    try {
      // One after the other, more probes than the limit: each finds its slot free only if the
      // one before gave its lease back when its result came.
      for (let i = 0; i < LIMIT + 2; i += 1) {
        const report = await api.probe({ host: "127.0.0.1", ports: [fixture.port], regions: [REGIONS[0]!], options: { ehloName: `seq${i}.probe.test` } }, { deadlineMs: 10_000 });
        expect(handshakesOf(report).map((h) => h.outcome)).toEqual([Outcome.OUTCOME_OK]);
      }
      await watcher.drain(); // what was published has arrived
      expect(seen).toEqual([]);
    } finally {
      if (watcher.isConnected()) await watcher.drain();
    }
  });

  it("an agent without a coordinator to ask does not connect (fail closed)", async () => {
    const lone = await startNatsServer();
    const bus = await connectNatsBus({ servers: lone.url, name: "test-agent-alone" });
    try {
      const agent = await startAgent(
        { region: "alone", agentId: "alone-1", version: "9.9.9", heartbeatMs: 200, defaultEhloName: "probe.test" },
        { bus, policy: createTargetPolicy({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] }), logger: silentLogger() },
      );
      const task = Task.fromPartial({ taskId: "t-alone", probeId: "p-alone", region: "alone", host: "127.0.0.1", port: fixture.port, deadline: new Date(Date.now() + 5_000), heartbeatMs: 200 });
      const before = fixture.connections();
      const result = await new Promise<TargetResult>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no result from the agent in 8 s")), 8_000);
        const sub = bus.request(SUBJECTS.task("alone"), Task.encode(task).finish(), (event) => {
          if (event.kind !== "message") return;
          const message = AgentMessage.decode(event.data);
          if (!message.result) return;
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(message.result);
        });
      });
      expect(result.handshakes).toHaveLength(1);
      expect(result.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_THROTTLED, failureSource: FailureSource.FAILURE_SOURCE_POLICY });
      expect(result.handshakes[0]?.reason).toBe("throttled: no coordinator answers permit requests; no connection without a permit (fail closed)");
      expect(fixture.connections()).toBe(before);
      await agent.stop(0);
    } finally {
      await bus.drain();
      await lone.stop();
    }
  });
});

describe("the engine's connect gate (probeTarget)", () => {
  let fixture: SmtpFixture;
  beforeAll(async () => {
    fixture = await startSmtpFixture();
  });
  afterAll(async () => {
    await fixture?.stop();
  });
  const options = (deadlineMs = 5_000) => ({ ...resolveOptions(undefined, fixture.port, "probe.test"), deadlineMs });

  it("a denial is THROTTLED with the gate's reason, and no connection is made", async () => {
    const before = fixture.connections();
    const gate: ConnectGate = async () => ({ denied: "throttled: 4 connections to 127.0.0.1 already open (limit 4), waited 20 ms" });
    const result = await probeTarget({ host: "127.0.0.1", port: fixture.port }, options(), { gate });
    expect(result.handshakes).toMatchObject([
      { address: "127.0.0.1", outcome: Outcome.OUTCOME_THROTTLED, phase: Phase.PHASE_POLICY, failureSource: FailureSource.FAILURE_SOURCE_POLICY, reason: "throttled: 4 connections to 127.0.0.1 already open (limit 4), waited 20 ms" },
    ]);
    expect(fixture.connections()).toBe(before);
  });

  it("a grant is released once, after the handshake ended; the gate sees the address, port and deadline", async () => {
    const calls: { address: string; port: number; inMs: number }[] = [];
    let released = 0;
    let openAtRelease = -1;
    const gate: ConnectGate = async (address, port, { deadlineAt }) => {
      calls.push({ address, port, inMs: deadlineAt - performance.now() });
      return { release: () => ((released += 1), (openAtRelease = fixture.connections())) };
    };
    const before = fixture.connections();
    const result = await probeTarget({ host: "127.0.0.1", port: fixture.port }, options(), { gate });
    expect(result.handshakes[0]?.outcome).toBe(Outcome.OUTCOME_OK);
    expect(calls).toMatchObject([{ address: "127.0.0.1", port: fixture.port }]);
    expect(calls[0]!.inMs).toBeGreaterThan(4_000);
    expect(calls[0]!.inMs).toBeLessThanOrEqual(5_000);
    expect([released, openAtRelease]).toEqual([1, before + 1]);
  });

  it("a caller who cancels while the gate waits gets CANCELLED, not THROTTLED", async () => {
    const controller = new AbortController();
    const gate: ConnectGate = (_a, _p, { signal }) =>
      new Promise((resolve) => signal?.addEventListener("abort", () => resolve({ denied: "cancelled while waiting for a connection slot" }), { once: true }));
    setTimeout(() => controller.abort(), 50);
    const result = await probeTarget({ host: "127.0.0.1", port: fixture.port }, options(), { gate, signal: controller.signal });
    expect(result.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_CANCELLED, failureSource: FailureSource.FAILURE_SOURCE_INTERNAL });
    expect(result.handshakes[0]?.reason).toBe("cancelled by the caller while waiting for a connection slot (cancelled while waiting for a connection slot)");
  });
});
