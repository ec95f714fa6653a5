import { describe, expect, it } from "vitest";
import { normalizeBlocklistZone, readBlocklistAnswer } from "../../../../agents/posture/blocklist-answer.js";
import { addressFindings } from "../../../../agents/posture/posture-findings.js";

describe("readBlocklistAnswer (RFC 5782)", () => {
  it.each([
    [[], { kind: "not_listed" }],
    [["127.0.0.2"], { kind: "listed", codes: ["127.0.0.2"] }],
    [["127.0.0.4", "127.0.0.10"], { kind: "listed", codes: ["127.0.0.4", "127.0.0.10"] }],
    [["127.255.255.254"], { kind: "refused", codes: ["127.255.255.254"], reason: expect.stringMatching(/public one/) as string }],
    [["127.255.255.255"], { kind: "refused", reason: expect.stringMatching(/too many queries/) as string }],
    [["127.255.255.252"], { kind: "refused", reason: expect.stringMatching(/zone name is wrong/) as string }],
    [["127.255.255.1"], { kind: "refused", reason: expect.stringMatching(/reports an error/) as string }],
    // A refusal beside a code is still a refusal: the list did not answer the question.
    [["127.0.0.2", "127.255.255.254"], { kind: "refused" }],
    [["192.0.2.80"], { kind: "refused", reason: expect.stringMatching(/rewrites answers/) as string }],
  ])("%j", (answer, verdict) => {
    expect(readBlocklistAnswer(answer)).toMatchObject(verdict);
  });
});

describe("normalizeBlocklistZone", () => {
  it.each([
    ["zen.spamhaus.org", "zen.spamhaus.org"],
    ["BL.Example.", "bl.example"],
    ["localhost", undefined],
    ["bad zone.example", undefined],
    ["", undefined],
  ])("%s → %s", (zone, expected) => {
    expect(normalizeBlocklistZone(zone)).toBe(expected);
  });
});

describe("addressFindings", () => {
  const rdns = (ptrNames: string[], confirmedName = "") => ({ ptrNames, forwardConfirmed: confirmedName !== "", confirmedName, error: ptrNames.length ? "" : "no PTR record" });
  const clean = { zone: "bl.example", listed: false, codes: [], reason: "", error: "" };
  it.each([
    ["confirmed, not listed", { address: "192.0.2.1", reverseDns: rdns(["mx.example.com"], "mx.example.com"), blocklists: [clean] }, [], []],
    ["no PTR", { address: "192.0.2.1", reverseDns: rdns([]), blocklists: [] }, [], ["ptr_missing"]],
    ["not confirmed", { address: "192.0.2.1", reverseDns: rdns(["x.example.net"]), blocklists: [] }, [], ["ptr_not_confirmed"]],
    ["confirmed under another name than the banner's", { address: "192.0.2.1", reverseDns: rdns(["x.example.net"], "x.example.net"), blocklists: [] }, ["mx.example.com"], ["ptr_name_mismatch"]],
    ["the banner's name", { address: "192.0.2.1", reverseDns: rdns(["mx.example.com"], "mx.example.com"), blocklists: [] }, ["MX.example.com."], []],
    ["listed", { address: "192.0.2.1", reverseDns: rdns(["mx.example.com"], "mx.example.com"), blocklists: [{ ...clean, listed: true, codes: ["127.0.0.2"], reason: "spam" }] }, [], ["dnsbl_listed"]],
    ["refused", { address: "192.0.2.1", reverseDns: rdns(["mx.example.com"], "mx.example.com"), blocklists: [{ ...clean, codes: ["127.255.255.254"], error: "refused" }] }, [], ["dnsbl_query_failed"]],
  ])("%s", (_, posture, names, codes) => {
    expect(addressFindings("mx.example.com", posture, names).map((f) => f.code)).toEqual(codes);
  });
});
