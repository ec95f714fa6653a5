import { createHash, randomUUID } from "node:crypto";
import { SpanStatusCode } from "@opentelemetry/api";
import { status, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from "@grpc/grpc-js";
import {
  ProbeReport,
  ProbeRequest,
  TaskStatus,
  verdictKindToJSON,
  type GetProbeRequest,
  type TaskReport,
  type ListRegionsRequest,
  type ListRegionsResponse,
  type ProbeEvent,
  type ProbeServiceServer,
} from "../../gen/smtpprobe/v1/probe_service.js";
import type { TargetPolicyChecker } from "../../lib/policy/target-policy.js";
import type { Bus } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { enumLabel, metrics, type RejectReason } from "../../lib/metrics.js";
import { startSpan, TRACEPARENT } from "../../lib/trace-context.js";
import { callerOf } from "./caller-auth.js";
import type { CallerQuota } from "./caller-quota.js";
import { compareRegions } from "./compare.js";
import { attachEgress, dispatchProbe } from "./fan-out.js";
import { invalidArgument, isUndecodable, permissionDenied, resourceExhausted, serviceError, UNDECODABLE, unavailable } from "./grpc-errors.js";
import { groupByRegion, type RegionDirectory } from "./region-directory.js";
import type { ReportStore } from "./report-store.js";
import { checkTargetEarly, validateProbeRequest, type NormalizedRequest } from "./validate-request.js";

export interface ProbeServiceLimits {
  /** A caller's deadline (gRPC or deadline_ms) is clamped to this. */
  maxDeadlineMs: number;
  /** Heartbeat period asked of the agents. */
  heartbeatMs: number;
}

export interface ProbeServiceDeps {
  bus: Bus;
  store: ReportStore;
  directory: RegionDirectory;
  /** The same target policy as the agents', checked early on IP literals and ports. */
  policy: TargetPolicyChecker;
  logger: Logger;
  limits: ProbeServiceLimits;
  /** Caller quotas and the coordinator-wide bound (caller-quota.ts); undefined: no limits. */
  quota?: CallerQuota;
}

/** The ProbeService and what the coordinator's shutdown needs of it. */
export interface ProbeServiceHandle {
  service: ProbeServiceServer;
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

/** What a running probe reports as it goes: the streaming RPC writes these. */
type Emit = (event: ProbeEvent) => void;

/** A gRPC error for the call as a whole (per-region problems are outcomes in the report). */
class CallError extends Error {
  constructor(readonly error: ServiceError) {
    super(error.message);
  }
}

/**
 * One probe run, shared by every call that waits for it: the first caller, a repeated idempotency
 * key, an identical request of the same caller while it runs. It is cancelled only when the last
 * of them goes away (reference counted), and its lease on the quota is held once.
 */
interface SharedProbe {
  report: Promise<ProbeReport>;
  /** The accepted event, once sent: a caller joining later gets it first. */
  accepted?: ProbeEvent;
  listeners: Set<Emit>;
  waiters: number;
  /** Calls that joined after the first (for the audit line). */
  joined: number;
  controller: AbortController;
  /** Unregisters it: nobody can join it any more (its report is there, or everyone left). */
  forget(): void;
}

/** A call in progress, so that shutdown can end it with UNAVAILABLE. */
interface ActiveCall {
  fail(error: ServiceError): void;
}

const SHUTTING_DOWN = "the coordinator is shutting down; retry (another replica, or this one once it is back)";
/** How soon a caller refused during shutdown may try again (another replica behind the address). */
const SHUTDOWN_RETRY_MS = 1000;

/**
 * The ProbeService: validates, applies the target policy early, joins a duplicate to the probe it
 * repeats, picks the regions, admits the executions against the quotas, dispatches one task per
 * region × port, compares and stores. Probe and StreamProbe share one path.
 */
export function createProbeService(deps: ProbeServiceDeps): ProbeServiceHandle {
  /** Probes by caller-scoped idempotency key, from start until their report is stored. */
  const byIdempotencyKey = new Map<string, SharedProbe>();
  /** Running probes by caller + canonical request (duplicate joining), from start until the report. */
  const byRequest = new Map<string, SharedProbe>();
  /** Finished reports whose store write has not completed yet (bounded by the probes in flight). */
  const storing = new Map<string, ProbeReport>();
  const active = new Set<ActiveCall>();
  let idleWaiters: (() => void)[] = [];
  let draining = false;
  // The audit trail: one line per probe and one per refusal, marked so that a log pipeline can
  // route them apart (`audit: true`, msg "audit").
  const audit = deps.logger.child({ audit: true });

  function track(call: ActiveCall): () => void {
    active.add(call);
    return () => {
      active.delete(call);
      if (active.size === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const wake of waiters) wake();
      }
    };
  }

  function refuse(caller: string, reason: RejectReason, error: ServiceError): CallError {
    metrics.requestsRejected.inc({ reason });
    audit.info({ event: "denied", caller, reason, code: status[error.code], detail: error.details }, "audit");
    return new CallError(error);
  }

  async function runProbe(request: ProbeRequest, caller: string, callDeadline: number, signal: AbortSignal, emit?: Emit, traceparent?: string): Promise<ProbeReport> {
    if (draining) throw refuse(caller, "unavailable", unavailable(SHUTTING_DOWN, SHUTDOWN_RETRY_MS));
    if (isUndecodable(request)) {
      const description = `is not a ProbeRequest in protobuf encoding (${request[UNDECODABLE].slice(0, 100)})`;
      throw refuse(caller, "invalid_argument", invalidArgument([{ field: "request", description }]));
    }
    const validation = validateProbeRequest(request, { maxDeadlineMs: deps.limits.maxDeadlineMs });
    if (!validation.ok) throw refuse(caller, "invalid_argument", invalidArgument(validation.violations));
    const value = validation.value;
    const denied = checkTargetEarly(value, deps.policy);
    if (denied) throw refuse(caller, denied.kind, permissionDenied(denied.reason, denied.field));
    if (!deps.bus.isConnected()) throw refuse(caller, "unavailable", unavailable("the coordinator is not connected to NATS; try again shortly"));

    // Idempotency keys are the caller's: another caller's identical key is another probe, so one
    // caller can never read another's report by guessing its key.
    const idempotencyKey = value.idempotencyKey ? `${caller}\u0000${value.idempotencyKey}` : "";
    const requestKey = `${caller}\u0000${canonicalRequestKey(value)}`;
    const running = (idempotencyKey ? byIdempotencyKey.get(idempotencyKey) : undefined) ?? byRequest.get(requestKey);
    if (running) return join(running, idempotencyKey, signal, emit);
    if (idempotencyKey) {
      const probeId = await deps.store.getIdempotency(idempotencyKey);
      const stored = probeId ? (storing.get(probeId) ?? (await deps.store.get(probeId))) : undefined;
      if (stored) return stored;
      // Another call may have started the same probe during the lookups.
      const started = byIdempotencyKey.get(idempotencyKey) ?? byRequest.get(requestKey);
      if (started) return join(started, idempotencyKey, signal, emit);
    }

    // From here on, synchronously until the probe is registered: a duplicate arriving meanwhile
    // finds it and joins instead of starting a second one.
    const shared: SharedProbe = {
      report: Promise.resolve(ProbeReport.fromPartial({})),
      listeners: new Set(),
      waiters: 0,
      joined: -1,
      controller: new AbortController(),
      forget() {
        if (byRequest.get(requestKey) === shared) byRequest.delete(requestKey);
      },
    };
    shared.report = execute(value, caller, callDeadline, shared, idempotencyKey, traceparent);
    byRequest.set(requestKey, shared);
    if (idempotencyKey) byIdempotencyKey.set(idempotencyKey, shared);
    // A duplicate joins while the probe runs; once the report exists, a new call is a new probe
    // (idempotency keys alone reach a finished report: they are forgotten once it is stored).
    shared.report.then(
      () => shared.forget(),
      () => {
        shared.forget();
        if (byIdempotencyKey.get(idempotencyKey) === shared) byIdempotencyKey.delete(idempotencyKey);
      },
    );
    return join(shared, "", signal, emit);
  }

  /** Waits for a shared probe as one more caller: its events from now on, its report, its share of the cancellation. */
  function join(shared: SharedProbe, idempotencyKey: string, signal: AbortSignal, emit?: Emit): Promise<ProbeReport> {
    shared.waiters += 1;
    shared.joined += 1;
    if (emit) {
      if (shared.accepted) emit(shared.accepted);
      shared.listeners.add(emit);
    }
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      if (emit) shared.listeners.delete(emit);
      shared.waiters -= 1;
      if (shared.waiters === 0) {
        // Everyone went away: cancel it, and let nobody join a probe that is being cancelled.
        shared.forget();
        for (const [key, probe] of byIdempotencyKey) if (probe === shared) byIdempotencyKey.delete(key);
        shared.controller.abort();
      }
    };
    if (signal.aborted) leave();
    else signal.addEventListener("abort", leave, { once: true });
    // A joiner's own idempotency key names the probe it joined, once the report is stored.
    if (idempotencyKey && shared.joined > 0 && !byIdempotencyKey.has(idempotencyKey)) {
      byIdempotencyKey.set(idempotencyKey, shared);
      shared.report.then(
        (report) =>
          deps.store
            .putIdempotency(idempotencyKey, report.probeId)
            .catch((error: unknown) => deps.logger.error({ probeId: report.probeId, err: error }, "could not store the idempotency key"))
            .finally(() => byIdempotencyKey.get(idempotencyKey) === shared && byIdempotencyKey.delete(idempotencyKey)),
        () => byIdempotencyKey.get(idempotencyKey) === shared && byIdempotencyKey.delete(idempotencyKey),
      );
    }
    return shared.report.finally(() => {
      signal.removeEventListener("abort", leave);
      if (emit) shared.listeners.delete(emit);
      if (!left) {
        left = true;
        shared.waiters -= 1;
      }
    });
  }

  async function execute(
    value: NormalizedRequest,
    caller: string,
    callDeadline: number,
    shared: SharedProbe,
    idempotencyKey: string,
    traceparent: string | undefined,
  ): Promise<ProbeReport> {
    const regions = value.regions.length > 0 ? value.regions : liveRegions(await deps.directory.current());
    if (regions.length === 0) {
      throw refuse(caller, "no_region", serviceError(status.FAILED_PRECONDITION, "no region has a live agent: start an agent, or name the regions to probe"));
    }
    const now = Date.now();
    // The probe's own deadline, clamped by the caller's gRPC deadline (less a margin for the reply).
    const deadlineAt = Math.min(now + value.deadlineMs, callDeadline - 50, now + deps.limits.maxDeadlineMs);
    const executions = regions.length * value.ports.length;
    const admission = deps.quota?.admit(caller, executions, deadlineAt);
    if (admission && !admission.ok) {
      const r = admission.refusal;
      throw refuse(
        caller,
        r.limit === "max_executions_in_flight" ? "overloaded" : "caller_quota",
        resourceExhausted({ limit: r.limit, subject: r.limit === "max_executions_in_flight" ? "coordinator" : `caller:${caller}`, description: r.description, retryAfterMs: r.retryAfterMs }),
      );
    }
    const lease = admission?.lease;
    const emitAll: Emit = (event) => {
      for (const listener of [...shared.listeners]) listener(event);
    };
    const probeId = randomUUID();
    const startedAt = new Date();
    // One trace per probe: under the caller's traceparent, else a new trace. Its id goes into
    // every log line of the probe, here and (through the NATS headers) at the agents.
    const traced = startSpan("smtpprobe.probe", traceparent, { "smtpprobe.probe_id": probeId, "smtpprobe.caller": caller });
    // Every line of the probe, here and in the dispatch (fan-out.ts adds region, port, task id).
    const logger = deps.logger.child({ probeId, traceId: traced.traceId, caller });
    try {
      logger.info({ host: value.host, ports: value.ports, regions, executions, deadlineMs: deadlineAt - now }, "probe accepted");
      shared.accepted = { accepted: { probeId, regions, ports: value.ports, deadline: new Date(deadlineAt) } };
      emitAll(shared.accepted);

      // Metric labels: a region no agent serves is "unknown" (callers may name any region).
      const served = new Set((await deps.directory.current()).map((a) => a.region));
      const regionLabel = (region: string): string => (served.has(region) ? region : "unknown");
      for (const region of regions) metrics.tasksInFlightCoordinator.inc({ region: regionLabel(region) }, value.ports.length);
      const countTask = (task: TaskReport): void => {
        metrics.tasksInFlightCoordinator.dec({ region: regionLabel(task.region) });
        metrics.tasks.inc({ region: regionLabel(task.region), port: String(task.port), status: enumLabel(TaskStatus[task.status], "TASK_STATUS_") });
      };
      const tasks = await dispatchProbe(
        {
          probeId,
          host: value.host,
          mx: value.mx,
          // Each port's options carry the TLS mode validation decided; they go to the agents as they are.
          targets: value.targets,
          regions,
          deadlineAt,
          heartbeatMs: deps.limits.heartbeatMs,
          traceparent: traced.traceparent,
        },
        {
          bus: deps.bus,
          logger,
          signal: shared.controller.signal,
          onEvent: (e) => {
            if (e.kind === "task") countTask(e.report);
            emitAll(e.kind === "progress" ? { progress: e.progress } : { task: e.report });
          },
        },
      );
      attachEgress(tasks, await deps.directory.current());
      const finishedAt = new Date();
      const report = ProbeReport.fromPartial({
        probeId,
        request: value.accepted,
        regions,
        tasks,
        comparison: compareRegions(tasks, regions, value.ports),
        startedAt,
        finishedAt,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        complete: tasks.every((t) => t.result !== undefined),
      });
      logger.info({ durationMs: report.durationMs, complete: report.complete }, "probe finished");
      audit.info({ ...auditFields(report, caller, value, shared), traceId: traced.traceId }, "audit");
      // The caller is answered first; the store write goes on behind it (a JetStream round trip,
      // or a timeout while NATS is away, never delays the report). Until it is written, GetProbe
      // and a repeated idempotency key find the report in `storing`.
      storing.set(probeId, report);
      void (async () => {
        await deps.store.put(report);
        if (idempotencyKey) await deps.store.putIdempotency(idempotencyKey, probeId);
      })()
        .catch((error: unknown) => logger.error({ err: error }, "could not store the report"))
        .finally(() => {
          storing.delete(probeId);
          if (idempotencyKey && byIdempotencyKey.get(idempotencyKey) === shared) byIdempotencyKey.delete(idempotencyKey);
        });
      return report;
    } catch (error) {
      audit.info({ event: "probe", caller, probeId, traceId: traced.traceId, host: value.host, mx: value.mx, regions, ports: value.ports, verdict: "error", err: error }, "audit");
      traced.span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      traced.span.end();
      lease?.release();
    }
  }

  /** Answers a unary or streaming call once, and lets shutdown end it first. */
  function serve(
    call: { on(event: "cancelled", listener: () => void): unknown },
    answer: { ok(report: ProbeReport): void; fail(error: ServiceError): void },
    start: (signal: AbortSignal) => Promise<ProbeReport>,
  ): void {
    const controller = new AbortController();
    let answered = false;
    const once =
      <T>(fn: (v: T) => void) =>
      (v: T): void => {
        if (answered) return;
        answered = true;
        untrack();
        fn(v);
      };
    const ok = once(answer.ok);
    const fail = once(answer.fail);
    const untrack = track({
      fail(error) {
        fail(error);
        controller.abort();
      },
    });
    call.on("cancelled", () => {
      controller.abort();
      if (!answered) {
        answered = true;
        untrack();
      }
    });
    start(controller.signal).then(ok, (error: unknown) => fail(toServiceError(error, deps.logger)));
  }

  /** ListRegions and GetProbe: short, but shutdown waits for them too. */
  function serveUnary<T>(callback: sendUnaryData<T>, work: () => Promise<T>): void {
    if (draining) {
      metrics.requestsRejected.inc({ reason: "unavailable" });
      callback(unavailable(SHUTTING_DOWN, SHUTDOWN_RETRY_MS));
      return;
    }
    let answered = false;
    const untrack = track({
      fail(error) {
        if (answered) return;
        answered = true;
        untrack();
        callback(error);
      },
    });
    work().then(
      (value) => {
        if (answered) return;
        answered = true;
        untrack();
        callback(null, value);
      },
      (error: unknown) => {
        if (answered) return;
        answered = true;
        untrack();
        callback(toServiceError(error, deps.logger));
      },
    );
  }

  const service: ProbeServiceServer = {
    probe(call: ServerUnaryCall<ProbeRequest, ProbeReport>, callback: sendUnaryData<ProbeReport>) {
      const caller = callerOf(call.metadata);
      serve(
        call,
        {
          ok: (report) => {
            metrics.probes.inc({ complete: String(report.complete), call: "unary" });
            callback(null, report);
          },
          fail: (error) => callback(error),
        },
        (signal) => runProbe(call.request, caller, deadlineOf(call), signal, undefined, traceparentOf(call.metadata)),
      );
    },

    streamProbe(call: ServerWritableStream<ProbeRequest, ProbeEvent>) {
      const caller = callerOf(call.metadata);
      const emit: Emit = (event) => {
        if (!call.cancelled && call.writable) call.write(event);
      };
      serve(
        call,
        {
          ok: (report) => {
            metrics.probes.inc({ complete: String(report.complete), call: "stream" });
            emit({ report });
            call.end();
          },
          // A server stream ends with an error status through "error"; destroy() would send none.
          fail: (error) => call.emit("error", error),
        },
        (signal) => runProbe(call.request, caller, deadlineOf(call), signal, emit, traceparentOf(call.metadata)),
      );
    },

    getProbe(call: ServerUnaryCall<GetProbeRequest, ProbeReport>, callback: sendUnaryData<ProbeReport>) {
      const probeId = call.request.probeId ?? "";
      if (!/^[0-9a-f-]{36}$/.test(probeId)) {
        callback(invalidArgument([{ field: "probe_id", description: "must be a probe id as returned by Probe (a UUID)" }]));
        return;
      }
      serveUnary(callback, async () => {
        const report = storing.get(probeId) ?? (await deps.store.get(probeId));
        if (!report) throw new CallError(serviceError(status.NOT_FOUND, `no stored report for probe ${probeId} (unknown, or expired)`));
        return report;
      });
    },

    listRegions(_call: ServerUnaryCall<ListRegionsRequest, ListRegionsResponse>, callback: sendUnaryData<ListRegionsResponse>) {
      serveUnary(callback, async () => ({ regions: groupByRegion(await deps.directory.refresh()) }));
    },
  };

  return {
    service,
    drain() {
      draining = true;
    },
    endCalls(message = `${SHUTTING_DOWN}: the grace period is over`) {
      for (const call of [...active]) call.fail(unavailable(message, SHUTDOWN_RETRY_MS));
    },
    idle() {
      return active.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/**
 * What makes two requests the same probe: the request as accepted (defaults filled in, host
 * lower-cased) without its idempotency key, ports and regions in a fixed order. Hashed, so the
 * map key is bounded whatever the options hold.
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

/** The audit line of a probe that produced a report. */
function auditFields(report: ProbeReport, caller: string, value: NormalizedRequest, shared: SharedProbe): Record<string, unknown> {
  const addresses = new Set<string>();
  for (const task of report.tasks) for (const h of task.result?.handshakes ?? []) if (h.address) addresses.add(h.address);
  return {
    event: "probe",
    caller,
    probeId: report.probeId,
    host: value.host,
    mx: value.mx,
    addresses: [...addresses].sort(),
    regions: report.regions,
    ports: value.ports,
    verdict: report.comparison?.verdicts.map((v) => ({ port: v.port, kind: verdictKindToJSON(v.kind).replace(/^VERDICT_KIND_/, ""), regions: v.regions })) ?? [],
    complete: report.complete,
    joined: Math.max(0, shared.joined),
    durationMs: report.durationMs,
  };
}

/** The caller's W3C traceparent metadata (gRPC metadata keys are lower case), if any. */
function traceparentOf(metadata: Metadata): string | undefined {
  const value = metadata.get(TRACEPARENT)[0];
  return typeof value === "string" ? value : undefined;
}

function liveRegions(agents: readonly { region: string }[]): string[] {
  return [...new Set(agents.map((a) => a.region))].sort();
}

/** The caller's deadline as Date.now() milliseconds (Infinity when it set none). */
function deadlineOf(call: { getDeadline(): Date | number }): number {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) && ms > 0 ? ms : Number.POSITIVE_INFINITY;
}

function toServiceError(error: unknown, logger: Logger): ReturnType<typeof serviceError> {
  if (error instanceof CallError) return error.error;
  logger.error({ err: error }, "internal error");
  return serviceError(status.INTERNAL, "internal error");
}
