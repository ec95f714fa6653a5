// The result of a handshake that stopped before a connection was made: the policy forbade the
// address or name, the throttle gave no slot, DNS failed, or the task never got to run. One
// builder, so that every such result has the same shape and its findings derived the same way.
import { FailureSource, HandshakeResult, Outcome, Phase, type PortRole, type TlsMode } from "../../gen/smtpprobe/v1/handshake.js";
import { defaultFindingFacts, deriveFindings } from "./findings.js";
import { defaultPortRole } from "./options.js";

export interface StoppedBeforeConnecting {
  /** What was to be probed: the host, and where known the exchanger and the address. */
  where: { host: string; port: number; exchange?: string; mxPreference?: number; address?: string };
  tlsMode: TlsMode;
  /** The port's role in this probe; default: the port's (options.ts defaultPortRole). */
  portRole?: PortRole;
  outcome: Outcome;
  /** Where it stopped: PHASE_POLICY, PHASE_RESOLVE, or PHASE_UNSPECIFIED when it never started. */
  phase: Phase;
  failureSource: FailureSource;
  reason: string;
  /** Time spent before it stopped (a wait for a slot, a DNS query); 0 when none. */
  totalMs?: number;
}

/** A HandshakeResult for a handshake that never connected, with its findings. */
export function stoppedBeforeConnecting(stop: StoppedBeforeConnecting): HandshakeResult {
  const result = HandshakeResult.fromPartial({
    ...stop.where,
    tlsMode: stop.tlsMode,
    portRole: stop.portRole || defaultPortRole(stop.where.port),
    outcome: stop.outcome,
    phase: stop.phase,
    failureSource: stop.failureSource,
    reason: stop.reason,
    startedAt: new Date(),
    totalMs: stop.totalMs ?? 0,
  });
  result.findings = deriveFindings(result, { ...defaultFindingFacts(), longestLineOctets: 0 });
  return result;
}
