// The local mode's results judged as the coordinator judges a region's: this machine is one region,
// and each port gets the comparison's reachability verdict (open, partly reachable, unreachable), so
// a refused IPv6 address or a dead MX exchanger reads the same here as in a coordinator's report.
// Pure.
import type { TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { type Comparison, TaskReport, TaskStatus } from "../gen/smtpprobe/v1/probe_service.js";
import { compareRegions } from "../services/coordinator/compare.js";

/** The region's name in the sentences: "Port 25 is open from this machine." */
export const LOCAL_REGION = "this machine";

/** The comparison of local results, one region (this machine), the ports in the results' order. */
export function compareLocalResults(results: readonly TargetResult[]): Comparison {
  const tasks = results.map((result) => ({
    ...TaskReport.fromPartial({ region: LOCAL_REGION, port: result.port, status: TaskStatus.TASK_STATUS_DONE }),
    result,
  }));
  return compareRegions(tasks, [LOCAL_REGION], results.map((r) => r.port));
}
