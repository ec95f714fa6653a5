// What the comparison makes of the tasks that say nothing about the target: those the caller's
// deadline cut short, and regions no agent has ever served. Pure.
import { describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase } from "../../../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { compareRegions, describeCell } from "../../../../services/coordinator/compare.js";
import { done, failed, ok, refused, silent } from "../../../helpers/report-builders.js";

const CUT = "cut short by the caller's deadline";
const callerDeadline = (phase: Phase) =>
  failed(Outcome.OUTCOME_CALLER_DEADLINE, phase, { failureSource: FailureSource.FAILURE_SOURCE_CALLER, totalMs: 120 });

describe("the caller's deadline in the comparison", () => {
  it.each([Phase.PHASE_CONNECT, Phase.PHASE_BANNER, Phase.PHASE_TLS, Phase.PHASE_RESOLVE])(
    "a handshake it ended (phase %s) is no answer, never blocked nor failed: NO_DATA, not UNREACHABLE",
    (phase) => {
      const comparison = compareRegions([done("eu-west", 25, [callerDeadline(phase)])], ["eu-west"], [25]);
      expect(comparison.cells[0]).toMatchObject({ state: CellState.CELL_STATE_NO_ANSWER, cause: CUT, outcome: Outcome.OUTCOME_CALLER_DEADLINE });
      expect(comparison.verdicts.map((v) => v.kind)).toEqual([VerdictKind.VERDICT_KIND_NO_DATA]);
      expect(comparison.missing).toEqual([{ region: "eu-west", cause: CUT }]);
      expect(describeCell(comparison.cells[0]!)).toBe(`– ${CUT}`);
    },
  );

  it("a task it ended at the coordinator (CALLER_DEADLINE) is no answer with the same cause", () => {
    const comparison = compareRegions([silent("eu-west", 25, TaskStatus.TASK_STATUS_CALLER_DEADLINE)], ["eu-west"], [25]);
    expect(comparison.cells[0]).toMatchObject({ state: CellState.CELL_STATE_NO_ANSWER, cause: CUT, taskStatus: TaskStatus.TASK_STATUS_CALLER_DEADLINE });
    expect(comparison.verdicts[0]?.kind).toBe(VerdictKind.VERDICT_KIND_NO_DATA);
    expect(comparison.verdicts[0]?.summary).toBe(`Port 25: no region answered (${CUT} in eu-west).`);
  });

  it("regions that answered in time make the verdict alone", () => {
    const comparison = compareRegions(
      [done("us-east", 25, [ok()]), done("eu-west", 25, [callerDeadline(Phase.PHASE_BANNER)]), silent("ap-south", 25, TaskStatus.TASK_STATUS_CALLER_DEADLINE)],
      ["us-east", "eu-west", "ap-south"],
      [25],
    );
    expect(comparison.verdicts[0]).toMatchObject({ kind: VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["us-east"] });
  });

  it("of several addresses, a real failure says more than one the caller's deadline cut short", () => {
    const comparison = compareRegions([done("eu-west", 25, [callerDeadline(Phase.PHASE_BANNER), refused({ address: "192.0.2.11" })])], ["eu-west"], [25]);
    expect(comparison.cells[0]).toMatchObject({ state: CellState.CELL_STATE_BLOCKED, cause: "refused" });
  });
});

describe("unknown regions in the comparison", () => {
  it("a region no agent has ever served is named apart: not missing, never an outage", () => {
    const comparison = compareRegions(
      [done("us-east", 25, [ok()]), silent("eu-wst", 25, TaskStatus.TASK_STATUS_UNKNOWN_REGION), silent("sa-east", 25, TaskStatus.TASK_STATUS_NO_AGENT)],
      ["us-east", "eu-wst", "sa-east"],
      [25],
    );
    expect(comparison.unknownRegions).toEqual(["eu-wst"]);
    expect(comparison.missing).toEqual([{ region: "sa-east", cause: "no agent" }]);
    const cell = comparison.cells.find((c) => c.region === "eu-wst")!;
    expect(cell).toMatchObject({ state: CellState.CELL_STATE_NO_ANSWER, cause: "unknown region", taskStatus: TaskStatus.TASK_STATUS_UNKNOWN_REGION });
    expect(describeCell(cell)).toBe("– unknown region");
    for (const verdict of comparison.verdicts) expect(verdict.regions).not.toContain("eu-wst");
    expect(comparison.verdicts[0]?.kind).toBe(VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE);
  });

  it("only every task of the region unknown makes it unknown; no ports, no unknown regions", () => {
    expect(compareRegions([silent("eu-wst", 25, TaskStatus.TASK_STATUS_UNKNOWN_REGION)], ["eu-wst"], [25, 587]).unknownRegions).toEqual([]);
    expect(compareRegions([], ["eu-wst"], []).unknownRegions).toEqual([]);
  });
});
