// deploy/prometheus/: promtool accepts the scrape configuration and the alert rules, and the rules
// fire on the series /probe answers (promtool test rules, with series written as data here):
// a port blocked from one region, an agent whose own egress is blocked, STARTTLS missing, a
// certificate expiring. The scrape configuration itself runs against a coordinator in
// test/e2e/prometheus-probe.test.ts.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { PROMTOOL_BIN, promtoolAvailable } from "../../helpers/prometheus.js";
import { need } from "../../helpers/requirements.js";

const promtool = await need(promtoolAvailable);
const run = promisify(execFile);
const DEPLOY_DIR = fileURLToPath(new URL("../../../deploy/prometheus/", import.meta.url));
const RULES = join(DEPLOY_DIR, "smtp-probe.rules.yml");

const EU_WEST = { instance: "mx.example.com", port: "25", region: "eu-west" };

/** Alerts expected at a time, from series given as promtool's expanding notation. */
const RULE_TESTS = [
  {
    interval: "1m",
    input_series: [
      { series: 'probe_success{instance="mx.example.com",port="25",region="eu-west"}', values: "1x40" },
      { series: 'probe_success{instance="mx.example.com",port="25",region="us-east"}', values: "0x40" },
      { series: 'probe_smtp_egress_ok{instance="mx.example.com",port="25",region="us-east"}', values: "1x40" },
    ],
    alert_rule_test: [
      {
        eval_time: "20m",
        alertname: "SmtpPortBlockedFromRegion",
        exp_alerts: [
          {
            exp_labels: { severity: "warning", instance: "mx.example.com", port: "25", region: "us-east" },
            exp_annotations: {
              summary: "mx.example.com port 25 is unreachable from us-east only",
              description: "Other regions complete the SMTP handshake with mx.example.com on port 25; us-east does not.",
            },
          },
        ],
      },
      { eval_time: "20m", alertname: "SmtpServerDown", exp_alerts: [] },
      { eval_time: "20m", alertname: "SmtpAgentEgressBlocked", exp_alerts: [] },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: 'probe_success{instance="mx.example.com",port="25",region="eu-west"}', values: "0x40" },
      { series: 'probe_smtp_egress_ok{instance="mx.example.com",port="25",region="eu-west"}', values: "0x40" },
      { series: 'probe_smtp_starttls_offered{instance="mx.example.com",port="25",region="eu-west"}', values: "0x40" },
      { series: 'probe_smtp_certificate_expiry_days{instance="mx.example.com",port="25",region="eu-west"}', values: "10x90" },
    ],
    alert_rule_test: [
      {
        eval_time: "20m",
        alertname: "SmtpAgentEgressBlocked",
        exp_alerts: [
          {
            exp_labels: { ...EU_WEST, severity: "warning" },
            exp_annotations: {
              summary: "outbound port 25 is blocked from region eu-west",
              description: "The agent's canary on port 25 fails in eu-west: the network there blocks outbound SMTP.",
            },
          },
        ],
      },
      {
        eval_time: "20m",
        alertname: "SmtpServerDown",
        exp_alerts: [{ exp_labels: { severity: "critical", instance: "mx.example.com", port: "25" }, exp_annotations: { summary: "mx.example.com port 25 fails from every region" } }],
      },
      { eval_time: "20m", alertname: "SmtpStarttlsMissing", exp_alerts: [] },
      {
        eval_time: "35m",
        alertname: "SmtpStarttlsMissing",
        exp_alerts: [
          {
            exp_labels: { ...EU_WEST, severity: "warning" },
            exp_annotations: {
              summary: "mx.example.com port 25 does not offer STARTTLS (seen from eu-west)",
              description: "Mail to it travels in cleartext. A difference between regions can mean a middlebox stripping STARTTLS.",
            },
          },
        ],
      },
      { eval_time: "20m", alertname: "SmtpCertificateExpiringSoon", exp_alerts: [] },
      {
        eval_time: "65m",
        alertname: "SmtpCertificateExpiringSoon",
        exp_alerts: [{ exp_labels: { ...EU_WEST, severity: "warning" }, exp_annotations: { summary: "the certificate of mx.example.com port 25 expires in 10 days" } }],
      },
      { eval_time: "65m", alertname: "SmtpCertificateExpired", exp_alerts: [] },
    ],
  },
];

describe.skipIf(promtool.skip)("deploy/prometheus/ with promtool", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-promtool-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("promtool check config accepts prometheus.yml and the rule file it names", async () => {
    const { stdout } = await run(PROMTOOL_BIN, ["check", "config", join(DEPLOY_DIR, "prometheus.yml")], { timeout: 30_000 });
    expect(stdout).toContain("is valid prometheus config file syntax");
  });

  it("promtool check rules accepts the alert rules", async () => {
    const { stdout } = await run(PROMTOOL_BIN, ["check", "rules", RULES], { timeout: 30_000 });
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("the alerts fire on the series they are about, and only then (promtool test rules)", async () => {
    const file = join(dir, "rules.test.yml");
    await writeFile(file, stringify({ rule_files: [RULES], evaluation_interval: "1m", tests: RULE_TESTS }));
    const result = await run(PROMTOOL_BIN, ["test", "rules", file], { timeout: 30_000 }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout ?? ""}${error.stderr ?? ""}` }));
    expect(result.stdout).toContain("SUCCESS");
  });
});
