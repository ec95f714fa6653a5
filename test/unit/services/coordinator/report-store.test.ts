import { describe, expect, it } from "vitest";
import type { Bus, KeyValueStore, KeyWatch } from "../../../../lib/bus.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { DomainCheckReport } from "../../../../gen/smtpprobe/v1/domain.js";
import { TaskStatus, type ProbeReport } from "../../../../gen/smtpprobe/v1/probe_service.js";
import {
  KvReportStore,
  MemoryReportStore,
  idempotencyKey,
  openReportStore,
  reportKey,
  SERVED_REGIONS_KEY,
} from "../../../../services/coordinator/report-store.js";

function report(probeId: string, over: Partial<ProbeReport> = {}): ProbeReport {
  return {
    domainCheck: undefined,
    probeId,
    request: undefined,
    regions: ["eu-west"],
    tasks: [
      {
        taskId: `${probeId}.eu-west.25`,
        region: "eu-west",
        port: 25,
        status: TaskStatus.TASK_STATUS_NO_AGENT,
        detail: "no agent serves region eu-west",
        agentId: "",
        attempts: 1,
        result: undefined,
        egress: undefined,
        agentEgressPosture: undefined,
        durationMs: 2,
      },
    ],
    comparison: undefined,
    startedAt: new Date("2025-06-01T12:00:00Z"),
    finishedAt: new Date("2025-06-01T12:00:01Z"),
    durationMs: 1000,
    complete: false,
    deadlineMs: 0,
    callerDeadlineBound: false,
    ...over,
  };
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe("MemoryReportStore", () => {
  it("returns what was put, as a copy", async () => {
    const store = new MemoryReportStore({ ttlMs: 60_000 });
    const original = report("p1");
    await store.put(original);
    original.tasks[0]!.detail = "changed after put";
    const got = await store.get("p1");
    expect(got).toEqual(report("p1"));
    expect(await store.get("p2")).toBeUndefined();
    expect(store.kind).toBe("memory");
  });

  it("evicts the oldest report beyond maxReports", async () => {
    const store = new MemoryReportStore({ maxReports: 3, ttlMs: 60_000 });
    for (const id of ["p1", "p2", "p3", "p4"]) await store.put(report(id));
    expect(await store.get("p1")).toBeUndefined();
    for (const id of ["p2", "p3", "p4"]) expect((await store.get(id))?.probeId).toBe(id);
    expect(store.size).toBe(3);
  });

  it("a report put again becomes the newest, so it is evicted last", async () => {
    const store = new MemoryReportStore({ maxReports: 2, ttlMs: 60_000 });
    await store.put(report("p1"));
    await store.put(report("p2"));
    await store.put(report("p1", { complete: true }));
    await store.put(report("p3"));
    expect(await store.get("p2")).toBeUndefined();
    expect((await store.get("p1"))?.complete).toBe(true);
  });

  it("does not return expired reports, and forgets them", async () => {
    const { now, advance } = clock();
    const store = new MemoryReportStore({ ttlMs: 1000, now });
    await store.put(report("p1"));
    advance(500);
    await store.put(report("p2"));
    advance(499);
    expect(await store.get("p1")).toBeDefined();
    advance(1);
    expect(await store.get("p1")).toBeUndefined();
    expect(await store.get("p2")).toBeDefined();
    expect(store.size).toBe(1);
    advance(500);
    expect(await store.get("p2")).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it("keeps idempotency keys, bounded and expiring the same way", async () => {
    const { now, advance } = clock();
    const store = new MemoryReportStore({ maxReports: 2, ttlMs: 1000, now });
    await store.putIdempotency("key a", { probeId: "p1", request: "r1" });
    await store.putIdempotency("key b", { probeId: "p2", request: "r2" });
    expect(await store.getIdempotency("key a")).toEqual({ probeId: "p1", request: "r1" });
    await store.putIdempotency("key c", { probeId: "p3", request: "r3" });
    expect(await store.getIdempotency("key a")).toBeUndefined();
    expect(await store.getIdempotency("key c")).toEqual({ probeId: "p3", request: "r3" });
    advance(1000);
    expect(await store.getIdempotency("key c")).toBeUndefined();
  });

  it.each([0, -1, 1.5])("refuses maxReports %s", (maxReports) => {
    expect(() => new MemoryReportStore({ maxReports, ttlMs: 1000 })).toThrow(RangeError);
  });
});

/** The KeyValueStore contract with the key rule of JetStream KV, in memory. */
class StrictKv implements KeyValueStore {
  readonly values = new Map<string, Uint8Array>();
  async put(key: string, value: Uint8Array): Promise<void> {
    expect(key).toMatch(KV_KEY);
    this.values.set(key, value);
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    expect(key).toMatch(KV_KEY);
    return this.values.get(key);
  }
  async create(key: string, value: Uint8Array): Promise<boolean> {
    expect(key).toMatch(KV_KEY);
    if (this.values.has(key)) return false;
    this.values.set(key, value);
    return true;
  }
  async entry(key: string): Promise<{ value: Uint8Array; revision: number } | undefined> {
    const value = await this.get(key);
    return value ? { value, revision: 1 } : undefined;
  }
  async update(): Promise<boolean> {
    throw new Error("the report store does not update");
  }
  async delete(key: string): Promise<boolean> {
    this.values.delete(key);
    return true;
  }
  async keys(): Promise<string[]> {
    return [...this.values.keys()];
  }
  async watch(): Promise<KeyWatch> {
    throw new Error("the report store does not watch");
  }
}

// nats.js validateKey: tokens of [-/_=.a-zA-Z0-9], no empty token, no leading or trailing dot.
const KV_KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

describe("KV keys", () => {
  it.each(["0b9d6f2e-8f6e-4a8e-9a53-1c7c3f0f6a11", "probe_1"])("a plain probe id %s is kept readable", (id) => {
    expect(reportKey(id)).toBe(`report.${id}`);
  });

  it.each(["", "a.b", "a b", "*", ">", "..", "x".repeat(200), "é", "report.sha256.00"])("a probe id %j becomes a valid key", (id) => {
    expect(reportKey(id)).toMatch(KV_KEY);
    expect(reportKey(id)).toMatch(/^report\.sha256\.[0-9a-f]{64}$/);
  });

  it.each(["order-42", "with spaces and * > wildcards", "", "ünïcödé", "a.b.c"])("an idempotency key %j is hashed into a valid key", (key) => {
    expect(idempotencyKey(key)).toMatch(/^idempotency\.[0-9a-f]{64}$/);
  });

  it("different keys stay apart", () => {
    expect(idempotencyKey("a")).not.toBe(idempotencyKey("b"));
    expect(reportKey("a b")).not.toBe(reportKey("a  b"));
  });
});

describe("KvReportStore", () => {
  it("round-trips reports and idempotency keys through valid keys", async () => {
    const kv = new StrictKv();
    const store = new KvReportStore(kv);
    await store.put(report("p1"));
    await store.putIdempotency("caller's key: order 42/*", { probeId: "p1", request: "alice\u0000hash" });
    expect(await store.get("p1")).toEqual(report("p1"));
    expect(await store.getIdempotency("caller's key: order 42/*")).toEqual({ probeId: "p1", request: "alice\u0000hash" });
    expect(await store.get("not there")).toBeUndefined();
    expect(await store.getIdempotency("unknown")).toBeUndefined();
    expect(store.kind).toBe("kv");
  });

  it("round-trips domain checks beside the reports, in both stores", async () => {
    const check = DomainCheckReport.fromPartial({ checkId: "0f8e4a52-6c4d-4f55-9a6e-2b3c4d5e6f70", postures: [{ domain: "example.com", region: "us" }] });
    for (const store of [new KvReportStore(new StrictKv()), new MemoryReportStore({ ttlMs: 60_000 })]) {
      await store.putDomainCheck(check);
      expect(await store.getDomainCheck(check.checkId)).toEqual(check);
      expect(await store.getDomainCheck("unknown/../id")).toBeUndefined();
      expect(await store.get(check.checkId)).toBeUndefined();
    }
  });

  it("reads an idempotency record written as a bare probe id (before the request was kept) as naming no request", async () => {
    const kv = new StrictKv();
    kv.values.set(idempotencyKey("k"), new TextEncoder().encode("p1"));
    expect(await new KvReportStore(kv).getIdempotency("k")).toEqual({ probeId: "p1" });
    kv.values.set(idempotencyKey("bad"), new TextEncoder().encode("{not json"));
    await expect(new KvReportStore(kv).getIdempotency("bad")).rejects.toMatchObject({ name: "ReportStoreError" });
  });

  it("keeps the regions agents have served beside the reports", async () => {
    const kv = new StrictKv();
    const store = new KvReportStore(kv);
    expect(await store.getServedRegions()).toBeUndefined();
    await store.putServedRegions(["eu-west", "us-east"]);
    expect(await store.getServedRegions()).toEqual(["eu-west", "us-east"]);
    expect([...kv.values.keys()]).toEqual([SERVED_REGIONS_KEY]);
    kv.values.set(SERVED_REGIONS_KEY, new TextEncoder().encode('{"not":"a list"}'));
    await expect(store.getServedRegions()).rejects.toMatchObject({ name: "ReportStoreError", key: SERVED_REGIONS_KEY });
  });

  it("a stored value that does not decode is an error, not a report", async () => {
    const kv = new StrictKv();
    kv.values.set(reportKey("p1"), Uint8Array.from([0x0f, 0x01]));
    await expect(new KvReportStore(kv).get("p1")).rejects.toMatchObject({ name: "ReportStoreError", key: "report.p1" });
  });
});

describe("openReportStore", () => {
  it("keeps reports in memory on the in-process bus", async () => {
    const store = await openReportStore(new MemoryBus(), { ttlMs: 60_000, maxBytes: 1 << 20 });
    expect(store.kind).toBe("memory");
  });

  it("uses the bus's KV bucket when there is one", async () => {
    const kv = new StrictKv();
    const asked: unknown[] = [];
    const bus = Object.assign(new MemoryBus(), {
      keyValue: async (bucket: string, options: unknown) => (asked.push({ bucket, options }), kv),
    }) as Bus;
    const store = await openReportStore(bus, { ttlMs: 60_000, maxBytes: 1 << 20 });
    expect(store.kind).toBe("kv");
    expect(asked).toEqual([{ bucket: "smtpprobe-reports", options: { ttlMs: 60_000, maxBytes: 1 << 20 } }]);
  });

  it("falls back to memory when opening the bucket fails", async () => {
    const bus = Object.assign(new MemoryBus(), {
      keyValue: async () => {
        throw new Error("jetstream not enabled");
      },
    }) as Bus;
    expect((await openReportStore(bus, { ttlMs: 60_000, maxBytes: 1 << 20 })).kind).toBe("memory");
  });
});
