// Monitor events kept in JetStream, through two coordinators started in this process sharing a
// nats-server with JetStream started here, and an agent over the same server probing a closed port
// (a run ends at once): a gRPC watch that went away resumes with after_run on the other coordinator
// and gets the runs it missed exactly once, in order, then new ones; the HTTP watch resumes from
// `after_run` and from Last-Event-ID; a live watcher that stops reading is ended RESOURCE_EXHAUSTED
// past MAX_WATCH_BACKLOG_BYTES (events appended here to the coordinators' stream, so the bytes pile
// up at once), names the run to resume after, and resuming there misses nothing, while a watcher of
// the kept events is held back to its reader's pace and the coordinator goes on; the same over
// HTTP; deleting a monitor removes its events.
import { randomUUID } from "node:crypto";
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../../../agents/probe/agent.js";
import { Monitor, MonitorEvent, MonitorServiceDefinition, WatchMonitorRequest } from "../../../../gen/smtpprobe/v1/monitor.js";
import { ProbeRequest, VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus, RecordLog } from "../../../../lib/bus.js";
import { grpcClientConstructor } from "../../../../lib/grpc-service.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { CallError } from "../../../../services/coordinator/call-tracker.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { MONITOR_EVENT_LIMITS, MONITOR_EVENT_STREAM, MonitorEventLog } from "../../../../services/coordinator/monitor/monitor-events.js";
import { createMonitorOperations, MAX_WATCH_BACKLOG_BYTES, type WatchSink } from "../../../../services/coordinator/monitor/monitor-service.js";
import { monitorEventSubject, MonitorStore } from "../../../../services/coordinator/monitor/monitor-store.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { freePort } from "../../../helpers/free-port.js";
import { fetchHttp, postJson } from "../../../helpers/http-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { delay, waitFor, withTimeout } from "../../../helpers/wait.js";
import { SseParser } from "../../../../web/sse-parser.js";
import { startRegionAgent } from "./region-agent.js";

const nats = await need(natsServerAvailable);
const REGION = "eu-west";
const MonitorClient = grpcClientConstructor(MonitorServiceDefinition);
type Client = InstanceType<typeof MonitorClient>;

/**
 * A gRPC watch and what it has received so far; `subscribed` resolves with the response's headers,
 * sent once the watch will miss no run; `ended` with its error (undefined: none).
 */
interface Watch {
  stream: ClientReadableStream<MonitorEvent>;
  events: MonitorEvent[];
  subscribed: Promise<void>;
  ended: Promise<ServiceError | undefined>;
}

function watchOf(client: Client, request: Partial<WatchMonitorRequest> & { monitorId: string }, reading = true): Watch {
  const stream = client.watchMonitor(WatchMonitorRequest.fromPartial(request), new Metadata());
  const events: MonitorEvent[] = [];
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on("error", (error: ServiceError) => resolve(error));
    stream.on("end", () => resolve(undefined));
  });
  const subscribed = new Promise<void>((resolve) => stream.once("metadata", () => resolve()));
  if (reading) stream.on("data", (event: MonitorEvent) => events.push(event));
  return { stream, events, subscribed, ended };
}

/** An SSE watch read until `count` events: each event's id and the MonitorEvent in its data. */
function sseRuns(url: string, count: number, headers: Record<string, string> = {}): Promise<{ id: string | undefined; event: MonitorEvent }[]> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      const parser = new SseParser();
      const found: { id: string | undefined; event: MonitorEvent }[] = [];
      res.on("data", (chunk: Buffer) => {
        for (const { id, data } of parser.push(chunk.toString("utf8"))) found.push({ id, event: MonitorEvent.fromJSON(JSON.parse(data)) });
        if (found.length >= count) {
          req.destroy();
          resolve(found.slice(0, count));
        }
      });
      res.on("end", () => resolve(found));
    });
    req.on("error", (error) => (req.destroyed ? undefined : reject(error)));
    req.end();
  });
}

/** An SSE stream read block by block, which the test can pause and resume; `opened` once its headers came. */
function openSse(url: string): { opened: Promise<void>; blocks: { event: string; id: string | undefined; data: string }[]; ended: Promise<void>; pause(): void; resume(): void; close(): void } {
  const blocks: { event: string; id: string | undefined; data: string }[] = [];
  let response: IncomingMessage | undefined;
  let onOpen: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (onOpen = resolve));
  let req: ClientRequest | undefined;
  const ended = new Promise<void>((resolve) => {
    req = httpRequest(url, (res) => {
      response = res;
      onOpen();
      const parser = new SseParser();
      res.on("data", (chunk: Buffer) => {
        for (const { event, id, data } of parser.push(chunk.toString("utf8"))) blocks.push({ event, id, data });
      });
      res.on("end", () => resolve());
      res.on("close", () => resolve());
    });
    req.on("error", () => resolve());
    req.end();
  });
  return { opened, blocks, ended, pause: () => response?.pause(), resume: () => response?.resume(), close: () => req?.destroy() };
}

const runsOf = (events: readonly MonitorEvent[]): number[] => events.map((e) => e.run);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.skipIf(nats.skip)("monitor events kept in JetStream: resumed watches, the unread bound, deletion", () => {
  let server: NatsServer;
  let closedPort: number;
  let a: RunningCoordinator;
  let b: RunningCoordinator;
  let agentBus: Bus;
  let agent: RunningAgent;
  let testBus: Bus;
  let clientA: Client;
  let clientB: Client;

  const base = (c: RunningCoordinator): string => `http://127.0.0.1:${c.http!.port}`;
  const create = async (intervalSeconds: number): Promise<Monitor> => {
    const answer = await postJson(`${base(a)}/v1/monitors`, { probe: { host: "127.0.0.1", ports: [closedPort], regions: [REGION] }, intervalSeconds });
    expect(answer.status, answer.text).toBe(200);
    return Monitor.fromJSON(answer.json());
  };
  const remove = async (monitorId: string): Promise<void> => {
    expect((await fetchHttp(`${base(b)}/v1/monitors/${monitorId}`, { method: "DELETE" })).status).toBe(200);
  };

  beforeAll(async () => {
    [server, closedPort] = await Promise.all([startNatsServer(), freePort()]);
    const config = testCoordinatorConfig([closedPort], { nats: { servers: server.url }, http: { host: "127.0.0.1", port: 0 }, monitors: { minIntervalMs: 1_000, maxMonitors: 100, maxMonitorsPerCaller: 10 } });
    [a, b] = await Promise.all([startCoordinator(config, silentLogger()), startCoordinator(config, silentLogger())]);
    ({ bus: agentBus, agent } = await startRegionAgent(server.url, "monitor-events-agent", REGION, base(a)));
    testBus = await connectNatsBus({ servers: server.url, name: "monitor-events-test" });
    clientA = new MonitorClient(`127.0.0.1:${a.port}`, credentials.createInsecure());
    clientB = new MonitorClient(`127.0.0.1:${b.port}`, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    clientA?.close();
    clientB?.close();
    await Promise.all([a, b].map((c) => c?.stop(1_000)));
    await agent?.stop(0);
    await Promise.all([agentBus?.drain(), testBus?.drain()]);
    await server?.stop();
  });

  it("a gRPC watch that went away for some runs resumes with after_run on the other coordinator: the missed runs once, in order, then new ones", async () => {
    const monitor = await create(1);
    // A watcher that stays throughout: every run, as the coordinators kept it.
    const reference = watchOf(clientA, { monitorId: monitor.monitorId });
    const first = watchOf(clientB, { monitorId: monitor.monitorId });
    try {
      await waitFor(() => first.events.length >= 2, 15_000, () => `two runs: ${runsOf(first.events)}`);
      first.stream.cancel();
      const lastSeen = first.events[1]!.run;
      // Runs go on while nobody watches on b.
      await waitFor(() => reference.events.some((e) => e.run >= lastSeen + 3), 15_000, () => `three more runs: ${runsOf(reference.events)}`);
      const endedBefore = Math.max(...runsOf(reference.events));

      const resumed = watchOf(clientA, { monitorId: monitor.monitorId, afterRun: lastSeen });
      try {
        await waitFor(() => resumed.events.some((e) => e.run > endedBefore), 15_000, () => `a run after the resume: ${runsOf(resumed.events)}`);
        const runs = runsOf(resumed.events);
        expect(runs).toEqual(range(lastSeen + 1, runs.at(-1)!));
        // The kept events are the events as they were sent live.
        const live = new Map(reference.events.map((e) => [e.run, e]));
        for (const event of resumed.events.filter((e) => live.has(e.run))) expect(event).toEqual(live.get(event.run));
        expect(resumed.events.every((e) => e.monitorId === monitor.monitorId && e.report?.complete)).toBe(true);
      } finally {
        resumed.stream.cancel();
      }
    } finally {
      reference.stream.cancel();
      first.stream.cancel();
      await remove(monitor.monitorId);
    }
  }, 60_000);

  it("the HTTP watch resumes after `after_run` and after the Last-Event-ID an EventSource sends, or from the oldest kept run; a bad one is INVALID_ARGUMENT naming after_run", async () => {
    const monitor = await create(1);
    try {
      const url = `${base(b)}/v1/monitors/${monitor.monitorId}:watch`;
      const firstRuns = await withTimeout(sseRuns(url, 3), 15_000, "three runs");
      expect(firstRuns.map((r) => r.id)).toEqual(firstRuns.map((r) => String(r.event.run)));
      const after = firstRuns[0]!.event.run;
      // Both resume after the first run: the two runs seen next, then one more.
      for (const resumed of [await withTimeout(sseRuns(url, 3, { "last-event-id": String(after) }), 15_000, "Last-Event-ID"), await withTimeout(sseRuns(`${url}?afterRun=${after}`, 3), 15_000, "?afterRun")]) {
        expect(resumed.map((r) => r.event.run)).toEqual(range(after + 1, after + 3));
        expect(resumed.slice(0, 2).map((r) => r.event)).toEqual(firstRuns.slice(1).map((r) => r.event));
      }
      // The query wins over the header.
      const both = await withTimeout(sseRuns(`${url}?after_run=${after + 1}`, 1, { "last-event-id": String(after) }), 15_000, "both");
      expect(both.map((r) => r.event.run)).toEqual([after + 2]);
      // From the oldest kept: the first watch began before the first run, so it saw the same.
      const oldest = await withTimeout(sseRuns(`${url}?fromOldest=true`, 3), 15_000, "from the oldest");
      expect(oldest.map((r) => r.event)).toEqual(firstRuns.map((r) => r.event));

      const bad = await fetchHttp(url, { headers: { "last-event-id": "x" } });
      expect(bad.status).toBe(400);
      expect(bad.text).toContain("after_run");
    } finally {
      await remove(monitor.monitorId);
    }
  }, 60_000);

  it("a live watcher that stops reading ends RESOURCE_EXHAUSTED past the bound, saying where to resume; resumed there it misses nothing; a watcher of kept events waits for its reader; the coordinator goes on; deleted, the events go", async () => {
    // An interval of an hour: no run of its own during the test, only the events appended here.
    const monitor = await create(3600);
    const events = (await MonitorEventLog.open(testBus))!;
    const PAD = 200 * 1024;
    const RUNS = range(1, 41);
    const keep = (run: number) => events.keep(MonitorEvent.fromPartial({ monitorId: monitor.monitorId, run, error: `${run}`.padEnd(PAD, "x") }));
    expect((RUNS.length - 1) * PAD).toBeGreaterThan(MAX_WATCH_BACKLOG_BYTES * 1.5);

    // The slow watcher on a connection of its own (a stream not read holds its connection's
    // HTTP/2 window too): it reads run 1, then stops reading.
    const slowClient = new MonitorClient(`127.0.0.1:${a.port}`, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const slow = watchOf(slowClient, { monitorId: monitor.monitorId });
    // The fast one reads the kept events from the stream, at its own pace.
    const fast = watchOf(clientA, { monitorId: monitor.monitorId, afterRun: 1 });
    try {
      await withTimeout(Promise.all([slow.subscribed, fast.subscribed]), 10_000, "the watches' headers");
      await keep(1);
      await waitFor(() => slow.events.length === 1, 10_000, "run 1 live");
      slow.stream.pause();
      for (const run of RUNS.slice(1)) await keep(run);
      await waitFor(() => fast.events.length === RUNS.length - 1, 15_000, () => `the fast watcher's events: ${fast.events.length}`);
      expect(runsOf(fast.events)).toEqual(RUNS.slice(1));
      // Every event was offered to the slow watcher as it was kept; it reads again only now.
      await delay(200);
      slow.stream.resume();
      const error = await withTimeout(slow.ended, 10_000, "the slow watch's end");
      expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
      const lastRun = slow.events.at(-1)!.run;
      expect(runsOf(slow.events)).toEqual(range(1, lastRun));
      expect(lastRun).toBeLessThan(RUNS.at(-1)!);
      expect(error?.details).toContain(`after_run ${lastRun}`);

      const resumed = watchOf(clientA, { monitorId: monitor.monitorId, afterRun: lastRun });
      try {
        await waitFor(() => resumed.events.length === RUNS.at(-1)! - lastRun, 15_000, () => `the rest: ${runsOf(resumed.events)}`);
        expect([...runsOf(slow.events), ...runsOf(resumed.events)]).toEqual(RUNS);
        // Both still on: a new event reaches them.
        await events.keep(MonitorEvent.fromPartial({ monitorId: monitor.monitorId, run: 42 }));
        await waitFor(() => fast.events.at(-1)?.run === 42 && resumed.events.at(-1)?.run === 42, 10_000, "run 42");
      } finally {
        resumed.stream.cancel();
      }
    } finally {
      fast.stream.cancel();
      slow.stream.cancel();
      slowClient.close();
    }
    expect((await fetchHttp(`${base(a)}/v1/monitors/${monitor.monitorId}`)).status).toBe(200);

    const log = (await testBus.recordLog({ ...MONITOR_EVENT_STREAM, ...MONITOR_EVENT_LIMITS, duplicateWindowMs: 3_600_000 })) as RecordLog;
    expect(await log.count(monitorEventSubject(monitor.monitorId))).toBe(42);
    await remove(monitor.monitorId);
    expect(await log.count(monitorEventSubject(monitor.monitorId))).toBe(0);
  }, 60_000);
  it("over HTTP: a live watcher that stops reading gets an `error` event RESOURCE_EXHAUSTED naming the run to resume after; a watcher of kept events that pauses is held back, then gets every run", async () => {
    const monitor = await create(3600);
    const events = (await MonitorEventLog.open(testBus))!;
    // More than the bound and what the kernel's socket buffers on loopback take.
    const RUNS = range(1, 100);
    const keep = (run: number) => events.keep(MonitorEvent.fromPartial({ monitorId: monitor.monitorId, run, error: `${run}`.padEnd(200 * 1024, "x") }));
    const url = `${base(a)}/v1/monitors/${monitor.monitorId}:watch`;
    const live = openSse(url);
    const kept = openSse(`${url}?afterRun=1`);
    try {
      await withTimeout(Promise.all([live.opened, kept.opened]), 10_000, "the watches' headers");
      kept.pause();
      await keep(1);
      await waitFor(() => live.blocks.length === 1, 10_000, "run 1 live");
      live.pause();
      for (const run of RUNS.slice(1)) await keep(run);
      await delay(500);
      live.resume();
      await withTimeout(live.ended, 10_000, "the live watch's end");
      const last = live.blocks.at(-1)!;
      expect(last.event).toBe("error");
      const error = JSON.parse(last.data) as { code: number; message: string };
      const runs = live.blocks.slice(0, -1).map((b) => Number(b.id));
      expect(runs).toEqual(range(1, runs.length));
      expect(runs.length).toBeLessThan(RUNS.length);
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.message).toContain(`after_run ${runs.at(-1)}`);

      kept.resume();
      await waitFor(() => kept.blocks.length === RUNS.length - 1, 15_000, () => `the kept runs: ${kept.blocks.length}`);
      expect(kept.blocks.map((b) => [b.event, Number(b.id)])).toEqual(RUNS.slice(1).map((run) => ["run", run]));
    } finally {
      live.close();
      kept.close();
      await remove(monitor.monitorId);
    }
  }, 60_000);

  it("the operation: a reader of kept events that makes no room ends RESOURCE_EXHAUSTED naming the run to resume after; a run kept twice is sent once; with changes_only the kept runs without a change are left out; from_oldest from run 1, refused with after_run", async () => {
    const store = (await MonitorStore.open(testBus))!;
    const events = (await MonitorEventLog.open(testBus))!;
    const operations = createMonitorOperations({ store, events, bus: testBus, policy: createTargetPolicy(), logger: silentLogger(), limits: { minIntervalMs: 1_000, maxMonitors: 100, maxMonitorsPerCaller: 10, maxDeadlineMs: 10_000 } });
    const monitorId = randomUUID();
    await store.put({ monitorId, caller: "svc", intervalMs: 3_600_000, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: "127.0.0.1" }), webhookUrl: "", webhookSecret: "" });
    try {
      const change = [{ port: 25, kind: VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE, appeared: true }];
      const eventOf = (run: number) => MonitorEvent.fromPartial({ monitorId, run, changes: run === 3 || run === 4 ? change : [] });
      for (const run of range(1, 5)) await events.keep(eventOf(run));
      // Run 3 kept twice (a plain publish, as when an append's acknowledgement was lost): sent once.
      testBus.publish(monitorEventSubject(monitorId), MonitorEvent.encode(eventOf(3)).finish());
      await events.keep(eventOf(6));

      // Takes two events, then never makes room.
      const taken: number[] = [];
      const full: WatchSink = { send: (event) => taken.length < 2 && taken.push(event.run) > 0, room: () => Promise.resolve(false) };
      const refused = await operations.watch(WatchMonitorRequest.fromPartial({ monitorId, afterRun: 1 }), "svc", full, new AbortController().signal).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(CallError);
      expect((refused as CallError).error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect((refused as CallError).error.details).toContain("after_run 3");
      expect(taken).toEqual([2, 3]);

      // The runs a watch sends until `enough` says so (the watch is aborted then).
      const watchedRuns = async (request: Partial<WatchMonitorRequest>, enough: (runs: number[]) => boolean, what: string): Promise<number[]> => {
        const runs: number[] = [];
        const controller = new AbortController();
        const reader: WatchSink = {
          send: (event) => {
            runs.push(event.run);
            if (enough(runs)) controller.abort();
            return true;
          },
          room: () => Promise.resolve(true),
        };
        await withTimeout(operations.watch(WatchMonitorRequest.fromPartial({ monitorId, ...request }), "svc", reader, controller.signal), 10_000, what);
        return runs;
      };
      expect(await watchedRuns({ afterRun: 1, changesOnly: true }, (runs) => runs.length === 2, "the changes-only watch")).toEqual([3, 4]);
      expect(await watchedRuns({ afterRun: 1 }, (runs) => runs.at(-1) === 6, "the watch of every run")).toEqual([2, 3, 4, 5, 6]);
      expect(await watchedRuns({ fromOldest: true }, (runs) => runs.at(-1) === 6, "the watch from the oldest")).toEqual([1, 2, 3, 4, 5, 6]);
      const both = await operations.watch(WatchMonitorRequest.fromPartial({ monitorId, fromOldest: true, afterRun: 2 }), "svc", full, new AbortController().signal).catch((e: unknown) => e);
      expect((both as CallError).error.code).toBe(status.INVALID_ARGUMENT);
      expect((both as CallError).error.message).toContain("from_oldest");
    } finally {
      await operations.delete(monitorId, "svc");
    }
  }, 30_000);
});
