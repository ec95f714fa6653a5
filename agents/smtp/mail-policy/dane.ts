// DANE for SMTP (RFC 7672, on RFC 6698 and RFC 7671): what an exchanger's TLSA answer means, and
// whether the certificates a server presented match it. Pure: the answer comes from
// agents/dns/secure-query.ts, the certificates from the handshake.
// - Believed only with the resolver's AD flag (RFC 7672 §2.1); without it the records are shown
//   and ignored, as senders ignore them.
// - Usable for SMTP: usage 3 (DANE-EE: the leaf's certificate or key, no name or date checked,
//   §3.1.1) and 2 (DANE-TA: a certificate of the chain the server sent, then the chain from it to
//   the leaf and the leaf's name, §3.1.2); usages 0 and 1 are unusable for SMTP (§3.1.3);
//   selectors 0 and 1, matching types 0, 1 (SHA-256) and 2 (SHA-512).
import { createHash, type X509Certificate } from "node:crypto";
import { DaneStatus, PolicyResult, type DaneCheck, type TlsaLookup, type TlsaRecord } from "../../../gen/smtpprobe/v1/handshake.js";
import { oneLineName } from "../certificate-facts.js";

/** The answer as the lookup got it (a subset of SecureAnswer), or why there is none. */
export type TlsaAnswer =
  | { ok: true; rcode: string; authenticated: boolean; server: string; ms: number; records: { usage: number; selector: number; matchingType: number; data: Buffer }[] }
  | { ok: false; reason: string; ms: number };

const MAX_RECORDS = 32;
/** Exact-match data beyond this (a certificate over 8 KiB) is not kept, and the record not used. */
const MAX_DATA_BYTES = 8 * 1024;
const DIGEST_BYTES: Record<number, number> = { 1: 32, 2: 64 };

export function tlsaName(exchanger: string): string {
  return `_25._tcp.${exchanger.toLowerCase().replace(/\.$/, "")}`;
}

/** Why a record cannot be used for SMTP, or "" when it can. */
export function unusableBecause(r: { usage: number; selector: number; matchingType: number; data: Buffer }): string {
  if (r.usage === 0 || r.usage === 1) return `usage ${r.usage} (${r.usage === 0 ? "PKIX-TA" : "PKIX-EE"}) is not for SMTP (RFC 7672 §3.1.3)`;
  if (r.usage !== 2 && r.usage !== 3) return `usage ${r.usage} is unknown`;
  if (r.selector !== 0 && r.selector !== 1) return `selector ${r.selector} is unknown`;
  if (r.matchingType !== 0 && r.matchingType !== 1 && r.matchingType !== 2) return `matching type ${r.matchingType} is unknown`;
  const want = DIGEST_BYTES[r.matchingType];
  if (want !== undefined && r.data.length !== want) return `a ${want * 8}-bit digest must be ${want} bytes, this one is ${r.data.length}`;
  if (r.data.length === 0) return "no data";
  if (r.data.length > MAX_DATA_BYTES) return `${r.data.length} bytes of data, over the ${MAX_DATA_BYTES} taken`;
  return "";
}

export function readTlsaAnswer(exchanger: string, answer: TlsaAnswer): TlsaLookup {
  const lookup: TlsaLookup = {
    exchanger,
    name: tlsaName(exchanger),
    status: DaneStatus.DANE_STATUS_UNSPECIFIED,
    authenticated: false,
    rcode: "",
    records: [],
    reason: "",
    resolver: "",
    lookupMs: answer.ms,
  };
  if (!answer.ok) {
    return { ...lookup, status: DaneStatus.DANE_STATUS_LOOKUP_FAILED, reason: `the TLSA lookup got no answer (${answer.reason}); senders validating DNSSEC defer mail to ${exchanger} (RFC 7672 §2.2.1)` };
  }
  lookup.rcode = answer.rcode;
  lookup.authenticated = answer.authenticated;
  lookup.resolver = answer.server;
  if (answer.rcode === "SERVFAIL") {
    return {
      ...lookup,
      status: DaneStatus.DANE_STATUS_LOOKUP_FAILED,
      reason: `the resolver answered SERVFAIL for ${lookup.name}: DNSSEC validation failed there, or the zone's servers cannot be reached; senders validating DNSSEC defer mail to ${exchanger} (RFC 7672 §2.2.1)`,
    };
  }
  if (answer.rcode !== "NOERROR" && answer.rcode !== "NXDOMAIN") {
    return { ...lookup, status: DaneStatus.DANE_STATUS_LOOKUP_FAILED, reason: `the resolver answered ${answer.rcode} for ${lookup.name}` };
  }
  lookup.records = answer.records.slice(0, MAX_RECORDS).map((r) => {
    const note = unusableBecause(r);
    const data = r.data.length > MAX_DATA_BYTES ? "" : r.data.toString("hex");
    return { usage: r.usage, selector: r.selector, matchingType: r.matchingType, data, usable: note === "", note };
  });
  if (lookup.records.length === 0) {
    return { ...lookup, status: DaneStatus.DANE_STATUS_NO_RECORDS, reason: `no TLSA records at ${lookup.name}${answer.authenticated ? " (authenticated denial)" : ""}: no DANE for ${exchanger}` };
  }
  if (!answer.authenticated) {
    return {
      ...lookup,
      status: DaneStatus.DANE_STATUS_INSECURE,
      reason: `the resolver did not set the AD flag on the TLSA answer: the zone is unsigned, or the resolver (${answer.server}) does not validate DNSSEC; unauthenticated TLSA records are ignored (RFC 7672 §2.1)`,
    };
  }
  if (!lookup.records.some((r) => r.usable)) {
    return {
      ...lookup,
      status: DaneStatus.DANE_STATUS_UNUSABLE,
      reason: `authenticated TLSA records, none usable for SMTP (${[...new Set(lookup.records.map((r) => r.note))].join("; ")}): senders require TLS but check no certificate (RFC 7672 §2.2)`,
    };
  }
  return { ...lookup, status: DaneStatus.DANE_STATUS_SECURE, reason: `authenticated TLSA records at ${lookup.name}: senders validating DANE deliver only over TLS to a certificate that matches one` };
}

/**
 * RFC 7672 §2.2.1: DANE applies to an exchanger found through MX only when the MX answer was
 * authenticated too. A lookup whose records would count is marked so when it was not.
 */
export function withMxAuthentication(lookup: TlsaLookup, mxAuthenticated: boolean, domain: string): TlsaLookup {
  if (mxAuthenticated || (lookup.status !== DaneStatus.DANE_STATUS_SECURE && lookup.status !== DaneStatus.DANE_STATUS_UNUSABLE)) return lookup;
  return {
    ...lookup,
    status: DaneStatus.DANE_STATUS_MX_INSECURE,
    reason: `${lookup.exchanger} has authenticated TLSA records, but the MX answer for ${domain} was not authenticated (no AD): senders do not use DANE for an exchanger they found through it (RFC 7672 §2.2.1)`,
  };
}

/**
 * The presented chain (leaf first) against the lookup. `tlsReached` false: the handshake never got
 * to TLS, `starttlsMissing` true: the server offered none (a failure under DANE, RFC 7672 §2.2).
 */
export function checkDane(
  lookup: TlsaLookup,
  presented: { chain: readonly X509Certificate[] | undefined; tlsReached: boolean; starttlsMissing: boolean; tlsError: string },
  now: Date,
): DaneCheck {
  const check: DaneCheck = { status: lookup.status, result: PolicyResult.POLICY_RESULT_NOT_APPLICABLE, reason: lookup.reason, matchedRecord: "" };
  if (lookup.status !== DaneStatus.DANE_STATUS_SECURE) return check;
  if (presented.starttlsMissing) return { ...check, result: PolicyResult.POLICY_RESULT_FAIL, reason: `${lookup.exchanger} does not offer STARTTLS, and its TLSA records require TLS` };
  const chain = presented.chain ?? [];
  if (chain.length === 0) {
    if (presented.tlsError) return { ...check, result: PolicyResult.POLICY_RESULT_FAIL, reason: `TLS could not be established (${presented.tlsError}), and the TLSA records require it` };
    return { ...check, result: PolicyResult.POLICY_RESULT_UNKNOWN, reason: "the handshake did not reach TLS" };
  }
  const failures: string[] = [];
  for (const record of lookup.records.filter((r) => r.usable)) {
    const matched = matchRecord(record, chain, lookup.exchanger, now);
    if (matched.ok) return { ...check, result: PolicyResult.POLICY_RESULT_PASS, reason: `the certificate matches TLSA ${recordText(record)}${matched.detail ? ` (${matched.detail})` : ""}`, matchedRecord: recordText(record) };
    if (matched.detail) failures.push(matched.detail);
  }
  const why = failures.length > 0 ? `: ${[...new Set(failures)].join("; ")}` : "";
  return {
    ...check,
    result: PolicyResult.POLICY_RESULT_FAIL,
    reason: `the certificate presented matches none of the ${lookup.records.filter((r) => r.usable).length} usable TLSA records at ${lookup.name}${why}`,
  };
}

/**
 * The records as the report keeps them, once matched: exact-match data over 64 bytes (a whole
 * certificate or key) becomes "sha256:" and its digest, so that a result stays small.
 */
export function compactTlsaData(lookup: TlsaLookup): void {
  for (const record of lookup.records) {
    if (record.data.length > 128 && !record.data.startsWith("sha256:")) {
      record.data = `sha256:${createHash("sha256").update(Buffer.from(record.data, "hex")).digest("hex")}`;
    }
  }
}

export function recordText(r: Pick<TlsaRecord, "usage" | "selector" | "matchingType" | "data">): string {
  const data = r.data.length > 16 ? `${r.data.slice(0, 16)}…` : r.data;
  return `${r.usage} ${r.selector} ${r.matchingType} ${data}`;
}

function matchRecord(record: TlsaRecord, chain: readonly X509Certificate[], exchanger: string, now: Date): { ok: boolean; detail: string } {
  const leaf = chain[0] as X509Certificate;
  if (record.usage === 3) return { ok: matches(record, leaf), detail: "" };
  // DANE-TA: a certificate the server sent above the leaf (RFC 7671 §5.2.2), then the chain from
  // it down to the leaf, each issued and signed by the next, within its dates, and the leaf's name.
  for (let i = 1; i < chain.length; i++) {
    const anchor = chain[i] as X509Certificate;
    if (!matches(record, anchor)) continue;
    for (let j = 0; j < i; j++) {
      const child = chain[j] as X509Certificate;
      const parent = chain[j + 1] as X509Certificate;
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) return { ok: false, detail: `TLSA ${recordText(record)} names a certificate of the chain, but the chain below it does not verify` };
      if (new Date(child.validTo).getTime() < now.getTime() || new Date(child.validFrom).getTime() > now.getTime()) {
        return { ok: false, detail: `TLSA ${recordText(record)} names a certificate of the chain, but ${oneLineName(child.subject)} is outside its dates` };
      }
    }
    if (leaf.checkHost(exchanger, { subject: "never", wildcards: true, partialWildcards: false }) === undefined) {
      return { ok: false, detail: `TLSA ${recordText(record)} names a certificate of the chain, but the leaf is not valid for ${exchanger} (RFC 7672 §3.2.3)` };
    }
    return { ok: true, detail: "DANE-TA: the chain verifies and the name matches" };
  }
  return { ok: false, detail: "" };
}

function matches(record: TlsaRecord, cert: X509Certificate): boolean {
  const selected = record.selector === 0 ? cert.raw : cert.publicKey.export({ type: "spki", format: "der" });
  const digest = record.matchingType === 1 ? createHash("sha256").update(selected).digest() : record.matchingType === 2 ? createHash("sha512").update(selected).digest() : selected;
  return digest.toString("hex") === record.data.toLowerCase();
}
