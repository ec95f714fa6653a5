// The agent over both buses: the in-process one (embedded mode) and a real nats-server. Targets
// are smtp-server fixtures and scripted servers on 127.0.0.1, so the policy used here allows
// loopback (the real policy is lib/policy/target-policy.ts, tested on its own).
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentInfo } from "../../../../agents/probe/agent-info.js";
import type { AgentConfig } from "../../../../agents/probe/agent-config.js";
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import { QUIET_START_MS } from "../../../../agents/probe/task-run.js";
import type { TargetPolicy } from "../../../../lib/policy/policy-types.js";
import { FailureSource, Outcome, Phase, TlsMode, type Timeouts } from "../../../../gen/smtpprobe/v1/handshake.js";
import { type DeepPartial } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { AgentMessage, CancelTask, Task } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { SUBJECTS, type Bus, type ReplyEvent } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { stopAfterEach } from "../../../helpers/cleanup.js";
import { freePort } from "../../../helpers/free-port.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { startScriptedServer } from "../../../helpers/scripted-server.js";
import { startSmtpFixture } from "../../../helpers/smtp-fixture.js";
import { delay } from "../../../helpers/wait.js";

const nats = await need(natsServerAvailable);

const REGION = "eu-west";
const allowLoopback: TargetPolicy = () => undefined;
/** Short real timeouts: every target is on loopback. */
const FAST: Timeouts = { connectMs: 500, bannerMs: 1000, commandMs: 500, tlsMs: 500, deadlineMs: 3000 };

function makeTask(fields: DeepPartial<Task> = {}): Task {
  return Task.fromPartial({
    taskId: randomUUID(),
    probeId: "probe-1",
    region: REGION,
    host: "127.0.0.1",
    deadline: new Date(Date.now() + 5000),
    heartbeatMs: 100,
    ...fields,
    options: { tlsMode: TlsMode.TLS_MODE_NONE, ...fields.options, timeouts: { ...FAST, ...fields.options?.timeouts } },
  });
}

/** What came back to one task's reply subject, with arrival times. */
class TaskCall {
  readonly messages: AgentMessage[] = [];
  readonly times: number[] = [];
  readonly started = performance.now();
  noResponders = false;
  private readonly sub;
  private readonly waiters = new Set<() => void>();

  constructor(bus: Bus, task: Task | Uint8Array, region = REGION) {
    const data = task instanceof Uint8Array ? task : Task.encode(task).finish();
    this.sub = bus.request(SUBJECTS.task(region), data, (event: ReplyEvent) => {
      if (event.kind === "no_responders") this.noResponders = true;
      else {
        this.messages.push(AgentMessage.decode(event.data));
        this.times.push(performance.now());
      }
      for (const wake of this.waiters) wake();
    });
  }

  /** Waits until the condition holds (checked on each message), or fails after timeoutMs. */
  async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`${what}: not within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => AgentMessage.toJSON(m)))}`));
      }, timeoutMs);
      const wake = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
  }

  /** The result or error that ends the task. */
  async final(timeoutMs = 5000): Promise<AgentMessage> {
    await this.until(() => this.messages.some(isFinal), timeoutMs, "a result or an error");
    return this.messages.find(isFinal)!;
  }

  /** Milliseconds from the request to the final message. */
  finalAfterMs(): number {
    return this.times[this.messages.findIndex(isFinal)]! - this.started;
  }

  progress(): AgentMessage[] {
    return this.messages.filter((m) => m.progress);
  }

  stop(): void {
    this.sub.unsubscribe();
  }
}

const isFinal = (m: AgentMessage): boolean => m.result !== undefined || m.error !== undefined;

/** The next `no_responders` or message, to check that nobody serves a subject any more. */
function firstReply(bus: Bus, region = REGION): Promise<ReplyEvent> {
  return new Promise((resolve) => {
    const sub = bus.request(SUBJECTS.task(region), Task.encode(makeTask({ region })).finish(), (event) => {
      sub.unsubscribe();
      resolve(event);
    });
  });
}

/**
 * A request to a subject nobody serves answers "no responders" once the server has processed
 * everything this connection sent before (NATS keeps a connection's order): after it, the
 * agent's subscriptions are live.
 */
function roundTrip(bus: Bus): Promise<void> {
  return new Promise((resolve) => {
    const sub = bus.request(`smtpprobe.test.flush.${randomUUID()}`, new Uint8Array(), () => {
      sub.unsubscribe();
      resolve();
    });
  });
}

interface World {
  /** A bus connection: the same MemoryBus every time, or a new NATS connection. */
  connect(): Promise<Bus>;
  /** Starts an agent on a connection of its own, stopped after the test. */
  agent(config?: Partial<AgentConfig>, policy?: TargetPolicy): Promise<RunningAgent>;
}

function agentContract(name: string, makeBus: () => Promise<Bus>, sharedBus: boolean) {
  describe(name, () => {
    const track = stopAfterEach();

    function world(): World {
      let shared: Bus | undefined;
      const connect = async (): Promise<Bus> => {
        if (sharedBus && shared) return shared;
        const bus = await makeBus();
        track({ stop: () => bus.drain() });
        shared = bus;
        return bus;
      };
      return {
        connect,
        async agent(config = {}, policy = allowLoopback) {
          const bus = await connect();
          const agent = await startAgent(
            // No coordinator here to grant connection permits: test/integration/services/coordinator/destination-throttle.test.ts has them.
            { region: REGION, agentId: `agent-${randomUUID().slice(0, 8)}`, version: "9.9.9", heartbeatMs: 100, defaultEhloName: "probe.test", permits: false, ...config },
            { bus, policy, logger: silentLogger() },
          );
          track({ stop: () => agent.stop(0) });
          await roundTrip(bus);
          return agent;
        },
      };
    }

    it("a task that outlasts the quiet start: the phase reached, then each phase, then an OK result, and goes quiet", async () => {
      const w = world();
      // smtp-server waits 100 ms before its greeting: the task outlasts QUIET_START_MS.
      const fixture = track(await startSmtpFixture());
      const agent = await w.agent();
      const client = await w.connect();
      const task = makeTask({ port: fixture.port });
      const c = new TaskCall(client, task);
      const final = await c.final();

      // Nothing in the quiet start; then the phase reached, and later ones at most every
      // PROGRESS_MIN_GAP_MS (and with each heartbeat), in the order they happen.
      expect(c.times[0]! - c.started).toBeGreaterThanOrEqual(QUIET_START_MS - 5);
      expect(c.messages[0]).toMatchObject({
        taskId: task.taskId,
        agentId: agent.agentId,
        progress: { taskId: task.taskId, region: REGION, port: fixture.port, agentId: agent.agentId, queued: false, address: "127.0.0.1" },
      });
      const phases = c.progress().map((m) => m.progress!.phase);
      expect(phases[0]).toBeGreaterThanOrEqual(Phase.PHASE_CONNECT);
      expect(phases).toEqual([...phases].sort((a, b) => a - b));
      expect(final.taskId).toBe(task.taskId);
      expect(final.result!.handshakes).toHaveLength(1);
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_OK, phase: Phase.PHASE_DONE, ehloName: "probe.test" });
      expect(c.messages.at(-1)).toBe(final);

      // The heartbeat stopped with the result.
      const count = c.messages.length;
      await delay(300);
      expect(c.messages).toHaveLength(count);
      expect(agent.stats()).toMatchObject({ in_flight: 0, queued: 0, tasks_done: 1 });
      c.stop();
    });

    it("a task that ends within the quiet start sends its result alone", async () => {
      const w = world();
      await w.agent();
      const client = await w.connect();
      const task = makeTask({ port: await freePort() });
      const c = new TaskCall(client, task);
      const final = await c.final();
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_REFUSED });
      expect(c.messages).toEqual([final]);
      await delay(QUIET_START_MS + 100);
      expect(c.messages).toHaveLength(1);
      c.stop();
    });

    it("sends a heartbeat at the task's interval while the target keeps it waiting", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent();
      const call = new TaskCall(await w.connect(), makeTask({ port: silent.port, heartbeatMs: 100, options: { timeouts: { bannerMs: 900 } } }));
      const final = await call.final();
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_NO_BANNER, phase: Phase.PHASE_BANNER });
      const beats = call.times.slice(0, -1);
      // About 900 ms of waiting at 100 ms: at least 7 beats, and never a gap that would make the
      // coordinator call the agent lost (three intervals without a message); a loaded machine
      // stretches single gaps, not the count.
      expect(beats.length).toBeGreaterThanOrEqual(7);
      const gaps = beats.slice(1).map((t, i) => t - beats[i]!);
      expect(Math.max(...gaps)).toBeLessThan(3 * 100);
      expect(call.progress().at(-1)!.progress).toMatchObject({ phase: Phase.PHASE_BANNER, queued: false });
      call.stop();
    });

    it("runs at most `concurrency` tasks at once; the others wait (with heartbeats) and none is dropped", async () => {
      const w = world();
      const fixture = track(await startSmtpFixture());
      const agent = await w.agent({ concurrency: 1 });
      const client = await w.connect();
      let peak = 0;
      let peakQueued = 0;
      const watch = setInterval(() => {
        const { in_flight, queued } = agent.stats();
        peak = Math.max(peak, in_flight);
        peakQueued = Math.max(peakQueued, queued);
      }, 2);
      const calls = [1, 2, 3].map(() => new TaskCall(client, makeTask({ port: fixture.port, heartbeatMs: 50 })));
      const finals = await Promise.all(calls.map((c) => c.final()));
      clearInterval(watch);
      expect(finals.map((f) => f.result?.handshakes[0]?.outcome)).toEqual([Outcome.OUTCOME_OK, Outcome.OUTCOME_OK, Outcome.OUTCOME_OK]);
      expect(peak).toBe(1);
      expect(peakQueued).toBe(2);
      expect(fixture.connections()).toBe(3);
      // The last one waited for two probes (over 100 ms each: smtp-server's early-talker delay)
      // and said it was queued meanwhile, more than once.
      const last = calls.find((c) => c.progress().filter((m) => m.progress!.queued).length >= 3);
      expect(last).toBeDefined();
      expect(agent.stats().tasks_done).toBe(3);
      for (const c of calls) c.stop();
    });

    it("a CancelTask aborts a running probe at once, and the result says CANCELLED", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent();
      const client = await w.connect();
      const task = makeTask({ port: silent.port, options: { timeouts: { bannerMs: 5000, deadlineMs: 10_000 } } });
      const call = new TaskCall(client, task);
      await call.until(() => call.progress().some((m) => m.progress!.phase === Phase.PHASE_BANNER), 2000, "the banner phase");
      const sent = performance.now();
      client.publish(SUBJECTS.cancel(REGION), CancelTask.encode({ taskId: task.taskId, probeId: task.probeId }).finish());
      const final = await call.final(1000);
      expect(performance.now() - sent).toBeLessThan(300);
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_CANCELLED, phase: Phase.PHASE_BANNER });
      // Only the caller cancels a task: never the target's failure, nor ours.
      expect(final.result!.handshakes[0]!.failureSource).toBe(FailureSource.FAILURE_SOURCE_CALLER);
      call.stop();
    });

    it("a CancelTask for a task still waiting for a slot answers CANCELLED without connecting", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent({ concurrency: 1 });
      const client = await w.connect();
      const blocker = new TaskCall(client, makeTask({ port: silent.port, options: { timeouts: { bannerMs: 5000, deadlineMs: 10_000 } } }));
      await blocker.until(() => blocker.progress().some((m) => m.progress!.phase === Phase.PHASE_BANNER), 2000, "the blocker running");
      const waiting = makeTask({ port: silent.port, probeId: "probe-2" });
      const call = new TaskCall(client, waiting);
      await call.until(() => call.messages.length > 0, 1000, "queued");
      // A probe id alone cancels every task of that probe.
      client.publish(SUBJECTS.cancel(REGION), CancelTask.encode({ taskId: "", probeId: "probe-2" }).finish());
      const final = await call.final(1000);
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_CANCELLED, phase: Phase.PHASE_UNSPECIFIED, reason: expect.stringMatching(/waiting for a free slot/) });
      expect(silent.connections()).toBe(1);
      expect(blocker.messages.some(isFinal)).toBe(false);
      blocker.stop();
      call.stop();
    });

    it("a task whose deadline passes while it waits for a slot answers DEADLINE_EXCEEDED without connecting", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent({ concurrency: 1 });
      const client = await w.connect();
      const blocker = new TaskCall(client, makeTask({ port: silent.port, options: { timeouts: { bannerMs: 5000, deadlineMs: 10_000 } } }));
      await blocker.until(() => blocker.progress().some((m) => m.progress!.phase === Phase.PHASE_BANNER), 2000, "the blocker running");
      const call = new TaskCall(client, makeTask({ port: silent.port, deadline: new Date(Date.now() + 300) }));
      const final = await call.final(1500);
      expect(final.result!.handshakes[0]).toMatchObject({
        outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED,
        phase: Phase.PHASE_UNSPECIFIED,
        reason: expect.stringMatching(/deadline passed after \d+ ms waiting for a free slot at the agent \(all 1 busy\)/),
      });
      expect(call.progress().every((m) => m.progress!.queued)).toBe(true);
      expect(call.progress().length).toBeGreaterThanOrEqual(2); // queued after the quiet start (100 ms), then heartbeats at 100 ms
      expect(silent.connections()).toBe(1);
      blocker.stop();
      call.stop();
    });

    it("the task's deadline bounds the probe: DEADLINE_EXCEEDED on time", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent();
      const call = new TaskCall(await w.connect(), makeTask({ port: silent.port, deadline: new Date(Date.now() + 400), options: { timeouts: { bannerMs: 5000 } } }));
      const final = await call.final(2000);
      expect(final.result!.handshakes[0]!.outcome).toBe(Outcome.OUTCOME_DEADLINE_EXCEEDED);
      expect(call.finalAfterMs()).toBeGreaterThan(300);
      expect(call.finalAfterMs()).toBeLessThan(900);
      call.stop();
    });

    it("a deadline the task says is the caller's: the probe it ends is OUTCOME_CALLER_DEADLINE, the caller's doing", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent();
      const call = new TaskCall(
        await w.connect(),
        makeTask({ port: silent.port, deadline: new Date(Date.now() + 400), deadlineFromCaller: true, options: { timeouts: { bannerMs: 5000 } } }),
      );
      const final = await call.final(2000);
      expect(final.result!.handshakes[0]).toMatchObject({
        outcome: Outcome.OUTCOME_CALLER_DEADLINE,
        failureSource: FailureSource.FAILURE_SOURCE_CALLER,
        phase: Phase.PHASE_BANNER,
        reason: expect.stringMatching(/^the caller's deadline ended the probe at banner after \d+ ms; it says nothing about the target$/),
      });
      expect(silent.connections()).toBe(1);
      call.stop();
    });

    it("a caller's deadline that did not bound the run: the request's own deadline ended it, as before", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      await w.agent();
      const call = new TaskCall(
        await w.connect(),
        makeTask({ port: silent.port, deadline: new Date(Date.now() + 5000), deadlineFromCaller: true, options: { timeouts: { bannerMs: 5000, deadlineMs: 300 } } }),
      );
      const final = await call.final(2000);
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED, phase: Phase.PHASE_BANNER });
      call.stop();
    });

    it("a task that arrives after its deadline answers DEADLINE_EXCEEDED at once, and one far ahead runs", async () => {
      const w = world();
      const fixture = track(await startSmtpFixture());
      await w.agent();
      const client = await w.connect();
      const late = new TaskCall(client, makeTask({ port: fixture.port, deadline: new Date(Date.now() - 1000) }));
      const far = new TaskCall(client, makeTask({ port: fixture.port, deadline: new Date(Date.now() + 40 * 24 * 3600_000) }));
      expect((await late.final(500)).result!.handshakes[0]).toMatchObject({
        outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED,
        reason: expect.stringMatching(/had passed when it reached the agent/),
      });
      expect((await far.final()).result!.handshakes[0]!.outcome).toBe(Outcome.OUTCOME_OK);
      expect(fixture.connections()).toBe(1);
      late.stop();
      far.stop();
    });

    it("a policy that denies the address: POLICY_DENIED, and no connection is made", async () => {
      const w = world();
      const fixture = track(await startSmtpFixture());
      await w.agent({}, (address) => ({ kind: "range", reason: `${address} is off limits in this test` }));
      const call = new TaskCall(await w.connect(), makeTask({ port: fixture.port }));
      const final = await call.final();
      expect(final.result!.handshakes[0]).toMatchObject({ outcome: Outcome.OUTCOME_POLICY_DENIED, reason: expect.stringMatching(/off limits/) });
      expect(fixture.connections()).toBe(0);
      call.stop();
    });

    it.each<[string, Uint8Array | DeepPartial<Task>, RegExp]>([
      ["undecodable bytes", new Uint8Array([0xff, 0xff, 0xff]), /^invalid task: not a Task message/],
      ["another region's task", { region: "us-east" }, /^invalid task: region: "us-east" is not this agent's region "eu-west"/],
      ["no task id", { taskId: "" }, /^invalid task: task_id: missing/],
      // The agent's bounds (MAX_TASK_ID, MAX_HOST in agents/probe/agent.ts), one over.
      ["a task id of 129 characters", { taskId: "t".repeat(129) }, /^invalid task: task_id: longer than 128 characters/],
      ["a host of 256 characters", { host: "h".repeat(256) }, /^invalid task: host: longer than 255 characters/],
      ["port 0", { port: 0 }, /^invalid task: port: must be from 1 to 65535/],
      ["no host", { host: "" }, /^invalid task: host: missing/],
      ["no deadline", { deadline: undefined }, /^invalid task: deadline: missing/],
      ["a bad EHLO name", { options: { ehloName: "bad name\r\nMAIL FROM:<x>" } }, /^invalid task: options\.ehlo_name: must not contain CR or LF/],
      ["a timeout over the maximum", { options: { timeouts: { connectMs: 999_999 } } }, /^invalid task: options\.timeouts\.connect_ms: must be between 1 and 300000/],
    ])("refuses %s with an error message, and nothing more", async (_, input, error) => {
      const w = world();
      const agent = await w.agent();
      const task = input instanceof Uint8Array ? input : makeTask({ port: 25, ...input, deadline: "deadline" in input ? input.deadline : new Date(Date.now() + 5000) });
      const call = new TaskCall(await w.connect(), task);
      const final = await call.final(1000);
      expect(final.error).toMatch(error);
      expect(final.agentId).toBe(agent.agentId);
      await delay(150);
      expect(call.messages).toHaveLength(1);
      expect(agent.stats().tasks_done).toBe(0);
      call.stop();
    });

    it("two agents of a region share its tasks; an agent of another region never sees them", async () => {
      const w = world();
      const fixture = track(await startSmtpFixture());
      const a = await w.agent();
      const b = await w.agent();
      const other = await w.agent({ region: "us-east" });
      const client = await w.connect();
      const calls = Array.from({ length: 16 }, () => new TaskCall(client, makeTask({ port: fixture.port })));
      const finals = await Promise.all(calls.map((c) => c.final()));
      const served = finals.map((f) => f.agentId);
      expect(new Set(served)).toEqual(new Set([a.agentId, b.agentId]));
      // Every message of a task comes from the one agent that took it.
      for (const c of calls) expect(new Set(c.messages.map((m) => m.agentId)).size).toBe(1);
      expect(finals.every((f) => f.result?.handshakes[0]?.outcome === Outcome.OUTCOME_OK)).toBe(true);
      expect(a.stats().tasks_done + b.stats().tasks_done).toBe(16);
      expect(other.stats().tasks_done).toBe(0);
      for (const c of calls) c.stop();
    });

    it("is discoverable, with its region, id, version and live stats", async () => {
      const w = world();
      const agent = await w.agent({ concurrency: 7 });
      const client = await w.connect();
      const found = (await client.discover(SUBJECTS.agentService, 300)).filter((s) => s.id === agent.serviceId);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ name: SUBJECTS.agentService, version: "9.9.9", metadata: { region: REGION, agent_id: agent.agentId } });
      const info = parseAgentInfo(found[0]!);
      expect(info).toMatchObject({ agentId: agent.agentId, region: REGION, version: "9.9.9", inFlight: 0, capacity: 7, tasksDone: 0, egress: [] });
      expect(info!.startedAt!.getTime()).toBeGreaterThan(Date.now() - 10_000);
    });

    it("checks its egress against its canaries: ok through a banner rejection, not ok on a closed port, shown in discovery", async () => {
      const w = world();
      const open = track(await startSmtpFixture());
      const rejecting = track(await startSmtpFixture({ rejectConnection: { code: 554, message: "go away" } }));
      const closedPort = await freePort();
      const agent = await w.agent({
        canaries: [
          { host: "127.0.0.1", port: open.port },
          { host: "127.0.0.1", port: rejecting.port },
          { host: "127.0.0.1", port: closedPort },
        ],
        canaryIntervalMs: 60_000,
      });
      const checks = await agent.checkEgress();
      const byPort = new Map(checks.map((c) => [c.port, c]));
      expect(byPort.get(open.port)).toMatchObject({ ok: true, outcome: Outcome.OUTCOME_OK, canary: `127.0.0.1:${open.port}` });
      expect(byPort.get(rejecting.port)).toMatchObject({ ok: true, outcome: Outcome.OUTCOME_REJECTED, detail: expect.stringMatching(/^connected/) });
      expect(byPort.get(closedPort)).toMatchObject({ ok: false, outcome: Outcome.OUTCOME_REFUSED });
      for (const check of checks) {
        expect(check.checkedAt!.getTime()).toBeGreaterThan(Date.now() - 5000);
        expect(check.durationMs).toBeGreaterThan(0);
      }
      expect(agent.egress()).toEqual(checks);
      const found = (await (await w.connect()).discover(SUBJECTS.agentService, 300)).find((s) => s.id === agent.serviceId);
      expect(parseAgentInfo(found!)!.egress).toEqual(checks);
    });

    it("stop(grace) lets a running task finish, then takes no more tasks", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      const agent = await w.agent();
      const client = await w.connect();
      const call = new TaskCall(client, makeTask({ port: silent.port, options: { timeouts: { bannerMs: 400 } } }));
      await call.until(() => call.progress().some((m) => m.progress!.phase === Phase.PHASE_BANNER), 2000, "the banner phase");
      const began = performance.now();
      await agent.stop(3000);
      const stopped = performance.now();
      // The result was sent before stop() resolved (it is on its way), and the task ended on
      // its own (the banner timeout), not cut short by the stop.
      const final = await call.final(500);
      expect(final.result!.handshakes[0]!.outcome).toBe(Outcome.OUTCOME_NO_BANNER);
      expect(performance.now() - stopped).toBeLessThan(100);
      expect(stopped - began).toBeLessThan(1500);
      expect((await firstReply(client)).kind).toBe("no_responders");
      call.stop();
    });

    it("stop(grace) cancels what is left when the grace runs out: CANCELLED results, the agent's shutdown named", async () => {
      const w = world();
      const silent = track(await startScriptedServer("no-banner"));
      const agent = await w.agent({ concurrency: 1 });
      const client = await w.connect();
      const running = new TaskCall(client, makeTask({ port: silent.port, options: { timeouts: { bannerMs: 5000, deadlineMs: 10_000 } } }));
      const queued = new TaskCall(client, makeTask({ port: silent.port }));
      await running.until(() => running.progress().some((m) => m.progress!.phase === Phase.PHASE_BANNER), 2000, "the banner phase");
      await queued.until(() => queued.messages.length > 0, 1000, "queued");
      const began = performance.now();
      await agent.stop(200);
      const elapsed = performance.now() - began;
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(700);
      // The waiting task may have got the slot during the grace: either way it ends cancelled.
      for (const call of [running, queued]) {
        const h = (await call.final(500)).result!.handshakes[0]!;
        expect(h.outcome).toBe(Outcome.OUTCOME_CANCELLED);
        expect(h.reason).toMatch(/the agent shut down/);
      }
      running.stop();
      queued.stop();
    });

    it("keeps a large result under maxResultBytes by trimming its transcript", async () => {
      const w = world();
      // A chatty server: a 100-line goodbye of 200 characters each, which only the transcript keeps.
      const goodbye = Array.from({ length: 100 }, (_, i) => `221-${String(i).padStart(3, "0")} ${"z".repeat(200)}\r\n`).join("") + "221 bye\r\n";
      const chatty = track(
        await startScriptedServer([
          { send: "220 scripted.test ESMTP\r\n" },
          { expectLine: "EHLO" },
          { send: "250 scripted.test\r\n" },
          { expectLine: "QUIT" },
          { send: goodbye },
          { close: true },
        ]),
      );
      await w.agent({ maxResultBytes: 8192 });
      const call = new TaskCall(await w.connect(), makeTask({ port: chatty.port }));
      const final = await call.final();
      expect(AgentMessage.encode(final).finish().length).toBeLessThanOrEqual(8192);
      const h = final.result!.handshakes[0]!;
      expect(h.outcome).toBe(Outcome.OUTCOME_OK);
      const { entries, truncated } = h.transcript!;
      expect(truncated).toBe(true);
      expect(entries[0]!.text).toMatch(/^connected to 127\.0\.0\.1/);
      expect(entries.at(-1)!.text).toBe("closed");
      expect(entries.some((e) => /transcript entries dropped here by the agent/.test(e.text))).toBe(true);
      expect(h.findings.map((f) => f.code)).toContain("transcript_truncated");
      call.stop();
    });
  });
}

agentContract("agent over the in-process bus", async () => new MemoryBus(), true);

describe("agent logs", () => {
  it("one line per task start and end, with taskId, probeId, region, agentId, port, outcome and ms", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const bus = new MemoryBus();
    const fixture = await startSmtpFixture();
    const agent = await startAgent(
      { region: REGION, agentId: "agent-logs", version: "1", defaultEhloName: "probe.test", permits: false },
      { bus, policy: allowLoopback, logger: pino({ level: "info" }, sink) },
    );
    try {
      const task = makeTask({ port: fixture.port, probeId: "probe-logs" });
      const call = new TaskCall(bus, task);
      await call.final();
      call.stop();
      const common = { taskId: task.taskId, probeId: "probe-logs", region: REGION, agentId: "agent-logs", port: fixture.port };
      expect(lines.filter((l) => l.msg === "task started")).toEqual([expect.objectContaining({ ...common, host: "127.0.0.1", waitedMs: expect.any(Number) })]);
      expect(lines.filter((l) => l.msg === "task done")).toEqual([expect.objectContaining({ ...common, outcome: "OUTCOME_OK", ms: expect.any(Number) })]);
    } finally {
      await agent.stop(0);
      await fixture.stop();
      await bus.drain();
    }
    expect(lines.at(-1)).toMatchObject({ msg: "agent stopped", region: REGION, agentId: "agent-logs", tasksDone: 1 });
  });
});

describe.skipIf(nats.skip)("over NATS", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await server?.stop();
  });
  agentContract("agent over a real nats-server", () => connectNatsBus({ servers: server.url, name: "agent-test" }), false);
});
