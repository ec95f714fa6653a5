// With an OpenTelemetry SDK registered (as a deployment would with --import of an SDK), one probe
// is one trace: the caller's traceparent is the parent of the coordinator's `smtpprobe.probe`
// span, and each task's `smtpprobe.task` span at the agent is its child, through the bus headers.
// An embedded coordinator in this process (its agent in-process) and an smtp-server fixture on
// 127.0.0.1; nothing else is contacted.
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { ProbeReport, ProbeRequest, TaskStatus } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { silentLogger } from "../../../../lib/logger.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { connectProbeApi, type ProbeApi } from "../../../helpers/grpc-client.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { waitFor } from "../../../helpers/wait.js";

const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

describe("tracing with an OpenTelemetry SDK registered", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let fixture: SmtpFixture;
  let coordinator: RunningCoordinator;
  let api: ProbeApi;
  let report: ProbeReport;

  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    fixture = await startSmtpFixture();
    coordinator = await startCoordinator(
      testCoordinatorConfig([fixture.port]),
      silentLogger(),
    );
    api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
    const metadata = new Metadata();
    metadata.set("traceparent", `00-${CALLER_TRACE}-${CALLER_SPAN}-01`);
    report = await new Promise<ProbeReport>((resolve, reject) => {
      api.raw.probe(
        ProbeRequest.fromPartial({ host: "127.0.0.1", ports: [fixture.port], options: { ehloName: "tracing.test" } }),
        metadata,
        { deadline: Date.now() + 10_000 },
        (error: ServiceError | null, value?: ProbeReport) => (error || !value ? reject(error ?? new Error("no report")) : resolve(value)),
      );
    });
  });

  afterAll(async () => {
    api?.close();
    await coordinator?.stop(1_000);
    await fixture?.stop();
    trace.disable();
    await provider.shutdown();
  });

  it("the probe's span is a child of the caller's, and the task's span at the agent a child of the probe's", async () => {
    expect(report.tasks.map((t) => t.status)).toEqual([TaskStatus.TASK_STATUS_DONE]);
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === "smtpprobe.task"), 5_000, "the task span to end");
    const spans = exporter.getFinishedSpans();
    const probe = spans.find((s) => s.name === "smtpprobe.probe");
    const task = spans.find((s) => s.name === "smtpprobe.task");
    expect(probe?.spanContext().traceId).toBe(CALLER_TRACE);
    expect(probe?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(probe?.attributes["smtpprobe.probe_id"]).toBe(report.probeId);
    expect(task?.spanContext().traceId).toBe(CALLER_TRACE);
    expect(task?.parentSpanContext?.spanId).toBe(probe?.spanContext().spanId);
    expect(task?.attributes).toMatchObject({ "smtpprobe.probe_id": report.probeId, "smtpprobe.region": "local" });
  });
});
