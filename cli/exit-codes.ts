import { Outcome, Severity, type TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { CellState } from "../gen/smtpprobe/v1/probe_service.js";
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
 * on the report's comparison (report-exit-code.ts), and one more comes in:
 *
 *   4    no answer from the service: the coordinator cannot be reached, the call failed or ran
 *        past its deadline, or no region could test some port (no agent answered, the only ones
 *        that did are blocked at their own egress, or the per-destination throttle had no slot
 *        before the deadline: THROTTLED). Ranked below 3: a port known to be blocked is the
 *        stronger fact; above 5: with a port untested, the picture is incomplete.
 *
 * The long-running commands (`coordinator`, `agent`) and the scripts (`npm run stack`,
 * `npm run demo`) fail to start with one line naming the setting and what to do, and one of
 * (from sysexits.h, so that a supervisor can tell them apart):
 *
 *   2    bad usage: a setting's value is wrong — a flag, a variable, the content of a file it
 *        names (not PEM, no token), credentials the NATS server refuses, TLS it cannot verify
 *   66   EX_NOINPUT: a file a setting names cannot be read (missing, not readable by this user,
 *        a folder) — the value may be right and the file not there yet (a secret not mounted)
 *   69   EX_UNAVAILABLE: the environment lacks what the process needs — its listen address is
 *        taken or not this machine's; for the scripts: root, ip, nft, nats-server
 *
 * NATS not answering yet is none of these: the coordinator and the agent wait for it, and say so.
 * 70 (EX_SOFTWARE) is a bug in smtp-probe, and only that.
 */
export const ExitCode = {
  ok: 0,
  errorFindings: 1,
  usage: 2,
  unreachable: 3,
  unavailable: 4,
  partlyReachable: 5,
  unreadableFile: 66,
  environment: 69,
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
