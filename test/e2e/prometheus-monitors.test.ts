// The monitors' series on /metrics: two coordinators sharing a private nats-server with JetStream,
// both with `--metrics-listen … --scrape-monitors on`, an agent and an smtp-server fixture on
// 127.0.0.1. A monitor created on one, every second: after a run, /metrics of each coordinator —
// whichever ran it — shows its series; deleted, they go at the next listing. A real Prometheus
// with deploy/prometheus/prometheus.yml's own job (its target rewritten to the coordinators) and
// the alert rules scrapes them, and its query API returns the monitor's series.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { CreateMonitorRequest, MonitorServiceDefinition, type Monitor } from "../../gen/smtpprobe/v1/monitor.js";
import { grpcClientConstructor } from "../../lib/grpc-service.js";
import { LIST_EVERY_MS } from "../../services/coordinator/monitor/monitor-metrics.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { prometheusAvailable, startPrometheus, type PrometheusServer } from "../helpers/prometheus.js";
import { START_HOOK_TIMEOUT_MS, startAgentProcess, startCoordinatorProcess, stopAll, type AgentProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { waitFor } from "../helpers/wait.js";

const nats = await need(natsServerAvailable);
const prometheus = await need(prometheusAvailable);
const DEPLOY_DIR = fileURLToPath(new URL("../../deploy/prometheus/", import.meta.url));
const REGION = "eu-west";
const MonitorClient = grpcClientConstructor(MonitorServiceDefinition);

const unary = <T>(call: (callback: (error: ServiceError | null, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => call((error, value) => (error || value === undefined ? reject(error ?? new Error("no answer")) : resolve(value))));
const deadline = () => ({ deadline: Date.now() + 10_000 });

/** deploy/prometheus/prometheus.yml's job for the coordinators' own /metrics, pointed at the test's, scraping every second. */
function monitorsScrapeConfig(text: string, coordinators: string[]): string {
  const config = parse(text) as { global: Record<string, string>; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
  config.global.scrape_interval = "1s";
  config.global.scrape_timeout = "1s";
  config.global.evaluation_interval = "1s";
  config.scrape_configs = config.scrape_configs.filter((job) => job.job_name === "smtp-probe");
  config.scrape_configs[0]!.static_configs = [{ targets: coordinators }];
  return stringify(config);
}

describe.skipIf(nats.skip)("monitors' series on the metrics port (--scrape-monitors)", () => {
  let server: NatsServer;
  let fixture: SmtpFixture;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let agent: AgentProcess;
  let client: InstanceType<typeof MonitorClient>;
  const metricsAddresses: string[] = [];
  let monitor: Monitor;

  beforeAll(async () => {
    [server, fixture] = await Promise.all([startNatsServer(), startSmtpFixture()]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] };
    metricsAddresses.push(`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`);
    const start = (metrics: string) => startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: ["--monitor-min-interval", "1s", "--metrics-listen", metrics, "--scrape-monitors", "on"] });
    [a, b] = await Promise.all([start(metricsAddresses[0]!), start(metricsAddresses[1]!)]);
    const probeApi = connectProbeApi(b.address);
    try {
      agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-1`, nats: server.url, readyVia: Promise.resolve(probeApi), ...policy });
    } finally {
      probeApi.close();
    }
    client = new MonitorClient(a.address, credentials.createInsecure());
    monitor = await unary<Monitor>((cb) =>
      client.createMonitor(CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [fixture.port], regions: [REGION] }, intervalSeconds: 1 }), new Metadata(), deadline(), cb),
    );
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    client?.close();
    await stopAll([a, b, agent]);
    await Promise.all([server?.stop(), fixture?.stop()]);
  });

  const metricsOf = async (address: string): Promise<string> => (await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();

  it(
    "after a run, each coordinator's /metrics shows the monitor's series, whichever coordinator ran it",
    async () => {
      const labels = `monitor_id="${monitor.monitorId}",host="127.0.0.1"`;
      const task = `${labels},region="${REGION}",port="${fixture.port}"`;
      const texts: string[] = [];
      await waitFor(
        async () => {
          texts.splice(0, texts.length, ...(await Promise.all(metricsAddresses.map(metricsOf))));
          return texts.every((text) => text.includes(`smtpprobe_monitor_success{${task}} 1`));
        },
        20_000,
        () => `smtpprobe_monitor_success on both: ${texts.map((t) => t.split("\n").filter((l) => l.startsWith("smtpprobe_monitor_")).join("\n")).join("\n---\n")}`,
        250,
      );
      for (const text of texts) {
        // The process's own series too, then the monitors'.
        expect(text).toContain("# TYPE smtpprobe_probes_total counter");
        expect(text).toMatch(new RegExp(`^smtpprobe_monitor_last_run_timestamp_seconds\\{${labels}\\} \\d+(\\.\\d+)?$`, "m"));
        expect(text).toMatch(new RegExp(`^smtpprobe_monitor_last_run\\{${labels}\\} \\d+$`, "m"));
        expect(text).toContain(`smtpprobe_monitor_last_run_refused{${labels}} 0\n`);
        expect(text).toContain(`smtpprobe_monitor_interval_seconds{${labels}} 1\n`);
        expect(text).toContain(`smtpprobe_monitor_smtp_starttls_offered{${task}} 1\n`);
        expect(text).toContain(`smtpprobe_monitor_tls_version_info{${task},version="TLS 1.3"} 1\n`);
        expect(text).toMatch(new RegExp(`^smtpprobe_monitor_smtp_certificate_expiry_days\\{${task.replace(/[.]/g, "\\.")}\\} \\d+$`, "m"));
        expect(text).toContain(`smtpprobe_monitor_smtp_result_info{${task},status="done",outcome="ok",phase="done"} 1\n`);
        expect(text).toContain(`smtpprobe_monitor_verdict_info{${labels},port="${fixture.port}",kind="reachable_everywhere"} 1\n`);
      }
    },
    30_000,
  );

  describe.skipIf(prometheus.skip)("a real Prometheus with deploy/prometheus/", () => {
    let prom: PrometheusServer;

    beforeAll(async () => {
      const config = monitorsScrapeConfig(await readFile(`${DEPLOY_DIR}prometheus.yml`, "utf8"), metricsAddresses);
      prom = await startPrometheus(config, { "smtp-probe.rules.yml": await readFile(`${DEPLOY_DIR}smtp-probe.rules.yml`, "utf8") });
    }, START_HOOK_TIMEOUT_MS);

    afterAll(async () => {
      await prom?.stop();
    });

    it("scrapes both coordinators' /metrics, and its query API returns the monitor's series from each", async () => {
      const expr = `smtpprobe_monitor_success{monitor_id="${monitor.monitorId}"}`;
      let last: unknown;
      await waitFor(
        async () => {
          const result = await prom.query(expr);
          last = result;
          return result.length === 2;
        },
        30_000,
        () => `${expr} in Prometheus: ${JSON.stringify(last)}; ${prom.output()}`,
        250,
      );
      const result = await prom.query(expr);
      expect(result.map((r) => r.metric.instance).sort()).toEqual([...metricsAddresses].sort());
      for (const sample of result) {
        expect(sample.metric).toMatchObject({ job: "smtp-probe", host: "127.0.0.1", region: REGION, port: String(fixture.port) });
        expect(sample.value).toBe(1);
      }
      // What the alert on failing regions aggregates: one series per monitor, region and port.
      const [region] = await prom.query(`max by (monitor_id, host, region, port) (${expr})`);
      expect(region?.value).toBe(1);
    });
  });

  it(
    "a deleted monitor's series go at the next listing of the monitors",
    async () => {
      await unary<Monitor>((cb) => client.deleteMonitor({ monitorId: monitor.monitorId }, new Metadata(), deadline(), cb));
      let texts: string[] = [];
      await waitFor(
        async () => {
          texts = await Promise.all(metricsAddresses.map(metricsOf));
          return texts.every((text) => !text.includes(monitor.monitorId));
        },
        LIST_EVERY_MS * 2 + 5_000,
        () => `no series of ${monitor.monitorId}: ${texts.map((t) => t.split("\n").filter((l) => l.includes(monitor.monitorId)).join("\n")).join("\n---\n")}`,
        250,
      );
      // No monitor left: no family of theirs; the process's own series stay.
      expect(texts[0]).not.toContain("smtpprobe_monitor_");
      expect(texts[0]).toContain("# TYPE smtpprobe_probes_total counter");
    },
    30_000,
  );
});
