import { describe, expect, it } from "vitest";
import { CipherGrade, CipherOrder, TlsScanStatus, VersionSupport } from "../../../../../gen/smtpprobe/v1/handshake.js";
import type { ScanFacts } from "../../../../../agents/smtp/tls-scan/scan-plan.js";
import { buildTlsProfile, gradedCipher, notScanned } from "../../../../../agents/smtp/tls-scan/tls-profile.js";
import { SSL3, V10, V11, V12, V13 } from "../../../../helpers/tls-versions.js";


function facts(over: Partial<ScanFacts> = {}): ScanFacts {
  return {
    versions: [
      { version: SSL3, support: "refused", detail: "alert handshake_failure (40)", ciphers: [], complete: true },
      { version: V10, support: "refused", detail: "alert protocol_version (70)", ciphers: [], complete: true },
      { version: V11, support: "refused", detail: "alert protocol_version (70)", ciphers: [], complete: true },
      { version: V12, support: "accepted", detail: "", ciphers: [0xc02f, 0x002f], complete: true },
      { version: V13, support: "accepted", detail: "", ciphers: [0x1301], complete: true },
    ],
    groups: [29, 23],
    groupsComplete: true,
    order: CipherOrder.CIPHER_ORDER_SERVER,
    orderVersion: V12,
    chains: new Map(),
    dhePrimeBits: 0,
    connections: 14,
    ...over,
  };
}

describe("buildTlsProfile", () => {
  it("reports a complete scan, each suite graded with its weaknesses and the worst in words", () => {
    const profile = buildTlsProfile(facts(), 123.4);
    expect(profile.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(profile.reason).toBe("");
    expect(profile.versions.map((v) => v.support)).toEqual([
      VersionSupport.VERSION_SUPPORT_REFUSED,
      VersionSupport.VERSION_SUPPORT_REFUSED,
      VersionSupport.VERSION_SUPPORT_REFUSED,
      VersionSupport.VERSION_SUPPORT_ACCEPTED,
      VersionSupport.VERSION_SUPPORT_ACCEPTED,
    ]);
    expect(profile.versions[3]!.ciphers).toEqual([
      { codePoint: 0xc02f, name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", grade: CipherGrade.CIPHER_GRADE_STRONG, weaknesses: [], reason: "" },
      expect.objectContaining({ codePoint: 0x002f, grade: CipherGrade.CIPHER_GRADE_WEAK, weaknesses: ["static_rsa", "cbc_sha1", "cbc_tls12"], reason: expect.stringMatching(/^RSA key exchange/) }),
    ]);
    expect(profile.groups).toEqual([
      { codePoint: 29, name: "x25519" },
      { codePoint: 23, name: "secp256r1" },
    ]);
    expect(profile).toMatchObject({ connections: 14, totalMs: 123.4, cipherOrder: CipherOrder.CIPHER_ORDER_SERVER, chains: [] });
  });

  it("says what a partial scan left out", () => {
    const versions = facts().versions.map((v) => (v.version === V11 ? { ...v, support: "unknown" as const, detail: "no answer to the hello in time" } : v.version === V12 ? { ...v, complete: false } : v));
    const profile = buildTlsProfile(facts({ versions, groupsComplete: false, stopped: "the scan's bound of 48 connections was reached" }), 1);
    expect(profile.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_PARTIAL);
    expect(profile.reason).toBe(
      "stopped: the scan's bound of 48 connections was reached; TLS 1.1 unknown (no answer to the hello in time); the cipher suites of TLS 1.2 not all tried; the groups not all tried",
    );
  });

  it("names a suite the catalogue does not know by its value", () => {
    expect(gradedCipher(0xfefe, V10)).toEqual({ codePoint: 0xfefe, name: "0xFEFE", grade: CipherGrade.CIPHER_GRADE_UNSPECIFIED, weaknesses: [], reason: "not in the catalogue" });
  });

  it("shows no chains per key type unless they differ, and skips what does not parse", () => {
    const chains = new Map([
      ["RSA", [Buffer.from("not a certificate")]],
      ["ECDSA", [Buffer.from("nor this")]],
    ]);
    expect(buildTlsProfile(facts({ chains }), 1).chains).toEqual([]);
  });
});

describe("notScanned", () => {
  it("says why", () => {
    expect(notScanned("STARTTLS is not offered")).toMatchObject({ status: TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED, reason: "STARTTLS is not offered", versions: [], connections: 0 });
  });
});
