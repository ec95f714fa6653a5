import { describe, expect, it } from "vitest";
import { ProbeRequest, VerdictKind } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import {
  decodeMonitorRecord,
  decodeMonitorState,
  dueRun,
  encodeMonitorRecord,
  encodeMonitorState,
  pageOfIds,
  runToClaim,
  verdictChanges,
} from "../../../../../services/coordinator/monitor/monitor-records.js";

const ID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
const { VERDICT_KIND_REACHABLE_EVERYWHERE: REACHABLE, VERDICT_KIND_UNREACHABLE_EVERYWHERE: UNREACHABLE, VERDICT_KIND_STARTTLS_DIFFERS: STARTTLS_DIFFERS } = VerdictKind;

describe("dueRun", () => {
  it.each([
    [999, 0],
    [1_000, 0],
    [60_999, 0],
    [61_000, 1],
    [121_000, 2],
    [3_601_000, 60],
  ])("created at 1000 ms, every 60 s: at %i ms run %i is due", (now, run) => {
    expect(dueRun({ createdAt: 1_000, intervalMs: 60_000 }, now)).toBe(run);
  });
});

describe("runToClaim", () => {
  it.each([
    [60_999, 0],
    [61_000, 1],
    [105_999, 1],
    // Less than a quarter of run 1's interval left (its deadline is 121 000): skipped.
    [106_001, 0],
    [120_999, 0],
    [121_000, 2],
  ])("created at 1000 ms, every 60 s: at %i ms run %i is claimed", (now, run) => {
    expect(runToClaim({ createdAt: 1_000, intervalMs: 60_000 }, now)).toBe(run);
  });
});

describe("verdictChanges", () => {
  it("nothing changed: none", () => {
    expect(verdictChanges([{ port: 25, kind: REACHABLE }], [{ port: 25, kind: REACHABLE }])).toEqual([]);
  });

  it("what appeared and what went away, by port then kind", () => {
    const before = [{ port: 587, kind: REACHABLE }, { port: 25, kind: REACHABLE }];
    const after = [{ port: 25, kind: UNREACHABLE }, { port: 587, kind: REACHABLE }, { port: 587, kind: STARTTLS_DIFFERS }];
    expect(verdictChanges(before, after)).toEqual([
      { port: 25, kind: REACHABLE, appeared: false },
      { port: 25, kind: UNREACHABLE, appeared: true },
      { port: 587, kind: STARTTLS_DIFFERS, appeared: true },
    ]);
  });
});

describe("the records", () => {
  it("a monitor and a state read back as written", () => {
    const record = { monitorId: ID, caller: "svc", intervalMs: 60_000, createdAt: 1_700_000_000_000, probe: ProbeRequest.fromPartial({ host: "mx.example.com", ports: [25] }), webhookUrl: "https://hooks.example.com/smtp", webhookSecret: "0123456789abcdef" };
    expect(decodeMonitorRecord(encodeMonitorRecord(record))).toEqual(record);
    const state = { run: 7, verdicts: [{ port: 25, kind: REACHABLE }] };
    expect(decodeMonitorState(encodeMonitorState(state))).toEqual(state);
  });

  it.each([
    ["not JSON", "{"],
    ["no caller", JSON.stringify({ monitorId: ID, intervalMs: 1000, createdAt: 1, probe: {} })],
    ["an interval of 0", JSON.stringify({ monitorId: ID, caller: "c", intervalMs: 0, createdAt: 1, probe: {} })],
    ["an id that is not a UUID", JSON.stringify({ monitorId: "a.b", caller: "c", intervalMs: 1000, createdAt: 1, probe: {} })],
  ])("a monitor that is %s is none", (_name, text) => {
    expect(decodeMonitorRecord(Buffer.from(text))).toBeUndefined();
  });
});

describe("pageOfIds", () => {
  const ids = ["1", "2", "3", "4", "5"].map((d) => `${d.repeat(8)}-aaaa-4aaa-8aaa-aaaaaaaaaaaa`);
  it.each([
    [2, "", [0, 1], 1],
    [2, ids[1]!, [2, 3], 3],
    [2, ids[3]!, [4], undefined],
    [5, "", [0, 1, 2, 3, 4], undefined],
    [0, "", [0, 1, 2, 3, 4], undefined],
    [3, ids[4]!, [], undefined],
    // A token whose monitor was deleted since still resumes after it.
    [2, "2fffffff-aaaa-4aaa-8aaa-aaaaaaaaaaaa", [2, 3], 3],
  ])("page size %i after %j: ids %j, next after index %j", (size, token, page, next) => {
    expect(pageOfIds(ids, size, token)).toEqual({ ok: true, ids: page.map((i) => ids[i]), nextPageToken: next === undefined ? "" : ids[next] });
  });

  it.each([
    [1001, "", "page_size"],
    [10, "not-a-token", "page_token"],
  ])("page size %i, token %j: a violation of %s", (size, token, field) => {
    expect(pageOfIds(ids, size, token)).toMatchObject({ ok: false, field });
  });
});
