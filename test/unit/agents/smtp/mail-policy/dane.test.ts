import { createHash, X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { checkDane, readTlsaAnswer, unusableBecause, withMxAuthentication, type TlsaAnswer } from "../../../../../agents/smtp/mail-policy/dane.js";
import { DaneStatus, PolicyResult, type TlsaLookup } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../../../../helpers/certs.js";

const hash = (data: Buffer, algorithm = "sha256"): Buffer => createHash(algorithm).update(data).digest();
const answer = (records: { usage: number; selector: number; matchingType: number; data: Buffer }[], authenticated = true, rcode = "NOERROR"): TlsaAnswer => ({ ok: true, rcode, authenticated, server: "127.0.0.1:53", ms: 1, records });

describe("unusableBecause (RFC 7672 §3.1)", () => {
  it.each([
    [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32) }, ""],
    [{ usage: 2, selector: 0, matchingType: 2, data: Buffer.alloc(64) }, ""],
    [{ usage: 3, selector: 0, matchingType: 0, data: Buffer.alloc(300) }, ""],
    [{ usage: 0, selector: 0, matchingType: 1, data: Buffer.alloc(32) }, "usage 0 (PKIX-TA) is not for SMTP"],
    [{ usage: 1, selector: 0, matchingType: 1, data: Buffer.alloc(32) }, "usage 1 (PKIX-EE) is not for SMTP"],
    [{ usage: 7, selector: 0, matchingType: 1, data: Buffer.alloc(32) }, "usage 7 is unknown"],
    [{ usage: 3, selector: 2, matchingType: 1, data: Buffer.alloc(32) }, "selector 2 is unknown"],
    [{ usage: 3, selector: 1, matchingType: 9, data: Buffer.alloc(32) }, "matching type 9 is unknown"],
    [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(20) }, "must be 32 bytes, this one is 20"],
    [{ usage: 3, selector: 1, matchingType: 0, data: Buffer.alloc(0) }, "no data"],
    [{ usage: 3, selector: 0, matchingType: 0, data: Buffer.alloc(9000) }, "over the 8192 taken"],
  ])("%o", (record, because) => {
    if (because === "") expect(unusableBecause(record)).toBe("");
    else expect(unusableBecause(record)).toContain(because);
  });
});

describe("readTlsaAnswer: believed only with AD", () => {
  const good = { usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 1) };
  it.each<[string, TlsaAnswer, DaneStatus, RegExp]>([
    ["authenticated, usable", answer([good]), DaneStatus.DANE_STATUS_SECURE, /authenticated TLSA records/],
    ["records without AD", answer([good], false), DaneStatus.DANE_STATUS_INSECURE, /did not set the AD flag.*does not validate DNSSEC/],
    ["authenticated, none usable", answer([{ ...good, usage: 1 }]), DaneStatus.DANE_STATUS_UNUSABLE, /none usable for SMTP \(usage 1 \(PKIX-EE\)/],
    ["no records", answer([]), DaneStatus.DANE_STATUS_NO_RECORDS, /no TLSA records .* \(authenticated denial\)/],
    ["NXDOMAIN, unauthenticated", answer([], false, "NXDOMAIN"), DaneStatus.DANE_STATUS_NO_RECORDS, /no TLSA records at _25\._tcp\.mx\.example\.com: no DANE/],
    ["SERVFAIL", answer([], false, "SERVFAIL"), DaneStatus.DANE_STATUS_LOOKUP_FAILED, /SERVFAIL.*DNSSEC validation failed.*defer/],
    ["REFUSED", answer([], false, "REFUSED"), DaneStatus.DANE_STATUS_LOOKUP_FAILED, /answered REFUSED/],
    ["no answer", { ok: false, reason: "no answer from 127.0.0.1:53 over UDP within 500 ms", ms: 500 }, DaneStatus.DANE_STATUS_LOOKUP_FAILED, /got no answer/],
  ])("%s", (_name, a, status, reason) => {
    const lookup = readTlsaAnswer("mx.example.com", a);
    expect(lookup.status).toBe(status);
    expect(lookup.reason).toMatch(reason);
    expect(lookup.name).toBe("_25._tcp.mx.example.com");
  });
});

describe("checkDane: the presented chain against usable records", () => {
  let leaf: X509Certificate;
  let ca: X509Certificate;
  let other: X509Certificate;
  const now = new Date();
  beforeAll(async () => {
    const pki = await testPki();
    leaf = new X509Certificate((await pki.leaf({ names: ["mx.example.com"] })).certPem);
    other = new X509Certificate((await pki.leaf({ names: ["mx.example.com"], freshKey: true })).certPem);
    ca = new X509Certificate(pki.ca.certPem);
  });
  const spki = (c: X509Certificate): Buffer => c.publicKey.export({ type: "spki", format: "der" });
  const lookup = (records: { usage: number; selector: number; matchingType: number; data: Buffer }[]): TlsaLookup => readTlsaAnswer("mx.example.com", answer(records));
  const presented = (chain: X509Certificate[]) => ({ chain, tlsReached: true, starttlsMissing: false, tlsError: "" });

  it.each([
    ["3 1 1 (the key's SHA-256)", () => [{ usage: 3, selector: 1, matchingType: 1, data: hash(spki(leaf)) }], () => [leaf], PolicyResult.POLICY_RESULT_PASS],
    ["3 0 1 (the certificate's SHA-256)", () => [{ usage: 3, selector: 0, matchingType: 1, data: hash(leaf.raw) }], () => [leaf], PolicyResult.POLICY_RESULT_PASS],
    ["3 0 2 (SHA-512)", () => [{ usage: 3, selector: 0, matchingType: 2, data: hash(leaf.raw, "sha512") }], () => [leaf], PolicyResult.POLICY_RESULT_PASS],
    ["3 1 0 (the key itself)", () => [{ usage: 3, selector: 1, matchingType: 0, data: spki(leaf) }], () => [leaf], PolicyResult.POLICY_RESULT_PASS],
    ["3 0 0 (the certificate itself)", () => [{ usage: 3, selector: 0, matchingType: 0, data: leaf.raw }], () => [leaf], PolicyResult.POLICY_RESULT_PASS],
    ["2 0 1 (the CA sent in the chain)", () => [{ usage: 2, selector: 0, matchingType: 1, data: hash(ca.raw) }], () => [leaf, ca], PolicyResult.POLICY_RESULT_PASS],
    ["2 1 1 (the CA's key)", () => [{ usage: 2, selector: 1, matchingType: 1, data: hash(spki(ca)) }], () => [leaf, ca], PolicyResult.POLICY_RESULT_PASS],
    ["2 0 1, the CA not sent", () => [{ usage: 2, selector: 0, matchingType: 1, data: hash(ca.raw) }], () => [leaf], PolicyResult.POLICY_RESULT_FAIL],
    ["3 1 1 of another key", () => [{ usage: 3, selector: 1, matchingType: 1, data: hash(spki(other)) }], () => [leaf], PolicyResult.POLICY_RESULT_FAIL],
    ["a DANE-EE record does not match the CA", () => [{ usage: 3, selector: 0, matchingType: 1, data: hash(ca.raw) }], () => [leaf, ca], PolicyResult.POLICY_RESULT_FAIL],
    ["one of two records matches", () => [{ usage: 3, selector: 1, matchingType: 1, data: hash(spki(other)) }, { usage: 3, selector: 1, matchingType: 1, data: hash(spki(leaf)) }], () => [leaf], PolicyResult.POLICY_RESULT_PASS],
    ["an unusable record that would match is skipped", () => [{ usage: 1, selector: 1, matchingType: 1, data: hash(spki(leaf)) }, { usage: 3, selector: 1, matchingType: 1, data: hash(spki(other)) }], () => [leaf], PolicyResult.POLICY_RESULT_FAIL],
  ])("%s", (_name, records, chain, result) => {
    expect(checkDane(lookup(records()), presented(chain()), now).result).toBe(result);
  });

  it("DANE-TA checks the leaf's name (RFC 7672 §3.2.3)", () => {
    const l = readTlsaAnswer("mx.other.example", answer([{ usage: 2, selector: 0, matchingType: 1, data: hash(ca.raw) }]));
    const check = checkDane(l, presented([leaf, ca]), now);
    expect(check.result).toBe(PolicyResult.POLICY_RESULT_FAIL);
    expect(check.reason).toMatch(/the leaf is not valid for mx\.other\.example/);
  });

  it("DANE-TA checks the dates of the chain below the anchor, and names the certificate on one line", () => {
    const check = checkDane(lookup([{ usage: 2, selector: 0, matchingType: 1, data: hash(ca.raw) }]), presented([leaf, ca]), new Date("2100-01-01"));
    expect(check.result).toBe(PolicyResult.POLICY_RESULT_FAIL);
    expect(check.reason).toMatch(/but \S.* is outside its dates/);
    expect(check.reason).not.toContain("\n");
  });

  it("DANE-EE checks neither name nor dates (RFC 7672 §3.1.1)", () => {
    const l = readTlsaAnswer("mx.other.example", answer([{ usage: 3, selector: 1, matchingType: 1, data: hash(spki(leaf)) }]));
    expect(checkDane(l, presented([leaf]), new Date("2100-01-01")).result).toBe(PolicyResult.POLICY_RESULT_PASS);
  });

  it.each([
    ["no STARTTLS", { chain: undefined, tlsReached: false, starttlsMissing: true, tlsError: "" }, PolicyResult.POLICY_RESULT_FAIL, /does not offer STARTTLS/],
    ["TLS failed", { chain: undefined, tlsReached: false, starttlsMissing: false, tlsError: "handshake failure" }, PolicyResult.POLICY_RESULT_FAIL, /TLS could not be established/],
    ["never reached TLS", { chain: undefined, tlsReached: false, starttlsMissing: false, tlsError: "" }, PolicyResult.POLICY_RESULT_UNKNOWN, /did not reach TLS/],
  ])("%s", (_name, p, result, reason) => {
    const check = checkDane(lookup([{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32) }]), p, now);
    expect(check.result).toBe(result);
    expect(check.reason).toMatch(reason);
  });

  it("without authenticated usable records it does not apply", () => {
    const insecure = readTlsaAnswer("mx.example.com", answer([{ usage: 3, selector: 1, matchingType: 1, data: hash(spki(other)) }], false));
    expect(checkDane(insecure, presented([leaf]), now).result).toBe(PolicyResult.POLICY_RESULT_NOT_APPLICABLE);
  });
});

describe("withMxAuthentication (RFC 7672 §2.2.1)", () => {
  const good = { usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 1) };
  it.each([
    ["authenticated MX: unchanged", answer([good]), true, DaneStatus.DANE_STATUS_SECURE],
    ["unauthenticated MX: DANE does not apply", answer([good]), false, DaneStatus.DANE_STATUS_MX_INSECURE],
    ["unauthenticated MX, unusable records: DANE does not apply", answer([{ ...good, usage: 0 }]), false, DaneStatus.DANE_STATUS_MX_INSECURE],
    ["unauthenticated MX, unauthenticated TLSA: stays insecure", answer([good], false), false, DaneStatus.DANE_STATUS_INSECURE],
    ["unauthenticated MX, a failed lookup: stays failed", answer([], false, "SERVFAIL"), false, DaneStatus.DANE_STATUS_LOOKUP_FAILED],
  ])("%s", (_name, a, mxAuthenticated, status) => {
    const lookup = withMxAuthentication(readTlsaAnswer("mx.example.com", a), mxAuthenticated, "example.com");
    expect(lookup.status).toBe(status);
    if (status === DaneStatus.DANE_STATUS_MX_INSECURE) expect(lookup.reason).toMatch(/MX answer for example\.com was not authenticated/);
  });
});
