// The "TLS scan" block and the "Enforcement" line of a handshake in the CLI's human output.
import { describe, expect, it } from "vitest";
import {
  CipherOrder,
  type DeepPartial,
  HandshakeResult,
  Outcome,
  Phase,
  StarttlsEnforcementStatus,
  TargetResult,
  type TlsProfile,
  TlsScanStatus,
  TlsVersion,
  VersionSupport,
} from "../../../gen/smtpprobe/v1/handshake.js";
import { makeStyle } from "../../../cli/colors.js";
import { formatHuman } from "../../../cli/format-human.js";
import { gradedCipher } from "../../../agents/smtp/tls-scan/tls-profile.js";
import { SSL3, V10, V11, V12, V13 } from "../../helpers/tls-versions.js";


function version(v: TlsVersion, codes: number[] | undefined, complete = true) {
  return { version: v, support: codes ? VersionSupport.VERSION_SUPPORT_ACCEPTED : VersionSupport.VERSION_SUPPORT_REFUSED, ciphers: (codes ?? []).map((c) => gradedCipher(c, v)), ciphersComplete: complete };
}

const PROFILE: DeepPartial<TlsProfile> = {
  status: TlsScanStatus.TLS_SCAN_STATUS_COMPLETE,
  versions: [version(SSL3, undefined), version(V10, [0xc013, 0x0005]), version(V11, undefined), version(V12, [0xc02f, 0x009c]), version(V13, [0x1301])],
  groups: [
    { codePoint: 29, name: "x25519" },
    { codePoint: 23, name: "secp256r1" },
  ],
  groupsComplete: true,
  cipherOrder: CipherOrder.CIPHER_ORDER_SERVER,
  cipherOrderVersion: V12,
  dhePrimeBits: 1024,
  connections: 17,
  totalMs: 412,
};

function show(over: DeepPartial<HandshakeResult>): string[] {
  const h = HandshakeResult.fromPartial({ host: "mx.example.com", address: "192.0.2.10", port: 25, outcome: Outcome.OUTCOME_OK, phase: Phase.PHASE_DONE, ...over });
  return formatHuman([TargetResult.fromPartial({ host: "mx.example.com", port: 25, handshakes: [h] })], { style: makeStyle(false), transcript: false }).split("\n");
}

describe("the TLS scan block", () => {
  it("shows the versions, each accepted version's weakest suite with its grade, the groups and the order", () => {
    const lines = show({ tlsProfile: PROFILE });
    const at = lines.findIndex((l) => l.startsWith("  TLS scan"));
    expect(lines.slice(at, at + 6)).toEqual([
      "  TLS scan    accepts TLS 1.0, TLS 1.2, TLS 1.3 · refuses SSL 3.0, TLS 1.1 · 17 connections, 412 ms",
      "              TLS 1.0  2 suites, weakest TLS_RSA_WITH_RC4_128_SHA (insecure: RC4, RSA key exchange, no forward secrecy)",
      "              TLS 1.2  2 suites, weakest TLS_RSA_WITH_AES_128_GCM_SHA256 (weak: RSA key exchange, no forward secrecy)",
      "              TLS 1.3  1 suite, all strong",
      "  Groups      x25519, secp256r1, DHE 1024-bit",
      "  Suite order the server's own (tested in TLS 1.2)",
    ]);
  });

  it("says when the scan is incomplete, and marks the lists not finished", () => {
    const partial = { ...PROFILE, status: TlsScanStatus.TLS_SCAN_STATUS_PARTIAL, reason: "stopped: the scan's bound of 48 connections was reached", versions: [version(V12, [0xc02f], false)], groupsComplete: false };
    const text = show({ tlsProfile: partial }).join("\n");
    expect(text).toContain("incomplete: stopped: the scan's bound of 48 connections was reached");
    expect(text).toContain("TLS 1.2  1 suite+, all strong");
    expect(text).toContain("(not all tried)");
  });

  it("says why a port was not scanned", () => {
    expect(show({ tlsProfile: { status: TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED, reason: "STARTTLS is not offered" } })).toContain("  TLS scan    not scanned: STARTTLS is not offered");
  });

  it("shows the chains per key type when they differ", () => {
    const chains = [
      { keyType: "ECDSA", chain: [{ subject: "CN=mx.example.com", fingerprintSha256: "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66" }] },
      { keyType: "RSA", chain: [{ subject: "CN=legacy.example.com", fingerprintSha256: "11:22:33:44:55:66:77:88:99:00:AA:BB:CC" }] },
    ];
    const text = show({ tlsProfile: { ...PROFILE, chains } }).join("\n");
    expect(text).toContain("  Chains      ECDSA: CN=mx.example.com SHA-256 AA:BB:CC:DD:EE:FF:00:11…");
    expect(text).toContain("              RSA: CN=legacy.example.com SHA-256 11:22:33:44:55:66:77:88…");
  });

  it("keeps a hostile server's texts on one line", () => {
    const text = show({ tlsProfile: { status: TlsScanStatus.TLS_SCAN_STATUS_PARTIAL, reason: "TLS 1.0 unknown (answered with \x1b[31mred\r\n)" } }).join("\n");
    expect(text).not.toContain("\x1b[31m");
  });
});

describe("the enforcement line", () => {
  it.each([
    [StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED, 530, "5.7.0 Must issue a STARTTLS command first", "STARTTLS required before mail — MAIL FROM:<> before STARTTLS got 530 5.7.0 Must issue a STARTTLS command first"],
    [StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED, 250, "2.1.0 Ok", "none: mail is taken without TLS — MAIL FROM:<> before STARTTLS got 250 2.1.0 Ok"],
    [StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED, 530, "5.7.0 Authentication required", "authentication required before mail — MAIL FROM:<> before STARTTLS got 530 5.7.0 Authentication required"],
  ])("shows status %i", (status, code, line, want) => {
    expect(show({ starttlsEnforcement: { status, reply: { code, lines: [line] } } })).toContain(`  Enforcement ${want}`);
  });

  it("says why it was not checked", () => {
    expect(show({ starttlsEnforcement: { status: StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_CHECKED, reason: "no connection: refused" } })).toContain(
      "  Enforcement not checked: no connection: refused",
    );
  });
});
