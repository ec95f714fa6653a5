// The checks a probe may run after a handshake, each on connections of its own: whether the
// server demands STARTTLS before mail (starttls-enforcement.ts) and the port's TLS profile
// (tls-scan/). They run after the handshake, its slot given back, one after the other, each
// connection asking the throttle and passing the policy like the handshake's; their findings
// join the handshake's.
import { isIP } from "node:net";
import { Phase, StarttlsEnforcementStatus, type HandshakeResult } from "../../gen/smtpprobe/v1/handshake.js";
import type { TargetPolicy } from "../../lib/policy/policy-types.js";
import { connectionOpener, deadlineSignal, type ConnectGate } from "./extra-connections.js";
import { addCheckFindings } from "./findings.js";
import type { ResolvedOptions } from "./options.js";
import { checkStarttlsEnforcement } from "./starttls-enforcement.js";
import { runTlsScan } from "./tls-scan/run-tls-scan.js";
import { notScanned } from "./tls-scan/tls-profile.js";

export interface TlsCheckRules {
  policy: TargetPolicy;
  gate?: ConnectGate;
  signal?: AbortSignal;
  /** The probe's deadline (performance.now() ms). */
  deadlineAt: number;
}

/** Runs the checks the options ask for on a handshake's address; the result, completed. */
export async function runTlsChecks(result: HandshakeResult, options: ResolvedOptions, rules: TlsCheckRules): Promise<HandshakeResult> {
  if (!options.tlsScan && !options.checkStarttlsEnforcement) return result;
  // Past the TCP connect: the checks decide for themselves whether they have anything to go on
  // (an implicit-TLS port whose TLS our library could not finish is exactly one to scan).
  if (!result.address || result.phase <= Phase.PHASE_CONNECT) {
    noteTlsChecksNotRun(result, options);
    return result;
  }
  const open = connectionOpener({
    address: result.address,
    port: result.port,
    policy: rules.policy,
    gate: rules.gate,
    signal: rules.signal,
    deadlineAt: rules.deadlineAt,
    connectMs: options.connectMs,
  });
  if (options.checkStarttlsEnforcement) {
    const stop = deadlineSignal(rules.deadlineAt, rules.signal);
    try {
      result.starttlsEnforcement = await checkStarttlsEnforcement(result, options, { open, ehloName: result.ehloName, signal: stop.signal });
    } finally {
      stop.dispose();
    }
  }
  if (options.tlsScan) {
    result.tlsProfile = await runTlsScan(result, options, {
      open,
      ehloName: result.ehloName,
      serverName: result.tls?.sni ?? serverNameFor(result.host, options.sni),
      signal: rules.signal,
      deadlineAt: rules.deadlineAt,
    });
  }
  addCheckFindings(result);
  return result;
}

/** A handshake the checks could not run on still says so, when they were asked for. */
export function noteTlsChecksNotRun(result: HandshakeResult, options: ResolvedOptions): void {
  const why = "no connection was made";
  if (options.tlsScan && !result.tlsProfile) result.tlsProfile = notScanned(why);
  if (options.checkStarttlsEnforcement && !result.starttlsEnforcement) {
    result.starttlsEnforcement = { status: StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_CHECKED, reply: undefined, reason: why, totalMs: 0 };
  }
}

/** SNI as the handshake sends it: the option's, else the host name; never an IP literal (RFC 6066 §3). */
function serverNameFor(host: string, sni: string): string {
  if (sni) return sni;
  return isIP(host) === 0 ? host.replace(/\.$/, "") : "";
}

