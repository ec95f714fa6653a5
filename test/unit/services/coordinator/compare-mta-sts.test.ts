// The regional difference of MTA-STS: what a sender honouring the domain's policy does with an
// exchanger from each region.
import { describe, expect, it } from "vitest";
import { type DeepPartial, HandshakeResult, MtaStsMode, MtaStsStatus, Outcome, Phase, type PolicyCheck, PolicyResult, Severity } from "../../../../gen/smtpprobe/v1/handshake.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { differenceVerdicts, type ReachedRegion } from "../../../../services/coordinator/compare-differences.js";

const pass: DeepPartial<PolicyCheck> = { domain: "example.com", mtaStsStatus: MtaStsStatus.MTA_STS_STATUS_VALID, mtaStsMode: MtaStsMode.MTA_STS_MODE_ENFORCE, mtaSts: PolicyResult.POLICY_RESULT_PASS, mtaStsReason: "mx.example.com matches mx.example.com and its certificate is valid for it" };
const failCert: DeepPartial<PolicyCheck> = { ...pass, mtaSts: PolicyResult.POLICY_RESULT_FAIL, mtaStsReason: "mx.example.com matches mx.example.com but its certificate is not trusted (self-signed certificate)" };
const noPolicy: DeepPartial<PolicyCheck> = { domain: "example.com", mtaStsStatus: MtaStsStatus.MTA_STS_STATUS_INVALID, mtaSts: PolicyResult.POLICY_RESULT_NOT_APPLICABLE, mtaStsReason: "no usable MTA-STS policy" };
const testingFail: DeepPartial<PolicyCheck> = { ...failCert, mtaStsMode: MtaStsMode.MTA_STS_MODE_TESTING };

function region(name: string, policyCheck: DeepPartial<PolicyCheck> | undefined): ReachedRegion {
  return {
    region: name,
    handshakes: [HandshakeResult.fromPartial({ host: "mx.example.com", exchange: "mx.example.com", mxPreference: 10, address: "192.0.2.10", port: 25, outcome: Outcome.OUTCOME_OK, phase: Phase.PHASE_DONE, policyCheck })],
  };
}

function mtaSts(regions: ReachedRegion[]) {
  return differenceVerdicts(25, regions).filter((v) => v.kind === VerdictKind.VERDICT_KIND_MTA_STS_DIFFERS);
}

describe("MTA_STS_DIFFERS", () => {
  it("a certificate failing the enforced policy in one region only is an error naming that region and what senders do", () => {
    const [v] = mtaSts([region("us-east", pass), region("ap-south", pass), region("eu-west", failCert)]);
    expect(v?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(v?.regions).toEqual(["eu-west"]);
    expect(v?.causes).toEqual([{ region: "eu-west", cause: "would not deliver (MTA-STS enforce: mx.example.com matches mx.example.com but its certificate is not trusted (self-signed certificate))" }]);
    expect(v?.summary).toBe(
      'Port 25 (mx.example.com): a sender honouring example.com\'s MTA-STS acts differently by region: from us-east and ap-south it would deliver (MTA-STS enforce passes), and from eu-west it would not deliver (MTA-STS enforce: mx.example.com matches mx.example.com but its certificate is not trusted (self-signed certificate)): a middlebox presenting another certificate or blocking the policy host, or another server, on the path from eu-west.',
    );
  });

  it("a policy that could not be had in one region: senders there deliver unchecked", () => {
    const [v] = mtaSts([region("us-east", pass), region("eu-west", pass), region("ap-south", noPolicy)]);
    expect(v?.regions).toEqual(["ap-south"]);
    expect(v?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(v?.summary).toContain("from ap-south it would deliver with opportunistic TLS, unchecked (the policy could not be had there)");
  });

  it("in testing mode a failure is a warning", () => {
    const testingPass = { ...pass, mtaStsMode: MtaStsMode.MTA_STS_MODE_TESTING };
    const [v] = mtaSts([region("us-east", testingPass), region("eu-west", testingFail)]);
    expect(v?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(v?.summary).toContain("would deliver and report a failure");
  });

  it.each([
    ["every region passes", [pass, pass, pass]],
    ["every region fails alike", [failCert, failCert]],
    ["no policy check anywhere", [undefined, undefined]],
    ["a region without a check takes no part", [pass, undefined]],
    ["no region without a policy", [noPolicy, noPolicy]],
  ])("no verdict when %s", (_name, checks) => {
    expect(mtaSts(checks.map((c, i) => region(`r${i}`, c)))).toEqual([]);
  });

  it("escapes what the agent sent", () => {
    const [v] = mtaSts([region("us-east", pass), region("eu-west", { ...failCert, mtaStsReason: "bad\u001b[31m" })]);
    expect(v?.summary).not.toContain("\u001b");
  });
});
