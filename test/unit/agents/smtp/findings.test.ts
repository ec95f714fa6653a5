import { describe, expect, it } from "vitest";
import {
  type Certificate,
  type DeepPartial,
  HandshakeResult,
  Outcome,
  Phase,
  PortRole,
  Severity,
  type TlsInfo,
  TlsMode,
} from "../../../../gen/smtpprobe/v1/handshake.js";
import { defaultFindingFacts, deriveFindings, type FindingFacts } from "../../../../agents/smtp/findings.js";

const NOW = new Date("2025-06-01T12:00:00Z");
const DAY = 86_400_000;
const days = (n: number): Date => new Date(NOW.getTime() + n * DAY);

const { SEVERITY_ERROR: ERROR, SEVERITY_WARNING: WARNING, SEVERITY_INFO: INFO } = Severity;

function cert(over: DeepPartial<Certificate> = {}): DeepPartial<Certificate> {
  return {
    subject: "CN=mx.example.com",
    issuer: "C=US, O=Let's Encrypt, CN=R11",
    subjectAltNames: ["DNS:mx.example.com"],
    notBefore: days(-30),
    notAfter: days(60),
    keyType: "RSA",
    keyBits: 2048,
    signatureAlgorithm: "sha256WithRSAEncryption",
    ...over,
  };
}

const INTERMEDIATE = cert({ subject: "C=US, O=Let's Encrypt, CN=R11", issuer: "C=US, O=ISRG, CN=ISRG Root X1", keyBits: 2048 });
const ROOT = cert({ subject: "C=US, O=ISRG, CN=ISRG Root X1", issuer: "C=US, O=ISRG, CN=ISRG Root X1", selfSigned: true });

function tls(over: DeepPartial<TlsInfo> = {}): DeepPartial<TlsInfo> {
  return {
    protocol: "TLSv1.3",
    cipher: "TLS_AES_256_GCM_SHA384",
    sni: "mx.example.com",
    chain: [cert(), INTERMEDIATE],
    trusted: true,
    checkedName: "mx.example.com",
    nameMatches: true,
    ...over,
  };
}

/** A clean STARTTLS handshake on port 25: no findings. */
const BASE: DeepPartial<HandshakeResult> = {
  host: "mx.example.com",
  address: "192.0.2.10",
  port: 25,
  outcome: Outcome.OUTCOME_OK,
  phase: Phase.PHASE_DONE,
  tlsMode: TlsMode.TLS_MODE_AUTO,
  banner: { code: 220, lines: ["mx.example.com ESMTP"] },
  capabilities: { greeting: "mx.example.com", starttls: true, pipelining: true },
  capabilitiesTls: { greeting: "mx.example.com", pipelining: true, authMechanisms: ["PLAIN", "LOGIN"] },
  tls: tls(),
  timings: [{ phase: Phase.PHASE_BANNER, startMs: 20, durationMs: 40 }],
  transcript: { entries: [], truncated: false, bytes: 300 },
};

const result = (over: DeepPartial<HandshakeResult> = {}): HandshakeResult => HandshakeResult.fromPartial({ ...BASE, ...over });
const facts = (over: Partial<FindingFacts> = {}): FindingFacts => ({ ...defaultFindingFacts(NOW), ...over });

interface Row {
  name: string;
  over?: DeepPartial<HandshakeResult>;
  facts?: Partial<FindingFacts>;
  code: string;
  /** the expected severity, or null when the rule must not fire */
  severity: Severity | null;
  says?: string[];
}

const noStarttls = { greeting: "mx.example.com", starttls: false };

/** Connected, and nothing came before the banner timeout. */
function silent(bannerMs: number): DeepPartial<HandshakeResult> {
  return { banner: undefined, capabilities: undefined, capabilitiesTls: undefined, tls: undefined, outcome: Outcome.OUTCOME_NO_BANNER, phase: Phase.PHASE_BANNER, timings: [{ phase: Phase.PHASE_BANNER, durationMs: bannerMs }] };
}

/** The greeting answered with `lastReply` in `phase`. */
function refusedGreeting(phase: Phase, lastReply: DeepPartial<HandshakeResult["lastReply"]>): DeepPartial<HandshakeResult> {
  return { outcome: Outcome.OUTCOME_GREETING_REFUSED, phase, ehloName: "[192.0.2.7]", lastReply, capabilities: undefined, capabilitiesTls: undefined, tls: phase === Phase.PHASE_EHLO_TLS ? tls() : undefined };
}
const refused454 = { code: 454, enhancedCode: "4.7.0", lines: ["4.7.0 TLS not available due to local problem"] };

const rows: Row[] = [
  // starttls_missing
  // On an MX relay (25) a warning: mail still arrives, in cleartext. Where clients log in, an error.
  { name: "no STARTTLS on 25", over: { capabilities: noStarttls, tls: undefined }, code: "starttls_missing", severity: WARNING, says: ["mx.example.com port 25", "cleartext", "senders cannot encrypt"] },
  { name: "no STARTTLS on 587", over: { port: 587, capabilities: noStarttls, tls: undefined }, code: "starttls_missing", severity: ERROR, says: ["port 587", "passwords"] },
  { name: "no STARTTLS on 2525", over: { port: 2525, capabilities: noStarttls, tls: undefined }, code: "starttls_missing", severity: ERROR, says: ["port 2525"] },
  { name: "HELO only on 25", over: { capabilities: { greeting: "mx", heloOnly: true }, tls: undefined }, code: "starttls_missing", severity: WARNING, says: ["HELO only"] },
  { name: "STARTTLS offered", code: "starttls_missing", severity: null },
  { name: "no STARTTLS on another port in auto mode", over: { port: 10025, capabilities: noStarttls, tls: undefined }, code: "starttls_missing", severity: ERROR, says: ["port 10025"] },
  { name: "no STARTTLS in mode NONE", over: { tlsMode: TlsMode.TLS_MODE_NONE, capabilities: noStarttls, tls: undefined }, code: "starttls_missing", severity: null },
  { name: "no STARTTLS in mode IMPLICIT", over: { port: 587, tlsMode: TlsMode.TLS_MODE_IMPLICIT, capabilities: noStarttls }, code: "starttls_missing", severity: null },
  { name: "EHLO never completed", over: { capabilities: undefined, tls: undefined, outcome: Outcome.OUTCOME_TIMED_OUT, phase: Phase.PHASE_EHLO }, code: "starttls_missing", severity: null },
  {
    name: "no STARTTLS with TLS required (reported once, by starttls_unavailable_required)",
    over: { tlsMode: TlsMode.TLS_MODE_REQUIRE, capabilities: noStarttls, tls: undefined, outcome: Outcome.OUTCOME_STARTTLS_UNAVAILABLE, phase: Phase.PHASE_STARTTLS },
    code: "starttls_missing",
    severity: null,
  },

  // starttls_failed
  {
    name: "STARTTLS refused with 454",
    over: { outcome: Outcome.OUTCOME_DEFERRED, phase: Phase.PHASE_STARTTLS, lastReply: refused454, tls: undefined, capabilitiesTls: undefined },
    code: "starttls_failed",
    severity: ERROR,
    says: ["port 25", "454 4.7.0", "TLS not available due to local problem"],
  },
  {
    name: "TLS handshake failed after STARTTLS",
    over: { outcome: Outcome.OUTCOME_TLS_FAILED, phase: Phase.PHASE_TLS, reason: "wrong version number", tls: undefined, capabilitiesTls: undefined },
    code: "starttls_failed",
    severity: ERROR,
    says: ["TLS handshake", "wrong version number"],
  },
  {
    name: "STARTTLS timed out without a reply",
    over: { outcome: Outcome.OUTCOME_TIMED_OUT, phase: Phase.PHASE_STARTTLS, reason: "no reply within 500 ms", tls: undefined, capabilitiesTls: undefined },
    code: "starttls_failed",
    severity: ERROR,
    says: ["no reply within 500 ms"],
  },
  { name: "STARTTLS worked", code: "starttls_failed", severity: null },
  {
    name: "failure after TLS, in EHLO",
    over: { outcome: Outcome.OUTCOME_CLOSED_BY_PEER, phase: Phase.PHASE_EHLO_TLS },
    code: "starttls_failed",
    severity: null,
  },
  {
    name: "the caller cancelled during STARTTLS",
    over: { outcome: Outcome.OUTCOME_CANCELLED, phase: Phase.PHASE_STARTTLS, tls: undefined },
    code: "starttls_failed",
    severity: null,
  },
  {
    name: "STARTTLS not offered, so not failed",
    over: { capabilities: noStarttls, outcome: Outcome.OUTCOME_TLS_FAILED, phase: Phase.PHASE_TLS, tls: undefined },
    code: "starttls_failed",
    severity: null,
  },

  // starttls_unavailable_required
  {
    name: "TLS required, STARTTLS not offered",
    over: { tlsMode: TlsMode.TLS_MODE_REQUIRE, capabilities: noStarttls, tls: undefined, outcome: Outcome.OUTCOME_STARTTLS_UNAVAILABLE, phase: Phase.PHASE_STARTTLS },
    code: "starttls_unavailable_required",
    severity: ERROR,
    says: ["does not offer STARTTLS", "port 25"],
  },
  {
    name: "TLS required, STARTTLS refused",
    over: { tlsMode: TlsMode.TLS_MODE_REQUIRE, tls: undefined, outcome: Outcome.OUTCOME_STARTTLS_UNAVAILABLE, phase: Phase.PHASE_STARTTLS, lastReply: refused454 },
    code: "starttls_unavailable_required",
    severity: ERROR,
    says: ["refused STARTTLS with 454 4.7.0"],
  },
  { name: "TLS required and working", over: { tlsMode: TlsMode.TLS_MODE_REQUIRE }, code: "starttls_unavailable_required", severity: null },

  // tls_version_old
  { name: "TLSv1", over: { tls: tls({ protocol: "TLSv1" }) }, code: "tls_version_old", severity: ERROR, says: ["TLSv1", "RFC 8996"] },
  { name: "TLSv1.1", over: { tls: tls({ protocol: "TLSv1.1" }) }, code: "tls_version_old", severity: ERROR, says: ["TLSv1.1"] },
  { name: "SSLv3", over: { tls: tls({ protocol: "SSLv3" }) }, code: "tls_version_old", severity: ERROR, says: ["SSLv3"] },
  { name: "TLSv1.2", over: { tls: tls({ protocol: "TLSv1.2" }) }, code: "tls_version_old", severity: null },
  { name: "TLSv1.3", code: "tls_version_old", severity: null },
  { name: "no TLS", over: { tls: undefined }, code: "tls_version_old", severity: null },

  // cert_expired
  {
    name: "leaf expired 3 days ago, on 25 (a relay: senders fall back to opportunistic TLS)",
    over: { tls: tls({ chain: [cert({ notAfter: new Date("2025-05-29T08:30:00Z") }), INTERMEDIATE] }) },
    code: "cert_expired",
    severity: WARNING,
    says: ["mx.example.com", "2025-05-29 08:30 UTC", "3 days ago", "opportunistic TLS"],
  },
  {
    name: "leaf expired 3 days ago, on 587",
    over: { port: 587, tls: tls({ chain: [cert({ notAfter: new Date("2025-05-29T08:30:00Z") }), INTERMEDIATE] }) },
    code: "cert_expired",
    severity: ERROR,
    says: ["3 days ago", "password"],
  },
  { name: "leaf valid", code: "cert_expired", severity: null },
  { name: "intermediate expired, leaf valid", over: { tls: tls({ chain: [cert(), cert({ ...INTERMEDIATE, notAfter: days(-1) })] }) }, code: "cert_expired", severity: null },

  // cert_not_yet_valid
  {
    name: "leaf valid only from tomorrow, on 25",
    over: { tls: tls({ chain: [cert({ notBefore: new Date("2025-06-02T12:00:00Z") })] }) },
    code: "cert_not_yet_valid",
    severity: WARNING,
    says: ["2025-06-02 12:00 UTC", "opportunistic TLS"],
  },
  {
    name: "leaf valid only from tomorrow, on 465",
    over: { port: 465, tls: tls({ chain: [cert({ notBefore: new Date("2025-06-02T12:00:00Z") })] }) },
    code: "cert_not_yet_valid",
    severity: ERROR,
    says: ["2025-06-02 12:00 UTC", "mail clients"],
  },
  { name: "leaf already valid", code: "cert_not_yet_valid", severity: null },
  { name: "leaf without dates", over: { tls: tls({ chain: [cert({ notBefore: undefined, notAfter: undefined })] }) }, code: "cert_not_yet_valid", severity: null },

  // cert_expiring
  { name: "leaf expires in 5 days", over: { tls: tls({ chain: [cert({ notAfter: days(5) })] }) }, code: "cert_expiring", severity: WARNING, says: ["in 5 days", "mx.example.com port 25"] },
  { name: "leaf expires in 1 hour", over: { tls: tls({ chain: [cert({ notAfter: new Date(NOW.getTime() + 3_600_000) })] }) }, code: "cert_expiring", severity: WARNING, says: ["within a day"] },
  { name: "leaf expires in 20 days", over: { tls: tls({ chain: [cert({ notAfter: days(20) })] }) }, code: "cert_expiring", severity: null },
  { name: "leaf expires in 20 days, warning at 30", over: { tls: tls({ chain: [cert({ notAfter: days(20) })] }) }, facts: { expiryWarningDays: 30 }, code: "cert_expiring", severity: WARNING, says: ["in 20 days"] },
  { name: "leaf already expired", over: { tls: tls({ chain: [cert({ notAfter: days(-1) })] }) }, code: "cert_expiring", severity: null },

  // cert_untrusted
  {
    name: "self-signed on 25",
    over: { tls: tls({ chain: [cert({ selfSigned: true })], trusted: false, trustError: "self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)" }) },
    code: "cert_untrusted",
    severity: WARNING,
    says: ["DEPTH_ZERO_SELF_SIGNED_CERT", "RFC 7435"],
  },
  { name: "self-signed on 587", over: { port: 587, tls: tls({ trusted: false, trustError: "self-signed certificate" }) }, code: "cert_untrusted", severity: ERROR, says: ["port 587", "password"] },
  { name: "untrusted on 465", over: { port: 465, tlsMode: TlsMode.TLS_MODE_IMPLICIT, capabilities: undefined, tls: tls({ implicit: true, trusted: false }) }, code: "cert_untrusted", severity: ERROR, says: ["port 465", "no reason given"] },
  { name: "untrusted on 2525", over: { port: 2525, tls: tls({ trusted: false }) }, code: "cert_untrusted", severity: ERROR },
  { name: "trusted", code: "cert_untrusted", severity: null },
  { name: "no certificate seen", over: { tls: tls({ chain: [], trusted: false }) }, code: "cert_untrusted", severity: null },

  // cert_name_mismatch
  {
    name: "name mismatch on 25",
    over: { tls: tls({ nameMatches: false, checkedName: "mail.example.org", nameError: "Host: mail.example.org. is not in the cert's altnames: DNS:mx.example.com" }) },
    code: "cert_name_mismatch",
    severity: WARNING,
    says: ["mail.example.org", "DNS:mx.example.com"],
  },
  { name: "name mismatch on 465", over: { port: 465, tls: tls({ nameMatches: false, checkedName: "mail.example.org" }) }, code: "cert_name_mismatch", severity: ERROR, says: ["port 465"] },
  { name: "name mismatch on 587", over: { port: 587, tls: tls({ nameMatches: false, checkedName: "mail.example.org" }) }, code: "cert_name_mismatch", severity: ERROR },
  { name: "name matches", code: "cert_name_mismatch", severity: null },
  { name: "no name checked (IP literal)", over: { host: "192.0.2.10", tls: tls({ nameMatches: false, checkedName: "", nameError: "no name to check" }) }, code: "cert_name_mismatch", severity: null },

  // cert_weak_key
  { name: "RSA 1024 leaf", over: { tls: tls({ chain: [cert({ keyBits: 1024 })] }) }, code: "cert_weak_key", severity: ERROR, says: ["1024-bit RSA", "mx.example.com"] },
  { name: "DSA 1024 leaf", over: { tls: tls({ chain: [cert({ keyType: "DSA", keyBits: 1024 })] }) }, code: "cert_weak_key", severity: ERROR, says: ["1024-bit DSA"] },
  { name: "EC 192 leaf", over: { tls: tls({ chain: [cert({ keyType: "EC", keyBits: 192, curve: "prime192v1" })] }) }, code: "cert_weak_key", severity: ERROR, says: ["192-bit EC"] },
  { name: "RSA 1024 intermediate", over: { tls: tls({ chain: [cert(), cert({ ...INTERMEDIATE, keyBits: 1024 })] }) }, code: "cert_weak_key", severity: ERROR, says: ["R11"] },
  { name: "RSA 1024 self-signed leaf", over: { tls: tls({ chain: [cert({ keyBits: 1024, selfSigned: true })] }) }, code: "cert_weak_key", severity: ERROR },
  { name: "RSA 2048", code: "cert_weak_key", severity: null },
  { name: "EC 256", over: { tls: tls({ chain: [cert({ keyType: "EC", keyBits: 256 })] }) }, code: "cert_weak_key", severity: null },
  { name: "Ed25519", over: { tls: tls({ chain: [cert({ keyType: "Ed25519", keyBits: 256 })] }) }, code: "cert_weak_key", severity: null },
  { name: "RSA 1024 self-signed root sent along", over: { tls: tls({ chain: [cert(), INTERMEDIATE, cert({ ...ROOT, keyBits: 1024 })] }) }, code: "cert_weak_key", severity: null },
  { name: "key size unknown", over: { tls: tls({ chain: [cert({ keyBits: 0 })] }) }, code: "cert_weak_key", severity: null },

  // cert_sha1_signature
  { name: "SHA-1 intermediate", over: { tls: tls({ chain: [cert(), cert({ ...INTERMEDIATE, signatureAlgorithm: "sha1WithRSAEncryption" })] }) }, code: "cert_sha1_signature", severity: WARNING, says: ["R11", "sha1WithRSAEncryption"] },
  { name: "ECDSA SHA-1 leaf", over: { tls: tls({ chain: [cert({ signatureAlgorithm: "ecdsa-with-SHA1" })] }) }, code: "cert_sha1_signature", severity: WARNING, says: ["ecdsa-with-SHA1"] },
  { name: "MD5 leaf", over: { tls: tls({ chain: [cert({ signatureAlgorithm: "md5WithRSAEncryption" })] }) }, code: "cert_sha1_signature", severity: WARNING },
  { name: "dsa-with-sha1 as a dotted OID", over: { tls: tls({ chain: [cert({ signatureAlgorithm: "1.2.840.10040.4.3" })] }) }, code: "cert_sha1_signature", severity: WARNING },
  { name: "SHA-1 self-signed root", over: { tls: tls({ chain: [cert(), INTERMEDIATE, cert({ ...ROOT, signatureAlgorithm: "sha1WithRSAEncryption" })] }) }, code: "cert_sha1_signature", severity: null },
  { name: "SHA-256", code: "cert_sha1_signature", severity: null },
  { name: "SHA-512", over: { tls: tls({ chain: [cert({ signatureAlgorithm: "sha512WithRSAEncryption" })] }) }, code: "cert_sha1_signature", severity: null },

  // auth_before_tls
  { name: "AUTH before TLS", over: { capabilities: { starttls: true, authMechanisms: ["CRAM-MD5", "SCRAM-SHA-256"] } }, code: "auth_before_tls", severity: WARNING, says: ["CRAM-MD5, SCRAM-SHA-256"] },
  {
    name: "CRAM-MD5 only before TLS on 587: no cleartext password, and what it does send",
    over: { port: 587, capabilities: { starttls: true, authMechanisms: ["CRAM-MD5"] } },
    code: "auth_before_tls",
    severity: WARNING,
    says: ["AUTH (CRAM-MD5)", "CRAM-MD5 does not send the password in cleartext", "crack offline"],
  },
  { name: "PLAIN only before TLS on 587", over: { port: 587, capabilities: { starttls: true, authMechanisms: ["PLAIN"] } }, code: "auth_before_tls", severity: WARNING, says: ["AUTH (PLAIN)", "only after STARTTLS"] },
  { name: "AUTH only after TLS", code: "auth_before_tls", severity: null },
  { name: "implicit TLS", over: { port: 465, tlsMode: TlsMode.TLS_MODE_IMPLICIT, capabilities: { authMechanisms: ["PLAIN"] }, tls: tls({ implicit: true }) }, code: "auth_before_tls", severity: null },

  // auth_plaintext_password
  { name: "PLAIN and LOGIN before TLS", over: { port: 587, capabilities: { starttls: true, authMechanisms: ["PLAIN", "LOGIN", "CRAM-MD5"] } }, code: "auth_plaintext_password", severity: ERROR, says: ["PLAIN and LOGIN", "port 587", "cleartext"] },
  { name: "LOGIN before TLS", over: { capabilities: { starttls: true, authMechanisms: ["LOGIN"] } }, code: "auth_plaintext_password", severity: ERROR, says: ["LOGIN"] },
  { name: "CRAM-MD5 only before TLS", over: { capabilities: { starttls: true, authMechanisms: ["CRAM-MD5"] } }, code: "auth_plaintext_password", severity: null },
  { name: "PLAIN only after TLS", code: "auth_plaintext_password", severity: null },

  // banner_rejected / banner_deferred
  {
    name: "banner 554",
    over: { banner: { code: 554, enhancedCode: "5.7.1", lines: ["5.7.1 Service unavailable; client host [192.0.2.7] blocked using zen.spamhaus.org"] }, capabilities: undefined, tls: undefined, outcome: Outcome.OUTCOME_REJECTED, phase: Phase.PHASE_BANNER },
    code: "banner_rejected",
    severity: ERROR,
    says: ["554 5.7.1", "refuses to talk to us", "zen.spamhaus"],
  },
  { name: "banner 521", over: { banner: { code: 521, lines: [] }, capabilities: undefined, tls: undefined }, code: "banner_rejected", severity: ERROR, says: ["521", "does not accept mail"] },
  { name: "banner 220, not rejected", code: "banner_rejected", severity: null },
  { name: "banner 421, not rejected", over: { banner: { code: 421, lines: ["busy"] } }, code: "banner_rejected", severity: null },
  { name: "banner 421", over: { banner: { code: 421, enhancedCode: "4.7.0", lines: ["4.7.0 Too many connections, try later"] }, capabilities: undefined, tls: undefined }, code: "banner_deferred", severity: WARNING, says: ["421 4.7.0", "try again later", "Too many connections"] },
  { name: "banner 220, not deferred", code: "banner_deferred", severity: null },
  { name: "banner 554, not deferred", over: { banner: { code: 554, lines: [] } }, code: "banner_deferred", severity: null },
  { name: "no banner at all", over: { banner: undefined, capabilities: undefined, tls: undefined }, code: "banner_deferred", severity: null },

  // banner_slow
  { name: "banner after 6.2 s", over: { timings: [{ phase: Phase.PHASE_BANNER, durationMs: 6200 }] }, code: "banner_slow", severity: WARNING, says: ["6.2 s", "5.0 s"] },
  { name: "banner after 2 s, threshold 1 s", over: { timings: [{ phase: Phase.PHASE_BANNER, durationMs: 2000 }] }, facts: { slowBannerMs: 1000 }, code: "banner_slow", severity: WARNING, says: ["2.0 s"] },
  { name: "banner after exactly 5 s", over: { timings: [{ phase: Phase.PHASE_BANNER, durationMs: 5000 }] }, code: "banner_slow", severity: null },
  { name: "banner fast", code: "banner_slow", severity: null },
  { name: "a slow phase that is not the banner", over: { timings: [{ phase: Phase.PHASE_CONNECT, durationMs: 9000 }] }, code: "banner_slow", severity: null },
  {
    name: "no banner came: the banner timeout is not a slow banner",
    over: { banner: undefined, capabilities: undefined, tls: undefined, outcome: Outcome.OUTCOME_NO_BANNER, phase: Phase.PHASE_BANNER, timings: [{ phase: Phase.PHASE_BANNER, durationMs: 30_000 }] },
    code: "banner_slow",
    severity: null,
  },
  {
    name: "bytes but no complete banner: not a slow banner either",
    over: { banner: undefined, capabilities: undefined, tls: undefined, outcome: Outcome.OUTCOME_TIMED_OUT, phase: Phase.PHASE_BANNER, timings: [{ phase: Phase.PHASE_BANNER, durationMs: 30_000 }] },
    code: "banner_slow",
    severity: null,
  },

  // no_banner: silence after connecting; on a port that may speak implicit TLS, say so
  {
    name: "silence on 465 probed in auto mode",
    over: { port: 465, ...silent(30_000) },
    code: "no_banner",
    severity: ERROR,
    says: ["mx.example.com port 465", "sent nothing in 30.0 s", "implicit TLS (RFC 8314)", "--tls implicit", "TLS_MODE_IMPLICIT"],
  },
  { name: "silence on an arbitrary port in auto mode", over: { port: 10465, ...silent(300) }, code: "no_banner", severity: ERROR, says: ["port 10465", "0.3 s", "--tls implicit"] },
  { name: "silence on 2525 given the implicit-TLS submission role", over: { port: 2525, portRole: PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION, ...silent(300) }, code: "no_banner", severity: ERROR, says: ["--tls implicit"] },
  { name: "silence on 25: not implicit TLS, a silent server", over: { port: 25, ...silent(300) }, code: "no_banner", severity: ERROR, says: ["sent no banner in 0.3 s", "RFC 5321 §3.1", "tarpit"] },
  { name: "silence inside implicit TLS", over: { port: 465, ...silent(300), tlsMode: TlsMode.TLS_MODE_IMPLICIT, tls: tls({ implicit: true }) }, code: "no_banner", severity: ERROR, says: ["sent no banner"] },
  { name: "a banner came", code: "no_banner", severity: null },
  { name: "bytes that were no banner", over: { ...silent(300), outcome: Outcome.OUTCOME_TIMED_OUT }, code: "no_banner", severity: null },

  // greeting_refused: EHLO (or HELO after it) answered 4xx/5xx
  {
    name: "EHLO answered 550 5.7.1",
    over: refusedGreeting(Phase.PHASE_EHLO, { code: 550, enhancedCode: "5.7.1", lines: ["5.7.1 Client host rejected: cannot find your reverse hostname"], meaning: "550 5.7.1: the server refuses the greeting (as the engine said it)" }),
    code: "greeting_refused",
    severity: ERROR,
    says: ["mx.example.com port 25 refused the greeting", "EHLO [192.0.2.7] was answered 550 5.7.1: the server refuses the greeting (as the engine said it)", '"Client host rejected: cannot find your reverse hostname"', "reverse DNS", "name given in EHLO/HELO"],
  },
  {
    name: "EHLO answered 421: temporary",
    over: refusedGreeting(Phase.PHASE_EHLO, { code: 421, enhancedCode: "4.7.0", lines: ["4.7.0 Temporary lookup failure"] }),
    code: "greeting_refused",
    severity: WARNING,
    says: ["421 4.7.0: the server closes the connection instead of answering EHLO", '"Temporary lookup failure"', "a 4xx is temporary", "reverse DNS"],
  },
  {
    name: "HELO answered 554 after EHLO was not known",
    over: refusedGreeting(Phase.PHASE_HELO, { code: 554, lines: ["go away"] }),
    code: "greeting_refused",
    severity: ERROR,
    says: ["HELO [192.0.2.7] (after EHLO was not known) was answered 554: the server refuses the greeting", '"go away"'],
  },
  { name: "EHLO over TLS answered 550", over: refusedGreeting(Phase.PHASE_EHLO_TLS, { code: 550, lines: ["no"] }), code: "greeting_refused", severity: ERROR, says: ["EHLO over TLS [192.0.2.7]"] },
  { name: "greeting accepted", code: "greeting_refused", severity: null },
  { name: "rejected elsewhere", over: { outcome: Outcome.OUTCOME_REJECTED, phase: Phase.PHASE_EHLO, lastReply: { code: 550, lines: [] } }, code: "greeting_refused", severity: null },

  // reply_line_long
  { name: "a 1000-octet reply line", facts: { longestLineOctets: 1000 }, code: "reply_line_long", severity: WARNING, says: ["1000 octets", "RFC 5321 §4.5.3.1.5"] },
  { name: "a 512-octet reply line", facts: { longestLineOctets: 512 }, code: "reply_line_long", severity: null },

  // starttls_injection
  { name: "plaintext after STARTTLS 220", over: { starttlsInjection: "250-injected\\r\\n" }, code: "starttls_injection", severity: ERROR, says: ['"250-injected\\r\\n"', "RFC 3207 §6", "CVE-2011-0411"] },
  { name: "a long injection is cut short", over: { starttlsInjection: "A".repeat(500) }, code: "starttls_injection", severity: ERROR, says: [`"${"A".repeat(60)}…"`] },
  { name: "raw control characters escaped", over: { starttlsInjection: "x\r\ny" }, code: "starttls_injection", severity: ERROR, says: ['"x\\x0d\\x0ay"'] },
  { name: "nothing after STARTTLS 220", code: "starttls_injection", severity: null },

  // helo_fallback
  { name: "HELO fallback", over: { capabilities: { greeting: "mx.example.com", heloOnly: true }, tls: undefined, capabilitiesTls: undefined }, code: "helo_fallback", severity: WARNING, says: ["EHLO", "RFC 5321 §2.2.1"] },
  { name: "EHLO answered", code: "helo_fallback", severity: null },

  // transcript_truncated
  { name: "transcript truncated", over: { transcript: { truncated: true, bytes: 262144 } }, code: "transcript_truncated", severity: INFO, says: ["262144 bytes"] },
  { name: "transcript complete", code: "transcript_truncated", severity: null },

  // tls_not_attempted
  { name: "TLS mode NONE", over: { tlsMode: TlsMode.TLS_MODE_NONE, tls: undefined, capabilitiesTls: undefined }, code: "tls_not_attempted", severity: INFO, says: ["NONE", "port 25"] },
  { name: "TLS mode AUTO", code: "tls_not_attempted", severity: null },
];

describe("deriveFindings", () => {
  it.each(rows)("$code: $name", ({ over, facts: factsOver, code, severity, says }) => {
    const found = deriveFindings(result(over), facts(factsOver));
    const hit = found.find((f) => f.code === code);
    if (severity === null) {
      expect(hit).toBeUndefined();
      return;
    }
    expect(hit?.severity).toBe(severity);
    for (const text of says ?? []) expect(hit?.message).toContain(text);
    // One sentence, and no holes in it.
    expect(hit?.message).not.toMatch(/undefined|NaN|\[object|\n/);
    expect(hit?.message).toMatch(/[.)]$/);
  });

  it("finds nothing in a clean handshake", () => {
    expect(deriveFindings(result(), facts())).toEqual([]);
  });

  it("sorts errors first, then warnings, then information, each by code", () => {
    const found = deriveFindings(
      result({
        tlsMode: TlsMode.TLS_MODE_NONE,
        capabilities: { greeting: "mx", starttls: true, authMechanisms: ["PLAIN"], heloOnly: false },
        tls: undefined,
        capabilitiesTls: undefined,
        banner: { code: 421, lines: [] },
        transcript: { truncated: true },
        timings: [{ phase: Phase.PHASE_BANNER, durationMs: 9000 }],
      }),
      facts(),
    );
    expect(found.map((f) => [f.severity, f.code])).toEqual([
      [ERROR, "auth_plaintext_password"],
      [WARNING, "auth_before_tls"],
      [WARNING, "banner_deferred"],
      [WARNING, "banner_slow"],
      [INFO, "tls_not_attempted"],
      [INFO, "transcript_truncated"],
    ]);
  });

  it("names the server by port alone when it has no name", () => {
    const [found] = deriveFindings(result({ host: "", address: "", capabilities: noStarttls, tls: undefined }), facts());
    expect(found?.message).toMatch(/^The server on port 25 does not offer STARTTLS/);
  });
});

const { PORT_ROLE_MX_RELAY: RELAY, PORT_ROLE_SUBMISSION: SUBMISSION, PORT_ROLE_IMPLICIT_TLS_SUBMISSION: IMPLICIT } = PortRole;

interface RoleRow {
  code: string;
  /** The result's facts that raise the finding; the role comes on top. */
  over: DeepPartial<HandshakeResult>;
  role: PortRole;
  severity: Severity;
  says: string[];
  /** Words that belong to the other role's advice. */
  saysNot?: string[];
}

const selfSigned = { tls: tls({ chain: [cert({ selfSigned: true })], trusted: false, trustError: "self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)" }) };
const untrusted = { tls: tls({ trusted: false, trustError: "unable to get local issuer certificate" }) };
const mismatch = { tls: tls({ nameMatches: false, checkedName: "mail.example.org", nameError: "not in the altnames" }) };
const expired = { tls: tls({ chain: [cert({ notAfter: days(-3) })] }) };
const notYetValid = { tls: tls({ chain: [cert({ notBefore: days(1) })] }) };
const RELAY_CERT = ["opportunistic TLS (RFC 7435)", "without checking", "MTA-STS"];
const CLIENT_CERT = ["mail clients", "password"];

const roleRows: RoleRow[] = [
  // Certificate problems: a relay's senders fall back to opportunistic TLS and do not check; mail clients refuse.
  ...[
    ["cert_untrusted", selfSigned],
    ["cert_untrusted", untrusted],
    ["cert_name_mismatch", mismatch],
    ["cert_expired", expired],
    ["cert_not_yet_valid", notYetValid],
  ].flatMap(([code, over]): RoleRow[] => [
    { code: code as string, over: over as DeepPartial<HandshakeResult>, role: RELAY, severity: WARNING, says: RELAY_CERT, saysNot: ["password"] },
    { code: code as string, over: over as DeepPartial<HandshakeResult>, role: SUBMISSION, severity: ERROR, says: CLIENT_CERT, saysNot: ["RFC 7435"] },
    { code: code as string, over: { ...(over as DeepPartial<HandshakeResult>), tlsMode: TlsMode.TLS_MODE_IMPLICIT, capabilities: undefined }, role: IMPLICIT, severity: ERROR, says: CLIENT_CERT },
  ]),
  { code: "cert_expiring", over: { tls: tls({ chain: [cert({ notAfter: days(5) })] }) }, role: RELAY, severity: WARNING, says: ["senders enforcing MTA-STS"] },
  { code: "cert_expiring", over: { tls: tls({ chain: [cert({ notAfter: days(5) })] }) }, role: SUBMISSION, severity: WARNING, says: ["mail clients"] },
  { code: "cert_weak_key", over: { tls: tls({ chain: [cert({ keyBits: 1024 })] }) }, role: RELAY, severity: ERROR, says: ["fall back to cleartext"] },
  { code: "cert_weak_key", over: { tls: tls({ chain: [cert({ keyBits: 1024 })] }) }, role: SUBMISSION, severity: ERROR, says: ["mail clients refuse them"] },
  { code: "cert_sha1_signature", over: { tls: tls({ chain: [cert({ signatureAlgorithm: "sha1WithRSAEncryption" })] }) }, role: RELAY, severity: WARNING, says: ["MTA-STS"] },
  { code: "cert_sha1_signature", over: { tls: tls({ chain: [cert({ signatureAlgorithm: "sha1WithRSAEncryption" })] }) }, role: SUBMISSION, severity: WARNING, says: ["mail clients refuse them"] },
  { code: "tls_version_old", over: { tls: tls({ protocol: "TLSv1" }) }, role: RELAY, severity: ERROR, says: ["fall back to cleartext"] },
  { code: "tls_version_old", over: { tls: tls({ protocol: "TLSv1" }) }, role: SUBMISSION, severity: ERROR, says: ["mail clients refuse to connect"] },

  // STARTTLS missing: a relay's mail travels in cleartext; a submission port's passwords do.
  { code: "starttls_missing", over: { capabilities: noStarttls, tls: undefined }, role: RELAY, severity: WARNING, says: ["senders cannot encrypt", "cleartext"], saysNot: ["password"] },
  { code: "starttls_missing", over: { capabilities: noStarttls, tls: undefined }, role: SUBMISSION, severity: ERROR, says: ["passwords", "cleartext"] },
  // 465 probed in auto mode against a plaintext server: it is still a port where clients log in.
  { code: "starttls_missing", over: { capabilities: noStarttls, tls: undefined }, role: IMPLICIT, severity: ERROR, says: ["passwords"] },
  { code: "starttls_failed", over: { outcome: Outcome.OUTCOME_TLS_FAILED, phase: Phase.PHASE_TLS, reason: "x", tls: undefined }, role: RELAY, severity: ERROR, says: ["senders fall back to cleartext"] },
  { code: "starttls_failed", over: { outcome: Outcome.OUTCOME_TLS_FAILED, phase: Phase.PHASE_TLS, reason: "x", tls: undefined }, role: SUBMISSION, severity: ERROR, says: ["mail clients cannot protect their login"] },
  {
    code: "starttls_unavailable_required",
    over: { tlsMode: TlsMode.TLS_MODE_REQUIRE, capabilities: noStarttls, tls: undefined, outcome: Outcome.OUTCOME_STARTTLS_UNAVAILABLE, phase: Phase.PHASE_STARTTLS },
    role: RELAY,
    severity: ERROR,
    says: ["MTA-STS, DANE, REQUIRETLS"],
  },
  {
    code: "starttls_unavailable_required",
    over: { tlsMode: TlsMode.TLS_MODE_REQUIRE, capabilities: noStarttls, tls: undefined, outcome: Outcome.OUTCOME_STARTTLS_UNAVAILABLE, phase: Phase.PHASE_STARTTLS },
    role: SUBMISSION,
    severity: ERROR,
    says: ["mail clients", "cannot log in"],
  },

  // AUTH before TLS: on a relay AUTH itself is the point; on submission, what each mechanism sends.
  { code: "auth_before_tls", over: { capabilities: { starttls: true, authMechanisms: ["CRAM-MD5"] } }, role: RELAY, severity: WARNING, says: ["AUTH (CRAM-MD5)", "MX relay port", "never log in", "submission port"], saysNot: ["cleartext password"] },
  { code: "auth_before_tls", over: { capabilities: { starttls: true, authMechanisms: ["PLAIN"] } }, role: RELAY, severity: WARNING, says: ["AUTH (PLAIN)", "MX relay port"] },
  {
    code: "auth_before_tls",
    over: { capabilities: { starttls: true, authMechanisms: ["CRAM-MD5"] } },
    role: SUBMISSION,
    severity: WARNING,
    says: ["offers AUTH (CRAM-MD5) before TLS", "only after STARTTLS", "CRAM-MD5 does not send the password in cleartext", "MD5 hash keyed with the password", "crack offline"],
    saysNot: ["sends its password in cleartext"],
  },
  {
    code: "auth_before_tls",
    over: { capabilities: { starttls: true, authMechanisms: ["PLAIN", "SCRAM-SHA-256", "XOAUTH2"] } },
    role: SUBMISSION,
    severity: WARNING,
    says: ["offers AUTH (PLAIN, SCRAM-SHA-256, XOAUTH2) before TLS", "SCRAM-SHA-256 and XOAUTH2 do not send the password in cleartext", "proves the password without sending it", "OAuth access token in cleartext", "replay"],
    saysNot: ["PLAIN does", "PLAIN sends"],
  },
  { code: "auth_plaintext_password", over: { capabilities: { starttls: true, authMechanisms: ["PLAIN", "LOGIN"] } }, role: SUBMISSION, severity: ERROR, says: ["PLAIN and LOGIN", "password in cleartext"], saysNot: ["relay"] },
  { code: "auth_plaintext_password", over: { capabilities: { starttls: true, authMechanisms: ["LOGIN"] } }, role: RELAY, severity: ERROR, says: ["password in cleartext", "a relay port needs no AUTH"] },
];

describe("findings follow the port's role", () => {
  it.each(roleRows.map((row) => ({ ...row, roleName: PortRole[row.role] })))("$code as $roleName: $severity", ({ code, over, role, severity, says, saysNot }) => {
    // A port whose default role is none of them (10025), so only the role set decides.
    const found = deriveFindings(result({ port: 10025, ...over, portRole: role }), facts());
    const hit = found.find((f) => f.code === code);
    expect(hit?.severity, JSON.stringify(found)).toBe(severity);
    for (const text of says) expect(hit?.message).toContain(text);
    for (const text of saysNot ?? []) expect(hit?.message).not.toContain(text);
    expect(hit?.message).not.toMatch(/undefined|NaN|\[object|\n/);
  });

  it.each([
    { name: "25 is an MX relay", port: 25, severity: WARNING },
    { name: "587 is submission", port: 587, severity: ERROR },
    { name: "465 is implicit-TLS submission", port: 465, severity: ERROR },
    { name: "2525 is submission", port: 2525, severity: ERROR },
    { name: "any other port is submission", port: 10025, severity: ERROR },
  ])("without a role in the result, the port's default decides: $name", ({ port, severity }) => {
    const found = deriveFindings(result({ port, portRole: PortRole.PORT_ROLE_UNSPECIFIED, ...untrusted }), facts());
    expect(found.find((f) => f.code === "cert_untrusted")?.severity).toBe(severity);
  });

  it("a role set for the port wins over the port's default, both ways", () => {
    const relayOn2525 = deriveFindings(result({ port: 2525, portRole: RELAY, ...untrusted }), facts());
    const submissionOn25 = deriveFindings(result({ port: 25, portRole: SUBMISSION, ...untrusted }), facts());
    expect(relayOn2525.find((f) => f.code === "cert_untrusted")?.severity).toBe(WARNING);
    expect(submissionOn25.find((f) => f.code === "cert_untrusted")?.severity).toBe(ERROR);
  });
});

describe("defaultFindingFacts", () => {
  it("has the documented thresholds", () => {
    expect(defaultFindingFacts(NOW)).toEqual({ now: NOW, longestLineOctets: 0, longLineOctets: 512, slowBannerMs: 5000, expiryWarningDays: 14 });
  });

  it("uses the current time by default", () => {
    const before = Date.now();
    const { now } = defaultFindingFacts();
    expect(now.getTime()).toBeGreaterThanOrEqual(before);
    expect(now.getTime()).toBeLessThanOrEqual(Date.now());
  });
});
