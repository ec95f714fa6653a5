// What an operator sees of one probe: the documented Prometheus series on the metrics port of the
// coordinator and of the agent, and the probe's id — and the caller's W3C trace id — in the logs of
// both processes. Real processes (`smtp-probe coordinator` and `smtp-probe agent`), a private
// nats-server and an smtp-server fixture on 127.0.0.1; nothing else is contacted.
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProbeReport, ProbeRequest, TaskStatus } from "../../gen/smtpprobe/v1/probe_service.js";
import { METRIC_DOCS } from "../../lib/metrics.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi, type ProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type AgentProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { waitFor } from "../helpers/wait.js";

const nats = await need(natsServerAvailable);
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

describe.skipIf(nats.skip)("observability: metrics and logs of one probe", () => {
  let server: NatsServer;
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess;
  let agent: AgentProcess;
  let api: ProbeApi;
  let coordinatorMetrics: string;
  let agentMetrics: string;
  let report: ProbeReport;

  beforeAll(async () => {
    [server, fixture] = await Promise.all([startNatsServer(), startSmtpFixture()]);
    [coordinatorMetrics, agentMetrics] = await Promise.all([freePort(), freePort()]).then((ports) => ports.map((p) => `127.0.0.1:${p}`));
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] };
    // Info level, so that the task's lines are logged (the helpers default to warn); the last flag wins.
    const info = ["--log-level", "info"];
    const ready = startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: ["--metrics-listen", coordinatorMetrics, ...info] }).then((c) => {
      coordinator = c;
      return (api = connectProbeApi(c.address));
    });
    agent = await startAgentProcess({ region: "eu-west", agentId: "eu-west-1", nats: server.url, readyVia: ready, ...policy, extraArgs: ["--metrics-listen", agentMetrics, ...info] });
    await ready;

    const metadata = new Metadata();
    metadata.set("traceparent", `00-${TRACE_ID}-00f067aa0ba902b7-01`);
    report = await new Promise<ProbeReport>((resolve, reject) => {
      api.raw.probe(
        ProbeRequest.fromPartial({ host: "127.0.0.1", ports: [fixture.port], regions: ["eu-west"], options: { ehloName: "observability.test" } }),
        metadata,
        { deadline: Date.now() + 20_000 },
        (error: ServiceError | null, value?: ProbeReport) => (error || !value ? reject(error ?? new Error("no report")) : resolve(value)),
      );
    });
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([coordinator, agent]);
    await Promise.all([server?.stop(), fixture?.stop()]);
  });

  const scrape = async (address: string): Promise<string> => {
    const response = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    return response.text();
  };

  it("the probe ran in the agent's region", () => {
    expect(report.tasks.map((t) => t.status)).toEqual([TaskStatus.TASK_STATUS_DONE]);
  });

  it("the coordinator's metrics show the probe, its task, the region's agent and the NATS connection", async () => {
    const text = await scrape(coordinatorMetrics);
    expect(text).toMatch(/^smtpprobe_probes_total\{complete="true",call="unary"\} 1$/m);
    expect(text).toMatch(new RegExp(`^smtpprobe_tasks_total\\{region="eu-west",port="${fixture.port}",status="done"\\} 1$`, "m"));
    expect(text).toMatch(/^smtpprobe_coordinator_tasks_in_flight\{region="eu-west"\} 0$/m);
    expect(text).toMatch(/^smtpprobe_agents_online\{region="eu-west"\} 1$/m);
    expect(text).toMatch(/^smtpprobe_nats_connected\{role="coordinator"\} 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it("the agent's metrics show the handshake by outcome and its phases as histograms", async () => {
    const text = await scrape(agentMetrics);
    expect(text).toMatch(new RegExp(`^smtpprobe_handshakes_total\\{region="eu-west",port="${fixture.port}",outcome="ok"\\} 1$`, "m"));
    for (const phase of ["connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls"]) {
      expect(text).toMatch(new RegExp(`^smtpprobe_phase_duration_seconds_count\\{region="eu-west",phase="${phase}"\\} 1$`, "m"));
    }
    expect(text).toMatch(/^smtpprobe_agent_tasks_in_flight\{region="eu-west",state="running"\} 0$/m);
    expect(text).toMatch(/^smtpprobe_nats_connected\{role="agent"\} 1$/m);
  });

  it("every series the README documents is one the processes export", async () => {
    const both = (await scrape(coordinatorMetrics)) + (await scrape(agentMetrics));
    for (const { name } of METRIC_DOCS) expect(both, name).toContain(`# TYPE ${name} `);
  });

  it("readiness follows the NATS connection", async () => {
    expect((await fetch(`http://${coordinatorMetrics}/readyz`)).status).toBe(200);
    expect((await fetch(`http://${agentMetrics}/readyz`)).status).toBe(200);
  });

  it("one grep follows the probe: its id and the caller's trace id are in the logs of the coordinator and of the agent", async () => {
    await waitFor(() => agent.output().includes(report.probeId), 5_000, "the probe id in the agent's log");
    for (const process of [coordinator, agent]) {
      const lines = process.output().split("\n").filter((line) => line.includes(report.probeId));
      expect(lines.length, process.name).toBeGreaterThan(0);
      expect(lines.some((line) => line.includes(TRACE_ID)), `${process.name}: ${lines.join("\n")}`).toBe(true);
    }
  });
});
