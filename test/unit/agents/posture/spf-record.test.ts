import { describe, expect, it } from "vitest";
import { countQueryingTerms, parseSpfRecord, spfRecordsOf, spfTargets } from "../../../../agents/posture/spf-record.js";

describe("spfRecordsOf", () => {
  it.each([
    [[["v=spf1 -all"]], ["v=spf1 -all"]],
    [[["v=spf1"]], ["v=spf1"]],
    [[["V=SPF1 mx"]], ["V=SPF1 mx"]],
    [[["v=spf10 -all"]], []],
    [[["v=spf1 ", "ip4:192.0.2.1", " -all"]], ["v=spf1 ip4:192.0.2.1 -all"]],
    [[["google-site-verification=x"], ["v=spf1 a"], ["v=spf1 mx"]], ["v=spf1 a", "v=spf1 mx"]],
  ])("%j → %j", (txt, records) => {
    expect(spfRecordsOf(txt)).toEqual(records);
  });
});

describe("parseSpfRecord", () => {
  it("reads mechanisms and modifiers with their qualifiers", () => {
    const { terms, errors } = parseSpfRecord("v=spf1 ip4:192.0.2.0/24 -a:mail.example.com/28//64 ~mx ?include:_spf.example.net exists:%{i}.x.example ptr redirect=_spf.example.com exp=explain.example.com -all");
    expect(errors).toEqual([]);
    expect(terms.map((t) => [t.qualifier, t.name, t.value, t.queriesDns])).toEqual([
      ["+", "ip4", "192.0.2.0/24", false],
      ["-", "a", "mail.example.com/28//64", true],
      ["~", "mx", "", true],
      ["?", "include", "_spf.example.net", true],
      ["+", "exists", "%{i}.x.example", true],
      ["+", "ptr", "", true],
      ["", "redirect", "_spf.example.com", true],
      ["", "exp", "explain.example.com", false],
      ["-", "all", "", false],
    ]);
  });

  it.each([
    ["v=spf1 foo -all", /not an SPF mechanism/],
    ["v=spf1 ip4:192.0.2.300 -all", /needs an IPv4 address/],
    ["v=spf1 ip6:192.0.2.1 -all", /needs an IPv6 address/],
    ["v=spf1 ip4:192.0.2.0/33", /prefix length/],
    ["v=spf1 a/033", /prefix length out of 0–32/],
    ["v=spf1 mx//129", /IPv6 prefix length/],
    ["v=spf1 include -all", /needs ":domain"/],
    ["v=spf1 all:x", /takes no value/],
    ["v=spf1 redirect=a.example redirect=b.example", /more than once/],
    ["v=spf1 redirect=", /has no domain/],
    ["v=spf1 -all é", /printable ASCII/],
  ])("%s is an error", (record, error) => {
    expect(parseSpfRecord(record).errors.join("; ")).toMatch(error);
  });

  it("tolerates repeated spaces and an unknown modifier (RFC 7208 §6)", () => {
    expect(parseSpfRecord("v=spf1  a   foo=bar  -all").errors).toEqual([]);
  });
});

describe("targets and counts", () => {
  it.each([
    ["v=spf1 include:a.example include:b.example -all", [["include", "a.example"], ["include", "b.example"]], 2],
    ["v=spf1 a mx redirect=r.example", [["redirect", "r.example"]], 3],
    // RFC 7208 §6.1: redirect is ignored when the record has "all".
    ["v=spf1 a redirect=r.example -all", [], 1],
    ["v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 -all", [], 0],
  ])("%s", (record, targets, count) => {
    const { terms } = parseSpfRecord(record);
    expect(spfTargets(terms).map((t) => [t.via, t.domain])).toEqual(targets);
    expect(countQueryingTerms(terms)).toBe(count);
  });
});
