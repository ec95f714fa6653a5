// Hand-made task reports and probe reports for the CLI's formatting and exit-code tests and the
// coordinator's comparison tests. The comparison is made by the coordinator's own pure function,
// so the reports are ones it could send.
import { type DeepPartial, type Finding, HandshakeResult, Outcome, Phase, Severity } from "../../gen/smtpprobe/v1/handshake.js";
import { type Comparison, ProbeReport, TaskReport, TaskStatus } from "../../gen/smtpprobe/v1/probe_service.js";
import { compareRegions } from "../../services/coordinator/compare.js";

export const FP_A = "AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA";

export function finding(code: string, severity: Severity, message = `${code} happened`): Finding {
  return { code, severity, message };
}

/** A clean STARTTLS handshake that reached QUIT. */
export function ok(over: DeepPartial<HandshakeResult> = {}): DeepPartial<HandshakeResult> {
  return {
    host: "mx.example.com",
    address: "192.0.2.10",
    outcome: Outcome.OUTCOME_OK,
    phase: Phase.PHASE_DONE,
    totalMs: 120,
    banner: { code: 220, lines: ["mx.example.com ESMTP ready"] },
    capabilities: { greeting: "mx.example.com", starttls: true },
    capabilitiesTls: { greeting: "mx.example.com", authMechanisms: ["PLAIN"] },
    tls: { protocol: "TLSv1.3", chain: [{ subject: "CN=mx.example.com", fingerprintSha256: FP_A }] },
    transcript: { entries: [{ offsetMs: 1.5, direction: 2, text: "220 mx.example.com ESMTP ready" }] },
    ...over,
  };
}

export function failed(outcome: Outcome, phase: Phase, over: DeepPartial<HandshakeResult> = {}): DeepPartial<HandshakeResult> {
  return { host: "mx.example.com", address: "192.0.2.10", outcome, phase, totalMs: 10_000, reason: "why it stopped", ...over };
}

export const refused = (over: DeepPartial<HandshakeResult> = {}): DeepPartial<HandshakeResult> =>
  failed(Outcome.OUTCOME_REFUSED, Phase.PHASE_CONNECT, { totalMs: 2.4, ...over });
export const dropped = (over: DeepPartial<HandshakeResult> = {}): DeepPartial<HandshakeResult> => failed(Outcome.OUTCOME_TIMED_OUT, Phase.PHASE_CONNECT, over);

export function done(region: string, port: number, handshakes: DeepPartial<HandshakeResult>[], over: DeepPartial<TaskReport> = {}): TaskReport {
  return TaskReport.fromPartial({
    taskId: `p.${region}.${port}`,
    region,
    port,
    status: TaskStatus.TASK_STATUS_DONE,
    agentId: `agent-${region}`,
    attempts: 1,
    result: { host: "mx.example.com", port, handshakes: handshakes.map((h) => ({ port, ...h })) },
    ...over,
  });
}

export function silent(region: string, port: number, status: TaskStatus): TaskReport {
  return TaskReport.fromPartial({ taskId: `p.${region}.${port}`, region, port, status, detail: "why" });
}

/** A report as the coordinator makes it: the comparison from compareRegions unless one is given. */
export function report(
  regions: string[],
  ports: number[],
  tasks: TaskReport[],
  over: { comparison?: Comparison; complete?: boolean; host?: string; mx?: boolean } = {},
): ProbeReport {
  return ProbeReport.fromPartial({
    probeId: "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    request: { host: over.host ?? "mx.example.com", mx: over.mx ?? false, ports, regions },
    regions,
    tasks,
    comparison: over.comparison ?? compareRegions(tasks, regions, ports),
    durationMs: 1234,
    complete: over.complete ?? tasks.every((t) => t.status === TaskStatus.TASK_STATUS_DONE),
  });
}
