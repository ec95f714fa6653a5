import { Outcome, Severity, type TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, VerdictKind, type ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import { resultCell } from "../services/coordinator/compare-cells.js";

/**
 * Exit codes of `smtp-probe check`. When several apply, the highest in this list wins:
 *
 *   2    bad usage: a flag, a value or the host is wrong; nothing was probed. Through a
 *        coordinator also its INVALID_ARGUMENT, PERMISSION_DENIED and UNAUTHENTICATED (wrong or
 *        missing credentials: --token, SMTP_PROBE_TOKEN, the client certificate)
 *   130  interrupted (Ctrl-C): the probes were cancelled; what was seen so far is printed
 *   3    unreachable: on some port no handshake completed (reached QUIT) — DNS failed, the policy
 *        denied, refused, timed out, reset, closed, rejected or deferred by the banner, TLS failed…
 *   5    partly reachable: every port had a completed handshake, but on some port not every address
 *        or MX exchanger did (IPv6 refused while IPv4 answers, a dead primary exchanger…)
 *   1    some handshake has a finding of severity error (no STARTTLS on 25, untrusted certificate
 *        on 587, …)
 *   0    every address of every port had a completed handshake and no handshake has an error finding
 *
 * "Some port" is judged per port: with several addresses or MX exchangers behind one port, one
 * completed handshake makes the port reachable (mail can get through), so not 3; the failed ones
 * make it partly reachable, 5 (addresses our side never tried — throttled, cancelled — do not
 * count: compare-cells.ts). Unreachable wins over partly reachable, and both over error findings,
 * because they answer the first question (can it be reached at all) and a script that gets 3 or 5
 * knows the findings are incomplete. 70 is kept for a bug in smtp-probe itself.
 *
 * Through a coordinator (`check --coordinator`, `regions`) the same codes keep their meaning, judged
 * on the report's comparison (exitCodeForReport), and one more comes in:
 *
 *   4    no answer from the service: the coordinator cannot be reached, the call failed or ran
 *        past its deadline, or no region could test some port (no agent answered, the only ones
 *        that did are blocked at their own egress, or the per-destination throttle had no slot
 *        before the deadline: THROTTLED). Ranked below 3: a port known to be blocked is the
 *        stronger fact; above 5: with a port untested, the picture is incomplete.
 */
export const ExitCode = {
  ok: 0,
  errorFindings: 1,
  usage: 2,
  unreachable: 3,
  unavailable: 4,
  partlyReachable: 5,
  internal: 70,
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for a finished `check`, by the precedence above (usage errors never get here). */
export function exitCodeFor(results: readonly TargetResult[], interrupted: boolean): ExitCodeValue {
  if (interrupted) return ExitCode.interrupted;
  if (results.some((result) => !isPortReachable(result))) return ExitCode.unreachable;
  if (results.some(isPortPartlyReachable)) return ExitCode.partlyReachable;
  if (results.some((result) => result.handshakes.some((h) => h.findings.some((f) => f.severity === Severity.SEVERITY_ERROR)))) {
    return ExitCode.errorFindings;
  }
  return ExitCode.ok;
}

/** A port is reachable when at least one of its handshakes ran to QUIT. */
export function isPortReachable(result: TargetResult): boolean {
  return result.handshakes.some((h) => h.outcome === Outcome.OUTCOME_OK);
}

/** Reachable, but some address or exchanger failed: the comparison's PARTIAL cell, for one result. */
export function isPortPartlyReachable(result: TargetResult): boolean {
  return resultCell(result).state === CellState.CELL_STATE_PARTIAL;
}

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
 */
export function exitCodeForReport(report: ProbeReport, interrupted: boolean): ExitCodeValue {
  if (interrupted) return ExitCode.interrupted;
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
  const handshakes = report.tasks.filter((t) => t.status === TaskStatus.TASK_STATUS_DONE).flatMap((t) => t.result?.handshakes ?? []);
  if (handshakes.some((h) => h.findings.some((f) => f.severity === Severity.SEVERITY_ERROR))) return ExitCode.errorFindings;
  return ExitCode.ok;
}
