// The two ways the service bench runs one probe: through the public API (the generated gRPC
// client → coordinator → NATS → agent → engine) and the engine called directly in this process
// (probeTarget with the same options and the same target policy as the agent). Each returns a
// sample or throws a ProbeFailure that says which kind of failure it was.
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Outcome, Phase, ProbeOptions, type TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ListRegionsResponse, type ProbeReport, type ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import { ProbeServiceClient } from "../lib/probe-service-client.js";
import { createTargetPolicy } from "../lib/policy/target-policy.js";
import { resolveOptions } from "../agents/smtp/options.js";
import { probeTarget } from "../agents/smtp/probe-target.js";
import { distinctEhloName, EHLO_NAME } from "./clients.js";

/** The engine's deadline per probe: a local target never takes long. */
const PROBE_DEADLINE_MS = 10_000;
/** The gRPC call's own deadline: past the probe's, so the probe's report always comes back. */
const CALL_DEADLINE_MS = 15_000;

/** The probe options of every request, and of the direct engine calls. */
export const BENCH_OPTIONS: ProbeOptions = ProbeOptions.fromPartial({ ehloName: EHLO_NAME, timeouts: { deadlineMs: PROBE_DEADLINE_MS } });

export type FailureKind = "grpc_error" | "task_not_done" | "unexpected_outcome";

export class ProbeFailure extends Error {
  override readonly name = "ProbeFailure";
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

export interface ProbeSample {
  /** Wall time of the whole call, as the caller sees it, ms. */
  wallMs: number;
  /** The engine's own time (TargetResult.totalMs); for a fan-out, the slowest region's. */
  engineMs: number;
  /** The coordinator's time from accepting the call to the report (ProbeReport.duration_ms; whole ms). */
  coordinatorMs?: number;
  /** Tasks in the report (1 per region × port). */
  tasks?: number;
}

export type ProbeOnce = () => Promise<ProbeSample>;

/** What a probe must end with to count as a success. */
export type Expected = "done" | "refused";

function checkResult(result: TargetResult | undefined, expected: Expected, where: string): void {
  const handshakes = result?.handshakes ?? [];
  if (handshakes.length === 0) throw new ProbeFailure("unexpected_outcome", `${where}: no handshake in the result`);
  for (const h of handshakes) {
    const ok = expected === "done" ? h.outcome === Outcome.OUTCOME_OK && h.phase === Phase.PHASE_DONE : h.outcome === Outcome.OUTCOME_REFUSED;
    if (!ok) throw new ProbeFailure("unexpected_outcome", `${where}: ${Outcome[h.outcome]} in ${Phase[h.phase]}: ${h.reason}`);
  }
}

export interface ServiceClient {
  /** One Probe call for `port` from `regions`. */
  probe(regions: readonly string[], port: number, expected?: Expected): Promise<ProbeSample>;
  listRegions(): Promise<ListRegionsResponse>;
  /**
   * The gRPC round trip alone: GetProbe with a malformed id, which the coordinator answers
   * INVALID_ARGUMENT at once (no store, no NATS). Resolves with the wall time, ms.
   */
  ping(): Promise<number>;
  waitForReady(timeoutMs: number): Promise<void>;
  close(): void;
}

export function connectServiceClient(address: string, host: string): ServiceClient {
  const client = new ProbeServiceClient(address, credentials.createInsecure());
  const call = (request: ProbeRequest): Promise<ProbeReport> =>
    new Promise((resolve, reject) => {
      client.probe(request, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (error: ServiceError | null, report: ProbeReport) =>
        error ? reject(error) : resolve(report),
      );
    });
  return {
    async probe(regions, port, expected = "done") {
      const options: ProbeOptions = { ...BENCH_OPTIONS, ehloName: distinctEhloName() };
      const request: ProbeRequest = { host, mx: false, ports: [port], regions: [...regions], options, tlsModes: {}, idempotencyKey: "", portRoles: {} };
      const start = performance.now();
      let report: ProbeReport;
      try {
        report = await call(request);
      } catch (error) {
        throw new ProbeFailure("grpc_error", `gRPC: ${error instanceof Error ? error.message : String(error)}`);
      }
      const wallMs = performance.now() - start;
      let engineMs = 0;
      for (const task of report.tasks) {
        if (task.status !== TaskStatus.TASK_STATUS_DONE) {
          throw new ProbeFailure("task_not_done", `region ${task.region}: ${TaskStatus[task.status]}: ${task.detail}`);
        }
        checkResult(task.result, expected, `region ${task.region}`);
        engineMs = Math.max(engineMs, task.result?.totalMs ?? 0);
      }
      if (report.tasks.length !== regions.length) throw new ProbeFailure("task_not_done", `${report.tasks.length} tasks for ${regions.length} regions`);
      return { wallMs, engineMs, coordinatorMs: report.durationMs, tasks: report.tasks.length };
    },
    listRegions: () =>
      new Promise((resolve, reject) => {
        client.listRegions({}, new Metadata(), { deadline: Date.now() + 5_000 }, (error: ServiceError | null, response: ListRegionsResponse) =>
          error ? reject(error) : resolve(response),
        );
      }),
    ping: () =>
      new Promise((resolve, reject) => {
        const start = performance.now();
        client.getProbe({ probeId: "bench-ping" }, new Metadata(), { deadline: Date.now() + 5_000 }, (error: ServiceError | null) =>
          error?.code === status.INVALID_ARGUMENT ? resolve(performance.now() - start) : reject(error ?? new Error("GetProbe answered a malformed id")),
        );
      }),
    waitForReady: (timeoutMs) =>
      new Promise((resolve, reject) => client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve()))),
    close: () => client.close(),
  };
}

/**
 * The engine as the agent runs it — probeTarget with the options resolved from the same request
 * options, under the same target policy — but called in this process, with no service around it.
 */
export function directEngine(host: string, allow: { cidr: string; ports: readonly number[] }): (port: number, expected?: Expected) => Promise<ProbeSample> {
  const policy = createTargetPolicy({ allowCidrs: [allow.cidr], allowPorts: [...allow.ports] });
  return async (port, expected = "done") => {
    const options = resolveOptions(BENCH_OPTIONS, port, "");
    const start = performance.now();
    const result = await probeTarget({ host, port, mx: false }, options, { policy });
    const wallMs = performance.now() - start;
    checkResult(result, expected, "engine");
    return { wallMs, engineMs: result.totalMs };
  };
}
