import { describe, expect, it } from "vitest";
import { Outcome, Phase } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import { escapeLabelValue, probeExposition, tlsVersionLabel } from "../../../../../services/coordinator/http/probe-exposition.js";
import { done, failed, ok, refused, report, silent } from "../../../../helpers/report-builders.js";

const NOT_AFTER = new Date("2030-01-01T00:00:00Z");

describe("probeExposition", () => {
  it("writes each family once with HELP and TYPE, a sample per region, for the scrape's port only", () => {
    const tasks = [
      done("eu-west", 25, [ok({ timings: [{ phase: Phase.PHASE_CONNECT, durationMs: 12 }, { phase: Phase.PHASE_BANNER, durationMs: 30 }], tls: { protocol: "TLSv1.3", daysToExpiry: 40, trusted: true, nameMatches: true, chain: [{ notAfter: NOT_AFTER }, { notAfter: new Date("2035-01-01T00:00:00Z") }] } })], { durationMs: 250 }),
      done("us-east", 25, [refused()], { durationMs: 3, egress: { port: 25, ok: false } }),
      done("eu-west", 587, [ok()]),
    ];
    const text = probeExposition(report(["eu-west", "us-east"], [25, 587], tasks), 25);
    expect(text).toBe(
      [
        "# HELP probe_success 1 when the region's probe of the port ran its handshake to the end on at least one address, else 0.",
        "# TYPE probe_success gauge",
        'probe_success{region="eu-west",port="25"} 1',
        'probe_success{region="us-east",port="25"} 0',
        "# HELP probe_duration_seconds How long the region's task took, from dispatch to result.",
        "# TYPE probe_duration_seconds gauge",
        'probe_duration_seconds{region="eu-west",port="25"} 0.25',
        'probe_duration_seconds{region="us-east",port="25"} 0.003',
        "# HELP probe_smtp_phase_duration_seconds Duration of each handshake phase that completed, by phase (the reported address).",
        "# TYPE probe_smtp_phase_duration_seconds gauge",
        'probe_smtp_phase_duration_seconds{region="eu-west",port="25",phase="connect"} 0.012',
        'probe_smtp_phase_duration_seconds{region="eu-west",port="25",phase="banner"} 0.03',
        "# HELP probe_smtp_starttls_offered 1 when the server offered STARTTLS in its EHLO reply before TLS, else 0 (absent with implicit TLS or before EHLO).",
        "# TYPE probe_smtp_starttls_offered gauge",
        'probe_smtp_starttls_offered{region="eu-west",port="25"} 1',
        "# HELP probe_tls_version_info 1, labelled by the TLS version the session used (absent without TLS).",
        "# TYPE probe_tls_version_info gauge",
        'probe_tls_version_info{region="eu-west",port="25",version="TLS 1.3"} 1',
        "# HELP probe_ssl_earliest_cert_expiry When the first certificate of the chain the server sent expires, in Unix seconds.",
        "# TYPE probe_ssl_earliest_cert_expiry gauge",
        `probe_ssl_earliest_cert_expiry{region="eu-west",port="25"} ${NOT_AFTER.getTime() / 1000}`,
        "# HELP probe_smtp_certificate_expiry_days Days until the server's certificate expires, at probe time; negative when expired.",
        "# TYPE probe_smtp_certificate_expiry_days gauge",
        'probe_smtp_certificate_expiry_days{region="eu-west",port="25"} 40',
        "# HELP probe_smtp_certificate_trusted 1 when the server's certificate chain is trusted and matches the name checked, else 0.",
        "# TYPE probe_smtp_certificate_trusted gauge",
        'probe_smtp_certificate_trusted{region="eu-west",port="25"} 1',
        "# HELP probe_smtp_egress_ok 1 when the agent's own canary on this port connected (its region can send on the port), else 0.",
        "# TYPE probe_smtp_egress_ok gauge",
        'probe_smtp_egress_ok{region="us-east",port="25"} 0',
        "# HELP probe_smtp_result_info 1, labelled by the task's status and the handshake's outcome and last phase.",
        "# TYPE probe_smtp_result_info gauge",
        'probe_smtp_result_info{region="eu-west",port="25",status="done",outcome="ok",phase="done"} 1',
        'probe_smtp_result_info{region="us-east",port="25",status="done",outcome="refused",phase="connect"} 1',
        "",
      ].join("\n"),
    );
  });

  it("one good address of several makes the task a success, and speaks for it", () => {
    const task = done("eu-west", 25, [failed(Outcome.OUTCOME_TIMED_OUT, Phase.PHASE_BANNER), ok({ capabilities: { starttls: false } })]);
    const text = probeExposition(report(["eu-west"], [25], [task]), 25);
    expect(text).toContain('probe_success{region="eu-west",port="25"} 1\n');
    expect(text).toContain('probe_smtp_starttls_offered{region="eu-west",port="25"} 0\n');
    expect(text).toContain('outcome="ok",phase="done"');
  });

  it("a task without a result is a failure with its status, and nothing about the server", () => {
    const text = probeExposition(report(["ap-south"], [25], [silent("ap-south", 25, TaskStatus.TASK_STATUS_NO_AGENT)]), 25);
    expect(text).toContain('probe_success{region="ap-south",port="25"} 0\n');
    expect(text).toContain('probe_smtp_result_info{region="ap-south",port="25",status="no_agent",outcome="none",phase="none"} 1\n');
    expect(text).not.toContain("probe_tls_version_info");
    expect(text).not.toContain("probe_smtp_starttls_offered");
  });

  it.each([
    ["TLSv1.3", "TLS 1.3"],
    ["TLSv1.2", "TLS 1.2"],
    ["TLSv1", "TLS 1.0"],
    ["TLSv1.1", "TLS 1.1"],
    ["SSLv3", "SSL 3.0"],
    ["unknown", "unknown"],
  ])("TLS version %s is labelled %s", (protocol, label) => {
    expect(tlsVersionLabel(protocol)).toBe(label);
  });

  it("escapes backslash, quote and line feed in label values", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });
});
