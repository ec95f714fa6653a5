// The ProbeService's audit trail: one line per probe and one per refused call, marked so that a log
// pipeline can route them apart (`audit: true`, msg "audit").
import { status, type ServiceError } from "@grpc/grpc-js";
import { verdictKindToJSON, type ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import type { Logger } from "../../lib/logger.js";
import { metrics, type RejectReason } from "../../lib/metrics.js";
import { CallError } from "./call-tracker.js";

/** What the audit line of a probe says about its request. */
export interface AuditedProbe {
  caller: string;
  probeId: string;
  traceId: string;
  host: string;
  mx: boolean;
  ports: number[];
}

export class AuditTrail {
  private readonly log: Logger;

  constructor(logger: Logger) {
    this.log = logger.child({ audit: true });
  }

  /** A refused call: counted by reason and audited. Returns the error to throw. */
  refuse(caller: string, reason: RejectReason, error: ServiceError): CallError {
    metrics.requestsRejected.inc({ reason });
    this.log.info({ event: "denied", caller, reason, code: status[error.code], detail: error.details }, "audit");
    return new CallError(error);
  }

  /** A probe that produced a report; `joined`: the calls that joined it after the first. */
  probeFinished(probe: AuditedProbe, report: ProbeReport, joined: number): void {
    const addresses = new Set<string>();
    for (const task of report.tasks) for (const h of task.result?.handshakes ?? []) if (h.address) addresses.add(h.address);
    this.log.info(
      {
        event: "probe",
        caller: probe.caller,
        probeId: report.probeId,
        host: probe.host,
        mx: probe.mx,
        addresses: [...addresses].sort(),
        regions: report.regions,
        ports: probe.ports,
        verdict: report.comparison?.verdicts.map((v) => ({ port: v.port, kind: verdictKindToJSON(v.kind).replace(/^VERDICT_KIND_/, ""), regions: v.regions })) ?? [],
        complete: report.complete,
        // A probe the caller's gRPC deadline cut short: its verdicts are about what it had time for.
        deadlineMs: report.deadlineMs,
        callerDeadlineBound: report.callerDeadlineBound,
        unknownRegions: report.comparison?.unknownRegions ?? [],
        joined: Math.max(0, joined),
        durationMs: report.durationMs,
        traceId: probe.traceId,
      },
      "audit",
    );
  }

  /** A probe that ended without a report (an error of ours, not a region's outcome). */
  probeFailed(probe: AuditedProbe, regions: string[], error: unknown): void {
    this.log.info(
      { event: "probe", caller: probe.caller, probeId: probe.probeId, traceId: probe.traceId, host: probe.host, mx: probe.mx, regions, ports: probe.ports, verdict: "error", err: error },
      "audit",
    );
  }
}
