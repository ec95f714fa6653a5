// The agent's permit client against a scripted throttle on a real bus (the in-process one and a
// nats-server): what it asks, what it makes of each answer, and that it fails closed when no
// answer comes. The real throttle is covered end to end in
// test/integration/services/coordinator/destination-throttle.test.ts.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPermitClient, PERMIT_ANSWER_MARGIN_MS } from "../../../../agents/probe/permit-client.js";
import type { ConnectGate } from "../../../../agents/smtp/probe-target.js";
import { PermitMessage, PermitReply, type PermitRequest } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { SUBJECTS, type Bus, type BusMessage } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { stopAfterEach } from "../../../helpers/cleanup.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { waitFor } from "../../../helpers/wait.js";

const nats = await need(natsServerAvailable);

const REGION = "eu-west";
const TASK = { taskId: "task-1", probeId: "probe-1" };

/** A stand-in for the coordinator's permit service: records what comes, answers as told. */
interface ScriptedThrottle {
  readonly requests: PermitRequest[];
  /** Lease ids given back. */
  readonly releases: string[];
  /** Requests left unanswered (the answer returned undefined), to answer later. */
  readonly held: BusMessage[];
  stop(): Promise<void>;
}

async function scriptedThrottle(bus: Bus, answer: (request: PermitRequest) => Partial<PermitReply> | undefined): Promise<ScriptedThrottle> {
  const requests: PermitRequest[] = [];
  const releases: string[] = [];
  const held: BusMessage[] = [];
  const sub = bus.subscribe(SUBJECTS.permit(REGION), (msg) => {
    const message = PermitMessage.decode(msg.data);
    if (message.release) releases.push(message.release.leaseId);
    if (!message.request) return;
    requests.push(message.request);
    const reply = answer(message.request);
    if (reply) msg.respond(PermitReply.encode(PermitReply.fromPartial(reply)).finish());
    else held.push(msg);
  });
  await roundTrip(bus);
  return { requests, releases, held, stop: async () => sub.unsubscribe() };
}

function asStoppable(bus: Bus): Bus & { stop(): Promise<void> } {
  return Object.assign(bus, { stop: () => bus.drain() });
}

/** After the answer to a request nobody serves, everything this connection sent before is live. */
function roundTrip(bus: Bus): Promise<void> {
  return new Promise((resolve) => {
    const sub = bus.request(`smtpprobe.test.flush.${randomUUID()}`, new Uint8Array(), () => {
      sub.unsubscribe();
      resolve();
    });
  });
}

/** Calls the gate and times its answer. */
async function ask(gate: ConnectGate, deadlineInMs: number, signal?: AbortSignal) {
  const started = performance.now();
  const answer = await gate("127.0.0.1", 2525, { signal, deadlineAt: started + deadlineInMs });
  return { answer, ms: performance.now() - started };
}

function permitContract(name: string, makeBus: () => Promise<Bus>, sharedBus: boolean) {
  describe(name, () => {
    const track = stopAfterEach();

    /** The agent's connection and the throttle's: one bus in-process, two NATS connections. */
    async function world(answer: (request: PermitRequest) => Partial<PermitReply> | undefined = () => undefined) {
      const agentBus = track(asStoppable(await makeBus()));
      const throttleBus = sharedBus ? agentBus : track(asStoppable(await makeBus()));
      const throttle = track(await scriptedThrottle(throttleBus, answer));
      const client = createPermitClient({ bus: agentBus, region: REGION, logger: silentLogger() });
      /** Everything the agent published so far has reached the throttle. */
      const settled = async (): Promise<void> => {
        await roundTrip(agentBus);
        await roundTrip(throttleBus);
      };
      return { throttle, client, gate: client.gateFor(TASK), settled };
    }

    it("a grant comes with a release that gives the lease back once", async () => {
      const { throttle, gate, settled } = await world(() => ({ granted: true, leaseId: "lease-7" }));
      const before = Date.now();
      const { answer } = await ask(gate, 2_000);
      expect(throttle.requests).toHaveLength(1);
      const request = throttle.requests[0]!;
      expect(request).toMatchObject({ taskId: "task-1", probeId: "probe-1", address: "127.0.0.1", port: 2525 });
      // The coordinator is told to give up PERMIT_ANSWER_MARGIN_MS before the probe does.
      // Measured from before the ask: the time until the gate read the clock is added (a loaded machine).
      const coordinatorInMs = request.deadline!.getTime() - before;
      const elapsedMs = Date.now() - before;
      expect(coordinatorInMs).toBeGreaterThan(2_000 - PERMIT_ANSWER_MARGIN_MS - 100);
      expect(coordinatorInMs).toBeLessThanOrEqual(2_000 - PERMIT_ANSWER_MARGIN_MS + elapsedMs + 1);

      expect("release" in answer).toBe(true);
      if (!("release" in answer)) return;
      answer.release();
      answer.release();
      await waitFor(() => throttle.releases.length > 0, 2_000, "a PermitRelease");
      await settled();
      expect(throttle.releases).toEqual(["lease-7"]);
    });

    it("a permit granted with the task opens its first connection to that address and port without a request; the next asks", async () => {
      const { throttle, client, settled } = await world(() => ({ granted: true, leaseId: "lease-8" }));
      const withLease = { ...TASK, host: "127.0.0.1", port: 2525, mx: false, permitLeaseId: "coord.l1" };
      const gate = client.gateFor(withLease);
      const first = await ask(gate, 2_000);
      expect("release" in first.answer).toBe(true);
      if ("release" in first.answer) first.answer.release(); // the coordinator ends that lease itself
      await settled();
      expect(throttle.requests).toHaveLength(0);
      expect(throttle.releases).toEqual([]);
      // A second connection (a TLS check's) is not the task's permit: it asks.
      const second = await ask(gate, 2_000);
      expect("release" in second.answer).toBe(true);
      expect(throttle.requests).toHaveLength(1);
      if ("release" in second.answer) second.answer.release();
    });

    it("a lease id in a task for a name, an MX probe, or another address or port opens nothing by itself", async () => {
      const { throttle, client } = await world(() => ({ granted: false, reason: "throttled: asked" }));
      for (const task of [
        { ...TASK, host: "mx.example", port: 2525, mx: false, permitLeaseId: "coord.l1" },
        { ...TASK, host: "127.0.0.1", port: 2525, mx: true, permitLeaseId: "coord.l1" },
        { ...TASK, host: "127.0.0.2", port: 2525, mx: false, permitLeaseId: "coord.l1" },
        { ...TASK, host: "127.0.0.1", port: 25, mx: false, permitLeaseId: "coord.l1" },
      ]) {
        const { answer } = await ask(client.gateFor(task), 2_000);
        expect(answer, JSON.stringify(task)).toEqual({ denied: "throttled: asked" });
      }
      expect(throttle.requests).toHaveLength(4);
    });

    it("a denial carries the coordinator's reason", async () => {
      const { gate } = await world(() => ({ granted: false, reason: "throttled: 4 connections to 127.0.0.1 already open (limit 4), waited 20 ms" }));
      const { answer } = await ask(gate, 2_000);
      expect(answer).toEqual({ denied: "throttled: 4 connections to 127.0.0.1 already open (limit 4), waited 20 ms" });
    });

    it("no coordinator: denied at once, fail closed", async () => {
      const bus = track(asStoppable(await makeBus()));
      const gate = createPermitClient({ bus, region: REGION, logger: silentLogger() }).gateFor(TASK);
      const { answer, ms } = await ask(gate, 5_000);
      expect(answer).toEqual({ denied: "throttled: no coordinator answers permit requests; no connection without a permit (fail closed)" });
      expect(ms).toBeLessThan(2_000);
    });

    it("no answer by the probe's deadline: denied then, naming the wait", async () => {
      const { throttle, gate } = await world();
      const { answer, ms } = await ask(gate, 300);
      expect(throttle.requests).toHaveLength(1);
      expect(answer).toMatchObject({ denied: expect.stringMatching(/^throttled: no answer from the coordinator's throttle within the probe's deadline \(\d+ ms\); no connection without a permit$/) });
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(1_500);
    });

    it("a deadline already passed: denied without asking", async () => {
      const { throttle, gate, settled } = await world(() => ({ granted: true, leaseId: "never" }));
      const { answer } = await ask(gate, -1);
      expect(answer).toEqual({ denied: "throttled: the probe's deadline passed before a connection slot could be asked for" });
      await settled();
      expect(throttle.requests).toEqual([]);
    });

    it("an abort while waiting: denied as cancelled at once", async () => {
      const { throttle, gate } = await world();
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const { answer, ms } = await ask(gate, 5_000, controller.signal);
      expect(answer).toEqual({ denied: "cancelled while waiting for a connection slot" });
      expect(ms).toBeLessThan(2_000);
      // It had asked: the throttle holds the request it never answered.
      expect(throttle.held).toHaveLength(1);
    });
  });
}

permitContract("permit client over the in-process bus", async () => new MemoryBus(), true);

describe.skipIf(nats.skip)("over NATS", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await server?.stop();
  });
  permitContract("permit client over a real nats-server", () => connectNatsBus({ servers: server.url, name: "permit-client-test" }), false);
});
