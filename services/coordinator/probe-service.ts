import { randomUUID } from "node:crypto";
import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import {
  ProbeReport,
  type GetProbeRequest,
  type ListRegionsRequest,
  type ListRegionsResponse,
  type ProbeEvent,
  type ProbeRequest,
  type ProbeServiceServer,
} from "../../gen/smtpprobe/v1/probe_service.js";
import type { TargetPolicyChecker } from "../../agents/probe/target-policy.js";
import type { Bus } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { callerOf } from "./caller-auth.js";
import { compareRegions } from "./compare.js";
import { attachEgress, dispatchProbe } from "./fan-out.js";
import { invalidArgument, permissionDenied, serviceError } from "./grpc-errors.js";
import { groupByRegion, type RegionDirectory } from "./region-directory.js";
import type { ReportStore } from "./report-store.js";
import { checkTargetEarly, validateProbeRequest } from "./validate-request.js";

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
}

/** What a running probe reports as it goes: the streaming RPC writes these. */
type Emit = (event: ProbeEvent) => void;

/** A gRPC error for the call as a whole (per-region problems are outcomes in the report). */
class CallError extends Error {
  constructor(readonly error: ReturnType<typeof serviceError>) {
    super(error.message);
  }
}

/**
 * The ProbeService: validates, applies the target policy early, picks the regions, dispatches one
 * task per region × port, compares and stores. Probe and StreamProbe share one path.
 */
export function createProbeService(deps: ProbeServiceDeps): ProbeServiceServer {
  /** Probes by idempotency key, from start until their report is stored. */
  const inFlightByKey = new Map<string, Promise<ProbeReport>>();
  /** Finished reports whose store write has not completed yet (bounded by the probes in flight). */
  const storing = new Map<string, ProbeReport>();

  async function runProbe(request: ProbeRequest, caller: string, callDeadline: number, signal: AbortSignal, emit?: Emit): Promise<ProbeReport> {
    const validation = validateProbeRequest(request, { maxDeadlineMs: deps.limits.maxDeadlineMs });
    if (!validation.ok) throw new CallError(invalidArgument(validation.violations));
    const value = validation.value;
    const denied = checkTargetEarly(value, deps.policy);
    if (denied) throw new CallError(permissionDenied(denied.reason, denied.field));
    if (!deps.bus.isConnected()) throw new CallError(serviceError(status.UNAVAILABLE, "the coordinator is not connected to NATS; try again shortly"));

    if (value.idempotencyKey) {
      const joined = inFlightByKey.get(value.idempotencyKey);
      if (joined) return joined;
      const probeId = await deps.store.getIdempotency(value.idempotencyKey);
      const stored = probeId ? await deps.store.get(probeId) : undefined;
      if (stored) return stored;
    }

    const regions = value.regions.length > 0 ? value.regions : liveRegions(await deps.directory.current());
    if (regions.length === 0) {
      throw new CallError(serviceError(status.FAILED_PRECONDITION, "no region has a live agent: start an agent, or name the regions to probe"));
    }

    const run = (async (): Promise<ProbeReport> => {
      const probeId = randomUUID();
      const startedAt = new Date();
      const now = Date.now();
      // The probe's own deadline, clamped by the caller's gRPC deadline (less a margin for the reply).
      const deadlineAt = Math.min(now + value.deadlineMs, callDeadline - 50, now + deps.limits.maxDeadlineMs);
      const logger = deps.logger;
      logger.info({ probeId, caller, host: value.host, ports: value.ports, regions, deadlineMs: deadlineAt - now }, "probe accepted");
      emit?.({ accepted: { probeId, regions, ports: value.ports, deadline: new Date(deadlineAt) } });

      const tasks = await dispatchProbe(
        {
          probeId,
          host: value.host,
          mx: value.mx,
          ports: value.ports,
          regions,
          options: value.options,
          tlsModes: new Map(Object.entries(value.tlsModes).map(([port, mode]) => [Number(port), mode])),
          deadlineAt,
          heartbeatMs: deps.limits.heartbeatMs,
        },
        {
          bus: deps.bus,
          logger,
          signal,
          onEvent: (e) =>
            emit?.(e.kind === "progress" ? { progress: e.progress } : { task: e.report }),
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
      logger.info({ probeId, caller, durationMs: report.durationMs, complete: report.complete }, "probe finished");
      // The caller is answered first; the store write goes on behind it (a JetStream round trip,
      // or a timeout while NATS is away, never delays the report). Until it is written, GetProbe
      // and a repeated idempotency key find the report in `storing`.
      storing.set(probeId, report);
      void (async () => {
        await deps.store.put(report);
        if (value.idempotencyKey) await deps.store.putIdempotency(value.idempotencyKey, probeId);
      })()
        .catch((error: unknown) => logger.error({ probeId, err: error }, "could not store the report"))
        .finally(() => {
          storing.delete(probeId);
          if (value.idempotencyKey && inFlightByKey.get(value.idempotencyKey) === run) inFlightByKey.delete(value.idempotencyKey);
        });
      return report;
    })();

    if (value.idempotencyKey) {
      inFlightByKey.set(value.idempotencyKey, run);
      // A failed run is forgotten at once; a finished one when its report is stored (above).
      run.catch(() => inFlightByKey.delete(value.idempotencyKey));
    }
    return run;
  }

  return {
    probe(call: ServerUnaryCall<ProbeRequest, ProbeReport>, callback: sendUnaryData<ProbeReport>) {
      const controller = cancelOnClose(call);
      runProbe(call.request, callerOf(call.metadata), deadlineOf(call), controller.signal).then(
        (report) => callback(null, report),
        (error: unknown) => callback(toServiceError(error, deps.logger)),
      );
    },

    streamProbe(call: ServerWritableStream<ProbeRequest, ProbeEvent>) {
      const controller = cancelOnClose(call);
      const emit: Emit = (event) => {
        if (!call.cancelled && call.writable) call.write(event);
      };
      runProbe(call.request, callerOf(call.metadata), deadlineOf(call), controller.signal, emit).then(
        (report) => {
          emit({ report });
          call.end();
        },
        // A server stream ends with an error status through "error"; destroy() would send none.
        (error: unknown) => call.emit("error", toServiceError(error, deps.logger)),
      );
    },

    getProbe(call: ServerUnaryCall<GetProbeRequest, ProbeReport>, callback: sendUnaryData<ProbeReport>) {
      const probeId = call.request.probeId ?? "";
      if (!/^[0-9a-f-]{36}$/.test(probeId)) {
        callback(invalidArgument([{ field: "probe_id", description: "must be a probe id as returned by Probe (a UUID)" }]));
        return;
      }
      const pending = storing.get(probeId);
      if (pending) {
        callback(null, pending);
        return;
      }
      deps.store.get(probeId).then(
        (report) => (report ? callback(null, report) : callback(serviceError(status.NOT_FOUND, `no stored report for probe ${probeId} (unknown, or expired)`))),
        (error: unknown) => callback(toServiceError(error, deps.logger)),
      );
    },

    listRegions(_call: ServerUnaryCall<ListRegionsRequest, ListRegionsResponse>, callback: sendUnaryData<ListRegionsResponse>) {
      deps.directory.refresh().then(
        (agents) => callback(null, { regions: groupByRegion(agents) }),
        (error: unknown) => callback(toServiceError(error, deps.logger)),
      );
    },
  };
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

/** Aborts when the caller cancels or goes away, so the agents' work is cancelled too. */
function cancelOnClose(call: { on(event: "cancelled", listener: () => void): unknown }): AbortController {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort());
  return controller;
}

function toServiceError(error: unknown, logger: Logger): ReturnType<typeof serviceError> {
  if (error instanceof CallError) return error.error;
  logger.error({ err: error }, "internal error");
  return serviceError(status.INTERNAL, "internal error");
}
