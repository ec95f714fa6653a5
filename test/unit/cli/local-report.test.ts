import { describe, expect, it } from "vitest";
import { HandshakeResult, Outcome, Phase, PortRole, TargetResult, TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { parseCheckArgs } from "../../../cli/check-args.js";
import { LOCAL_REPORT_REGION, localReport } from "../../../cli/local-report.js";
import { probeReportJson } from "../../../lib/proto-json.js";
import { ok, refused } from "../../helpers/report-builders.js";

const request = parseCheckArgs("mx.example.com", { port: ["25,2525"], portRole: ["2525=relay"], timeout: "10" }, { ehloName: "probe.test" });
const result = (port: number, handshake: ReturnType<typeof ok>): TargetResult =>
  TargetResult.fromPartial({ host: "mx.example.com", port, handshakes: [HandshakeResult.fromPartial({ port, ...handshake })], totalMs: 100 + port });
const startedAt = new Date("2026-05-01T10:00:00.000Z");
const finishedAt = new Date("2026-05-01T10:00:01.250Z");

describe("localReport: the local results as a coordinator's ProbeReport", () => {
  const report = localReport({ probeId: "p-1", request, results: [result(25, ok()), result(2525, refused())], startedAt, finishedAt, interrupted: false });

  it("one region, local; a DONE task per port holding its TargetResult, in the ports' order", () => {
    expect(report.regions).toEqual([LOCAL_REPORT_REGION]);
    expect(report.tasks.map((t) => [t.region, t.port, t.status, t.attempts, t.durationMs, t.result?.port])).toEqual([
      ["local", 25, TaskStatus.TASK_STATUS_DONE, 1, 125, 25],
      ["local", 2525, TaskStatus.TASK_STATUS_DONE, 1, 2625, 2525],
    ]);
  });

  it("the coordinator's comparison: cells and a verdict per port", () => {
    expect(report.comparison?.cells.map((c) => [c.region, c.port])).toEqual([["local", 25], ["local", 2525]]);
    expect(report.comparison?.verdicts.map((v) => [v.port, v.kind])).toEqual([
      [25, VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE],
      [2525, VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE],
    ]);
    expect(report.comparison?.unknownRegions).toEqual([]);
  });

  it("the sentences read as the human form prints them; every field a program reads names the region local", () => {
    const partly = localReport({
      probeId: "p-3",
      request,
      results: [TargetResult.fromPartial({ host: "dual.test", port: 25, handshakes: [HandshakeResult.fromPartial({ port: 25, ...ok({ address: "127.0.0.1" }) }), HandshakeResult.fromPartial({ port: 25, ...refused({ address: "::1" }) })] }), result(2525, refused())],
      startedAt,
      finishedAt,
      interrupted: false,
    });
    expect(partly.comparison?.verdicts.map((v) => v.summary)).toEqual([
      expect.stringMatching(/^Port 25 is open from this machine on IPv4 \(127\.0\.0\.1\), but IPv6 \(::1\) is refused\.$/),
      "Port 2525 is unreachable: refused from this machine.",
    ]);
    // Outside the sentences, "this machine" is nowhere: cells, verdicts' regions, causes, failed addresses.
    const json = JSON.stringify(probeReportJson(partly), (key, value: unknown) => (key === "summary" ? undefined : value));
    expect(json).not.toContain("this machine");
    expect(partly.comparison?.verdicts[0]?.failedAddresses.map((f) => f.region)).toEqual(["local"]);
    expect(partly.comparison?.verdicts[1]?.causes.map((c) => c.region)).toEqual(["local"]);
  });

  it("the request as run: host, ports, the region, the options given, each port's TLS mode and role, the deadline used", () => {
    expect(report.request).toMatchObject({ host: "mx.example.com", mx: false, ports: [25, 2525], regions: [] });
    expect(report.request?.options?.timeouts?.deadlineMs).toBe(10_000);
    expect(report.request?.tlsModes).toEqual({ 25: TlsMode.TLS_MODE_AUTO, 2525: TlsMode.TLS_MODE_AUTO });
    expect(report.request?.portRoles).toEqual({ 25: PortRole.PORT_ROLE_MX_RELAY, 2525: PortRole.PORT_ROLE_MX_RELAY });
    expect(report.deadlineMs).toBe(10_000);
  });

  it("timings, and complete unless interrupted", () => {
    expect([report.probeId, report.startedAt, report.finishedAt, report.durationMs, report.complete]).toEqual(["p-1", startedAt, finishedAt, 1250, true]);
    const cut = localReport({ probeId: "p-2", request, results: [result(25, { outcome: Outcome.OUTCOME_CANCELLED, phase: Phase.PHASE_BANNER })], startedAt, finishedAt, interrupted: true });
    expect(cut.complete).toBe(false);
  });

  it("in JSON, the top-level fields of a coordinator's report", () => {
    expect(Object.keys(probeReportJson(report))).toEqual(["probeId", "request", "regions", "tasks", "comparison", "startedAt", "finishedAt", "durationMs", "complete", "deadlineMs"]);
  });
});
