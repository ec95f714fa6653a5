import { describe, expect, it } from "vitest";
import { matchExchanger, readPolicy, readStsRecords } from "../../../../../agents/smtp/mail-policy/mta-sts.js";
import { MtaStsMode } from "../../../../../gen/smtpprobe/v1/handshake.js";

describe("readStsRecords (RFC 8461 §3.1)", () => {
  it.each([
    ["one record", [["v=STSv1; id=20260101"]], { kind: "found", id: "20260101", warnings: [] }],
    ["one record in many strings", [["v=STS", "v1;", " id=abc"]], { kind: "found", id: "abc", records: ["v=STSv1; id=abc"] }],
    ["others beside it are ignored", [["v=spf1 -all"], ["v=STSv1; id=x1"]], { kind: "found", id: "x1", records: ["v=STSv1; id=x1"] }],
    ["extension fields are allowed", [["v=STSv1; id=x1; ext=value;"]], { kind: "found", id: "x1", warnings: [] }],
    ["lenient case, with a syntax note", [["V=STSv1; ID=abc"]], { kind: "found", id: "abc", warnings: ["txt-syntax"] }],
    ["an id with punctuation, with a syntax note", [["v=STSv1; id=2026-01-01"]], { kind: "found", id: "2026-01-01", warnings: ["txt-syntax"] }],
    ["no record", [], { kind: "none" }],
    ["only other TXT", [["hello"]], { kind: "none" }],
  ])("%s", async (_name, txt, expected) => {
    expect(await readStsRecords(txt)).toMatchObject(expected);
  });

  it("refuses two records, saying what senders do", async () => {
    const r = await readStsRecords([["v=STSv1; id=a"], ["v=STSv1; id=b"]]);
    expect(r).toMatchObject({ kind: "invalid", records: ["v=STSv1; id=a", "v=STSv1; id=b"] });
    expect(r.kind === "invalid" && r.reason).toMatch(/2 _mta-sts TXT records .* no policy/);
  });

  it("refuses a record without an id", async () => {
    const r = await readStsRecords([["v=STSv1; foo=bar"]]);
    expect(r.kind === "invalid" && r.reason).toMatch(/has no valid id/);
  });
});

describe("readPolicy (RFC 8461 §3.2)", () => {
  const policy = (...lines: string[]): string => lines.join("\r\n");
  it.each([
    ["enforce", policy("version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: *.example.net", "max_age: 604800"), { ok: true, mode: MtaStsMode.MTA_STS_MODE_ENFORCE, maxAge: 604800, mx: ["mx1.example.com", "*.example.net"], warnings: [] }],
    ["testing, LF line ends", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n", { ok: true, mode: MtaStsMode.MTA_STS_MODE_TESTING }],
    ["none without mx", policy("version: STSv1", "mode: none", "max_age: 0"), { ok: true, mode: MtaStsMode.MTA_STS_MODE_NONE, mx: [] }],
    ["mode in capitals, with a syntax note", policy("version: STSv1", "mode: Enforce", "mx: mx.example.com", "max_age: 60"), { ok: true, mode: MtaStsMode.MTA_STS_MODE_ENFORCE, warnings: ["policy-syntax"] }],
  ])("%s", (_name, text, expected) => {
    expect(readPolicy(text)).toMatchObject(expected);
  });

  it.each([
    ["no mode", policy("version: STSv1", "mx: mx.example.com", "max_age: 60"), /no valid "mode"/],
    ["an unknown mode", policy("version: STSv1", "mode: strict", "mx: mx.example.com", "max_age: 60"), /no valid "mode"/],
    ["no version", policy("mode: enforce", "mx: mx.example.com", "max_age: 60"), /no "version: STSv1" line/],
    ["max_age over a year", policy("version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 99999999"), /no valid "max_age"/],
    ["enforce without mx", policy("version: STSv1", "mode: enforce", "max_age: 60"), /no valid "mx" line/],
    ["HTML", "<html><body>hello</body></html>", /the policy is malformed/],
    ["empty", "", /the policy is malformed/],
  ])("malformed: %s", (_name, text, reason) => {
    const r = readPolicy(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
});

describe("matchExchanger (RFC 8461 §4.1)", () => {
  const sts = { mode: MtaStsMode.MTA_STS_MODE_ENFORCE, mxPatterns: ["mx1.example.com", "*.example.net"] };
  it.each([
    ["mx1.example.com", true, "mx1.example.com"],
    ["MX1.Example.com.", true, "mx1.example.com"],
    ["a.example.net", true, "*.example.net"],
    // A wildcard is one whole left-most label only.
    ["a.b.example.net", false, ""],
    ["example.net", false, ""],
    ["mx2.example.com", false, ""],
  ])("%s", (name, matches, pattern) => {
    expect(matchExchanger(name, sts)).toEqual({ matches, pattern });
  });
});
