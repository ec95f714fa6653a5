import { describe, expect, it } from "vitest";
import { makeStyle } from "../../../cli/colors.js";
import { formatPolicyBlocks } from "../../../cli/format-policy.js";
import { MtaStsMode, MtaStsStatus, PolicyResult, Severity, TargetResult, TlsRptStatus, type DeepPartial } from "../../../gen/smtpprobe/v1/handshake.js";

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
      "  Sender      mx.example.com 192.0.2.10: ✔ delivers under MTA-STS enforce",
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
    expect(lines).toContain("              mx.example.com 192.0.2.10: ✔ delivers under MTA-STS enforce");
    expect(lines).toContain("  Sender eu-west");
    expect(lines.join("\n")).toContain("✖ will not deliver (MTA-STS enforce): mx.example.com matches mx.example.com but its certificate is not trusted (self-signed)");
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

  it("is empty without a policy", () => {
    expect(formatPolicyBlocks([{ region: "", result: result({ mailPolicy: undefined }) }], plain)).toEqual([]);
  });
});
