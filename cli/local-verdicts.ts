// The local mode's results judged as the coordinator judges a region's: this machine is one region,
// and each port gets the comparison's reachability verdict (open, partly reachable, unreachable), so
// a refused IPv6 address or a dead MX exchanger reads the same here as in a coordinator's report.
// Pure.
import type { TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { type Comparison, TaskReport, TaskStatus } from "../gen/smtpprobe/v1/probe_service.js";
import { compareRegions } from "../services/coordinator/compare.js";

/** The region's name in the sentences a person reads: "Port 25 is open from this machine." */
export const LOCAL_REGION = "this machine";

/** One task per port, each DONE with its result, as a coordinator's report holds them. */
export function localTasks(results: readonly TargetResult[], region: string): TaskReport[] {
  return results.map((result) => ({
    ...TaskReport.fromPartial({ region, port: result.port, status: TaskStatus.TASK_STATUS_DONE, attempts: 1, durationMs: result.totalMs }),
    result,
  }));
}

/** The comparison of local results, one region (by default this machine), the ports in the results' order. */
export function compareLocalResults(results: readonly TargetResult[], region: string = LOCAL_REGION): Comparison {
  return compareRegions(localTasks(results, region), [region], results.map((r) => r.port));
}
