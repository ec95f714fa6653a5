// SharedProbes without gRPC or NATS: each run is a promise the test settles, the store is the
// memory report store.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ProbeReport, type ProbeEvent } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { silentLogger, type Logger } from "../../../../lib/logger.js";
import { MemoryReportStore, type ReportStore } from "../../../../services/coordinator/report-store.js";
import { IdempotencyKeyReusedError, SharedProbes, type ProbeKeys, type RunningProbe } from "../../../../services/coordinator/shared-probes.js";

interface Run {
  probe: RunningProbe;
  succeed(probeId?: string): ProbeReport;
  fail(error: Error): void;
}

interface Call {
  report: Promise<ProbeReport>;
  events: ProbeEvent[];
  leave(): void;
  /** The report or the error, without an unhandled rejection in between. */
  outcome: Promise<{ report?: ProbeReport; error?: unknown }>;
}

type Store = Pick<ReportStore, "put" | "get" | "getIdempotency" | "putIdempotency">;

function harness(store: Store = new MemoryReportStore({ ttlMs: 60_000 }), logger: Logger = silentLogger()) {
  const runs: Run[] = [];
  const probes = new SharedProbes({ keys: store, findReport: (probeId) => store.get(probeId), logger });
  const start = (probe: RunningProbe): Promise<ProbeReport> =>
    new Promise((resolve, reject) => {
      runs.push({
        probe,
        succeed(probeId = `probe-${runs.length}`) {
          const report = ProbeReport.fromPartial({ probeId });
          resolve(report);
          return report;
        },
        fail: reject,
      });
    });
  function call(keys: ProbeKeys, options: { aborted?: boolean } = {}): Call {
    const controller = new AbortController();
    if (options.aborted) controller.abort();
    const events: ProbeEvent[] = [];
    const report = probes.startOrJoin(keys, { signal: controller.signal, emit: (e) => events.push(e) }, start);
    const outcome = report.then(
      (r) => ({ report: r }),
      (error: unknown) => ({ error }),
    );
    return { report, events, leave: () => controller.abort(), outcome };
  }
  return { probes, runs, call, store };
}

/** Lets the awaits inside startOrJoin (store lookups) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const keys = (request: string, idempotency = ""): ProbeKeys => ({ request: `alice\u0000${request}`, idempotency: idempotency && `alice\u0000${idempotency}` });

describe("SharedProbes: joining a running probe", () => {
  it.each<[string, ProbeKeys, ProbeKeys, number]>([
    ["the same request", keys("r1"), keys("r1"), 1],
    ["the same request with a key of its own", keys("r1"), keys("r1", "k2"), 1],
    ["the same request with another key", keys("r1", "k1"), keys("r1", "k2"), 1],
    ["another request", keys("r1"), keys("r2"), 2],
    ["another caller's identical request (keys are scoped to the caller)", keys("r1"), { request: "bob\u0000r1", idempotency: "" }, 2],
  ])("%s: %d run(s)", async (_name, first, second, expectedRuns) => {
    const h = harness();
    const a = h.call(first);
    await settle();
    const b = h.call(second);
    await settle();
    expect(h.runs).toHaveLength(expectedRuns);
    const reports = h.runs.map((run, i) => run.succeed(`probe-${i}`));
    expect(await a.report).toEqual(reports[0]);
    expect(await b.report).toEqual(reports[expectedRuns - 1]);
    if (expectedRuns === 1) expect(h.runs[0]?.probe.joined).toBe(1);
  });

  it("a joiner gets the accepted event first, then the events from its joining on", async () => {
    const h = harness();
    const a = h.call(keys("r1"));
    const run = h.runs[0]!;
    const accepted: ProbeEvent = { accepted: { probeId: "p", regions: ["eu-west"], ports: [25], deadline: undefined } };
    const early: ProbeEvent = { progress: { taskId: "p.eu-west.25", region: "eu-west", port: 25, agentId: "a", phase: 1, host: "", address: "", queued: false } };
    run.probe.emit(accepted);
    run.probe.emit(early);
    const b = h.call(keys("r1"));
    await settle();
    const late: ProbeEvent = { progress: { ...early.progress!, phase: 2 } };
    run.probe.emit(late);
    run.succeed();
    await Promise.all([a.report, b.report]);
    expect(a.events).toEqual([accepted, early, late]);
    expect(b.events).toEqual([accepted, late]);
  });

  it("one of two callers leaves: the probe goes on for the other; the one who left hears no more events", async () => {
    const h = harness();
    const a = h.call(keys("r1"));
    const b = h.call(keys("r1"));
    await settle();
    const run = h.runs[0]!;
    a.leave();
    expect(run.probe.signal.aborted).toBe(false);
    run.probe.emit({ accepted: { probeId: "p", regions: [], ports: [25], deadline: undefined } });
    expect(a.events).toEqual([]);
    expect(b.events).toHaveLength(1);
    const report = run.succeed();
    expect(await b.report).toEqual(report);
    // Its promise still settles (call-tracker.ts answers nobody on a cancelled call).
    expect(await a.report).toEqual(report);
  });

  it("everyone leaves: the probe is cancelled and nobody can join it any more", async () => {
    const h = harness();
    const a = h.call(keys("r1", "k1"));
    await settle();
    const b = h.call(keys("r1", "k2"));
    await settle();
    const cancelled = h.runs[0]!;
    expect(h.probes.size).toEqual({ requests: 1, idempotencyKeys: 2 });
    a.leave();
    b.leave();
    expect(cancelled.probe.signal.aborted).toBe(true);
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 0 });
    for (const again of [keys("r1"), keys("r8", "k1"), keys("r9", "k2")]) {
      h.call(again);
      await settle();
    }
    expect(h.runs).toHaveLength(4);
    cancelled.succeed();
    await Promise.all([a.outcome, b.outcome]);
  });

  it("a call that has left before it joins cancels a probe nobody else waits for", async () => {
    const h = harness();
    const a = h.call(keys("r1"), { aborted: true });
    expect(h.runs[0]?.probe.signal.aborted).toBe(true);
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 0 });
    h.runs[0]!.succeed();
    await a.outcome;
  });
});

describe("SharedProbes: idempotency keys", () => {
  it("a key finds the stored report of the same request: no new run", async () => {
    const h = harness();
    const first = h.call(keys("r1", "k1"));
    await settle();
    const run = h.runs[0]!;
    const report = run.succeed("probe-1");
    await first.report;
    await h.store.put(report);
    await run.probe.reportStored(report, true);
    const call = h.call(keys("r1", "k1"));
    expect(await call.report).toEqual(report);
    expect(call.events).toEqual([]);
    expect(h.runs).toHaveLength(1);
    // Without the key, the same request once the report exists is a new probe.
    h.call(keys("r1"));
    await settle();
    expect(h.runs).toHaveLength(2);
  });

  it("the key map empties once the report is stored, every key written beside it", async () => {
    const store = new MemoryReportStore({ ttlMs: 60_000 });
    const h = harness(store);
    const first = h.call(keys("r1", "k1"));
    await settle();
    const joiner = h.call(keys("r1", "k2"));
    await settle();
    const run = h.runs[0]!;
    expect(h.probes.size).toEqual({ requests: 1, idempotencyKeys: 2 });
    const report = run.succeed("probe-1");
    await Promise.all([first.report, joiner.report]);
    // Answered, not stored yet: the keys still find the probe, the request no longer does.
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 2 });
    const meanwhile = h.call(keys("r1", "k2"));
    expect(await meanwhile.report).toEqual(report);
    expect(h.runs).toHaveLength(1);

    await store.put(report);
    await run.probe.reportStored(report, true);
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 0 });
    // Each key with the request it names.
    expect(await store.getIdempotency(keys("", "k1").idempotency)).toEqual({ probeId: "probe-1", request: keys("r1").request });
    expect(await store.getIdempotency(keys("", "k2").idempotency)).toEqual({ probeId: "probe-1", request: keys("r1").request });
  });

  it("a key that names a newer probe stays when the older one's report is stored", async () => {
    const h = harness();
    const a = h.call(keys("r1", "k1"));
    await settle();
    a.leave();
    const b = h.call(keys("r1", "k1"));
    await settle();
    expect(h.runs).toHaveLength(2);
    const [older, newer] = h.runs as [Run, Run];
    await older.probe.reportStored(older.succeed("older"), true);
    expect(h.probes.size).toEqual({ requests: 1, idempotencyKeys: 1 });
    const c = h.call(keys("r1", "k1"));
    await settle();
    expect(h.runs).toHaveLength(2);
    const report = newer.succeed("newer");
    expect(await b.report).toEqual(report);
    expect(await c.report).toEqual(report);
    await a.outcome;
  });
});

describe("SharedProbes: failures", () => {
  it.each<[string, (run: Run, store: MemoryReportStore) => Promise<void>, "written" | "not written"]>([
    [
      "the report is stored",
      async (run, store) => {
        const report = run.succeed("probe-1");
        await store.put(report);
        await run.probe.reportStored(report, true);
      },
      "written",
    ],
    ["the report could not be stored", (run) => run.probe.reportStored(run.succeed("probe-1"), false), "not written"],
    ["the run failed", async (run) => run.fail(new Error("boom")), "not written"],
  ])("%s: every key is forgotten here, and %s to the store", async (_name, end, written) => {
    const store = new MemoryReportStore({ ttlMs: 60_000 });
    const h = harness(store);
    const a = h.call(keys("r1", "k1"));
    await settle();
    const b = h.call(keys("r1", "k2"));
    await settle();
    const run = h.runs[0]!;
    await end(run, store);
    const outcomes = await Promise.all([a.outcome, b.outcome]);
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 0 });
    for (const key of ["k1", "k2"]) {
      expect((await store.getIdempotency(keys("", key).idempotency))?.probeId).toBe(written === "written" ? "probe-1" : undefined);
    }
    // A repeated key: the stored report, else a new probe.
    const again = h.call(keys("r1", "k1"));
    await settle();
    expect(h.runs).toHaveLength(written === "written" ? 1 : 2);
    if (written === "written") expect((await again.report).probeId).toBe("probe-1");
  });

  it("a key that cannot be written is logged and forgotten; reportStored does not reject", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const memory = new MemoryReportStore({ ttlMs: 60_000 });
    const store: Store = {
      put: (report) => memory.put(report),
      get: (probeId) => memory.get(probeId),
      getIdempotency: (key) => memory.getIdempotency(key),
      putIdempotency: () => Promise.reject(new Error("KV timeout")),
    };
    const h = harness(store, logger);
    const a = h.call(keys("r1", "k1"));
    await settle();
    const run = h.runs[0]!;
    const report = run.succeed("probe-1");
    await a.report;
    await expect(run.probe.reportStored(report, true)).resolves.toBeUndefined();
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 0 });
    expect(lines).toEqual([expect.objectContaining({ msg: "could not store the idempotency key", probeId: "probe-1" })]);
  });

  it("a key lookup that fails fails the call, and starts nothing", async () => {
    const memory = new MemoryReportStore({ ttlMs: 60_000 });
    const error = new Error("NATS is away");
    const h = harness({ put: (r) => memory.put(r), get: (id) => memory.get(id), getIdempotency: () => Promise.reject(error), putIdempotency: (k, id) => memory.putIdempotency(k, id) });
    expect(await h.call(keys("r1", "k1")).outcome).toEqual({ error });
    expect(h.runs).toHaveLength(0);
    expect(h.probes.size).toEqual({ requests: 0, idempotencyKeys: 0 });
  });

  it("a key naming a report that has expired starts a new probe", async () => {
    const store = new MemoryReportStore({ ttlMs: 60_000 });
    await store.putIdempotency(keys("", "k1").idempotency, { probeId: "gone", request: keys("r2").request });
    const h = harness(store);
    h.call(keys("r1", "k1"));
    await settle();
    expect(h.runs).toHaveLength(1);
  });
});

describe("SharedProbes: a key names one request (AIP-155)", () => {
  it("the same key with another request is refused while the first runs, naming its probe; the first goes on", async () => {
    const h = harness();
    const first = h.call(keys("r1", "k1"));
    await settle();
    const run = h.runs[0]!;
    const other = await h.call(keys("r2", "k1")).outcome;
    expect(other.error).toBeInstanceOf(IdempotencyKeyReusedError);
    expect((other.error as IdempotencyKeyReusedError).probeId).toBe(run.probe.probeId);
    expect(run.probe.probeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.runs).toHaveLength(1);
    expect(run.probe.signal.aborted).toBe(false);
    // The same key with the same request still joins it.
    const again = h.call(keys("r1", "k1"));
    const report = run.succeed();
    expect(await first.report).toEqual(report);
    expect(await again.report).toEqual(report);
  });

  it("refused between the answer and the store write too", async () => {
    const h = harness();
    const first = h.call(keys("r1", "k1"));
    await settle();
    const run = h.runs[0]!;
    run.succeed("probe-1");
    await first.report;
    expect((await h.call(keys("r2", "k1")).outcome).error).toBeInstanceOf(IdempotencyKeyReusedError);
  });

  it("refused after the report is stored, naming the stored probe; the same request still gets it", async () => {
    const h = harness();
    const first = h.call(keys("r1", "k1"));
    await settle();
    const run = h.runs[0]!;
    const report = run.succeed("probe-1");
    await first.report;
    await h.store.put(report);
    await run.probe.reportStored(report, true);
    const other = await h.call(keys("r2", "k1")).outcome;
    expect(other.error).toBeInstanceOf(IdempotencyKeyReusedError);
    expect((other.error as IdempotencyKeyReusedError).probeId).toBe("probe-1");
    expect(await h.call(keys("r1", "k1")).report).toEqual(report);
    expect(h.runs).toHaveLength(1);
  });

  it("a record that names no request (written before requests were kept) is not judged", async () => {
    const h = harness();
    await h.store.put(ProbeReport.fromPartial({ probeId: "old" }));
    await h.store.putIdempotency(keys("", "k1").idempotency, { probeId: "old" });
    expect((await h.call(keys("r9", "k1")).report).probeId).toBe("old");
  });

  it("another caller's identical key is another key", async () => {
    const h = harness();
    h.call(keys("r1", "k1"));
    await settle();
    const bob = h.call({ request: "bob\u0000r2", idempotency: "bob\u0000k1" });
    await settle();
    expect(h.runs).toHaveLength(2);
    for (const run of h.runs) run.succeed();
    await bob.report;
  });
});
