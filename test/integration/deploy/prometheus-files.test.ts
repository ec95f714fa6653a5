// deploy/prometheus/: promtool accepts the scrape configuration and the alert rules, and the rules
// fire on the series /probe answers (promtool test rules, with series written as data here):
// a port blocked from one region, an agent whose own egress is blocked, STARTTLS missing, a
// certificate expiring; and on the monitors' series of /metrics: a monitor failing from a region,
// its certificate expiring or expired, its runs refused, no run for three intervals. The scrape configuration itself runs against a coordinator in
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
const MONITOR = { monitor_id: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", host: "mx.example.com" };
const MONITOR_LABELS = `monitor_id="${MONITOR.monitor_id}",host="${MONITOR.host}"`;

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
  // The monitors' series, as two coordinators answer them (each monitor once per `instance`).
  {
    interval: "1m",
    input_series: [
      ...["c1:9464", "c2:9464"].flatMap((instance) => [
        { series: `smtpprobe_monitor_success{instance="${instance}",${MONITOR_LABELS},region="eu-west",port="25"}`, values: "1x40" },
        { series: `smtpprobe_monitor_success{instance="${instance}",${MONITOR_LABELS},region="us-east",port="25"}`, values: "0x40" },
        { series: `smtpprobe_monitor_smtp_certificate_expiry_days{instance="${instance}",${MONITOR_LABELS},region="eu-west",port="25"}`, values: "10x90" },
        { series: `smtpprobe_monitor_last_run_refused{instance="${instance}",${MONITOR_LABELS}}`, values: "0x40" },
        // Ran every minute for 5 minutes, then no more.
        { series: `smtpprobe_monitor_last_run_timestamp_seconds{instance="${instance}",${MONITOR_LABELS}}`, values: "0+60x5 300x35" },
        { series: `smtpprobe_monitor_interval_seconds{instance="${instance}",${MONITOR_LABELS}}`, values: "60x40" },
      ]),
    ],
    alert_rule_test: [
      { eval_time: "10m", alertname: "SmtpMonitorFailingFromRegion", exp_alerts: [] },
      {
        eval_time: "20m",
        alertname: "SmtpMonitorFailingFromRegion",
        exp_alerts: [
          {
            exp_labels: { ...MONITOR, severity: "warning", region: "us-east", port: "25" },
            exp_annotations: {
              summary: `monitor ${MONITOR.monitor_id}: mx.example.com port 25 fails from us-east`,
              description: "The monitor's runs have not completed the SMTP handshake with mx.example.com on port 25 from us-east for 15 minutes.",
            },
          },
        ],
      },
      { eval_time: "30m", alertname: "SmtpMonitorCertificateExpiringSoon", exp_alerts: [] },
      {
        eval_time: "65m",
        alertname: "SmtpMonitorCertificateExpiringSoon",
        exp_alerts: [
          {
            exp_labels: { ...MONITOR, severity: "warning", region: "eu-west", port: "25" },
            exp_annotations: { summary: `monitor ${MONITOR.monitor_id}: the certificate of mx.example.com port 25 expires in 10 days (seen from eu-west)` },
          },
        ],
      },
      { eval_time: "65m", alertname: "SmtpMonitorCertificateExpired", exp_alerts: [] },
      { eval_time: "20m", alertname: "SmtpMonitorRefused", exp_alerts: [] },
      // Stale from 5 + 3 minutes on, for 10 minutes.
      { eval_time: "15m", alertname: "SmtpMonitorStale", exp_alerts: [] },
      {
        eval_time: "20m",
        alertname: "SmtpMonitorStale",
        exp_alerts: [{ exp_labels: { ...MONITOR, severity: "warning" }, exp_annotations: { summary: `monitor ${MONITOR.monitor_id} (mx.example.com) has not run for 15m 0s` } }],
      },
    ],
  },
  {
    interval: "1m",
    input_series: [
      { series: `smtpprobe_monitor_last_run_refused{${MONITOR_LABELS}}`, values: "1x40" },
      { series: `smtpprobe_monitor_smtp_certificate_expiry_days{${MONITOR_LABELS},region="eu-west",port="25"}`, values: "-1x40" },
      { series: `smtpprobe_monitor_last_run_timestamp_seconds{${MONITOR_LABELS}}`, values: "0+60x40" },
      { series: `smtpprobe_monitor_interval_seconds{${MONITOR_LABELS}}`, values: "60x40" },
    ],
    alert_rule_test: [
      {
        eval_time: "35m",
        alertname: "SmtpMonitorRefused",
        exp_alerts: [
          {
            exp_labels: { ...MONITOR, severity: "warning" },
            exp_annotations: {
              summary: `monitor ${MONITOR.monitor_id} (mx.example.com): its runs are refused`,
              description: "The coordinator refuses the monitor's probes (a quota, the target policy): smtp-probe's log and WatchMonitor say why.",
            },
          },
        ],
      },
      {
        eval_time: "5m",
        alertname: "SmtpMonitorCertificateExpired",
        exp_alerts: [
          {
            exp_labels: { ...MONITOR, severity: "critical", region: "eu-west", port: "25" },
            exp_annotations: { summary: `monitor ${MONITOR.monitor_id}: the certificate of mx.example.com port 25 has expired (seen from eu-west)` },
          },
        ],
      },
      { eval_time: "35m", alertname: "SmtpMonitorStale", exp_alerts: [] },
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
