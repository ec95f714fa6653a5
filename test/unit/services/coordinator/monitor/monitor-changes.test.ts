import { describe, expect, it } from "vitest";
import { DaneStatus, type DeepPartial, type HandshakeResult, MtaStsMode, Outcome, Phase, PolicyResult, TlsMode } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { RegionChangeKind } from "../../../../../gen/smtpprobe/v1/monitor.js";
import { TaskStatus } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import {
  crossedExpiryThreshold,
  decodeFacts,
  factsOf,
  hasChanges,
  MAX_KEPT_FACTS,
  nextFacts,
  type PortFacts,
} from "../../../../../services/coordinator/monitor/monitor-changes.js";
import { decodeMonitorState, encodeMonitorState } from "../../../../../services/coordinator/monitor/monitor-records.js";
import { done, dropped, failed, FP_A, ok, report, silent } from "../../../../helpers/report-builders.js";

const FP_B = FP_A.replaceAll("A", "B");
const K = RegionChangeKind;

/** The facts of one region on port 25 with these handshakes. */
function factsOfOne(handshakes: DeepPartial<HandshakeResult>[]): PortFacts {
  return factsOf(report(["eu"], [25], [done("eu", 25, handshakes)]))[0]!;
}

const tlsWith = (fingerprint: string, days: number, protocol = "TLSv1.3") => ({ protocol, daysToExpiry: days, chain: [{ fingerprintSha256: fingerprint }] });

describe("factsOf", () => {
  it.each<[string, DeepPartial<HandshakeResult>[], Omit<PortFacts, "region" | "port">]>([
    ["a STARTTLS handshake", [ok({ tls: tlsWith(FP_A, 40) })], { reachability: "reached", starttls: "offered", certificate: FP_A, tlsVersion: "TLSv1.3", daysToExpiry: 40 }],
    ["no STARTTLS offered: no certificate, no TLS", [ok({ capabilities: { starttls: false }, tls: undefined })], { reachability: "reached", starttls: "not offered", certificate: "none", tlsVersion: "none" }],
    ["implicit TLS", [ok({ capabilities: undefined, tlsMode: TlsMode.TLS_MODE_IMPLICIT, tls: { ...tlsWith(FP_A, 40), implicit: true } })], { reachability: "reached", starttls: "implicit TLS", certificate: FP_A, tlsVersion: "TLSv1.3", daysToExpiry: 40 }],
    // Stopped before EHLO: nothing known but the cell's state.
    ["refused at connect", [dropped()], { reachability: "blocked" }],
    ["the TLS handshake failed: STARTTLS known, no certificate", [failed(Outcome.OUTCOME_TLS_FAILED, Phase.PHASE_TLS, { capabilities: { starttls: true } })], { reachability: "failed", starttls: "offered" }],
    [
      "two addresses, two certificates: both, sorted; the fewest days",
      [ok({ address: "192.0.2.10", tls: tlsWith(FP_B, 40) }), ok({ address: "192.0.2.11", tls: tlsWith(FP_A, 12, "TLSv1.2") })],
      { reachability: "reached", starttls: "offered", certificate: `${FP_A}, ${FP_B}`, tlsVersion: "TLSv1.2, TLSv1.3", daysToExpiry: 12 },
    ],
    [
      "MTA-STS and DANE results",
      [ok({ tls: tlsWith(FP_A, 40), policyCheck: { mtaSts: PolicyResult.POLICY_RESULT_PASS, mtaStsMode: MtaStsMode.MTA_STS_MODE_ENFORCE }, dane: { status: DaneStatus.DANE_STATUS_SECURE, result: PolicyResult.POLICY_RESULT_FAIL } })],
      { reachability: "reached", starttls: "offered", certificate: FP_A, tlsVersion: "TLSv1.3", daysToExpiry: 40, mtaSts: "pass (enforce)", dane: "fail" },
    ],
    [
      "a policy not applicable, no TLSA records",
      [ok({ tls: tlsWith(FP_A, 40), policyCheck: { mtaSts: PolicyResult.POLICY_RESULT_NOT_APPLICABLE }, dane: { status: DaneStatus.DANE_STATUS_NO_RECORDS } })],
      { reachability: "reached", starttls: "offered", certificate: FP_A, tlsVersion: "TLSv1.3", daysToExpiry: 40, mtaSts: "not applicable", dane: "no records" },
    ],
    ["a policy result the handshake could not tell: unknown", [ok({ tls: tlsWith(FP_A, 40), policyCheck: { mtaSts: PolicyResult.POLICY_RESULT_UNKNOWN } })], { reachability: "reached", starttls: "offered", certificate: FP_A, tlsVersion: "TLSv1.3", daysToExpiry: 40 }],
  ])("%s", (_name, handshakes, facts) => {
    expect(factsOfOne(handshakes)).toEqual({ region: "eu", port: 25, ...facts });
  });

  it("more distinct values than it names: the first ones, and how many more", () => {
    const fingerprints = Array.from({ length: 10 }, (_, i) => FP_A.replace(/^AA/, String(i).padStart(2, "0")));
    const facts = factsOfOne(fingerprints.map((fp, i) => ok({ address: `192.0.2.${i}`, tls: tlsWith(fp, 40) })));
    expect(facts.certificate).toBe(`${fingerprints.slice(0, 8).join(", ")} and 2 more`);
  });

  it("a region without an answer: only its reachability", () => {
    const seen = factsOf(report(["eu", "us"], [25], [done("eu", 25, [ok()]), silent("us", 25, TaskStatus.TASK_STATUS_AGENT_LOST)]));
    expect(seen.find((f) => f.region === "us")).toEqual({ region: "us", port: 25, reachability: "no answer" });
  });
});

const eu = (facts: Omit<PortFacts, "region" | "port"> = {}): PortFacts => ({ region: "eu", port: 25, reachability: "reached", starttls: "offered", certificate: FP_A, tlsVersion: "TLSv1.3", daysToExpiry: 60, ...facts });
const change = (kind: RegionChangeKind, before: string, after: string, thresholdDays = 0) => ({ region: "eu", port: 25, kind, before, after, thresholdDays });

describe("nextFacts", () => {
  it.each<[string, PortFacts[] | undefined, PortFacts[], ReturnType<typeof change>[]]>([
    ["the same facts: no change", [eu()], [eu()], []],
    ["no facts kept (the first run, or the first after an upgrade): no change", undefined, [eu({ certificate: FP_B })], []],
    ["the certificate replaced", [eu()], [eu({ certificate: FP_B })], [change(K.REGION_CHANGE_KIND_CERTIFICATE, FP_A, FP_B)]],
    [
      "STARTTLS gone: no certificate, no TLS",
      [eu()],
      [{ region: "eu", port: 25, reachability: "reached", starttls: "not offered", certificate: "none", tlsVersion: "none" }],
      [change(K.REGION_CHANGE_KIND_STARTTLS, "offered", "not offered"), change(K.REGION_CHANGE_KIND_CERTIFICATE, FP_A, "none"), change(K.REGION_CHANGE_KIND_TLS_VERSION, "TLSv1.3", "none")],
    ],
    ["the TLS version", [eu()], [eu({ tlsVersion: "TLSv1.2" })], [change(K.REGION_CHANGE_KIND_TLS_VERSION, "TLSv1.3", "TLSv1.2")]],
    ["MTA-STS and DANE", [eu({ mtaSts: "pass (enforce)", dane: "pass" })], [eu({ mtaSts: "fail (enforce)", dane: "fail" })], [change(K.REGION_CHANGE_KIND_MTA_STS, "pass (enforce)", "fail (enforce)"), change(K.REGION_CHANGE_KIND_DANE, "pass", "fail")]],
    // Agent lost: the reachability says so, the rest is unknown and no change.
    ["no answer", [eu()], [{ region: "eu", port: 25, reachability: "no answer" }], [change(K.REGION_CHANGE_KIND_REACHABILITY, "reached", "no answer")]],
    ["blocked: only the reachability", [eu()], [{ region: "eu", port: 25, reachability: "blocked" }], [change(K.REGION_CHANGE_KIND_REACHABILITY, "reached", "blocked")]],
    ["a fact first seen: no change", [{ region: "eu", port: 25, reachability: "blocked" }], [eu()], [change(K.REGION_CHANGE_KIND_REACHABILITY, "blocked", "reached")]],
    ["a region new to the monitor: no change", [eu()], [eu(), { ...eu(), region: "us" }], []],
    ["expiry: 31 → 30 days, no threshold crossed", [eu({ daysToExpiry: 31 })], [eu({ daysToExpiry: 30 })], []],
    ["expiry: 30 → 29 days, under 30", [eu({ daysToExpiry: 30 })], [eu({ daysToExpiry: 29 })], [change(K.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "30 days", "29 days", 30)]],
    ["expiry: 29 → 28 days, the same threshold: none", [eu({ daysToExpiry: 29 })], [eu({ daysToExpiry: 28 })], []],
    ["expiry: 40 → 10 days, two crossed at once: one change, the lowest", [eu({ daysToExpiry: 40 })], [eu({ daysToExpiry: 10 })], [change(K.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "40 days", "10 days", 14)]],
    ["expiry: 1 → 0 days", [eu({ daysToExpiry: 1 })], [eu({ daysToExpiry: 0 })], [change(K.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "1 day", "0 days", 1)]],
    ["expiry: expired", [eu({ daysToExpiry: 0 })], [eu({ daysToExpiry: -1 })], [change(K.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "0 days", "expired", 0)]],
    ["renewed: back above every threshold, no expiry change", [eu({ daysToExpiry: 5 })], [eu({ certificate: FP_B, daysToExpiry: 90 })], [change(K.REGION_CHANGE_KIND_CERTIFICATE, FP_A, FP_B)]],
    [
      "replaced by one nearer its end: both",
      [eu({ daysToExpiry: 60 })],
      [eu({ certificate: FP_B, daysToExpiry: 6 })],
      [change(K.REGION_CHANGE_KIND_CERTIFICATE, FP_A, FP_B), change(K.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "60 days", "6 days", 7)],
    ],
  ])("%s", (_name, before, seen, changes) => {
    expect(nextFacts(before, seen).changes).toEqual(changes);
  });

  it("a region without an answer keeps its facts: back with the same certificate, only the reachability changes", () => {
    const lost = nextFacts([eu()], [{ region: "eu", port: 25, reachability: "no answer" }]);
    expect(lost.facts).toEqual([eu({ reachability: "no answer" })]);
    const back = nextFacts(lost.facts, [eu()]);
    expect(back.changes).toEqual([change(K.REGION_CHANGE_KIND_REACHABILITY, "no answer", "reached")]);
    expect(back.facts).toEqual([eu()]);
  });

  it("an expiry crossing is said once, not at every run after it", () => {
    let facts: PortFacts[] = [eu({ daysToExpiry: 31 })];
    const said: number[] = [];
    for (let days = 30; days >= -2; days--) {
      const next = nextFacts(facts, [eu({ daysToExpiry: days })]);
      said.push(...next.changes.map((c) => c.thresholdDays));
      facts = next.facts;
    }
    expect(said).toEqual([30, 14, 7, 1, 0]);
  });

  it("a region not in this run is kept as it was, in region then port order; at most MAX_KEPT_FACTS", () => {
    const us = { ...eu(), region: "us" };
    const ap = { ...eu(), region: "ap", port: 587 };
    expect(nextFacts([us, eu()], [ap]).facts).toEqual([ap, eu(), us]);
    const many = Array.from({ length: MAX_KEPT_FACTS + 10 }, (_, i) => ({ ...eu(), region: `r${String(i).padStart(4, "0")}` }));
    const next = nextFacts(many, [ap]);
    expect(next.facts).toHaveLength(MAX_KEPT_FACTS);
    expect(next.facts).toContainEqual(ap);
  });
});

describe("crossedExpiryThreshold", () => {
  it.each([
    [90, 31, undefined],
    [31, 30, undefined],
    [30, 29, 30],
    [15, 14, undefined],
    [14, 13, 14],
    [8, 6, 7],
    [100, -5, 0],
    [5, 90, undefined],
  ])("%i → %i days: %j", (before, after, threshold) => {
    expect(crossedExpiryThreshold(before, after)).toBe(threshold);
  });
});

describe("hasChanges", () => {
  it.each([
    [[], [], false],
    [[{ port: 25, kind: 1, appeared: true }], [], true],
    [[], [change(K.REGION_CHANGE_KIND_CERTIFICATE, FP_A, FP_B)], true],
  ])("verdict changes %j, region changes %j: %s", (changes, regionChanges, expected) => {
    expect(hasChanges({ changes, regionChanges })).toBe(expected);
  });
});

describe("the facts in a monitor's state", () => {
  it("read back as written", () => {
    const state = { run: 3, verdicts: [], facts: [eu({ mtaSts: "pass (testing)", daysToExpiry: -2 }), { region: "us", port: 25, reachability: "no answer" }] };
    expect(decodeMonitorState(encodeMonitorState(state))).toEqual(state);
  });

  it("a state kept before facts were: none, and the next run says no region change", () => {
    const old = decodeMonitorState(Buffer.from(JSON.stringify({ run: 3, verdicts: [{ port: 25, kind: 1 }] })));
    expect(old).toEqual({ run: 3, verdicts: [{ port: 25, kind: 1 }] });
    expect(nextFacts(old?.facts, [eu()]).changes).toEqual([]);
  });

  it.each([
    ["not an array", { a: 1 }, undefined],
    ["entries that are not facts left out", [null, 3, { region: 1, port: 25 }, { region: "eu", port: -1 }, { region: "eu", port: 25, certificate: 7, daysToExpiry: 1.5, dane: "pass" }], [{ region: "eu", port: 25, dane: "pass" }]],
    ["a text too long left out", [{ region: "eu", port: 25, certificate: "x".repeat(5000) }], [{ region: "eu", port: 25 }]],
  ])("%s", (_name, value, facts) => {
    expect(decodeFacts(value)).toEqual(facts);
  });
});
