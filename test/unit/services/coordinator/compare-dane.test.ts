// The regional difference of DANE: what a sender validating DANE does with an exchanger from each region.
import { describe, expect, it } from "vitest";
import { type DaneCheck, DaneStatus, type DeepPartial, HandshakeResult, Outcome, Phase, PolicyResult, Severity } from "../../../../gen/smtpprobe/v1/handshake.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { differenceVerdicts, type ReachedRegion } from "../../../../services/coordinator/compare-differences.js";

const pass: DeepPartial<DaneCheck> = { status: DaneStatus.DANE_STATUS_SECURE, result: PolicyResult.POLICY_RESULT_PASS, reason: "the certificate matches TLSA 3 1 1 ab12", matchedRecord: "3 1 1 ab12" };
const fail: DeepPartial<DaneCheck> = { status: DaneStatus.DANE_STATUS_SECURE, result: PolicyResult.POLICY_RESULT_FAIL, reason: "the certificate presented matches none of the 1 usable TLSA records" };
const insecure: DeepPartial<DaneCheck> = { status: DaneStatus.DANE_STATUS_INSECURE, result: PolicyResult.POLICY_RESULT_NOT_APPLICABLE };
const failedLookup: DeepPartial<DaneCheck> = { status: DaneStatus.DANE_STATUS_LOOKUP_FAILED, result: PolicyResult.POLICY_RESULT_NOT_APPLICABLE, reason: "SERVFAIL" };

function region(name: string, dane: DeepPartial<DaneCheck> | undefined): ReachedRegion {
  return { region: name, handshakes: [HandshakeResult.fromPartial({ host: "mx.example.com", exchange: "mx.example.com", address: "192.0.2.10", port: 25, outcome: Outcome.OUTCOME_OK, phase: Phase.PHASE_DONE, dane })] };
}

const dane = (regions: ReachedRegion[]) => differenceVerdicts(25, regions).filter((v) => v.kind === VerdictKind.VERDICT_KIND_DANE_DIFFERS);

describe("DANE_DIFFERS", () => {
  it("a region whose certificate fails DANE while others pass: an error saying what senders do", () => {
    const [v] = dane([region("us-east", pass), region("ap-south", pass), region("eu-west", fail)]);
    expect(v?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(v?.regions).toEqual(["eu-west"]);
    expect(v?.summary).toBe(
      "Port 25 (mx.example.com): a sender validating DANE acts differently by region: from us-east and ap-south it would deliver (the certificate matches TLSA 3 1 1 ab12), and from eu-west it would not deliver (the certificate presented matches none of the 1 usable TLSA records): a middlebox presenting another certificate, a resolver that answers otherwise, or another server, on the path from eu-west.",
    );
  });

  it("records authenticated in some regions only: a warning", () => {
    const [v] = dane([region("us-east", pass), region("eu-west", pass), region("ap-south", insecure)]);
    expect(v?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(v?.summary).toContain("from ap-south it would not use DANE (the TLSA answer was not authenticated there)");
  });

  it("a failed lookup in one region: senders there defer, an error", () => {
    const [v] = dane([region("us-east", pass), region("eu-west", failedLookup)]);
    expect(v?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(v?.summary).toContain("would defer the mail");
  });

  it.each([
    ["all pass", [pass, pass]],
    ["all fail", [fail, fail]],
    ["no DANE check", [undefined, undefined]],
  ])("no verdict when %s", (_name, checks) => {
    expect(dane(checks.map((c, i) => region(`r${i}`, c)))).toEqual([]);
  });
});
