import { Outcome, Severity, type TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { CellState } from "../gen/smtpprobe/v1/probe_service.js";
import { resultCell } from "../services/coordinator/compare-cells.js";
import { wrapHanging } from "./text-wrap.js";

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
  // The mail domain's own findings count too (a TLSA answer that failed validation makes senders defer).
  const findingsOf = (result: TargetResult) => [...result.handshakes.flatMap((h) => h.findings), ...(result.mailPolicy?.findings ?? [])];
  if (results.some((result) => findingsOf(result).some((f) => f.severity === Severity.SEVERITY_ERROR))) {
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

/** One exit code as `--help` tells it. */
export interface ExitCodeHelp {
  code: ExitCodeValue;
  when: string;
}

/**
 * The exit codes of `check`, for its --help (generated from this list, so the help and the codes
 * cannot drift), in the order they are decided: the first that applies wins. 70 comes last: it is
 * no verdict, it is a bug.
 */
export const CHECK_EXIT_CODES: readonly ExitCodeHelp[] = [
  {
    code: ExitCode.usage,
    when:
      "bad usage: a flag, a value or the host is wrong; nothing was probed. With --coordinator also a request the coordinator refuses, a target its policy denies, wrong or missing credentials (UNAUTHENTICATED: --token, the client certificate), a --coordinator that is no gRPC server, TLS on one side only (--coordinator-ca), or --regions naming only regions no agent serves",
  },
  { code: ExitCode.interrupted, when: "interrupted (Ctrl-C); the partial results are printed" },
  {
    code: ExitCode.unreachable,
    when: "unreachable: on some port no handshake completed (DNS failed, refused, timed out, no banner, rejected by the banner, TLS failed, ...); with --coordinator: some port is unreachable everywhere or blocked from some region",
  },
  {
    code: ExitCode.unavailable,
    when: "with --coordinator: no answer - the coordinator is unreachable, the call failed or ran out of time, or no region could test some port",
  },
  {
    code: ExitCode.partlyReachable,
    when: "partly reachable: every port answered (from every region), but not on every address, exchanger or address family (e.g. IPv6 refused)",
  },
  {
    code: ExitCode.errorFindings,
    when: "some handshake has an error finding; with --coordinator also an ERROR verdict (e.g. STARTTLS offered in some regions only)",
  },
  {
    code: ExitCode.ok,
    when: "every port answered on every address and no error finding (regions without an answer, or unknown to the coordinator, do not count while another region tested each port)",
  },
  { code: ExitCode.internal, when: "a bug in smtp-probe: please report it, with the lines printed" },
];

/** The exit codes of `regions`, for its --help. */
export const REGIONS_EXIT_CODES: readonly ExitCodeHelp[] = [
  { code: ExitCode.ok, when: "listed (also when no region has a live agent)" },
  {
    code: ExitCode.usage,
    when: "bad usage, wrong or missing credentials (UNAUTHENTICATED), a --coordinator that is no gRPC server, or TLS on one side only (--coordinator-ca)",
  },
  { code: ExitCode.unavailable, when: "the coordinator is unreachable or the call failed" },
  { code: ExitCode.interrupted, when: "interrupted (Ctrl-C)" },
  { code: ExitCode.internal, when: "a bug in smtp-probe: please report it, with the lines printed" },
];

/** The exit codes of the long-running commands, `coordinator` and `agent`, for their --help. */
export const PROCESS_EXIT_CODES: readonly ExitCodeHelp[] = [
  { code: ExitCode.ok, when: "stopped by SIGTERM or SIGINT, after draining" },
  {
    code: ExitCode.usage,
    when: "bad usage: a setting's value is wrong (a flag, a variable, a file's content), or NATS refuses the credentials or its TLS cannot be verified",
  },
  { code: ExitCode.unreadableFile, when: "a file a setting names cannot be read (missing, permissions)" },
  {
    code: ExitCode.environment,
    when: "the environment lacks what is needed: the listen address (--listen, --metrics-listen) is already in use or not this machine's",
  },
  { code: ExitCode.internal, when: "a bug in smtp-probe: please report it, with the lines printed" },
];

/** "  2    bad usage: …" with the text wrapped under its column, for a help of `width` columns. */
export function formatExitCodeHelp(codes: readonly ExitCodeHelp[], width = 80): string {
  return codes.flatMap(({ code, when }) => wrapHanging(`  ${String(code).padEnd(5)}`, when, width)).join("\n");
}
