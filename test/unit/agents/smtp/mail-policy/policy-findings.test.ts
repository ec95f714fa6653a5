import { describe, expect, it } from "vitest";
import { applyMailPolicy, domainFindings, policyCheckFor } from "../../../../../agents/smtp/mail-policy/policy-findings.js";
import { deriveFindings, defaultFindingFacts } from "../../../../../agents/smtp/findings.js";
import {
  HandshakeResult,
  MailPolicy,
  MtaStsMode,
  MtaStsStatus,
  Outcome,
  Phase,
  PolicyResult,
  PortRole,
  Severity,
  TlsMode,
  TlsRptStatus,
  type DeepPartial,
} from "../../../../../gen/smtpprobe/v1/handshake.js";

function policy(over: DeepPartial<MailPolicy> = {}): MailPolicy {
  return MailPolicy.fromPartial({
    domain: "example.com",
    mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_ENFORCE, maxAge: 86400, mxPatterns: ["mx.example.com", "*.example.net"], id: "1" },
    tlsRpt: { status: TlsRptStatus.TLS_RPT_STATUS_VALID, rua: ["mailto:tls@example.com"] },
    ...over,
  });
}

function handshake(over: DeepPartial<HandshakeResult> = {}): HandshakeResult {
  const h = HandshakeResult.fromPartial({
    host: "mx.example.com",
    exchange: "mx.example.com",
    address: "192.0.2.10",
    port: 25,
    portRole: PortRole.PORT_ROLE_MX_RELAY,
    tlsMode: TlsMode.TLS_MODE_AUTO,
    outcome: Outcome.OUTCOME_OK,
    phase: Phase.PHASE_DONE,
    capabilities: { starttls: true },
    tls: { protocol: "TLSv1.3", trusted: true, checkedName: "mx.example.com", nameMatches: true, chain: [{ subject: "CN=mx.example.com" }] },
    ...over,
  });
  h.findings = deriveFindings(h, defaultFindingFacts(new Date("2026-01-01T00:00:00Z")));
  return h;
}

const untrusted = { tls: { protocol: "TLSv1.3", trusted: false, trustError: "self-signed certificate", checkedName: "mx.example.com", nameMatches: true, chain: [{ subject: "CN=mx.example.com" }] } };
const otherName = { tls: { protocol: "TLSv1.3", trusted: true, checkedName: "mx.example.com", nameMatches: false, nameError: "Host: mx.example.com. is not in the cert's altnames: DNS:other.test", chain: [{ subject: "CN=other.test" }] } };

describe("policyCheckFor: what a sender honouring MTA-STS does", () => {
  it.each([
    ["a listed exchanger with a valid certificate", {}, policy(), PolicyResult.POLICY_RESULT_PASS, /matches mx\.example\.com and its certificate is valid/],
    ["a wildcard match", { exchange: "a.example.net", host: "a.example.net", tls: { trusted: true, checkedName: "a.example.net", nameMatches: true, chain: [{}] } }, policy(), PolicyResult.POLICY_RESULT_PASS, /matches \*\.example\.net/],
    ["an exchanger not listed", { exchange: "mx2.example.org", host: "mx2.example.org" }, policy(), PolicyResult.POLICY_RESULT_FAIL, /matches no mx pattern/],
    ["an untrusted certificate", untrusted, policy(), PolicyResult.POLICY_RESULT_FAIL, /not trusted \(self-signed certificate\)/],
    ["a certificate for another name", otherName, policy(), PolicyResult.POLICY_RESULT_FAIL, /not valid for mx\.example\.com/],
    ["no STARTTLS", { capabilities: { starttls: false }, tls: undefined }, policy(), PolicyResult.POLICY_RESULT_FAIL, /does not offer STARTTLS/],
    ["a failed TLS handshake", { outcome: Outcome.OUTCOME_TLS_FAILED, phase: Phase.PHASE_TLS, tls: undefined, reason: "handshake failure" }, policy(), PolicyResult.POLICY_RESULT_FAIL, /TLS could not be established/],
    ["a refused connection", { outcome: Outcome.OUTCOME_REFUSED, phase: Phase.PHASE_CONNECT, tls: undefined, capabilities: undefined, reason: "refused" }, policy(), PolicyResult.POLICY_RESULT_UNKNOWN, /did not reach TLS/],
    ["no policy", untrusted, policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED } }), PolicyResult.POLICY_RESULT_NOT_APPLICABLE, /no usable MTA-STS policy/],
    ["mode none", untrusted, policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_NONE } }), PolicyResult.POLICY_RESULT_NOT_APPLICABLE, /mode is none/],
  ])("%s", (_name, over, p, result, reason) => {
    const check = policyCheckFor(handshake(over as DeepPartial<HandshakeResult>), p);
    expect(check.mtaSts).toBe(result);
    expect(check.mtaStsReason).toMatch(reason);
  });
});

describe("applyMailPolicy: the policy decides severity on a relay", () => {
  const severityOf = (h: HandshakeResult, code: string): Severity | undefined => h.findings.find((f) => f.code === code)?.severity;

  it.each([
    ["enforce makes an untrusted certificate an error", untrusted, policy(), "cert_untrusted", Severity.SEVERITY_ERROR, /enforce mode, so senders honouring it .* will not deliver/],
    ["enforce makes a name mismatch an error", otherName, policy(), "cert_name_mismatch", Severity.SEVERITY_ERROR, /enforce mode/],
    ["enforce makes a missing STARTTLS an error", { capabilities: { starttls: false }, tls: undefined }, policy(), "starttls_missing", Severity.SEVERITY_ERROR, /enforce mode/],
    ["testing leaves it a warning, saying so", untrusted, policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_TESTING, mxPatterns: ["mx.example.com"] } }), "cert_untrusted", Severity.SEVERITY_WARNING, /testing mode/],
    ["without a policy it stays the opportunistic-TLS warning", untrusted, policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED } }), "cert_untrusted", Severity.SEVERITY_WARNING, /opportunistic TLS \(RFC 7435\)/],
    ["an unusable policy changes nothing", untrusted, policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_INVALID, reason: "HTTP 404" } }), "cert_untrusted", Severity.SEVERITY_WARNING, /opportunistic TLS/],
  ])("%s", (_name, over, p, code, severity, message) => {
    const h = handshake(over as DeepPartial<HandshakeResult>);
    applyMailPolicy(h, p);
    expect(severityOf(h, code)).toBe(severity);
    expect(h.findings.find((f) => f.code === code)?.message).toMatch(message);
  });

  it("an exchanger the enforce policy does not list is an error; in testing a warning", () => {
    const enforce = handshake({ exchange: "mx9.example.org", host: "mx9.example.org", tls: { trusted: true, checkedName: "mx9.example.org", nameMatches: true, chain: [{}] } });
    applyMailPolicy(enforce, policy());
    expect(severityOf(enforce, "mta_sts_mx_not_listed")).toBe(Severity.SEVERITY_ERROR);
    const testing = handshake({ exchange: "mx9.example.org", host: "mx9.example.org", tls: { trusted: true, checkedName: "mx9.example.org", nameMatches: true, chain: [{}] } });
    applyMailPolicy(testing, policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_TESTING, mxPatterns: ["mx.example.com"] } }));
    expect(severityOf(testing, "mta_sts_mx_not_listed")).toBe(Severity.SEVERITY_WARNING);
  });

  it("a certificate checked against another name than the exchanger's (an --sni override) fails with its own finding", () => {
    const h = handshake({ tls: { trusted: true, checkedName: "other.example.com", nameMatches: true, chain: [{}] } });
    applyMailPolicy(h, policy());
    expect(h.policyCheck?.mtaSts).toBe(PolicyResult.POLICY_RESULT_FAIL);
    expect(severityOf(h, "mta_sts_certificate_invalid")).toBe(Severity.SEVERITY_ERROR);
  });

  it("applying twice gives the same findings", () => {
    const h = handshake(untrusted);
    applyMailPolicy(h, policy());
    const once = JSON.stringify(h.findings);
    applyMailPolicy(h, policy());
    expect(JSON.stringify(h.findings)).toBe(once);
  });

  it("leaves a submission port alone", () => {
    const h = handshake({ ...untrusted, port: 587, portRole: PortRole.PORT_ROLE_SUBMISSION });
    const before = JSON.stringify(h.findings);
    applyMailPolicy(h, policy());
    expect(h.policyCheck).toBeUndefined();
    expect(JSON.stringify(h.findings)).toBe(before);
  });
});

describe("domainFindings", () => {
  it.each([
    ["MTA-STS without TLS-RPT", policy({ tlsRpt: { status: TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED } }), ["tls_rpt_missing"]],
    ["an unusable policy", policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_INVALID, reason: "HTTP 404" } }), ["mta_sts_invalid"]],
    ["testing mode", policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_TESTING, mxPatterns: ["mx.example.com"] } }), ["mta_sts_testing"]],
    ["nothing published", policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED }, tlsRpt: { status: TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED } }), []],
    ["a broken TLS-RPT record", policy({ tlsRpt: { status: TlsRptStatus.TLS_RPT_STATUS_INVALID, reason: "no rua" } }), ["tls_rpt_invalid"]],
    ["a failed lookup", policy({ mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_DNS_FAILED, reason: "SERVFAIL" } }), ["mta_sts_dns_failed"]],
  ])("%s", (_name, p, codes) => {
    expect(domainFindings(p).map((f) => f.code)).toEqual(codes);
  });
});
