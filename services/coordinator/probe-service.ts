// The ProbeService: what every transport asks of it (ProbeOperations), and its gRPC handlers on top.
// Probe and StreamProbe share one path: the request is admitted (validation, the target policy's
// early checks, NATS), then joins the probe it repeats or starts one (shared-probes.ts), which
// probe-run.ts runs; call-tracker.ts answers each call once and lets shutdown end them. The HTTP/JSON
// API (http/) calls the same operations and the same tracker, so quotas, validation, duplicate
// joining and draining are one for both.
import { createHash } from "node:crypto";
import { type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from "@grpc/grpc-js";
import type { DomainCheckEvent, DomainCheckReport, DomainCheckRequest, GetDomainCheckRequest } from "../../gen/smtpprobe/v1/domain.js";
import {
  ProbeRequest,
  type GetProbeRequest,
  type ListRegionsRequest,
  type ListRegionsResponse,
  type ProbeEvent,
  type ProbeReport,
  type ProbeServiceDefinition,
} from "../../gen/smtpprobe/v1/probe_service.js";
import type { TargetPolicyChecker } from "../../lib/policy/target-policy.js";
import type { Bus } from "../../lib/bus.js";
import type { GrpcServerImplementation } from "../../lib/grpc-service.js";
import type { Logger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";
import { TRACEPARENT } from "../../lib/trace-context.js";
import { AuditTrail } from "./audit-trail.js";
import { callerOf } from "./caller-auth.js";
import type { CallerQuota } from "./caller-quota.js";
import { CallError, CallTracker, shuttingDown } from "./call-tracker.js";
import { deadlineTooShort, idempotencyKeyReused, invalidArgument, isUndecodable, notFound, permissionDenied, UNDECODABLE, unavailable } from "./grpc-errors.js";
import { CALLER_REPLY_MARGIN_MS, MIN_PROBE_DEADLINE_MS, probeDeadline, type ProbeDeadline } from "./probe-deadline.js";
import { ProbeRunner, type ProbeCall, type ProbeRunLimits } from "./probe-run.js";
import type { TaskPermits } from "./fan-out.js";
import { groupByRegion, type RegionDirectory } from "./region-directory.js";
import type { ReportStore } from "./report-store.js";
import { IdempotencyKeyReusedError, SharedProbes, type Emit, type Waiter } from "./shared-probes.js";
import { checkTargetEarly, validateProbeRequest, type NormalizedRequest } from "./validate-request.js";
import { DomainCheckRunner } from "./domain-check-run.js";
import { validateDomainRequest } from "./validate-domain-request.js";

export interface ProbeServiceDeps {
  bus: Bus;
  store: ReportStore;
  directory: RegionDirectory;
  /** The same target policy as the agents', checked early on IP literals and ports. */
  policy: TargetPolicyChecker;
  logger: Logger;
  limits: ProbeRunLimits;
  /** Caller quotas and the coordinator-wide bound (caller-quota.ts); undefined: no limits. */
  quota?: CallerQuota;
  /** Permits granted with the tasks (permit-service.ts); undefined: agents ask for each. */
  permits?: TaskPermits;
}

/**
 * The ProbeService apart from any transport: each throws CallError (a gRPC status with its details,
 * grpc-errors.ts) for the call as a whole; a transport maps that to its own form.
 */
export interface ProbeOperations {
  /** Probe and StreamProbe: the request admitted, its probe joined or started, the report. */
  probe(request: ProbeRequest, call: ProbeCall, waiter: Waiter): Promise<ProbeReport>;
  /** GetProbe of an id that checkProbeId accepted: the report, or NOT_FOUND. */
  getProbe(probeId: string): Promise<ProbeReport>;
  listRegions(): Promise<ListRegionsResponse>;
  /** The calls running, for every transport: a call served here is drained and ended at shutdown. */
  calls: CallTracker;
}

/** The ProbeService and what the coordinator's shutdown needs of it. */
export interface ProbeServiceHandle {
  service: GrpcServerImplementation<ProbeServiceDefinition>;
  operations: ProbeOperations;
  /** From now on new calls are refused with UNAVAILABLE (the coordinator is stopping). */
  drain(): void;
  /**
   * Ends every call still running with UNAVAILABLE and cancels the probes nobody waits for any
   * more; resolves once each has been answered (the grace period is over).
   */
  endCalls(message?: string): void;
  /** Resolves when no ProbeService call is running (at once when none is). */
  idle(): Promise<void>;
}

export function createProbeService(deps: ProbeServiceDeps): ProbeServiceHandle {
  const calls = new CallTracker(deps.logger);
  const audit = new AuditTrail(deps.logger);
  const runner = new ProbeRunner({ bus: deps.bus, store: deps.store, directory: deps.directory, logger: deps.logger, audit, limits: deps.limits, quota: deps.quota, permits: deps.permits });
  const probes = new SharedProbes({ keys: deps.store, findReport: (probeId) => runner.findReport(probeId), logger: deps.logger });
  const domainChecks = new DomainCheckRunner({ bus: deps.bus, directory: deps.directory, logger: deps.logger });

  /** CheckDomain: the request checked like a probe's (validation, NATS), then run in every region asked. */
  async function checkDomainFor(request: DomainCheckRequest, caller: string, emit: (event: DomainCheckEvent) => void, signal: AbortSignal): Promise<DomainCheckReport> {
    if (calls.draining) throw audit.refuse(caller, "unavailable", shuttingDown());
    if (isUndecodable(request)) {
      throw audit.refuse(caller, "invalid_argument", invalidArgument([{ field: "request", description: "is not a DomainCheckRequest in protobuf encoding" }]));
    }
    const validation = validateDomainRequest(request, { maxDeadlineMs: deps.limits.maxDeadlineMs });
    if (!validation.ok) throw audit.refuse(caller, "invalid_argument", invalidArgument(validation.violations));
    if (!deps.bus.isConnected()) throw audit.refuse(caller, "unavailable", unavailable("the coordinator is not connected to NATS; try again shortly"));
    return domainChecks.run(validation.value, emit, signal);
  }

  /** What a request must pass before it may run; each refusal is counted and audited. */
  function admit(request: ProbeRequest, caller: string): NormalizedRequest {
    if (calls.draining) throw audit.refuse(caller, "unavailable", shuttingDown());
    if (isUndecodable(request)) {
      const description = `is not a ProbeRequest in protobuf encoding (${request[UNDECODABLE].slice(0, 100)})`;
      throw audit.refuse(caller, "invalid_argument", invalidArgument([{ field: "request", description }]));
    }
    const validation = validateProbeRequest(request, { maxDeadlineMs: deps.limits.maxDeadlineMs });
    if (!validation.ok) throw audit.refuse(caller, "invalid_argument", invalidArgument(validation.violations));
    const value = validation.value;
    const denied = checkTargetEarly(value, deps.policy);
    if (denied) throw audit.refuse(caller, denied.kind === "deny_list" ? "deny_list" : "permission_denied", permissionDenied(denied.reason, denied.field));
    if (!deps.bus.isConnected()) throw audit.refuse(caller, "unavailable", unavailable("the coordinator is not connected to NATS; try again shortly"));
    return value;
  }

  /**
   * The deadline a new probe would run with. A call whose gRPC deadline leaves less than the
   * shortest probe is refused at once (DEADLINE_EXCEEDED, saying the minimum), never answered with
   * a report in which nothing could happen.
   */
  function admitDeadline(value: NormalizedRequest, call: ProbeCall): ProbeDeadline {
    const decided = probeDeadline({ now: Date.now(), requestDeadlineMs: value.deadlineMs, callDeadline: call.deadline });
    if (!decided.ok) throw audit.refuse(call.caller, "deadline_too_short", deadlineTooShort(decided.message, MIN_PROBE_DEADLINE_MS + CALLER_REPLY_MARGIN_MS));
    return decided.deadline;
  }

  /** Probe and StreamProbe: the report of the probe the request asks for, joined or started. */
  async function probeFor(request: ProbeRequest, call: ProbeCall, waiter: Waiter): Promise<ProbeReport> {
    const value = admit(request, call.caller);
    const deadline = admitDeadline(value, call);
    // Idempotency keys are the caller's: another caller's identical key is another probe, so one
    // caller can never read another's report by guessing its key. The request key never depends
    // on the call's gRPC deadline: the same request with a shorter call deadline is the same probe.
    const keys = {
      request: `${call.caller}\u0000${canonicalRequestKey(value)}`,
      idempotency: value.idempotencyKey ? `${call.caller}\u0000${value.idempotencyKey}` : "",
    };
    try {
      return await probes.startOrJoin(keys, waiter, (probe) => runner.run(value, deadline, call, probe));
    } catch (error) {
      if (error instanceof IdempotencyKeyReusedError) throw audit.refuse(call.caller, "idempotency_key_reused", idempotencyKeyReused(error.probeId));
      throw error;
    }
  }

  const operations: ProbeOperations = {
    probe: probeFor,
    async getProbe(probeId) {
      const report = await runner.findReport(probeId);
      if (!report) throw new CallError(notFound("smtpprobe.v1.ProbeReport", probeId, `no stored report for probe ${probeId} (unknown, or expired)`));
      return report;
    },
    listRegions: async () => ({ regions: groupByRegion(await deps.directory.refresh()) }),
    calls,
  };

  const service: GrpcServerImplementation<ProbeServiceDefinition> = {
    probe(call: ServerUnaryCall<ProbeRequest, ProbeReport>, callback: sendUnaryData<ProbeReport>) {
      const probeCall = probeCallOf(call);
      calls.serve<ProbeReport>(
        {
          ok: (report) => {
            metrics.probes.inc({ complete: String(report.complete), call: "unary" });
            callback(null, report);
          },
          fail: (error) => callback(error),
        },
        (signal) => probeFor(call.request, probeCall, { signal }),
        call,
      );
    },

    streamProbe(call: ServerWritableStream<ProbeRequest, ProbeEvent>) {
      const probeCall = probeCallOf(call);
      const emit: Emit = (event) => {
        if (!call.cancelled && call.writable) call.write(event);
      };
      calls.serve<ProbeReport>(
        {
          ok: (report) => {
            metrics.probes.inc({ complete: String(report.complete), call: "stream" });
            emit({ report });
            call.end();
          },
          // A server stream ends with an error status through "error"; destroy() would send none.
          fail: (error) => call.emit("error", error),
        },
        (signal) => probeFor(call.request, probeCall, { signal, emit }),
        call,
      );
    },

    getProbe(call: ServerUnaryCall<GetProbeRequest, ProbeReport>, callback: sendUnaryData<ProbeReport>) {
      const probeId = call.request.probeId ?? "";
      const invalid = checkProbeId(probeId);
      if (invalid) {
        callback(invalid);
        return;
      }
      calls.serveUnary(callback, () => operations.getProbe(probeId));
    },

    listRegions(_call: ServerUnaryCall<ListRegionsRequest, ListRegionsResponse>, callback: sendUnaryData<ListRegionsResponse>) {
      calls.serveUnary(callback, () => operations.listRegions());
    },

    checkDomain(call: ServerWritableStream<DomainCheckRequest, DomainCheckEvent>) {
      const caller = callerOf(call.metadata);
      const emit = (event: DomainCheckEvent): void => {
        if (!call.cancelled && call.writable) call.write(event);
      };
      calls.serve<DomainCheckReport>(
        {
          ok: (report) => {
            emit({ report });
            call.end();
          },
          fail: (error) => call.emit("error", error),
        },
        (signal) => checkDomainFor(call.request, caller, emit, signal),
        call,
      );
    },

    getDomainCheck(call: ServerUnaryCall<GetDomainCheckRequest, DomainCheckReport>, callback: sendUnaryData<DomainCheckReport>) {
      const checkId = call.request.checkId ?? "";
      if (!/^[0-9a-f-]{36}$/.test(checkId)) {
        callback(invalidArgument([{ field: "check_id", description: "must be a check id as returned by CheckDomain (a UUID)" }]));
        return;
      }
      calls.serveUnary(callback, async () => {
        const report = domainChecks.find(checkId);
        if (!report) throw new CallError(notFound("smtpprobe.v1.DomainCheckReport", checkId, `no stored domain check ${checkId} (unknown, expired, or run by another coordinator)`));
        return report;
      });
    },
  };

  return {
    service,
    operations,
    drain: () => calls.drain(),
    endCalls: (message) => calls.endCalls(message),
    idle: () => calls.idle(),
  };
}

/** INVALID_ARGUMENT for what cannot be a probe id (GetProbe's probe_id); undefined when it can. */
export function checkProbeId(probeId: string): ServiceError | undefined {
  return /^[0-9a-f-]{36}$/.test(probeId) ? undefined : invalidArgument([{ field: "probe_id", description: "must be a probe id as returned by Probe (a UUID)" }]);
}

/**
 * What makes two requests the same probe: the request as accepted (defaults filled in, host
 * lower-cased) without its idempotency key, ports and regions in a fixed order. Hashed, so the
 * map key is bounded whatever the options hold. Its deadline is the request's (validation's
 * `accepted`), never the one a caller's gRPC deadline made (the report's echo shows that one).
 */
export function canonicalRequestKey(value: Pick<NormalizedRequest, "accepted">): string {
  const accepted = value.accepted;
  const canonical = ProbeRequest.toJSON({
    ...accepted,
    idempotencyKey: "",
    ports: [...accepted.ports].sort((a, b) => a - b),
    regions: [...accepted.regions].sort(),
  });
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}

/** Who calls, by when, under which trace: from the call's metadata and deadline. */
function probeCallOf(call: { metadata: Metadata; getDeadline(): Date | number }): ProbeCall {
  return { caller: callerOf(call.metadata), deadline: deadlineOf(call), traceparent: traceparentOf(call.metadata) };
}

/** The caller's W3C traceparent metadata (gRPC metadata keys are lower case), if any. */
function traceparentOf(metadata: Metadata): string | undefined {
  const value = metadata.get(TRACEPARENT)[0];
  return typeof value === "string" ? value : undefined;
}

/** The caller's deadline as Date.now() milliseconds (Infinity when it set none). */
function deadlineOf(call: { getDeadline(): Date | number }): number {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) && ms > 0 ? ms : Number.POSITIVE_INFINITY;
}
