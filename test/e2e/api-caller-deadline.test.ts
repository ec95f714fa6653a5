// The caller's deadline, idempotency keys and unknown regions through the gRPC API of an embedded
// coordinator (startCoordinator in this process, its agent in-process as region `local`), whose
// log lines the test reads for the audit trail. The target is a tarpit on 127.0.0.1: it accepts and
// never sends a banner, so a probe of it ends on a deadline, the caller's or the request's.
import { status, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailureSource, Outcome } from "../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, VerdictKind, type ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { startCoordinator, type RunningCoordinator } from "../../services/coordinator/coordinator.js";
import { statusDetailsOf } from "../../services/coordinator/grpc-errors.js";
import { testCoordinatorConfig } from "../helpers/coordinator-config.js";
import { freePort } from "../helpers/free-port.js";
import { callError, connectProbeApi, describeError, type ProbeApi } from "../helpers/grpc-client.js";
import { startSilentServer, type SilentServer } from "../helpers/silent-server.js";
import { delay, waitFor } from "../helpers/wait.js";

const CUT = "cut short by the caller's deadline";

interface LogLine {
  msg: string;
  audit?: boolean;
  event?: string;
  probeId?: string;
  reason?: string;
  code?: string;
  verdict?: unknown;
  callerDeadlineBound?: boolean;
  deadlineMs?: number;
  unknownRegions?: string[];
}

describe("the caller's deadline, idempotency keys and unknown regions (embedded coordinator)", () => {
  let tarpit: SilentServer;
  let closedPort: number;
  let coordinator: RunningCoordinator;
  let api: ProbeApi;
  const lines: LogLine[] = [];
  const audit = (): LogLine[] => lines.filter((l) => l.audit === true);

  beforeAll(async () => {
    [tarpit, closedPort] = await Promise.all([startSilentServer(), freePort()]);
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
    coordinator = await startCoordinator(testCoordinatorConfig([tarpit.port, closedPort]), logger);
    api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
    // The channel connected before the short calls: their deadline is for the call, not for TCP.
    await api.listRegions();
  });

  afterAll(async () => {
    api?.close();
    await coordinator?.stop(1_000);
    await tarpit?.stop();
  });

  /** The stored report: written behind the answer, so polled for a moment. */
  async function stored(probeId: string): Promise<ProbeReport> {
    let report: ProbeReport | undefined;
    await waitFor(
      async () => (report = await api.getProbe(probeId).catch(() => undefined)) !== undefined,
      3_000,
      `the stored report of ${probeId}`,
    );
    return report!;
  }

  it("a gRPC deadline of 200 ms against a tarpit: the caller's deadline, stored and audited as such, never the target's failure", async () => {
    const accepted = tarpit.accepted();
    // A call that reaches the coordinator with less than 150 ms left is refused (a loaded machine
    // can take 50 ms to deliver it): tried again, at most twice more.
    let stream = api.streamProbe({ host: "127.0.0.1", ports: [tarpit.port] }, { deadlineMs: 200 });
    for (let retries = 2; retries > 0; retries -= 1) {
      const { events, error } = await stream.done;
      if (events.length > 0 || !error?.details.startsWith("the call's deadline leaves")) break;
      stream = api.streamProbe({ host: "127.0.0.1", ports: [tarpit.port] }, { deadlineMs: 200 });
    }
    const probeId = (await stream.next((e) => e.accepted !== undefined, 2_000)).accepted!.probeId;
    const { events, error } = await stream.done;
    // On a loaded machine the report may miss the call's deadline; the stored one is the same.
    const answered = events.find((e) => e.report)?.report;
    if (!answered) expect(error?.code, error && describeError(error)).toBe(status.DEADLINE_EXCEEDED);
    const report = await stored(probeId);
    if (answered) expect(report).toEqual(answered);

    expect(report.callerDeadlineBound).toBe(true);
    expect(report.deadlineMs).toBeGreaterThanOrEqual(100);
    expect(report.deadlineMs).toBeLessThanOrEqual(150);
    // The echo shows the deadline the probe ran with, not the default 60 s.
    expect(report.request?.options?.timeouts?.deadlineMs).toBe(report.deadlineMs);

    const [task] = report.tasks;
    const text = JSON.stringify(task, (k, v: unknown) => (k === "transcript" ? "…" : v));
    if (task?.status === TaskStatus.TASK_STATUS_DONE) {
      // The agent's engine ended on the deadline and the agent, told it was the caller's, says so.
      const [handshake] = task.result?.handshakes ?? [];
      expect(handshake?.outcome, text).toBe(Outcome.OUTCOME_CALLER_DEADLINE);
      expect(handshake?.failureSource, text).toBe(FailureSource.FAILURE_SOURCE_CALLER);
      expect(handshake?.reason).toContain("the caller's deadline ended the probe");
      expect(tarpit.accepted()).toBeGreaterThan(accepted);
    } else {
      expect(task?.status, text).toBe(TaskStatus.TASK_STATUS_CALLER_DEADLINE);
    }
    for (const h of task?.result?.handshakes ?? []) expect(h.failureSource).not.toBe(FailureSource.FAILURE_SOURCE_TARGET);

    const comparison = report.comparison!;
    expect(comparison.cells.map((c) => [c.state, c.cause])).toEqual([[CellState.CELL_STATE_NO_ANSWER, CUT]]);
    expect(comparison.verdicts.map((v) => v.kind)).toEqual([VerdictKind.VERDICT_KIND_NO_DATA]);
    expect(comparison.missing).toEqual([{ region: "local", cause: CUT }]);

    const line = audit().find((l) => l.event === "probe" && l.probeId === probeId);
    expect(line).toMatchObject({ callerDeadlineBound: true, deadlineMs: report.deadlineMs, verdict: [{ port: tarpit.port, kind: "NO_DATA", regions: ["local"] }] });
  });

  it("the request's own short deadline is not the caller's: reported as before, with its deadline echoed", async () => {
    const report = await api.probe({ host: "127.0.0.1", ports: [tarpit.port], options: { timeouts: { deadlineMs: 300 } } }, { deadlineMs: 10_000 });
    expect(report).toMatchObject({ deadlineMs: 300, callerDeadlineBound: false });
    expect(report.request?.options?.timeouts?.deadlineMs).toBe(300);
    const [handshake] = report.tasks[0]?.result?.handshakes ?? [];
    expect(handshake?.outcome).toBe(Outcome.OUTCOME_DEADLINE_EXCEEDED);
    expect(report.comparison?.cells[0]?.cause).not.toBe(CUT);
  });

  it.each([20, 50])("a gRPC deadline of %d ms: DEADLINE_EXCEEDED at once, never OK with an empty report; nothing probed", async (callMs) => {
    const accepted = tarpit.accepted();
    const probesBefore = audit().filter((l) => l.event === "probe").length;
    const error = await callError(api.probe({ host: "127.0.0.1", ports: [tarpit.port] }, { deadlineMs: callMs }));
    expect(error.code, describeError(error)).toBe(status.DEADLINE_EXCEEDED);
    await delay(100);
    expect(tarpit.accepted()).toBe(accepted);
    expect(audit().filter((l) => l.event === "probe")).toHaveLength(probesBefore);
  });

  it("a gRPC deadline that leaves less than the shortest probe is refused by the coordinator, saying the minimum", async () => {
    const error = await callError(api.probe({ host: "127.0.0.1", ports: [tarpit.port] }, { deadlineMs: 140 }));
    expect(error.code, describeError(error)).toBe(status.DEADLINE_EXCEEDED);
    expect(error.details).toMatch(/^the call's deadline leaves \d+ ms for the probe .*a probe needs at least 100 ms: give the call a deadline of at least 150 ms$/);
    expect(statusDetailsOf(error).errorInfo).toMatchObject({ reason: "DEADLINE_TOO_SHORT", metadata: { minimum_ms: "150" } });
    expect(audit()).toContainEqual(expect.objectContaining({ event: "denied", reason: "deadline_too_short", code: "DEADLINE_EXCEEDED" }));
  });

  it("a request deadline_ms too short to probe anything is INVALID_ARGUMENT naming options.timeouts.deadline_ms", async () => {
    const error = await callError(api.probe({ host: "127.0.0.1", ports: [tarpit.port], options: { timeouts: { deadlineMs: 50 } } }));
    expect(error.code, describeError(error)).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe("invalid request: options.timeouts.deadline_ms: must be at least 100 ms (the time a probe needs to be dispatched and answered), got 50");
  });

  it("an idempotency key with another request: FAILED_PRECONDITION naming the first probe, while it runs and after it is stored", async () => {
    const key = `key-${Date.now()}`;
    const first = { host: "127.0.0.1", ports: [tarpit.port], idempotencyKey: key, options: { timeouts: { deadlineMs: 600 } } };
    const other = { ...first, ports: [closedPort] };
    const expectReused = (error: ServiceError, probeId: string): void => {
      expect(error.code, describeError(error)).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toContain(`was first used with another request (probe ${probeId})`);
      expect(statusDetailsOf(error).errorInfo).toMatchObject({ reason: "IDEMPOTENCY_KEY_REUSED", domain: "smtp-probe", metadata: { probe_id: probeId, field: "idempotency_key" } });
    };

    const stream = api.streamProbe(first, { deadlineMs: 10_000 });
    const probeId = (await stream.next((e) => e.accepted !== undefined, 2_000)).accepted!.probeId;
    // While it runs.
    expectReused(await callError(api.probe(other, { deadlineMs: 10_000 })), probeId);
    // The same key with the same request joins it (a shorter call deadline is the same request).
    const joined = api.probe(first, { deadlineMs: 5_000 });
    const { events, error } = await stream.done;
    expect(error, error && describeError(error)).toBeUndefined();
    expect((await joined).probeId).toBe(probeId);
    expect(events.at(-1)?.report?.probeId).toBe(probeId);

    // After it is stored.
    await stored(probeId);
    await delay(100);
    expectReused(await callError(api.probe(other, { deadlineMs: 10_000 })), probeId);
    expect((await api.probe(first, { deadlineMs: 10_000 })).probeId).toBe(probeId);
    expect(audit().filter((l) => l.event === "denied" && l.reason === "idempotency_key_reused")).toHaveLength(2);
  });

  it("a region no agent has ever served is an unknown region, named apart, never an outage", async () => {
    const report = await api.probe({ host: "127.0.0.1", ports: [closedPort], regions: ["local", "eu-wst"] }, { deadlineMs: 10_000 });
    const unknown = report.tasks.find((t) => t.region === "eu-wst");
    expect(unknown).toMatchObject({ status: TaskStatus.TASK_STATUS_UNKNOWN_REGION, detail: "unknown region eu-wst; live regions: local" });
    expect(report.comparison?.unknownRegions).toEqual(["eu-wst"]);
    expect(report.comparison?.missing).toEqual([]);
    expect(report.comparison?.cells.find((c) => c.region === "eu-wst")?.cause).toBe("unknown region");
    for (const verdict of report.comparison?.verdicts ?? []) expect(verdict.regions).not.toContain("eu-wst");
    expect(audit().find((l) => l.event === "probe" && l.probeId === report.probeId)?.unknownRegions).toEqual(["eu-wst"]);
  });
});
