import { describe, expect, it } from "vitest";
import { Phase } from "../../../gen/smtpprobe/v1/handshake.js";
import { CellState, MatrixCell, ProbeRequest, TaskStatus } from "../../../gen/smtpprobe/v1/probe_service.js";
import { makeStyle } from "../../../cli/colors.js";
import { cellViewOf, formatMatrix, liveMatrixView, reportMatrixView, type CellView } from "../../../cli/format-matrix.js";
import { applyProbeEvent, createLiveProbe } from "../../../cli/live-probe.js";
import { done, dropped, ok, refused, report, silent } from "../../helpers/report-builders.js";

const plain = makeStyle(false);
const colour = makeStyle(true);

describe("cellViewOf", () => {
  it.each<[string, Partial<MatrixCell>, CellView]>([
    ["reached", { state: CellState.CELL_STATE_REACHED, totalMs: 120.4, tlsVersion: "TLSv1.3" }, { text: "✔ 120 ms TLSv1.3", tone: "reached" }],
    ["reached without TLS", { state: CellState.CELL_STATE_REACHED, totalMs: 3.42 }, { text: "✔ 3.4 ms no TLS", tone: "reached" }],
    ["blocked", { state: CellState.CELL_STATE_BLOCKED, cause: "dropped" }, { text: "✖ dropped", tone: "failed" }],
    ["rejected", { state: CellState.CELL_STATE_REJECTED, cause: "banner 554" }, { text: "✖ banner 554", tone: "failed" }],
    ["failed after connecting", { state: CellState.CELL_STATE_FAILED, cause: "TLS failed" }, { text: "✖ TLS failed", tone: "failed" }],
    ["no answer", { state: CellState.CELL_STATE_NO_ANSWER, cause: "no agent" }, { text: "– no agent", tone: "silent" }],
    ["partly reached", { state: CellState.CELL_STATE_PARTIAL, cause: "v4 ok, v6 refused" }, { text: "◐ v4 ok, v6 refused", tone: "partial" }],
    ["a hostile cause is escaped", { state: CellState.CELL_STATE_FAILED, cause: "x\x1b[2Jy" }, { text: "✖ x\\x1b[2Jy", tone: "failed" }],
  ])("%s", (_, cell, view) => {
    expect(cellViewOf(MatrixCell.fromPartial(cell))).toEqual(view);
  });
});

describe("formatMatrix of a report", () => {
  it("rows are regions, columns ports, aligned; the planned order is kept", () => {
    const r = report(
      ["us-east", "eu-west", "ap-south"],
      [25, 587],
      [
        done("us-east", 25, [ok()]),
        done("us-east", 587, [ok({ totalMs: 95 })]),
        done("eu-west", 25, [dropped()]),
        done("eu-west", 587, [ok({ totalMs: 2100, tls: undefined })]),
        silent("ap-south", 25, TaskStatus.TASK_STATUS_NO_AGENT),
        silent("ap-south", 587, TaskStatus.TASK_STATUS_NO_AGENT),
      ],
    );
    expect(formatMatrix(reportMatrixView(r), plain)).toEqual([
      "region     port 25            port 587",
      "us-east    ✔ 120 ms TLSv1.3   ✔ 95 ms TLSv1.3",
      "eu-west    ✖ dropped          ✔ 2.10 s no TLS",
      "ap-south   – no agent         – no agent",
    ]);
  });

  it("colours the mark only, after padding, so columns stay aligned", () => {
    const r = report(["local"], [25, 2525], [done("local", 25, [ok()]), done("local", 2525, [refused()])]);
    const [, row] = formatMatrix(reportMatrixView(r), colour);
    expect(row).toContain("\x1b[32m✔\x1b[39m 120 ms TLSv1.3");
    expect(row).toContain("\x1b[31m✖\x1b[39m refused");
    expect(row?.replace(/\x1b\[[0-9;]*m/g, "")).toBe("local    ✔ 120 ms TLSv1.3   ✖ refused");
  });

  it("a cell missing from the comparison shows as no report", () => {
    const r = report(["local"], [25], [], { comparison: { cells: [], verdicts: [], missing: [], unknownRegions: [] } });
    expect(formatMatrix(reportMatrixView(r), plain)).toEqual(["region   port 25", "local    – no report"]);
  });

  it("both families probed: a row per family under each region, each cell what that family saw", () => {
    const r = report(
      ["us-east", "eu-west"],
      [25, 587],
      [
        done("us-east", 25, [ok({ totalMs: 12 }), refused({ address: "2001:db8::10" })]),
        done("us-east", 587, [ok({ totalMs: 20 }), ok({ address: "2001:db8::10", totalMs: 25 })]),
        done("eu-west", 25, [ok({ totalMs: 30 })]),
        silent("eu-west", 587, TaskStatus.TASK_STATUS_NO_AGENT),
      ],
    );
    expect(formatMatrix(reportMatrixView(r), plain)).toEqual([
      "region           port 25             port 587",
      "us-east   IPv4   ✔ 12 ms TLSv1.3     ✔ 20 ms TLSv1.3",
      "          IPv6   ✖ refused           ✔ 25 ms TLSv1.3",
      "eu-west   IPv4   ✔ 30 ms TLSv1.3     – no agent",
      "          IPv6   – no IPv6 address   – no agent",
    ]);
  });

  it("one family probed: one row per region, a partial cell in words and in yellow", () => {
    const r = report(["local"], [25], [done("local", 25, [ok(), refused({ exchange: "mx2.example.test", address: "192.0.2.20" })])]);
    expect(formatMatrix(reportMatrixView(r), plain)).toEqual(["region   port 25", "local    ◐ 1 of 2 ok, 1 refused"]);
    expect(formatMatrix(reportMatrixView(r), colour)[1]).toContain("\x1b[33m◐\x1b[39m 1 of 2 ok");
  });

  it("the live matrix keeps one row per region, a partial cell as the coordinator says it", () => {
    const state = createLiveProbe();
    applyProbeEvent(state, { accepted: { probeId: "p", regions: ["local"], ports: [25], deadline: undefined } });
    applyProbeEvent(state, { task: done("local", 25, [ok({ address: "127.0.0.1" }), refused({ address: "::1" })]) });
    expect(formatMatrix(liveMatrixView(state, ProbeRequest.fromPartial({ host: "h" })), plain)).toEqual(["region   port 25", "local    ◐ v4 ok, v6 refused"]);
  });

  it("region names from the coordinator are made safe", () => {
    const r = report(["ev\x1bil"], [25], [done("ev\x1bil", 25, [ok()])]);
    expect(formatMatrix(reportMatrixView(r), plain)[1]).toMatch(/^ev\\x1bil/);
  });
});

describe("liveMatrixView", () => {
  const request = ProbeRequest.fromPartial({ host: "mx.example.com", ports: [25, 587] });

  it("before acceptance: the requested grid, every cell waiting", () => {
    const state = createLiveProbe();
    const view = liveMatrixView(state, ProbeRequest.fromPartial({ host: "h", regions: ["a"] }));
    expect(view.ports).toEqual([25]);
    expect(formatMatrix(view, plain)).toEqual(["region   port 25", "a        … waiting"]);
  });

  it("follows the events: queued, the phase of each task, then the cell as it lands", () => {
    const state = createLiveProbe();
    applyProbeEvent(state, { accepted: { probeId: "p", regions: ["us-east", "eu-west"], ports: [25, 587], deadline: undefined } });
    const progress = (region: string, port: number, phase: Phase, queued = false) =>
      applyProbeEvent(state, { progress: { taskId: "", region, port, agentId: "a", phase, host: "h", address: "", queued } });
    progress("us-east", 25, Phase.PHASE_UNSPECIFIED, true);
    progress("us-east", 587, Phase.PHASE_EHLO);
    progress("eu-west", 25, Phase.PHASE_TLS);
    applyProbeEvent(state, { task: done("eu-west", 25, [refused()]) });
    progress("eu-west", 25, Phase.PHASE_QUIT); // a late heartbeat does not undo a landed result
    expect(formatMatrix(liveMatrixView(state, request, 0), plain, { minCellWidth: 16 })).toEqual([
      "region    port 25                 port 587",
      "us-east   ⠋ queued at the agent   ⠋ EHLO",
      "eu-west   ✖ refused               ⠋ waiting",
    ]);
  });
});
