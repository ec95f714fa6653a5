// The exit code of `check --coordinator` for its report (the codes and their order: exit-codes.ts).
// Apart from exit-codes.ts because the report's types come with the gRPC client code (gen/), which
// only the commands that talk to a coordinator load.
import { Severity } from "../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, VerdictKind, type ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";

/** Verdicts that say whether a port is reachable from the regions that could test it. */
const REACHABILITY: ReadonlySet<VerdictKind> = new Set([
  VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE,
  VerdictKind.VERDICT_KIND_PARTIALLY_REACHABLE,
  VerdictKind.VERDICT_KIND_BLOCKED_FROM_REGIONS,
  VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
]);

/**
 * The exit code of `check --coordinator` for its report, by the precedence above:
 *
 *   130  interrupted
 *   3    some port is UNREACHABLE_EVERYWHERE or BLOCKED_FROM_REGIONS: a region that tested it did
 *        not complete a handshake (blocked at the agent's own egress does not count: that says
 *        nothing about the target)
 *   4    some port has no reachability verdict: no region could test it (NO_DATA, or only
 *        AGENT_EGRESS_BLOCKED)
 *   5    some port is PARTIALLY_REACHABLE: every region that tested it reached it, not on every
 *        address, exchanger or family
 *   1    a verdict of severity ERROR (e.g. STARTTLS offered in some regions only), or an error
 *        finding in any region's handshake
 *   0    otherwise. Regions that did not answer (no agent, agent lost) are listed, and do not
 *        change the code as long as another region tested each port.
 *
 * Regions no agent has ever served (comparison.unknown_regions: a misspelt --regions name) are no
 * outage and never count as one: they change nothing while another region was probed, and when
 * every region asked for is unknown nothing was probed, which is bad usage (2), not "no answer" (4).
 */
export function exitCodeForReport(report: ProbeReport, interrupted: boolean): ExitCodeValue {
  if (interrupted) return ExitCode.interrupted;
  const unknown = new Set(report.comparison?.unknownRegions ?? []);
  if (unknown.size > 0 && report.regions.every((region) => unknown.has(region))) return ExitCode.usage;
  const verdicts = report.comparison?.verdicts ?? [];
  const blocked = verdicts.some(
    (v) => v.kind === VerdictKind.VERDICT_KIND_BLOCKED_FROM_REGIONS || v.kind === VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
  );
  if (blocked) return ExitCode.unreachable;
  const ports = new Set([...(report.request?.ports ?? []), ...(report.comparison?.cells ?? []).map((c) => c.port)]);
  const tested = new Set(verdicts.filter((v) => REACHABILITY.has(v.kind)).map((v) => v.port));
  if (ports.size === 0 || [...ports].some((port) => !tested.has(port))) return ExitCode.unavailable;
  if (verdicts.some((v) => v.kind === VerdictKind.VERDICT_KIND_PARTIALLY_REACHABLE)) return ExitCode.partlyReachable;
  if (verdicts.some((v) => v.severity === Severity.SEVERITY_ERROR)) return ExitCode.errorFindings;
  const done = report.tasks.filter((t) => t.status === TaskStatus.TASK_STATUS_DONE);
  const findings = done.flatMap((t) => [...(t.result?.handshakes ?? []).flatMap((h) => h.findings), ...(t.result?.mailPolicy?.findings ?? [])]);
  if (findings.some((f) => f.severity === Severity.SEVERITY_ERROR)) return ExitCode.errorFindings;
  return ExitCode.ok;
}
