// Prometheus probing a mail server through the coordinator's /probe, as it probes web sites through
// blackbox_exporter: a real Prometheus (Debian's package) with deploy/prometheus/prometheus.yml —
// its targets and the coordinator's address rewritten to the test's — scrapes a coordinator the
// test starts (`smtp-probe coordinator --metrics-listen … --scrape-probes on`, embedded: region
// `local`), which probes an smtp-server fixture on 127.0.0.1; its query API then returns the
// series. Bad scrapes are answered with an HTTP error naming the parameter.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { freePort } from "../helpers/free-port.js";
import { prometheusAvailable, startPrometheus, type PrometheusServer } from "../helpers/prometheus.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { waitFor } from "../helpers/wait.js";

const prometheus = await need(prometheusAvailable);
const DEPLOY_DIR = fileURLToPath(new URL("../../deploy/prometheus/", import.meta.url));
const DEPLOY_COORDINATOR = "smtp-probe-coordinator:9464";

interface ScrapeConfig {
  job_name: string;
  params?: Record<string, string[]>;
  static_configs: { targets: string[] }[];
  relabel_configs?: { replacement?: string }[];
}

/** deploy/prometheus/prometheus.yml pointed at this test's coordinator and mail server, scraping every second. */
function rewriteDeployConfig(text: string, coordinator: string, smtpPort: number): string {
  const config = parse(text) as { global: Record<string, string>; scrape_configs: ScrapeConfig[] };
  config.global.scrape_interval = "1s";
  config.global.scrape_timeout = "1s";
  config.global.evaluation_interval = "1s";
  for (const job of config.scrape_configs) {
    for (const relabel of job.relabel_configs ?? []) if (relabel.replacement === DEPLOY_COORDINATOR) relabel.replacement = coordinator;
    if (job.job_name === "smtp-relay") {
      job.params = { ...job.params, port: [String(smtpPort)] };
      job.static_configs = [{ targets: ["127.0.0.1"] }];
    } else if (job.job_name === "smtp-submission") {
      job.params = { ...job.params, region: ["local"] };
      job.static_configs = [{ targets: [`127.0.0.1:${smtpPort}`] }];
    } else {
      job.static_configs = [{ targets: [coordinator] }];
    }
  }
  return stringify(config);
}

describe("/probe on the metrics port: scrapes answered with the report as gauges", () => {
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess;
  let metricsAddress: string;

  beforeAll(async () => {
    fixture = await startSmtpFixture();
    metricsAddress = `127.0.0.1:${await freePort()}`;
    coordinator = await startCoordinatorProcess({
      allowCidrs: ["127.0.0.0/8"],
      allowPorts: [fixture.port],
      extraArgs: ["--metrics-listen", metricsAddress, "--scrape-probes", "on"],
    });
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await stopAll([coordinator]);
    await fixture?.stop();
  });

  const scrape = (query: string, timeoutSeconds = "5"): Promise<Response> =>
    fetch(`http://${metricsAddress}/probe?${query}`, { headers: { "x-prometheus-scrape-timeout-seconds": timeoutSeconds }, signal: AbortSignal.timeout(10_000) });

  it("a scrape probes the target from the region and answers success, phases, TLS and STARTTLS", async () => {
    const response = await scrape(`target=127.0.0.1&port=${fixture.port}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    const labels = `region="local",port="${fixture.port}"`;
    expect(text).toContain(`# TYPE probe_success gauge\nprobe_success{${labels}} 1\n`);
    expect(text).toMatch(new RegExp(`^probe_duration_seconds\\{${labels}\\} 0\\.\\d+$`, "m"));
    expect(text).toMatch(new RegExp(`^probe_smtp_phase_duration_seconds\\{${labels},phase="banner"\\} [\\d.e-]+$`, "m"));
    expect(text).toContain(`probe_smtp_starttls_offered{${labels}} 1\n`);
    expect(text).toContain(`probe_tls_version_info{${labels},version="TLS 1.3"} 1\n`);
    expect(text).toMatch(new RegExp(`^probe_smtp_certificate_expiry_days\\{${labels}\\} \\d+$`, "m"));
    expect(text).toMatch(new RegExp(`^probe_ssl_earliest_cert_expiry\\{${labels}\\} \\d+`, "m"));
    expect(text).toContain(`probe_smtp_result_info{${labels},status="done",outcome="ok",phase="done"} 1\n`);
  });

  it("the TLS mode and role parameters reach the probe: tls=none sends no STARTTLS", async () => {
    const text = await (await scrape(`target=127.0.0.1:${fixture.port}&tls=none&role=submission`)).text();
    expect(text).toContain(`probe_success{region="local",port="${fixture.port}"} 1`);
    expect(text).not.toContain("probe_tls_version_info");
  });

  it.each([
    ["", 400, "target: missing"],
    ["target=127.0.0.1&port=99999", 400, "port: \"99999\" is not a port"],
    ["target=127.0.0.1:2525&port=2526", 400, "port: 2526 differs from the port in target (2525)"],
    ["target=127.0.0.1&tls=maybe", 400, "tls: \"maybe\" is not a TLS mode"],
    ["target=127.0.0.1&module=smtp", 400, "unknown parameter \"module\""],
    ["target=127.0.0.1&region=EU", 400, "INVALID_ARGUMENT: "],
    ["target=127.0.0.1&port=26", 403, "PERMISSION_DENIED: "],
  ])("a bad scrape %j is answered %i, naming what is wrong", async (query, httpStatus, message) => {
    const response = await scrape(query);
    expect(response.status).toBe(httpStatus);
    expect(await response.text()).toContain(message);
  });

  it("a scrape timeout too short to probe anything is refused at once", async () => {
    const response = await scrape(`target=127.0.0.1&port=${fixture.port}`, "0.3");
    expect(response.status).toBe(504);
    expect(await response.text()).toContain("DEADLINE_EXCEEDED: ");
  });

  describe.skipIf(prometheus.skip)("a real Prometheus with deploy/prometheus/prometheus.yml", () => {
    let server: PrometheusServer;

    beforeAll(async () => {
      const config = rewriteDeployConfig(await readFile(`${DEPLOY_DIR}prometheus.yml`, "utf8"), metricsAddress, fixture.port);
      server = await startPrometheus(config, { "smtp-probe.rules.yml": await readFile(`${DEPLOY_DIR}smtp-probe.rules.yml`, "utf8") });
    }, START_HOOK_TIMEOUT_MS);

    afterAll(async () => {
      await server?.stop();
    });

    it("scrapes /probe through the blackbox-style relabelling, and its query API returns the series", async () => {
      const wanted = ['probe_success{job="smtp-relay"}', 'probe_success{job="smtp-submission"}', "probe_smtp_starttls_offered", "probe_tls_version_info", "probe_smtp_certificate_expiry_days"];
      let last: Record<string, unknown> = {};
      await waitFor(
        async () => {
          const results = await Promise.all(wanted.map((expr) => server.query(expr)));
          last = Object.fromEntries(wanted.map((expr, i) => [expr, results[i]]));
          return results.every((r) => r.length > 0);
        },
        30_000,
        () => `series in Prometheus: ${JSON.stringify(last)}; targets: ${server.output()}`,
        250,
      );
      const [relay] = await server.query('probe_success{job="smtp-relay"}');
      expect(relay).toEqual({ metric: { __name__: "probe_success", instance: "127.0.0.1", job: "smtp-relay", region: "local", port: String(fixture.port) }, value: 1 });
      const [submission] = await server.query('probe_success{job="smtp-submission"}');
      expect(submission?.metric.instance).toBe(`127.0.0.1:${fixture.port}`);
      expect(submission?.value).toBe(1);
      const [version] = await server.query("probe_tls_version_info");
      expect(version?.metric.version).toBe("TLS 1.3");
      const targets = await server.targets();
      expect(targets.filter((t) => t.scrapeUrl.includes("/probe?")).map((t) => [t.health, t.lastError])).toEqual([["up", ""], ["up", ""]]);
    });
  });
});
