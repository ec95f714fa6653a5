import { describe, expect, it } from "vitest";
import { makeStyle } from "../../../cli/colors.js";
import { formatPolicyBlocks } from "../../../cli/format-policy.js";
import { DaneStatus, MtaStsMode, MtaStsStatus, PolicyResult, Severity, TargetResult, TlsRptStatus, type DeepPartial } from "../../../gen/smtpprobe/v1/handshake.js";

const plain = makeStyle(false);

function result(over: DeepPartial<TargetResult> = {}): TargetResult {
  return TargetResult.fromPartial({
    host: "example.com",
    port: 25,
    mx: true,
    mailPolicy: {
      domain: "example.com",
      mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_ENFORCE, maxAge: 604800, mxPatterns: ["mx.example.com"], id: "2026" },
      tlsRpt: { status: TlsRptStatus.TLS_RPT_STATUS_VALID, rua: ["mailto:tls@example.com"] },
    },
    handshakes: [
      {
        host: "mx.example.com",
        exchange: "mx.example.com",
        address: "192.0.2.10",
        policyCheck: { mtaSts: PolicyResult.POLICY_RESULT_PASS, mtaStsMode: MtaStsMode.MTA_STS_MODE_ENFORCE, mtaStsReason: "mx.example.com matches mx.example.com and its certificate is valid for it" },
      },
    ],
    ...over,
  });
}

describe("the Policy block", () => {
  it("locally: the policy, TLS-RPT and what a sender does, with no region named", () => {
    expect(formatPolicyBlocks([{ region: "", result: result() }], plain)).toEqual([
      "",
      "Policy example.com (port 25)",
      "  MTA-STS     enforce · max_age 604800 · mx mx.example.com · id 2026",
      "  TLS-RPT     mailto:tls@example.com",
      "  Sender      mx.example.com 192.0.2.10: MTA-STS ✔ delivers (enforce)",
    ]);
  });

  it("across regions: regions that agree share a line, the odd one is named", () => {
    const failing = result({
      handshakes: [
        {
          host: "mx.example.com",
          exchange: "mx.example.com",
          address: "192.0.2.10",
          policyCheck: { mtaSts: PolicyResult.POLICY_RESULT_FAIL, mtaStsMode: MtaStsMode.MTA_STS_MODE_ENFORCE, mtaStsReason: "mx.example.com matches mx.example.com but its certificate is not trusted (self-signed)" },
        },
      ],
    });
    const lines = formatPolicyBlocks(
      [
        { region: "us-east", result: result() },
        { region: "ap-south", result: result() },
        { region: "eu-west", result: failing },
      ],
      plain,
    );
    expect(lines).toContain("  MTA-STS     enforce · max_age 604800 · mx mx.example.com · id 2026");
    expect(lines).toContain("  Sender us-east, ap-south");
    expect(lines).toContain("              mx.example.com 192.0.2.10: MTA-STS ✔ delivers (enforce)");
    expect(lines).toContain("  Sender eu-west");
    expect(lines.join("\n")).toContain("MTA-STS ✖ will not deliver (enforce): mx.example.com matches mx.example.com but its certificate is not trusted (self-signed)");
  });

  it("shows an unusable policy and the domain's findings, and escapes what the domain controls", () => {
    const lines = formatPolicyBlocks(
      [
        {
          region: "",
          result: result({
            mailPolicy: {
              domain: "example.com",
              mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_INVALID, reason: "the policy is malformed: \u001b[31mred" },
              tlsRpt: { status: TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED },
              findings: [{ code: "mta_sts_invalid", severity: Severity.SEVERITY_WARNING, message: "example.com publishes MTA-STS but ..." }],
            },
          }),
        },
      ],
      plain,
    ).join("\n");
    expect(lines).toContain("MTA-STS     unusable: the policy is malformed:");
    expect(lines).not.toContain("\u001b");
    expect(lines).toContain("TLS-RPT     not published");
    expect(lines).toContain("▲ [mta_sts_invalid] example.com publishes MTA-STS but ...");
  });

  it("shows each exchanger's TLSA answer and what a sender validating DANE does", () => {
    const r = result();
    r.mailPolicy?.tlsa.push(
      { exchanger: "mx.example.com", name: "_25._tcp.mx.example.com", status: DaneStatus.DANE_STATUS_SECURE, authenticated: true, rcode: "NOERROR", records: [{ usage: 3, selector: 1, matchingType: 1, data: "ab".repeat(32), usable: true, note: "" }, { usage: 4, selector: 1, matchingType: 1, data: "cd".repeat(32), usable: false, note: "usage 4 is unknown" }], reason: "", resolver: "127.0.0.1:53", lookupMs: 1 },
      { exchanger: "mx2.example.com", name: "_25._tcp.mx2.example.com", status: DaneStatus.DANE_STATUS_INSECURE, authenticated: false, rcode: "NOERROR", records: [{ usage: 3, selector: 1, matchingType: 1, data: "ab".repeat(32), usable: true, note: "" }], reason: "", resolver: "127.0.0.1:53", lookupMs: 1 },
    );
    const h = r.handshakes[0];
    if (h) h.dane = { status: DaneStatus.DANE_STATUS_SECURE, result: PolicyResult.POLICY_RESULT_FAIL, reason: "the certificate presented matches none of the 1 usable TLSA records", matchedRecord: "" };
    const text = formatPolicyBlocks([{ region: "", result: r }], plain).join("\n");
    expect(text).toContain("DANE        mx.example.com: authenticated (AD) · 3 1 1 abababababababab…, unusable 4 1 1 cdcdcdcdcdcdcdcd…");
    expect(text).toContain("mx2.example.com: not authenticated (no AD: unsigned zone, or a resolver that does not validate), ignored");
    expect(text).toContain("MTA-STS ✔ delivers (enforce); DANE ✖ will not deliver: the certificate presented matches none of the 1 usable TLSA records");
  });

  it("is empty without a policy", () => {
    expect(formatPolicyBlocks([{ region: "", result: result({ mailPolicy: undefined }) }], plain)).toEqual([]);
  });
});
