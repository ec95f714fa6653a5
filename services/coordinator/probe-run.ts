// Running one accepted probe: the regions it goes to, its admission against the quotas, the
// dispatch of one task per region × port (fan-out.ts) under the deadline admitted for it
// (probe-deadline.ts), egress, the regional comparison, the report and its audit line. The report
// is stored behind the answer.
import { SpanStatusCode } from "@opentelemetry/api";
import { status } from "@grpc/grpc-js";
import { ProbeReport, TaskStatus, type ProbeRequest, type TaskReport } from "../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { enumLabel, metrics } from "../../lib/metrics.js";
import { startSpan } from "../../lib/trace-context.js";
import type { AuditTrail } from "./audit-trail.js";
import type { CallerQuota } from "./caller-quota.js";
import { compareRegions } from "./compare.js";
import { attachEgress, dispatchProbe, type TaskPermits } from "./fan-out.js";
import { resourceExhausted, serviceError } from "./grpc-errors.js";
import type { ProbeDeadline } from "./probe-deadline.js";
import type { RegionDirectory } from "./region-directory.js";
import type { ReportStore } from "./report-store.js";
import type { RunningProbe } from "./shared-probes.js";
import type { NormalizedRequest } from "./validate-request.js";

export interface ProbeRunLimits {
  /** The bound on a request's deadline_ms (validate-request.ts); a gRPC deadline only shortens it. */
  maxDeadlineMs: number;
  /** Heartbeat period asked of the agents. */
  heartbeatMs: number;
}

export interface ProbeRunnerDeps {
  bus: Bus;
  store: ReportStore;
  directory: RegionDirectory;
  logger: Logger;
  audit: AuditTrail;
  limits: ProbeRunLimits;
  /** Caller quotas and the coordinator-wide bound (caller-quota.ts); undefined: no limits. */
  quota?: CallerQuota;
  /** Permits granted with the tasks (permit-service.ts); undefined: agents ask for each. */
  permits?: TaskPermits;
}

/** Who asked for a probe, by when, under which trace. */
export interface ProbeCall {
  caller: string;
  /** The caller's deadline as Date.now() milliseconds (Infinity when it set none). */
  deadline: number;
  /** The caller's W3C traceparent, if any. */
  traceparent?: string;
}

export class ProbeRunner {
  /** Finished reports whose store write has not completed yet (bounded by the probes in flight). */
  private readonly storing = new Map<string, ProbeReport>();

  constructor(private readonly deps: ProbeRunnerDeps) {}

  /** A finished report: one still being stored, else the store's (undefined: unknown or expired). */
  async findReport(probeId: string): Promise<ProbeReport | undefined> {
    return this.storing.get(probeId) ?? (await this.deps.store.get(probeId));
  }

  /**
   * Runs the probe to its report: the outcome of every task, whatever happened to it. Throws a
   * CallError when the probe cannot start (no region, a quota), and rethrows our own errors.
   * `deadline` is the one admitted for the call (probe-deadline.ts).
   */
  async run(value: NormalizedRequest, deadline: ProbeDeadline, call: ProbeCall, probe: RunningProbe): Promise<ProbeReport> {
    const { deps } = this;
    const { caller } = call;
    const regions = value.regions.length > 0 ? value.regions : liveRegions(await deps.directory.current());
    if (regions.length === 0) {
      throw deps.audit.refuse(caller, "no_region", serviceError(status.FAILED_PRECONDITION, "no region has a live agent: start an agent, or name the regions to probe"));
    }
    const { deadlineAt, callerBound } = deadline;
    const executions = regions.length * value.ports.length;
    const admission = deps.quota?.admit(caller, executions, deadlineAt);
    if (admission && !admission.ok) {
      const r = admission.refusal;
      throw deps.audit.refuse(
        caller,
        r.limit === "max_executions_in_flight" ? "overloaded" : "caller_quota",
        resourceExhausted({ limit: r.limit, subject: r.limit === "max_executions_in_flight" ? "coordinator" : `caller:${caller}`, description: r.description, retryAfterMs: r.retryAfterMs }),
      );
    }
    const lease = admission?.lease;
    const probeId = probe.probeId;
    const startedAt = new Date();
    // One trace per probe: under the caller's traceparent, else a new trace. Its id goes into
    // every log line of the probe, here and (through the NATS headers) at the agents.
    const traced = startSpan("smtpprobe.probe", call.traceparent, { "smtpprobe.probe_id": probeId, "smtpprobe.caller": caller });
    // Every line of the probe, here and in the dispatch (fan-out.ts adds region, port, task id).
    const logger = deps.logger.child({ probeId, traceId: traced.traceId, caller });
    const audited = { caller, probeId, traceId: traced.traceId, host: value.host, mx: value.mx, ports: value.ports };
    try {
      logger.info({ host: value.host, ports: value.ports, regions, executions, deadlineMs: deadline.deadlineMs, callerDeadlineBound: callerBound }, "probe accepted");
      probe.emit({ accepted: { probeId, regions, ports: value.ports, deadline: new Date(deadlineAt) } });

      // Metric labels: a region no agent serves is "unknown" (callers may name any region).
      const agents = await deps.directory.current();
      const served = new Set(agents.map((a) => a.region));
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
          deadlineFromCaller: callerBound,
          servedRegions: await deps.directory.servedRegions(),
          liveRegions: [...served],
          heartbeatMs: deps.limits.heartbeatMs,
          traceparent: traced.traceparent,
        },
        {
          bus: deps.bus,
          logger,
          signal: probe.signal,
          permits: deps.permits,
          onEvent: (e) => {
            if (e.kind === "task") countTask(e.report);
            probe.emit(e.kind === "progress" ? { progress: e.progress } : { task: e.report });
          },
        },
      );
      deps.directory.noteServed(tasks.filter((t) => t.agentId !== "").map((t) => t.region));
      attachEgress(tasks, await deps.directory.current());
      const finishedAt = new Date();
      // Built from the finished parts as they are: fromPartial would copy every task's result
      // (transcripts, chains) once more. The defaults first, for the fields not set here.
      const report: ProbeReport = {
        ...ProbeReport.fromPartial({}),
        probeId,
        request: withDeadline(value.accepted, deadline.deadlineMs),
        regions,
        tasks,
        comparison: compareRegions(tasks, regions, value.ports),
        startedAt,
        finishedAt,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        complete: tasks.every((t) => t.result !== undefined),
        deadlineMs: deadline.deadlineMs,
        callerDeadlineBound: callerBound,
      };
      logger.info({ durationMs: report.durationMs, complete: report.complete }, "probe finished");
      deps.audit.probeFinished(audited, report, probe.joined);
      this.storeBehind(report, probe, logger);
      return report;
    } catch (error) {
      deps.audit.probeFailed(audited, regions, error);
      traced.span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      traced.span.end();
      lease?.release();
    }
  }

  /**
   * The caller is answered first; the store write goes on behind it (a JetStream round trip, or a
   * timeout while NATS is away, never delays the report), and starts after the answer is written
   * (setImmediate): its publish costs a socket write, and the answer's encoding is the one it
   * stores (lib/encode-once.ts). Until it is written, GetProbe and a repeated idempotency key find
   * the report here.
   */
  private storeBehind(report: ProbeReport, probe: RunningProbe, logger: Logger): void {
    this.storing.set(report.probeId, report);
    void new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.deps.store.put(report))
      .then(
        () => true,
        (error: unknown) => {
          logger.error({ err: error }, "could not store the report");
          return false;
        },
      )
      .then((written) => probe.reportStored(report, written))
      .finally(() => this.storing.delete(report.probeId));
  }
}

/**
 * The accepted request as the report echoes it: with the deadline the probe actually ran with.
 * A shallow copy: only options.timeouts differs, and neither object is changed once built; a deep
 * copy (fromPartial) of every field served nobody.
 */
export function withDeadline(accepted: ProbeRequest, deadlineMs: number): ProbeRequest {
  if (!accepted.options) return { ...accepted };
  const timeouts = { connectMs: 0, bannerMs: 0, commandMs: 0, tlsMs: 0, ...accepted.options.timeouts, deadlineMs };
  return { ...accepted, options: { ...accepted.options, timeouts } };
}

function liveRegions(agents: readonly { region: string }[]): string[] {
  return [...new Set(agents.map((a) => a.region))].sort();
}
