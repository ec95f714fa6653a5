import { describe, expect, it } from "vitest";
import { SpfResult, type DkimKey, type DmarcPosture, type MxPosture, type SpfPosture } from "../../../../gen/smtpprobe/v1/domain.js";
import { Severity } from "../../../../gen/smtpprobe/v1/handshake.js";
import { dkimFindings, dmarcFindings, mxFindings, sortFindings, spfFindings } from "../../../../agents/posture/posture-findings.js";
import { parseSpfRecord } from "../../../../agents/posture/spf-record.js";

const spf = (record: string, more: Partial<SpfPosture> = {}): SpfPosture => ({
  record: { domain: "example.com", via: "", record, terms: parseSpfRecord(record).terms, children: [], error: parseSpfRecord(record).errors.join("; ") },
  dnsLookups: 0,
  voidLookups: 0,
  fullWalk: { address: "192.0.2.1", result: SpfResult.SPF_RESULT_FAIL, explanation: "", dnsLookups: 0, voidLookups: 0 },
  evaluations: [],
  ...more,
});
const codes = (findings: { code: string }[]): string[] => findings.map((f) => f.code);

describe("spfFindings", () => {
  it.each<[string, SpfPosture, string[]]>([
    ["a good record", spf("v=spf1 mx -all"), []],
    ["+all", spf("v=spf1 +all"), ["spf_all_pass"]],
    ["all (the + is implied)", spf("v=spf1 all"), ["spf_all_pass"]],
    ["?all", spf("v=spf1 a ?all"), ["spf_all_neutral"]],
    ["ptr", spf("v=spf1 ptr -all"), ["spf_ptr_used"]],
    ["11 lookups", spf("v=spf1 -all", { dnsLookups: 11 }), ["spf_too_many_lookups"]],
    ["10 lookups", spf("v=spf1 -all", { dnsLookups: 10 }), []],
    ["3 void lookups", spf("v=spf1 -all", { voidLookups: 3 }), ["spf_too_many_void_lookups"]],
    ["a syntax error", spf("v=spf1 foo -all"), ["spf_syntax_error"]],
    ["a long record", spf(`v=spf1 ${"ip4:192.0.2.1 ".repeat(40)}-all`), ["spf_record_long"]],
    ["no record", { ...spf(""), record: { domain: "example.com", via: "", record: "", terms: [], children: [], error: "no SPF record" } }, ["spf_missing"]],
    ["a DNS failure", { ...spf(""), record: { domain: "example.com", via: "", record: "", terms: [], children: [], error: "TXT lookup of example.com timed out" } }, ["spf_dns_error"]],
  ])("%s", (_, posture, expected) => {
    expect(codes(spfFindings("example.com", posture))).toEqual(expected);
  });
});

const dmarc = (more: Partial<DmarcPosture>): DmarcPosture => ({
  record: "v=DMARC1; p=reject; rua=mailto:d@example.com",
  recordDomain: "_dmarc.example.com",
  organizationalDomain: "example.com",
  inherited: false,
  policy: "reject",
  subdomainPolicy: "reject",
  pct: 100,
  adkim: "r",
  aspf: "r",
  rua: [{ uri: "mailto:d@example.com", domain: "example.com", external: false, authorized: false }],
  ruf: [],
  error: "",
  ...more,
});

describe("dmarcFindings", () => {
  it.each<[string, DmarcPosture, string[]]>([
    ["a strict policy with reports", dmarc({}), []],
    ["p=none", dmarc({ policy: "none", subdomainPolicy: "none" }), ["dmarc_policy_none"]],
    ["a weaker sp", dmarc({ subdomainPolicy: "quarantine" }), ["dmarc_subdomain_weaker"]],
    ["inherited: the sp applies", dmarc({ inherited: true, subdomainPolicy: "none" }), ["dmarc_inherited", "dmarc_policy_none"]],
    ["no rua", dmarc({ rua: [] }), ["dmarc_no_reports"]],
    ["pct=50", dmarc({ pct: 50 }), ["dmarc_pct_partial"]],
    ["an external destination that agrees", dmarc({ rua: [{ uri: "mailto:x@r.example", domain: "r.example", external: true, authorized: true }] }), []],
    ["one that does not", dmarc({ rua: [{ uri: "mailto:x@r.example", domain: "r.example", external: true, authorized: false }] }), ["dmarc_report_destination_unauthorized"]],
    ["none at all", dmarc({ record: "", error: "no DMARC record" }), ["dmarc_missing"]],
    ["two records", dmarc({ error: "2 DMARC records: none applies (RFC 7489 §6.6.3)" }), ["dmarc_multiple_records"]],
  ])("%s", (_, posture, expected) => {
    expect(codes(dmarcFindings("example.com", posture))).toEqual(expected);
  });
});

const key = (more: Partial<DkimKey>): DkimKey => ({
  selector: "s1",
  recordName: "s1._domainkey.example.com",
  found: true,
  record: "",
  keyType: "rsa",
  keyBits: 2048,
  revoked: false,
  testMode: false,
  error: "",
  commonSelector: false,
  ...more,
});

describe("dkimFindings", () => {
  it.each<[string, DkimKey, string[]]>([
    ["RSA 2048", key({}), []],
    ["RSA 1024", key({ keyBits: 1024 }), ["dkim_key_short"]],
    ["RSA 512", key({ keyBits: 512 }), ["dkim_key_weak"]],
    ["Ed25519", key({ keyType: "ed25519", keyBits: 256 }), []],
    ["revoked", key({ revoked: true, keyBits: 0 }), ["dkim_key_revoked"]],
    ["test mode", key({ testMode: true }), ["dkim_test_mode"]],
    ["missing", key({ found: false }), ["dkim_key_missing"]],
    ["invalid", key({ error: "p= is not base64" }), ["dkim_key_invalid"]],
  ])("%s", (_, k, expected) => {
    expect(codes(dkimFindings("example.com", [k]))).toEqual(expected);
  });
});

describe("mxFindings", () => {
  const mx = (more: Partial<MxPosture>): MxPosture => ({ exchangers: [], nullMx: false, implicit: false, provider: "", error: "", ...more });
  it.each<[string, MxPosture, string[]]>([
    ["an exchanger with an address", mx({ exchangers: [{ exchange: "mx.example.com", preference: 10, addresses: ["192.0.2.1"], provider: "", error: "", addressPostures: [] }] }), []],
    ["one without", mx({ exchangers: [{ exchange: "mx.example.com", preference: 10, addresses: [], provider: "", error: "no A or AAAA record", addressPostures: [] }] }), ["mx_no_address"]],
    ["one not resolved by the bound", mx({ exchangers: [{ exchange: "mx.example.com", preference: 10, addresses: [], provider: "", error: "not resolved: beyond", addressPostures: [] }] }), []],
    ["null MX", mx({ nullMx: true }), ["mx_null"]],
    ["implicit", mx({ implicit: true, exchangers: [{ exchange: "example.com", preference: 0, addresses: ["192.0.2.1"], provider: "", error: "", addressPostures: [] }] }), ["mx_implicit"]],
    ["a DNS failure", mx({ error: "MX lookup timed out" }), ["mx_dns_error"]],
  ])("%s", (_, posture, expected) => {
    expect(codes(mxFindings("example.com", posture))).toEqual(expected);
  });
});

describe("sortFindings", () => {
  it("puts errors first, keeping the order within a severity", () => {
    const f = (code: string, severity: Severity) => ({ code, severity, message: "" });
    expect(codes(sortFindings([f("a", Severity.SEVERITY_INFO), f("b", Severity.SEVERITY_ERROR), f("c", Severity.SEVERITY_WARNING), f("d", Severity.SEVERITY_ERROR)]))).toEqual(["b", "d", "c", "a"]);
  });
});
