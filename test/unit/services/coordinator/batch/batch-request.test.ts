import { describe, expect, it } from "vitest";
import { CreateBatchRequest } from "../../../../../gen/smtpprobe/v1/batch.js";
import { ProbeRequest } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import {
  checkBatchRequest,
  decodeBatchItem,
  decodeBatchRecord,
  decodeBatchSpool,
  decodeQueuedCount,
  decodeTargetChunk,
  encodeBatchItem,
  encodeBatchRecord,
  encodeBatchSpool,
  encodeQueuedCount,
  encodeTargetChunk,
  itemRequest,
  TARGETS_PER_CHUNK,
} from "../../../../../services/coordinator/batch/batch-request.js";
import { validateProbeRequest } from "../../../../../services/coordinator/validate-request.js";

const LIMITS = { maxTargets: 3, maxDeadlineMs: 120_000 };
const check = (request: Parameters<typeof CreateBatchRequest.fromPartial>[0]) => checkBatchRequest(CreateBatchRequest.fromPartial(request), LIMITS);
const ID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

describe("checkBatchRequest", () => {
  it("accepts targets with and without ports; the shared options fill in the rest", () => {
    const checked = check({ targets: [{ host: "MX.Example.com" }, { host: "192.0.2.1", ports: [587] }], options: { ports: [25, 465], regions: ["eu-west"] } });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.value.items.map((i) => [i.host, i.isIpLiteral, i.ports, i.probePorts])).toEqual([
      ["mx.example.com", false, [], [25, 465]],
      ["192.0.2.1", true, [587], [587]],
    ]);
    expect(checked.value.options.regions).toEqual(["eu-west"]);
  });

  it.each([
    ["no target", { targets: [] }, [{ field: "targets", description: "is empty: give at least one target" }]],
    ["too many", { targets: [{ host: "a.example" }, { host: "b.example" }, { host: "c.example" }, { host: "d.example" }] }, [{ field: "targets", description: "at most 3 targets in one batch, got 4" }]],
    ["a host in the options", { targets: [{ host: "a.example" }], options: { host: "b.example" } }, [{ field: "options.host", description: "must be empty: each target names its host" }]],
    ["an idempotency key", { targets: [{ host: "a.example" }], options: { idempotencyKey: "k" } }, [{ field: "options.idempotency_key", description: "must be empty: a batch is created once per call" }]],
  ])("refuses %s", (_name, request, violations) => {
    expect(check(request)).toEqual({ ok: false, violations });
  });

  it("names the target whose host or ports are wrong, and a wrong shared option once", () => {
    const checked = check({ targets: [{ host: "a.example" }, { host: "bad host" }, { host: "c.example", ports: [0] }], options: { regions: ["EU"] } });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.violations.map((v) => v.field)).toEqual(["options.regions[0]", "targets[1].host", "targets[2].ports[0]"]);
  });

  // The options are checked once per list of ports and each host alone (without mx): the result must
  // be what checking every item's whole request gives.
  it.each([
    ["valid targets", { targets: [{ host: "a.example" }, { host: "[2001:db8::1]", ports: [587, 465] }, { host: "B.example.", ports: [587, 465] }], options: { ports: [25] } }],
    ["bad hosts and ports", { targets: [{ host: "bad host" }, { host: "c.example", ports: [0, 25] }, { host: "" }, { host: "fe80::1%eth0", ports: [25, 25] }] }],
    ["bad options", { targets: [{ host: "a.example" }, { host: "bad host" }], options: { regions: ["EU"], tlsModes: { 587: 1 }, options: { timeouts: { deadlineMs: 1 } } } }],
    ["mx with an IP literal", { targets: [{ host: "a.example" }, { host: "192.0.2.1" }], options: { mx: true } }],
  ])("checks %s as each item's whole request would be checked", (_name, request) => {
    const parsed = CreateBatchRequest.fromPartial(request);
    const limits = { ...LIMITS, maxTargets: 10 };
    const options = ProbeRequest.fromPartial(parsed.options ?? {});
    const whole = parsed.targets.map((target) => validateProbeRequest(itemRequest(options, target), limits));
    const checked = checkBatchRequest(parsed, limits);
    if (whole.every((w) => w.ok)) {
      expect(checked.ok && checked.value.items.map((i) => [i.host, i.isIpLiteral, i.probePorts])).toEqual(whole.map((w) => w.ok && [w.value.host, w.value.isIpLiteral, w.value.ports]));
      return;
    }
    expect(checked.ok).toBe(false);
    // Each item's violations, by field and description, in order (the batch names fields its own way).
    const descriptions = whole.flatMap((w) => (w.ok ? [] : w.violations.map((v) => v.description)));
    expect(checked.ok ? [] : checked.violations.map((v) => v.description)).toEqual([...new Set(descriptions)]);
  });

  it("reports at most 20 violations however many targets are wrong", () => {
    const targets = Array.from({ length: 30 }, (_, i) => ({ host: `bad host ${i}` }));
    const checked = checkBatchRequest(CreateBatchRequest.fromPartial({ targets }), { ...LIMITS, maxTargets: 100 });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.violations.map((v) => v.field)).toEqual(Array.from({ length: 20 }, (_, i) => `targets[${i}].host`));
  });
});

describe("the records", () => {
  it("an item's request is the options with its host and ports, no idempotency key", () => {
    const options = ProbeRequest.fromPartial({ ports: [25], regions: ["eu-west"], mx: true });
    expect(itemRequest(options, { host: "example.com", ports: [] })).toMatchObject({ host: "example.com", ports: [25], regions: ["eu-west"], mx: true, idempotencyKey: "" });
    expect(itemRequest(options, { host: "example.com", ports: [587] }).ports).toEqual([587]);
  });

  it("a spool job, a chunk of targets and a queued count read back as written; anything else is undefined", () => {
    expect(decodeBatchSpool(encodeBatchSpool(ID, 5_000))).toEqual({ batchId: ID, spool: true, total: 5_000, queued: 0 });
    expect(decodeBatchSpool(encodeBatchSpool(ID, 5_000, 4))).toEqual({ batchId: ID, spool: true, total: 5_000, queued: 4 });
    // A job of an earlier version, without the first items' count: none were queued with it.
    expect(decodeBatchSpool(Buffer.from(JSON.stringify({ batchId: ID, spool: true, total: 7 })))).toEqual({ batchId: ID, spool: true, total: 7, queued: 0 });
    expect(decodeBatchSpool(Buffer.from(JSON.stringify({ batchId: ID, spool: true, total: 7, queued: 8 })))).toBeUndefined();
    expect(decodeBatchSpool(Buffer.from(JSON.stringify({ batchId: ID, spool: true, total: 7, queued: -1 })))).toBeUndefined();
    expect(decodeBatchSpool(encodeBatchItem({ batchId: ID, index: 0, host: "a.example", ports: [] }))).toBeUndefined();
    expect(decodeBatchItem(encodeBatchSpool(ID, 1))).toBeUndefined();
    const targets = [{ host: "a.example", ports: [] }, { host: "192.0.2.1", ports: [25, 587] }];
    expect(decodeTargetChunk(encodeTargetChunk(targets))).toEqual(targets);
    expect(decodeTargetChunk(Buffer.from('[["a.example", [70000]]]'))).toBeUndefined();
    expect(decodeTargetChunk(Buffer.from("{}"))).toBeUndefined();
    expect(decodeQueuedCount(encodeQueuedCount(4_321))).toBe(4_321);
    // The largest chunk (the longest names, the most ports) stays below NATS's 1 MiB message bound.
    const longest = { host: `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`, ports: [65535, 65534, 65533, 65532, 65531, 65530, 65529, 65528] };
    expect(encodeTargetChunk(Array.from({ length: TARGETS_PER_CHUNK }, () => longest)).length).toBeLessThan(1024 * 1024);
    expect(decodeQueuedCount(Buffer.from("-1"))).toBeUndefined();
  });

  it("a record and an item read back as written", () => {
    const record = { batchId: ID, caller: "svc", total: 3, createdAt: 1_700_000_000_000, cancelled: false, options: ProbeRequest.fromPartial({ ports: [25], regions: ["eu-west"] }) };
    expect(decodeBatchRecord(encodeBatchRecord(record))).toEqual(record);
    const item = { batchId: ID, index: 2, host: "mx.example.com", ports: [25, 587] };
    expect(decodeBatchItem(encodeBatchItem(item))).toEqual(item);
  });

  it.each([
    ["not JSON", "{"],
    ["an array", "[]"],
    ["no batch id", JSON.stringify({ index: 0, host: "a", ports: [] })],
    ["a batch id that is not a UUID", JSON.stringify({ batchId: "x.y", index: 0, host: "a", ports: [] })],
    ["a negative index", JSON.stringify({ batchId: ID, index: -1, host: "a", ports: [] })],
    ["a port out of range", JSON.stringify({ batchId: ID, index: 0, host: "a", ports: [70000] })],
  ])("an item that is %s is none", (_name, text) => {
    expect(decodeBatchItem(Buffer.from(text))).toBeUndefined();
  });

  it("a record without its caller is none", () => {
    expect(decodeBatchRecord(Buffer.from(JSON.stringify({ batchId: ID, total: 1, createdAt: 1, cancelled: false, options: {} })))).toBeUndefined();
  });
});
