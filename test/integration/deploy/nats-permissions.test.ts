// The deploy/nats/ permissions, enforced by a real nats-server started from hub.conf (and a leaf
// server), against clients that misbehave on purpose. The attacker speaks NATS with the `nats`
// package directly (it is not our bus); the coordinator is the real Dispatch over lib/nats-bus.
// Last, the size cap that NATS cannot exercise (its max_payload is the same bound), in process.
import { connect, type NatsConnection, type Subscription } from "nats";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SUBJECTS, type Bus, type WorkItem } from "../../../lib/bus.js";
import { silentLogger } from "../../../lib/logger.js";
import { metrics, metricValue } from "../../../lib/metrics.js";
import { MemoryBus } from "../../../lib/memory-bus.js";
import { connectNatsBus } from "../../../lib/nats-bus.js";
import { ProbeOptions, TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest, TaskStatus } from "../../../gen/smtpprobe/v1/probe_service.js";
import { BatchItemStatus } from "../../../gen/smtpprobe/v1/batch.js";
import { BatchStore } from "../../../services/coordinator/batch/batch-store.js";
import { MonitorEvent } from "../../../gen/smtpprobe/v1/monitor.js";
import { MonitorEventLog } from "../../../services/coordinator/monitor/monitor-events.js";
import { MonitorStore, monitorEventSubject } from "../../../services/coordinator/monitor/monitor-store.js";
import { AgentMessage, Task } from "../../../gen/smtpprobe/agent/v1/agent.js";
import { dispatchProbe, type ProbePlan } from "../../../services/coordinator/fan-out.js";
import { AGENT_MESSAGE_LIMITS } from "../../../services/coordinator/validate-agent-message.js";
import { freePort } from "../../helpers/free-port.js";
import {
  DEPLOY_NATS_DIR,
  deployPassword,
  leafEnv,
  natsServerAvailable,
  rewriteDeployConfig,
  startDeployTopology,
  startNatsServerFromConfig,
  waitForLeafConnections,
  type ConfigServer,
  type DeployTopology,
} from "../../helpers/nats-server.js";
import { need } from "../../helpers/requirements.js";
import { delay, waitFor, withTimeout } from "../../helpers/wait.js";
import { resultFor } from "../services/coordinator/scripted-agent.js";

const nats = await need(natsServerAvailable);

const A = "eu-west";
const B = "us-east";
const HOST = "mx.example.net";

/** A raw NATS client that records the server's errors (permission violations arrive asynchronously). */
interface RawClient {
  nc: NatsConnection;
  errors: string[];
  /** Waits until an error naming `text` has arrived. */
  violation(text: string): Promise<string>;
}

async function rawClient(url: string, user: string, options: { inboxPrefix?: string; pass?: string } = {}): Promise<RawClient> {
  const nc = await connect({ servers: url, user, pass: options.pass ?? deployPassword(user), inboxPrefix: options.inboxPrefix, name: `attacker-${user}`, maxReconnectAttempts: 0 });
  const errors: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === "error") errors.push(String(status.data));
  })();
  // The status iterator gives the code; the text with the subject comes through subscriptions
  // and, for publishes, only through the server log, so a publish violation is matched by code.
  return {
    nc,
    errors,
    violation: (text) =>
      withTimeout(
        (async () => {
          for (;;) {
            const found = errors.find((e) => e.includes(text));
            if (found) return found;
            await delay(20);
          }
        })(),
        3000,
        `a server error matching ${text} (seen: ${errors.join("; ") || "none"})`,
      ),
  };
}

/** Subscribes and resolves with the subscription's error (the server refused it), or undefined after 500 ms. */
async function subscribeRefused(client: RawClient, subject: string, queue?: string): Promise<{ error?: string; received: number; sub: Subscription }> {
  let error: string | undefined;
  let received = 0;
  const sub = client.nc.subscribe(subject, {
    queue,
    callback: (err) => {
      if (err) error = err.message;
      else received += 1;
    },
  });
  await client.nc.flush();
  for (let i = 0; i < 25 && error === undefined; i++) await delay(20);
  return { error, received, sub };
}

function plan(regions: string[], deadlineInMs = 3000): ProbePlan {
  return {
    probeId: `p${Math.random().toString(36).slice(2, 10)}`,
    host: HOST,
    mx: false,
    targets: [{ port: 25, options: ProbeOptions.fromPartial({ tlsMode: TlsMode.TLS_MODE_AUTO }) }],
    regions,
    deadlineAt: Date.now() + deadlineInMs,
    heartbeatMs: 200,
  };
}

const dropped = (reason: string) => metricValue(metrics.agentMessagesDropped, { reason });

describe.skipIf(nats.skip)("deploy/nats/hub.conf permissions", () => {
  let topology: DeployTopology;
  let coordinator: Bus;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    topology = await startDeployTopology();
    coordinator = await connectNatsBus({
      servers: topology.hub.url,
      name: "coordinator",
      user: "coordinator",
      passwordFile: await topology.passwordFile("coordinator"),
      onDroppedReply: (reason) => metrics.agentMessagesDropped.inc({ reason }),
    });
  }, 30_000);
  // Each test's clients go with it: a queue member left over would take the next test's task.
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.nc.close().catch(() => undefined);
  });
  afterAll(async () => {
    await coordinator?.drain();
    await topology?.stop();
  });

  const client = async (url: string, user: string, options?: { inboxPrefix?: string; pass?: string }): Promise<RawClient> => {
    const c = await rawClient(url, user, options);
    clients.push(c);
    return c;
  };

  it("the coordinator may keep batches: the record, its targets and count, the items' and spool jobs' queue and its consumer, the reports and a reader of them", async () => {
    const store = await BatchStore.open(coordinator, { ttlMs: 60_000, maxQueuedItems: 100, reportBytes: 1024 * 1024, ackWaitMs: 5_000 });
    expect(store).toBeDefined();
    const batchId = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    await store!.putRecord({ batchId, caller: "svc", total: 1, createdAt: Date.now(), cancelled: false, options: ProbeRequest.fromPartial({ ports: [25] }) });
    expect((await store!.getRecord(batchId))?.caller).toBe("svc");
    // The targets and the queued count beside the record, and the spool job that queues the items.
    await store!.putTargets(batchId, [{ host: HOST, ports: [25] }]);
    expect(await store!.getTargets(batchId, 0)).toEqual([{ host: HOST, ports: [25] }]);
    await store!.putQueuedCount(batchId, 1);
    expect(await store!.queuedCount(batchId)).toBe(1);
    await store!.addSpool(batchId, 1);
    expect(await store!.enqueue([{ batchId, index: 0, host: HOST, ports: [25] }])).toEqual({ queued: 1 });
    await store!.deleteTargets(batchId, 1);
    expect(await store!.getTargets(batchId, 0)).toBeUndefined();
    const taken: WorkItem[] = [];
    for await (const item of store!.take(2, 1_000)) taken.push(item);
    expect(taken).toHaveLength(2);
    await taken[0]!.done(); // the spool job
    await store!.appendReport(batchId, { index: 0, host: HOST, status: BatchItemStatus.BATCH_ITEM_STATUS_CANCELLED, report: undefined, errorCode: 0, error: "", sequence: 0 });
    await taken[1]!.done();
    expect(await store!.reportedCount(batchId)).toBe(1);
    const controller = new AbortController();
    for await (const { report } of store!.follow(batchId, 0, controller.signal)) {
      expect(report.index).toBe(0);
      break;
    }
  });

  it("the coordinator may keep monitors: the monitors, their keys and state, the claims of runs, the events, kept and purged", async () => {
    const store = await MonitorStore.open(coordinator);
    expect(store).toBeDefined();
    const monitorId = "2b4e28ba-2fa1-41d2-883f-0016d3cca427";
    expect(await store!.claimSlot("svc", monitorId, 1)).toBe(0);
    expect(await store!.claimSlot("svc", "3b4e28ba-2fa1-41d2-883f-0016d3cca427", 1)).toBeUndefined();
    const watched: string[] = [];
    const watch = await store!.watchMonitors({ added: (r) => watched.push(r.monitorId), removed: (id) => watched.push(`-${id}`), ready: () => undefined, ended: () => undefined });
    await store!.put({ monitorId, caller: "svc", intervalMs: 60_000, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: HOST, ports: [25] }), webhookUrl: "", webhookSecret: "", slot: 0 });
    expect(await store!.callerIds("svc")).toEqual([monitorId]);
    expect(await store!.count()).toBe(1);
    expect(await store!.claim(monitorId, 1, "a", 60_000)).toEqual({ claimed: true });
    expect(await store!.claim(monitorId, 1, "b", 60_000)).toEqual({ claimed: false, recheckAt: expect.any(Number) as number });
    expect(await store!.holdClaim(monitorId, 1, "a", { done: true })).toBe(true);
    await store!.putState(monitorId, { run: 1, verdicts: [] });
    expect((await store!.state(monitorId))?.run).toBe(1);
    const received = new Promise<number>((resolve) => {
      const sub = coordinator.subscribe(monitorEventSubject(monitorId), (message) => {
        sub.unsubscribe();
        resolve(message.data.length);
      });
    });
    // Every monitor's events at once, as a coordinator exporting their series subscribes (monitor-metrics.ts).
    const receivedAll = new Promise<string>((resolve) => {
      const sub = coordinator.subscribe(monitorEventSubject("*"), (message) => {
        sub.unsubscribe();
        resolve(message.subject);
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    coordinator.publish(monitorEventSubject(monitorId), Buffer.from("event"));
    expect(await received).toBe(5);
    expect(await withTimeout(receivedAll, 5_000, "the event through the wildcard subscription")).toBe(monitorEventSubject(monitorId));
    // The kept events: appended (stored once), followed from a run, purged.
    const events = await MonitorEventLog.open(coordinator);
    expect(events).toBeDefined();
    const event = (run: number) => MonitorEvent.fromPartial({ monitorId, run, error: `run ${run}` });
    for (const run of [1, 2, 2, 3]) await events!.keep(event(run));
    const controller = new AbortController();
    const followed: number[] = [];
    for await (const { event: kept } of events!.follow(monitorId, 1, controller.signal)) {
      followed.push(kept.run);
      if (followed.length === 2) break;
    }
    expect(followed).toEqual([2, 3]);
    await events!.purge(monitorId);
    await events!.keep(event(4));
    for await (const { event: kept } of events!.follow(monitorId, 0, controller.signal)) {
      expect(kept.run).toBe(4);
      break;
    }
    await store!.delete({ monitorId, caller: "svc", slot: 0 });
    expect(await store!.count()).toBe(0);
    expect(await store!.callerIds("svc")).toEqual([]);
    expect(await store!.claimSlot("svc", monitorId, 1)).toBe(0); // freed by the delete
    await waitFor(() => watched.length >= 2, 5_000, () => `the watch: ${watched.join(" ")}`);
    expect(watched).toEqual([monitorId, `-${monitorId}`]);
    watch.stop();
  });

  it("refuses a wrong password, and a user of one region cannot pose as another", async () => {
    await expect(rawClient(topology.hub.url, `agent-${B}`, { pass: deployPassword(`agent-${A}`) })).rejects.toThrow(/Authorization Violation|AUTHORIZATION_VIOLATION/i);
  });

  it("connects with --nats-user and --nats-password-file; a missing or lone one is a ConfigError naming the flag", async () => {
    const file = await topology.passwordFile(`agent-${B}`);
    await expect(connectNatsBus({ servers: topology.hub.url, name: "x", user: `agent-${B}` })).rejects.toMatchObject({ name: "ConfigError", setting: "--nats-password-file" });
    await expect(connectNatsBus({ servers: topology.hub.url, name: "x", passwordFile: file })).rejects.toMatchObject({ name: "ConfigError", setting: "--nats-user" });
    await expect(connectNatsBus({ servers: topology.hub.url, name: "x", user: `agent-${B}`, passwordFile: `${file}.missing` })).rejects.toMatchObject({
      name: "ConfigError",
      setting: "--nats-password-file",
      problem: expect.stringContaining("ENOENT"),
    });
  });

  it(`an agent of ${B} asks for a permit with its inbox prefix and gets the coordinator's answer`, async () => {
    const agent = await connectNatsBus({
      servers: topology.hub.url,
      name: "agent",
      user: `agent-${B}`,
      passwordFile: await topology.passwordFile(`agent-${B}`),
      inboxPrefix: `_INBOX.agent.${B}`,
    });
    const asked: string[] = [];
    const sub = coordinator.subscribe(`smtpprobe.v1.permit.${B}`, (msg) => {
      asked.push(msg.subject);
      msg.respond(new TextEncoder().encode("granted"));
    });
    try {
      await delay(100);
      const answer = await withTimeout(
        new Promise<string>((resolve) =>
          agent.request(`smtpprobe.v1.permit.${B}`, new Uint8Array(), (e) => resolve(e.kind === "message" ? new TextDecoder().decode(e.data) : e.kind)),
        ),
        3000,
        "the permit answer",
      );
      expect(answer).toBe("granted");
      expect(asked).toEqual([`smtpprobe.v1.permit.${B}`]);
    } finally {
      sub.unsubscribe();
      await agent.drain();
    }
  });

  it(`an agent of ${B} cannot subscribe to ${A}'s tasks or cancels, nor outside its queue group, nor to another inbox`, async () => {
    const b = await client(topology.hub.url, `agent-${B}`, { inboxPrefix: `_INBOX.agent.${B}` });
    for (const [subject, queue] of [
      [SUBJECTS.task(A), SUBJECTS.queue(A)],
      [SUBJECTS.task(A), undefined],
      [SUBJECTS.cancel(A), undefined],
      [SUBJECTS.task(B), undefined], // its own tasks, but outside the queue group: it would see every task of the region
      ["smtpprobe.v1.>", undefined],
      ["_INBOX.>", undefined],
      [`_INBOX.agent.${A}.>`, undefined],
    ] as const) {
      const { error } = await subscribeRefused(b, subject, queue);
      expect(error, `${subject}${queue ? ` (queue ${queue})` : ""}`).toMatch(/Permissions Violation for Subscription/);
    }
    // Its own region's subjects are fine.
    for (const [subject, queue] of [
      [SUBJECTS.task(B), SUBJECTS.queue(B)],
      [SUBJECTS.cancel(B), undefined],
    ] as const) {
      const { error, sub } = await subscribeRefused(b, subject, queue);
      expect(error, subject).toBeUndefined();
      sub.unsubscribe();
    }
    // And a task for A finds nobody, B's attempts notwithstanding.
    const [report] = await dispatchProbe(plan([A]), { bus: coordinator, logger: silentLogger() });
    expect(report!.status).toBe(TaskStatus.TASK_STATUS_NO_AGENT);
  });

  it(`an agent of ${B} cannot publish a forged result to the coordinator's inbox, a task, or ${A}'s permit subject`, async () => {
    const b = await client(topology.hub.url, `agent-${B}`, { inboxPrefix: `_INBOX.agent.${B}` });
    // B takes one real task of its own and learns the coordinator's reply subject from it.
    const reply = new Promise<string>((resolve) =>
      b.nc.subscribe(SUBJECTS.task(B), { queue: SUBJECTS.queue(B), callback: (_e, m) => m.reply && resolve(m.reply) }),
    );
    await b.nc.flush();
    const ended = dispatchProbe(plan([B], 1500), { bus: coordinator, logger: silentLogger() });
    const replySubject = await withTimeout(reply, 3000, "the task at B");
    const inbox = replySubject.slice(0, replySubject.lastIndexOf("."));
    const before = await dropped("unknown_reply_subject");
    const forged = AgentMessage.encode(AgentMessage.fromPartial({ taskId: "x", agentId: "forger" })).finish();
    for (const subject of [`${inbox}.1`, `${inbox}.forged`, "_INBOX.anything", SUBJECTS.task(A), `smtpprobe.v1.permit.${A}`, "smtpprobe.v1.cancel.us-east"]) {
      b.errors.length = 0;
      b.nc.publish(subject, forged);
      await b.nc.flush();
      expect(await b.violation("PERMISSIONS_VIOLATION"), subject).toBeTruthy();
    }
    await delay(200);
    expect(await dropped("unknown_reply_subject")).toBe(before); // the server stopped them: nothing arrived
    // Its own permit subject is open (the permit protocol).
    b.errors.length = 0;
    b.nc.publish(`smtpprobe.v1.permit.${B}`, new Uint8Array());
    await b.nc.flush();
    await delay(200);
    expect(b.errors).toEqual([]);
    await ended;
  });

  it(`a forged result on ${B}'s own reply subject, for a task it was not given, is dropped and counted; the real task still ends right`, async () => {
    const b = await client(topology.hub.url, `agent-${B}`, { inboxPrefix: `_INBOX.agent.${B}` });
    const p = plan([B]);
    const otherTaskId = `${p.probeId}.${A}.25`; // what A's task of this probe is called
    let lateSent: Promise<void> | undefined;
    b.nc.subscribe(SUBJECTS.task(B), {
      queue: SUBJECTS.queue(B),
      callback: (_e, m) => {
        const task = Task.decode(m.data);
        const say = (message: Parameters<typeof AgentMessage.fromPartial>[0]) => m.respond(AgentMessage.encode(AgentMessage.fromPartial({ agentId: "b-1", ...message })).finish());
        // First a result for A's task, on B's reply subject: must not count for either.
        say({ taskId: otherTaskId, result: resultFor({ ...task, taskId: otherTaskId, region: A }) });
        say({ taskId: task.taskId, progress: { taskId: task.taskId, region: B, port: 25, agentId: "b-1" } });
        // Then another agent's message on the same subject, then the real result.
        m.respond(AgentMessage.encode(AgentMessage.fromPartial({ agentId: "b-2", taskId: task.taskId, result: resultFor(task) })).finish());
        setTimeout(() => say({ taskId: task.taskId, result: resultFor(task) }), 50);
        lateSent = delay(300).then(() => void say({ taskId: task.taskId, result: resultFor(task) }));
      },
    });
    await b.nc.flush();
    const before = { otherTask: await dropped("other_task"), otherAgent: await dropped("other_agent"), late: await dropped("late") };
    const [report] = await dispatchProbe(p, { bus: coordinator, logger: silentLogger() });
    expect(report).toMatchObject({ status: TaskStatus.TASK_STATUS_DONE, agentId: "b-1", taskId: `${p.probeId}.${B}.25` });
    expect(report!.result?.host).toBe(HOST);
    expect(await dropped("other_task")).toBe(before.otherTask + 1);
    expect(await dropped("other_agent")).toBe(before.otherAgent + 1);
    // A reply after the task has ended arrives (allow_responses) and is dropped as late.
    await lateSent;
    await delay(200);
    expect(await dropped("late")).toBe(before.late + 1);
  });
});

describe.skipIf(nats.skip)("a compromised leaf server is still bounded by the hub", () => {
  let topology: DeployTopology;
  let rogue: ConfigServer;
  let coordinator: Bus;
  let honestA: RawClient;
  let attacker: RawClient;

  beforeAll(async () => {
    topology = await startDeployTopology();
    // B's leaf, rewritten by an attacker who holds B's hub credentials: no local permissions at all.
    const text = (await readFile(join(DEPLOY_NATS_DIR, `leaf-${B}.conf`), "utf8"))
      .replace(/^AGENT_PERMISSIONS: \{[\s\S]*?\n\}\n/m, "")
      .replace(", permissions: $AGENT_PERMISSIONS", "");
    const [port, httpPort] = [await freePort(), await freePort()];
    rogue = await startNatsServerFromConfig({
      name: `rogue-leaf-${B}`,
      dir: topology.dir,
      env: leafEnv(B, topology.hubLeafPort),
      port,
      httpPort,
      config: rewriteDeployConfig(text, { ports: { 4222: port, 8222: httpPort }, tlsDir: topology.tlsDir }),
    });
    await waitForLeafConnections(topology.hub, 1);
    coordinator = await connectNatsBus({
      servers: topology.hub.url,
      name: "coordinator",
      user: "coordinator",
      passwordFile: await topology.passwordFile("coordinator"),
      onDroppedReply: (reason) => metrics.agentMessagesDropped.inc({ reason }),
    });
    honestA = await rawClient(topology.hub.url, `agent-${A}`, { inboxPrefix: `_INBOX.agent.${A}` });
    attacker = await rawClient(rogue.url, `agent-${B}`);
  }, 30_000);
  afterAll(async () => {
    for (const c of [honestA, attacker]) await c?.nc.close().catch(() => undefined);
    await coordinator?.drain();
    await rogue?.stop();
    await topology?.stop();
  });

  it(`receives none of ${A}'s tasks or cancels, whatever it subscribes to`, async () => {
    const seen: string[] = [];
    for (const [subject, queue] of [
      [SUBJECTS.task(A), SUBJECTS.queue(A)],
      [SUBJECTS.task(A), undefined],
      [SUBJECTS.cancel(A), undefined],
      ["smtpprobe.v1.>", undefined],
      [">", undefined],
    ] as const) {
      attacker.nc.subscribe(subject, { queue, callback: (_e, m) => m && seen.push(m.subject) });
    }
    await attacker.nc.flush();
    await delay(500); // interest crosses the leaf connection
    const reports = await dispatchProbe(plan([A, B], 1000), { bus: coordinator, logger: silentLogger() });
    expect(reports.find((r) => r.region === A)!.status).toBe(TaskStatus.TASK_STATUS_NO_AGENT);
    coordinator.publish(SUBJECTS.cancel(A), new Uint8Array([1]));
    await delay(300);
    expect(seen.filter((s) => s.includes(A))).toEqual([]);
    // Not vacuous: its subscriptions did cross the leaf connection, and B's own task reached it.
    expect(seen).toContain(SUBJECTS.task(B));
  });

  it(`cannot send ${A}'s agents a task, and a reply it forges to an inbox is dropped and counted`, async () => {
    const atA: string[] = [];
    honestA.nc.subscribe(SUBJECTS.task(A), { queue: SUBJECTS.queue(A), callback: (_e, m) => m && atA.push(m.subject) });
    await honestA.nc.flush();
    await delay(300);
    attacker.nc.publish(SUBJECTS.task(A), new Uint8Array([1]));
    await attacker.nc.flush();
    // The honest agent does hear a task sent by the coordinator.
    coordinator.publish(SUBJECTS.task(A), new Uint8Array([2]));
    for (let i = 0; i < 50 && atA.length === 0; i++) await delay(20);
    expect(atA).toEqual([SUBJECTS.task(A)]);
    // What a leaf may publish to (nats-server does not apply allow_responses to leaf connections):
    // a coordinator-style inbox. The token is random, so a guess reaches no task.
    const reply = new Promise<string>((resolve) =>
      attacker.nc.subscribe(SUBJECTS.task(B), { queue: SUBJECTS.queue(B), callback: (_e, m) => m.reply && resolve(m.reply) }),
    );
    await attacker.nc.flush();
    await delay(300);
    const ended = dispatchProbe(plan([B], 1200), { bus: coordinator, logger: silentLogger() });
    const replySubject = await withTimeout(reply, 3000, "the task at the rogue leaf");
    const inbox = replySubject.slice(0, replySubject.lastIndexOf("."));
    const before = await dropped("unknown_reply_subject");
    attacker.nc.publish(`${inbox}.1`, AgentMessage.encode(AgentMessage.fromPartial({ taskId: "x", agentId: "forger" })).finish());
    await attacker.nc.flush();
    await delay(300);
    expect(await dropped("unknown_reply_subject")).toBe(before + 1);
    expect(atA).toEqual([SUBJECTS.task(A)]); // the coordinator's only
    const [report] = await ended;
    expect(report!.status).toBe(TaskStatus.TASK_STATUS_AGENT_LOST); // it never answered its own task
  });
});

describe("a message larger than NATS would carry", () => {
  it("is dropped before decoding, counted as too_large, and ends its task INVALID_REPORT (the in-process bus has no max_payload)", async () => {
    const bus = new MemoryBus();
    bus.subscribe(SUBJECTS.task(B), (msg) => msg.respond(new Uint8Array(AGENT_MESSAGE_LIMITS.maxMessageBytes + 1)), { queue: SUBJECTS.queue(B) });
    const before = await dropped("too_large");
    const [report] = await dispatchProbe(plan([B]), { bus, logger: silentLogger() });
    expect(report).toMatchObject({ status: TaskStatus.TASK_STATUS_INVALID_REPORT, detail: expect.stringContaining(`limit ${AGENT_MESSAGE_LIMITS.maxMessageBytes}`) });
    expect(await dropped("too_large")).toBe(before + 1);
    await bus.drain();
  });
});
