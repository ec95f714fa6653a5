// Two monitor schedulers (two coordinators' worth) sharing a private nats-server with JetStream,
// the probe operation in between replaced by a recorder (what is tested is the scheduling, not the
// probe): every run of every monitor is kept once and probed once whichever scheduler claims it
// (twice only when a scheduler held up past its lease is taken over, and told so), a
// monitor created after the start is picked up through the watch, a deleted one stops, and when
// one scheduler drains (as its coordinator shuts down) the other probes every run from then on; a
// draining scheduler lets the run it probes end and keeps it, and stops one still probing after
// the grace; after a restart of nats-server a monitor created then is found.
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MonitorEvent } from "../../../../gen/smtpprobe/v1/monitor.js";
import { ProbeReport, ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger, type Logger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import type { TargetPolicyChecker } from "../../../../lib/policy/target-policy.js";
import { MonitorScheduler } from "../../../../services/coordinator/monitor/monitor-scheduler.js";
import { monitorEventSubject, MonitorStore } from "../../../../services/coordinator/monitor/monitor-store.js";
import type { MonitorRecord } from "../../../../services/coordinator/monitor/monitor-records.js";
import type { ProbeOperations } from "../../../../services/coordinator/probe-service.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { delay, waitFor } from "../../../helpers/wait.js";

const nats = await need(natsServerAvailable);
const INTERVAL_MS = 1_000;
const MONITORS = 20;

/** A logger that keeps the runs ("monitorId.run") a scheduler was told another had taken over. */
function takeoverLog(): { logger: Logger; takenOver: Set<string> } {
  const takenOver = new Set<string>();
  const write = (line: string): void => {
    const entry = JSON.parse(line) as { msg: string; monitorId?: string; run?: number };
    if (entry.msg.includes("taken over")) takenOver.add(`${entry.monitorId}.${entry.run}`);
  };
  return { logger: pino({ level: "info" }, { write }), takenOver };
}

describe.skipIf(nats.skip)("monitor schedulers sharing JetStream", () => {
  let server: NatsServer;
  let buses: Bus[];
  /** Each probe: the monitor (its caller here) and the run (from the deadline, the end of the run's interval). */
  const probes: { monitorId: string; run: number; by: string }[] = [];
  const records = new Map<string, MonitorRecord>();

  const recorder = (by: string): ProbeOperations =>
    ({
      probe: async (_request: ProbeRequest, call: { caller: string; deadline: number }) => {
        const record = records.get(call.caller)!;
        probes.push({ monitorId: call.caller, run: (call.deadline - record.createdAt) / record.intervalMs - 1, by });
        await delay(20);
        return ProbeReport.fromPartial({ complete: true });
      },
    }) as unknown as ProbeOperations;

  beforeAll(async () => {
    server = await startNatsServer();
    buses = await Promise.all([0, 1, 2].map((i) => connectNatsBus({ servers: server.url, name: `scheduler-${i}` })));
  });

  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.drain()));
    await server?.stop();
  });

  it(
    "each run kept once and probed once (twice only when taken over from a held-up scheduler) across two schedulers, also after one drains; created and deleted monitors followed",
    async () => {
      const [admin, ...stores] = await Promise.all(buses.map(async (bus) => (await MonitorStore.open(bus))!));
      const newMonitor = async (): Promise<MonitorRecord> => {
        const monitorId = randomUUID();
        const record: MonitorRecord = { monitorId, caller: monitorId, intervalMs: INTERVAL_MS, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: "198.18.0.1" }), webhookUrl: "", webhookSecret: "" };
        records.set(monitorId, record);
        await admin!.put(record);
        return record;
      };
      for (let i = 0; i < MONITORS; i++) await newMonitor();
      // Each run's event as kept; the runs a scheduler let go because another took them over (a
      // scheduler held up past its lease on a loaded machine: probed twice, kept once).
      const kept: string[] = [];
      const subscription = buses[0]!.subscribe(monitorEventSubject("*"), (message) => {
        const event = MonitorEvent.decode(message.data);
        kept.push(`${event.monitorId}.${event.run}`);
      });
      const { logger, takenOver } = takeoverLog();
      const schedulers = stores.map(
        (store, i) => new MonitorScheduler({ store, bus: buses[i + 1]!, operations: recorder(`s${i}`), logger, coordinatorId: `s${i}`, policy: {} as TargetPolicyChecker }),
      );
      for (const scheduler of schedulers) scheduler.start();
      try {
        const late = await newMonitor(); // created while the schedulers run: found through the watch
        await waitFor(() => probes.some((p) => p.monitorId === late.monitorId), 5_000, "a run of the monitor created after the start");
        await delay(3 * INTERVAL_MS);
        const gone = [...records.values()][0]!;
        await admin!.delete(gone);
        const stoppedAt = Date.now();
        await schedulers[0]!.drain(5_000); // a run it is probing ends here: none is probed twice
        await delay(4 * INTERVAL_MS);
        const end = Date.now();
        for (const scheduler of schedulers) scheduler.stop();

        const counts = new Map<string, number>();
        for (const p of probes) counts.set(`${p.monitorId}.${p.run}`, (counts.get(`${p.monitorId}.${p.run}`) ?? 0) + 1);
        expect([...counts].filter(([run, n]) => n > (takenOver.has(run) ? 2 : 1))).toEqual([]);
        // Every run probed whose interval ended before the end, kept (its event may still be on its way).
        const ended = [...counts.keys()].filter((run) => records.get(run.split(".")[0]!)!.createdAt + (Number(run.split(".")[1]) + 1) * INTERVAL_MS < end);
        await waitFor(() => ended.every((run) => kept.includes(run)), 2_000, () => `kept: ${ended.filter((run) => !kept.includes(run)).join(", ")} missing`);
        const keptCounts = new Map<string, number>();
        for (const run of kept) keptCounts.set(run, (keptCounts.get(run) ?? 0) + 1);
        expect([...keptCounts].filter(([, n]) => n > 1)).toEqual([]);
        // Every run from each monitor's first probed one to the last whose interval ended before the end, probed.
        const missed: string[] = [];
        for (const record of records.values()) {
          const runs = probes.filter((p) => p.monitorId === record.monitorId).map((p) => p.run);
          const last = record === gone ? Math.max(...runs) : Math.floor((end - record.createdAt) / INTERVAL_MS) - 1;
          for (let run = Math.min(...runs); run <= last; run++) if (!counts.has(`${record.monitorId}.${run}`)) missed.push(`${record.monitorId}.${run}`);
        }
        expect(missed).toEqual([]);
        // The deleted monitor stopped; after its stop the first scheduler probed nothing.
        expect(probes.filter((p) => p.monitorId === gone.monitorId && records.get(p.monitorId)!.createdAt + (p.run + 1) * INTERVAL_MS > stoppedAt + INTERVAL_MS)).toEqual([]);
        const afterStop = probes.filter((p) => records.get(p.monitorId)!.createdAt + p.run * INTERVAL_MS > stoppedAt + INTERVAL_MS);
        expect(afterStop.length).toBeGreaterThan(0);
        expect(afterStop.every((p) => p.by === "s1")).toBe(true);
        expect(new Set(probes.map((p) => p.by))).toEqual(new Set(["s0", "s1"]));
      } finally {
        for (const scheduler of schedulers) scheduler.stop();
        subscription.unsubscribe();
      }
    },
    60_000,
  );

  it(
    "a draining scheduler claims nothing more, lets the run it probes end and keeps it, and stops a run still probing after the grace",
    async () => {
      const [admin, store] = await Promise.all(buses.slice(0, 2).map(async (bus) => (await MonitorStore.open(bus))!));
      const monitorId = randomUUID();
      const record: MonitorRecord = { monitorId, caller: monitorId, intervalMs: INTERVAL_MS, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: "198.18.0.1" }), webhookUrl: "", webhookSecret: "" };
      records.set(monitorId, { ...record });
      await admin!.put(record);
      const started: { run: number; signal: AbortSignal; end: () => void }[] = [];
      const held = {
        probe: (_request: ProbeRequest, call: { caller: string; deadline: number }, options: { signal: AbortSignal }) =>
          new Promise((resolve, reject) => {
            if (call.caller !== monitorId) return resolve(ProbeReport.fromPartial({ complete: true })); // the earlier tests' monitors
            started.push({ run: (call.deadline - record.createdAt) / INTERVAL_MS - 1, signal: options.signal, end: () => resolve(ProbeReport.fromPartial({ complete: true })) });
            options.signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true });
          }),
      } as unknown as ProbeOperations;
      const events: number[] = [];
      const subscription = buses[0]!.subscribe(monitorEventSubject(monitorId), (message) => events.push(MonitorEvent.decode(message.data).run));
      const schedulerOn = () => new MonitorScheduler({ store: store!, bus: buses[1]!, operations: held, logger: silentLogger(), coordinatorId: "draining", policy: {} as TargetPolicyChecker });
      const ending = schedulerOn();
      const stopped = schedulerOn();
      try {
        // Drained with time to spare: the run probing ends within the grace, and is kept.
        ending.start();
        await waitFor(() => started.length === 1, 3 * INTERVAL_MS, "a run probing");
        let drained = false;
        const drain = ending.drain(5_000).then(() => (drained = true));
        await delay(2 * INTERVAL_MS); // past the next run's start: none is claimed
        expect({ drained, probing: started.length }).toEqual({ drained: false, probing: 1 });
        started[0]!.end();
        await drain;
        await waitFor(() => events.includes(started[0]!.run), 2_000, () => `the drained run kept: ${JSON.stringify({ events, started: started.map((s) => [s.run, s.signal.aborted]) })}`);
        expect(started[0]!.signal.aborted).toBe(false);

        // Drained with a short grace: the run still probing after it is stopped, and not kept.
        stopped.start();
        await waitFor(() => started.length === 2, 3 * INTERVAL_MS, "a second run probing");
        const graceStart = Date.now();
        await stopped.drain(200);
        expect(Date.now() - graceStart).toBeGreaterThanOrEqual(190);
        expect(started[1]!.signal.aborted).toBe(true);
        await delay(200);
        expect(events).toEqual([started[0]!.run]);
      } finally {
        ending.stop();
        stopped.stop();
        subscription.unsubscribe();
      }
    },
    30_000,
  );

  it(
    "after nats-server restarts, a monitor created then is found, and each run is still probed once",
    async () => {
      const [admin, ...stores] = await Promise.all(buses.map(async (bus) => (await MonitorStore.open(bus))!));
      const schedulers = stores.map(
        (store, i) => new MonitorScheduler({ store, bus: buses[i + 1]!, operations: recorder(`r${i}`), logger: silentLogger(), coordinatorId: `r${i}`, policy: {} as TargetPolicyChecker }),
      );
      for (const scheduler of schedulers) scheduler.start();
      try {
        await delay(500);
        await server.kill();
        await server.start();
        await waitFor(() => buses.every((bus) => bus.isConnected()), 10_000, "connected again");
        const monitorId = randomUUID();
        const created: MonitorRecord = { monitorId, caller: monitorId, intervalMs: INTERVAL_MS, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: "198.18.0.1" }), webhookUrl: "", webhookSecret: "" };
        records.set(monitorId, created);
        // JetStream is back with its store a moment after the port opens.
        await waitFor(async () => admin!.put(created).then(() => true, () => false), 10_000, "a write after the restart");
        await waitFor(() => probes.filter((p) => p.monitorId === monitorId).length >= 3, 15_000, () => `3 runs after the restart: ${probes.filter((p) => p.monitorId === monitorId).length}`);
        const runs = probes.filter((p) => p.monitorId === monitorId).map((p) => p.run);
        expect(runs).toEqual(Array.from({ length: runs.length }, (_, i) => runs[0]! + i));
      } finally {
        for (const scheduler of schedulers) scheduler.stop();
      }
    },
    60_000,
  );

  it(
    "a run whose coordinator dies while probing is taken over once its lease runs out, and kept once",
    async () => {
      const [admin, ...stores] = await Promise.all(buses.map(async (bus) => (await MonitorStore.open(bus))!));
      const interval = 2_000; // a lease of 500 ms
      const monitorId = randomUUID();
      const record: MonitorRecord = { monitorId, caller: monitorId, intervalMs: interval, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: "198.18.0.1" }), webhookUrl: "", webhookSecret: "" };
      records.set(monitorId, { ...record });
      await admin!.put(record);
      const runOf = (deadline: number): number => (deadline - record.createdAt) / interval - 1;
      const hung: number[] = [];
      // The first coordinator's probe never ends by itself: it dies while probing.
      const hanging = {
        probe: (_request: ProbeRequest, call: { caller: string; deadline: number }, options: { signal: AbortSignal }) =>
          new Promise((_resolve, reject) => {
            if (call.caller === monitorId) hung.push(runOf(call.deadline)); // the earlier tests' monitors run too
            options.signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true });
          }),
      } as unknown as ProbeOperations;
      const taken: number[] = [];
      const quick = {
        probe: async (_request: ProbeRequest, call: { caller: string; deadline: number }) => {
          if (call.caller === monitorId) taken.push(runOf(call.deadline));
          return ProbeReport.fromPartial({ complete: true });
        },
      } as unknown as ProbeOperations;
      const events: number[] = [];
      const subscription = buses[0]!.subscribe(monitorEventSubject(monitorId), (message) => events.push(MonitorEvent.decode(message.data).run));
      const dying = new MonitorScheduler({ store: stores[0]!, bus: buses[1]!, operations: hanging, logger: silentLogger(), coordinatorId: "dying", policy: {} as TargetPolicyChecker });
      const taker = new MonitorScheduler({ store: stores[1]!, bus: buses[2]!, operations: quick, logger: silentLogger(), coordinatorId: "taker", policy: {} as TargetPolicyChecker });
      dying.start();
      try {
        await waitFor(() => hung.length > 0, 3 * interval, "the first coordinator probing run 1");
        const run = hung[0]!;
        taker.start();
        await delay(100); // the taker sees the run held, its lease still running
        dying.stop(); // no renewal from now on, no done mark: as a coordinator that died
        await waitFor(() => taken.includes(run), interval, () => `run ${run} taken over: ${JSON.stringify({ taken, events })}`);
        await waitFor(() => events.includes(run + 1), 2 * interval, () => `run ${run + 1} after it: ${JSON.stringify({ taken, events })}`);
        expect(hung).toEqual([run]);
        expect(events.filter((r) => r === run)).toHaveLength(1);
        expect(taken.filter((r) => r === run)).toHaveLength(1);
      } finally {
        dying.stop();
        taker.stop();
        subscription.unsubscribe();
      }
    },
    30_000,
  );
});
