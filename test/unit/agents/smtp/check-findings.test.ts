// The findings of the checks after the handshake: the TLS profile and STARTTLS enforcement, by the
// port's role.
import { describe, expect, it } from "vitest";
import {
  CipherOrder,
  type DeepPartial,
  HandshakeResult,
  Outcome,
  Phase,
  PortRole,
  Severity,
  StarttlsEnforcementStatus,
  type TlsProfile,
  TlsScanStatus,
  TlsVersion,
  VersionSupport,
} from "../../../../gen/smtpprobe/v1/handshake.js";
import { addCheckFindings, defaultFindingFacts, deriveFindings } from "../../../../agents/smtp/findings.js";
import { gradedCipher } from "../../../../agents/smtp/tls-scan/tls-profile.js";
import { SSL3, V10, V11, V12, V13 } from "../../../helpers/tls-versions.js";

const { SEVERITY_ERROR: ERROR, SEVERITY_WARNING: WARNING, SEVERITY_INFO: INFO } = Severity;
const ACCEPTED = VersionSupport.VERSION_SUPPORT_ACCEPTED;
const REFUSED = VersionSupport.VERSION_SUPPORT_REFUSED;

/** A complete profile: each version's accepted suites (none: refused). */
function profile(versions: Partial<Record<TlsVersion, number[]>>, over: Partial<TlsProfile> = {}): DeepPartial<TlsProfile> {
  return {
    status: TlsScanStatus.TLS_SCAN_STATUS_COMPLETE,
    versions: [SSL3, V10, V11, V12, V13].map((version) => {
      const codes = versions[version];
      return { version, support: codes ? ACCEPTED : REFUSED, ciphers: (codes ?? []).map((c) => gradedCipher(c, version)), ciphersComplete: true };
    }),
    groups: [{ codePoint: 29, name: "x25519" }],
    groupsComplete: true,
    cipherOrder: CipherOrder.CIPHER_ORDER_SERVER,
    cipherOrderVersion: V12,
    connections: 20,
    ...over,
  };
}

const MODERN = { [V12]: [0xc02f, 0xc030], [V13]: [0x1301, 0x1302] };

function result(over: DeepPartial<HandshakeResult>): HandshakeResult {
  return HandshakeResult.fromPartial({
    host: "mx.example.com",
    address: "192.0.2.10",
    port: 25,
    outcome: Outcome.OUTCOME_OK,
    phase: Phase.PHASE_DONE,
    banner: { code: 220, lines: ["mx.example.com ESMTP"] },
    capabilities: { greeting: "mx.example.com", starttls: true },
    ...over,
  });
}

const SUBMISSION = { port: 587, portRole: PortRole.PORT_ROLE_SUBMISSION };

interface Row {
  name: string;
  over: DeepPartial<HandshakeResult>;
  code: string;
  severity: Severity | null;
  says?: string[];
}

const mail = (code: number, text: string, enhancedCode = ""): DeepPartial<HandshakeResult["starttlsEnforcement"]> => {
  const status =
    code === 250
      ? StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED
      : /TLS/.test(text)
        ? StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED
        : /auth/i.test(text)
          ? StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED
          : StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REFUSED;
  return { status, reply: { code, enhancedCode, lines: [text], meaning: `${code}` } };
};

const rows: Row[] = [
  // tls_old_versions_accepted: a warning on a relay (old senders fall back to cleartext without them), an error where clients log in; SSL 3.0 an error anywhere
  { name: "a modern profile", over: { tlsProfile: profile(MODERN) }, code: "tls_old_versions_accepted", severity: null },
  { name: "TLS 1.0 and 1.1 on a relay", over: { tlsProfile: profile({ ...MODERN, [V10]: [0xc013], [V11]: [0xc013] }) }, code: "tls_old_versions_accepted", severity: WARNING, says: ["accepts TLS 1.0 and TLS 1.1", "RFC 8996", "smtpd_tls_protocols = >=TLSv1.2"] },
  { name: "TLS 1.0 on submission", over: { ...SUBMISSION, tlsProfile: profile({ ...MODERN, [V10]: [0xc013] }) }, code: "tls_old_versions_accepted", severity: ERROR, says: ["accepts TLS 1.0", "smtpd_tls_mandatory_protocols"] },
  { name: "SSL 3.0 on a relay", over: { tlsProfile: profile({ ...MODERN, [SSL3]: [0x002f] }) }, code: "tls_old_versions_accepted", severity: ERROR, says: ["SSL 3.0", "POODLE", "RFC 7568"] },
  // tls_ciphers_insecure
  { name: "RC4 on a relay", over: { tlsProfile: profile({ ...MODERN, [V10]: [0xc013, 0x0005] }) }, code: "tls_ciphers_insecure", severity: ERROR, says: ["1 in TLS 1.0", "TLS_RSA_WITH_RC4_128_SHA", "RC4", "smtpd_tls_exclude_ciphers"] },
  { name: "NULL on submission", over: { ...SUBMISSION, tlsProfile: profile({ [V12]: [0xc02f, 0x003b] }) }, code: "tls_ciphers_insecure", severity: ERROR, says: ["TLS_RSA_WITH_NULL_SHA256", "no encryption", "password"] },
  { name: "anonymous suites alone on a relay", over: { tlsProfile: profile({ [V12]: [0xc02f, 0x00a6, 0x00a7] }) }, code: "tls_ciphers_insecure", severity: WARNING, says: ["2 in TLS 1.2", "anonymous", "DANE, MTA-STS", "aNULL"] },
  { name: "anonymous suites on submission", over: { ...SUBMISSION, tlsProfile: profile({ [V12]: [0xc02f, 0x00a6] }) }, code: "tls_ciphers_insecure", severity: ERROR },
  { name: "strong suites only", over: { tlsProfile: profile(MODERN) }, code: "tls_ciphers_insecure", severity: null },
  // tls_ciphers_weak: information on a relay, a warning where clients log in
  { name: "static RSA on a relay", over: { tlsProfile: profile({ [V12]: [0xc02f, 0x009c] }) }, code: "tls_ciphers_weak", severity: INFO, says: ["1 in TLS 1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256", "forward secrecy"] },
  { name: "3DES on submission", over: { ...SUBMISSION, tlsProfile: profile({ [V12]: [0xc02f, 0xc012] }) }, code: "tls_ciphers_weak", severity: WARNING, says: ["Sweet32", "smtpd_tls_mandatory_ciphers = high"] },
  { name: "CBC only (acceptable)", over: { tlsProfile: profile({ [V12]: [0xc027] }) }, code: "tls_ciphers_weak", severity: null },
  // tls_client_cipher_order: only when the client's choice can be a weak suite
  { name: "the client's order with weak suites", over: { tlsProfile: profile({ [V12]: [0xc02f, 0x009c] }, { cipherOrder: CipherOrder.CIPHER_ORDER_CLIENT }) }, code: "tls_client_cipher_order", severity: INFO, says: ["tls_preempt_cipherlist"] },
  { name: "the client's order with strong suites", over: { tlsProfile: profile(MODERN, { cipherOrder: CipherOrder.CIPHER_ORDER_CLIENT }) }, code: "tls_client_cipher_order", severity: null },
  // tls_dh_weak
  { name: "a 1024-bit DHE prime", over: { tlsProfile: profile(MODERN, { dhePrimeBits: 1024 }) }, code: "tls_dh_weak", severity: WARNING, says: ["1024-bit", "Logjam"] },
  { name: "a 512-bit DHE prime", over: { tlsProfile: profile(MODERN, { dhePrimeBits: 512 }) }, code: "tls_dh_weak", severity: ERROR },
  { name: "a 2048-bit DHE prime", over: { tlsProfile: profile(MODERN, { dhePrimeBits: 2048 }) }, code: "tls_dh_weak", severity: null },
  // tls_scan_incomplete
  { name: "a partial scan", over: { tlsProfile: profile(MODERN, { status: TlsScanStatus.TLS_SCAN_STATUS_PARTIAL, reason: "stopped: the scan's bound of 48 connections was reached" }) }, code: "tls_scan_incomplete", severity: INFO, says: ["48 connections", "20 connections"] },
  { name: "a port not scanned", over: { tlsProfile: { status: TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED, reason: "STARTTLS is not offered" } }, code: "tls_scan_incomplete", severity: null },
  // starttls_not_enforced: where clients submit, with STARTTLS on offer
  { name: "250 before STARTTLS on submission", over: { ...SUBMISSION, starttlsEnforcement: mail(250, "2.1.0 Ok", "2.1.0") }, code: "starttls_not_enforced", severity: WARNING, says: ["takes mail before STARTTLS", "smtpd_tls_security_level=encrypt", "RFC 3207"] },
  { name: "250 before STARTTLS on a relay (normal)", over: { starttlsEnforcement: mail(250, "2.1.0 Ok", "2.1.0") }, code: "starttls_not_enforced", severity: null },
  { name: "530 on submission (as it should)", over: { ...SUBMISSION, starttlsEnforcement: mail(530, "5.7.0 Must issue a STARTTLS command first", "5.7.0") }, code: "starttls_not_enforced", severity: null },
  { name: "250 on submission without STARTTLS (starttls_missing says it)", over: { ...SUBMISSION, capabilities: { starttls: false }, starttlsEnforcement: mail(250, "Ok") }, code: "starttls_not_enforced", severity: null },
  // relay_refuses_plaintext_mail
  { name: "530 STARTTLS on a relay", over: { starttlsEnforcement: mail(530, "5.7.0 Must issue a STARTTLS command first", "5.7.0") }, code: "relay_refuses_plaintext_mail", severity: WARNING, says: ["RFC 3207 §4", "smtpd_tls_security_level = may", "Must issue a STARTTLS command first"] },
  { name: "530 authentication on a relay", over: { starttlsEnforcement: mail(530, "5.7.0 Authentication required", "5.7.0") }, code: "relay_refuses_plaintext_mail", severity: WARNING, says: ["submission role"] },
  { name: "530 on submission", over: { ...SUBMISSION, starttlsEnforcement: mail(530, "5.7.0 Must issue a STARTTLS command first", "5.7.0") }, code: "relay_refuses_plaintext_mail", severity: null },
  { name: "not checked on a relay", over: { starttlsEnforcement: { status: StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_CHECKED, reason: "no connection" } }, code: "relay_refuses_plaintext_mail", severity: null },
];

describe("the check findings", () => {
  it.each(rows)("$code: $name", ({ over, code, severity, says }) => {
    const found = deriveFindings(result(over), defaultFindingFacts()).filter((f) => f.code === code);
    if (severity === null) {
      expect(found).toEqual([]);
      return;
    }
    expect(found).toHaveLength(1);
    expect(found[0]!.severity).toBe(severity);
    for (const text of says ?? []) expect(found[0]!.message).toContain(text);
  });

  it("adds the checks' findings to a handshake's, in order, and replaces its own on a second run", () => {
    const r = result({ ...SUBMISSION, findings: [{ code: "cert_untrusted", severity: ERROR, message: "x" }, { code: "banner_slow", severity: WARNING, message: "y" }] });
    r.tlsProfile = HandshakeResult.fromPartial({ tlsProfile: profile({ ...MODERN, [V10]: [0x0005] }) }).tlsProfile;
    addCheckFindings(r);
    addCheckFindings(r);
    expect(r.findings.map((f) => f.code)).toEqual(["cert_untrusted", "tls_ciphers_insecure", "tls_old_versions_accepted", "banner_slow"]);
  });
});
