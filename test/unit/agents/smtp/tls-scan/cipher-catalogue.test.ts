import { describe, expect, it } from "vitest";
import { CipherGrade, TlsVersion } from "../../../../../gen/smtpprobe/v1/handshake.js";
import {
  candidatesFor,
  CIPHER_SUITES,
  gradeOf,
  isValidIn,
  parseSuiteName,
  suiteByCode,
  suiteName,
  weaknessLabel,
  WEAKNESSES,
} from "../../../../../agents/smtp/tls-scan/cipher-catalogue.js";

const { INSECURE, WEAK, ACCEPTABLE, STRONG } = {
  INSECURE: CipherGrade.CIPHER_GRADE_INSECURE,
  WEAK: CipherGrade.CIPHER_GRADE_WEAK,
  ACCEPTABLE: CipherGrade.CIPHER_GRADE_ACCEPTABLE,
  STRONG: CipherGrade.CIPHER_GRADE_STRONG,
};
const V10 = TlsVersion.TLS_VERSION_TLS_1_0;
const V12 = TlsVersion.TLS_VERSION_TLS_1_2;
const V13 = TlsVersion.TLS_VERSION_TLS_1_3;

describe("the cipher-suite catalogue", () => {
  it("holds each code point once, in order, with IANA-shaped names", () => {
    const codes = CIPHER_SUITES.map((s) => s.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).toEqual([...codes].sort((a, b) => a - b));
    expect(CIPHER_SUITES.length).toBeGreaterThan(330);
    for (const suite of CIPHER_SUITES) expect(suite.name).toMatch(/^TLS_[A-Za-z0-9_]+$/);
    expect(suiteByCode(0xc02f)?.name).toBe("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    expect(suiteName(0xfefe)).toBe("0xFEFE");
  });

  it.each([
    { name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", kx: "ECDHE_RSA", cipher: "AES_128_GCM", mac: "AEAD", tls12Only: true, auth: "RSA", ske: "ecdhe" },
    { name: "TLS_RSA_WITH_AES_128_CBC_SHA", kx: "RSA", cipher: "AES_128_CBC", mac: "SHA", tls12Only: false, auth: "RSA", ske: "none" },
    { name: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", kx: "DHE_DSS", cipher: "3DES_EDE_CBC", mac: "SHA", tls12Only: false, auth: "DSA", ske: "dhe" },
    { name: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", kx: "ECDHE_ECDSA", cipher: "AES_256_CCM_8", mac: "AEAD", tls12Only: true, auth: "ECDSA", ske: "ecdhe" },
    { name: "TLS_DH_anon_WITH_AES_128_CBC_SHA256", kx: "DH_anon", cipher: "AES_128_CBC", mac: "SHA256", tls12Only: true, auth: "", ske: "dhe" },
    { name: "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", kx: "ECDHE_PSK", cipher: "AES_128_CBC", mac: "SHA", tls12Only: false, auth: "", ske: "none" },
    { name: "TLS_RSA_EXPORT_WITH_RC4_40_MD5", kx: "RSA_EXPORT", cipher: "RC4_40", mac: "MD5", tls12Only: false, auth: "RSA", ske: "none" },
    { name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD", kx: "ECDHE_RSA", cipher: "CHACHA20_POLY1305", mac: "AEAD", tls12Only: true, auth: "RSA", ske: "ecdhe" },
  ])("reads $name from its name", ({ name, kx, cipher, mac, tls12Only, auth, ske }) => {
    expect(parseSuiteName(1, name)).toMatchObject({ keyExchange: kx, cipher, mac, tls12Only, authKey: auth, serverKeyExchange: ske, tls13: false });
  });

  it("reads a TLS 1.3 suite: no key exchange in its name, valid in TLS 1.3 only", () => {
    const suite = parseSuiteName(0x1301, "TLS_AES_128_GCM_SHA256");
    expect(suite).toMatchObject({ keyExchange: "", cipher: "AES_128_GCM", tls13: true });
    expect(isValidIn(suite, V13)).toBe(true);
    expect(isValidIn(suite, V12)).toBe(false);
  });

  it("offers a suite only in the versions that define it (RFC 5246 §1.2: AEAD and SHA-256 MACs from TLS 1.2)", () => {
    const gcm = suiteByCode(0xc02f)!;
    const cbc = suiteByCode(0x002f)!;
    expect([isValidIn(gcm, V10), isValidIn(gcm, V12), isValidIn(gcm, V13)]).toEqual([false, true, false]);
    expect([isValidIn(cbc, TlsVersion.TLS_VERSION_SSL_3_0), isValidIn(cbc, V12), isValidIn(cbc, V13)]).toEqual([true, true, false]);
    expect(candidatesFor(V13).map((s) => s.code)).toEqual([0x1301, 0x1302, 0x1303, 0x1304, 0x1305]);
  });

  it("lists a version's candidates strongest first", () => {
    const grades = candidatesFor(V12).map((s) => gradeOf(s, V12).grade);
    expect(grades).toEqual([...grades].sort((a, b) => a - b));
  });

  it.each([
    { code: 0xc02f, version: V12, grade: STRONG, weaknesses: [] },
    { code: 0x1301, version: V13, grade: STRONG, weaknesses: [] },
    { code: 0x1305, version: V13, grade: ACCEPTABLE, weaknesses: ["short_tag"] },
    { code: 0xc013, version: V10, grade: ACCEPTABLE, weaknesses: ["cbc_sha1"] },
    { code: 0xc013, version: V12, grade: ACCEPTABLE, weaknesses: ["cbc_sha1", "cbc_tls12"] },
    { code: 0xc027, version: V12, grade: ACCEPTABLE, weaknesses: ["cbc_tls12"] },
    { code: 0x009c, version: V12, grade: WEAK, weaknesses: ["static_rsa"] },
    { code: 0x002f, version: V10, grade: WEAK, weaknesses: ["static_rsa", "cbc_sha1"] },
    { code: 0xc00e, version: V10, grade: WEAK, weaknesses: ["static_dh", "cbc_sha1"] },
    { code: 0xc012, version: V10, grade: WEAK, weaknesses: ["block_64", "cbc_sha1"] },
    { code: 0x000a, version: V10, grade: WEAK, weaknesses: ["block_64", "static_rsa", "cbc_sha1"] },
    { code: 0x0007, version: V10, grade: WEAK, weaknesses: ["block_64", "static_rsa", "cbc_sha1"] },
    { code: 0x0002, version: V10, grade: INSECURE, weaknesses: ["null_cipher", "static_rsa"] },
    { code: 0x0034, version: V10, grade: INSECURE, weaknesses: ["anonymous", "cbc_sha1"] },
    { code: 0xc018, version: V10, grade: INSECURE, weaknesses: ["anonymous", "cbc_sha1"] },
    { code: 0x0003, version: V10, grade: INSECURE, weaknesses: ["export", "rc4"] },
    { code: 0x0005, version: V10, grade: INSECURE, weaknesses: ["rc4", "static_rsa"] },
    { code: 0x0009, version: V10, grade: INSECURE, weaknesses: ["des", "static_rsa", "cbc_sha1"] },
    { code: 0x0014, version: V10, grade: INSECURE, weaknesses: ["export", "des", "cbc_sha1"] },
    { code: 0x0062, version: V10, grade: INSECURE, weaknesses: ["export", "des", "cbc_sha1"] },
    { code: 0xc01e, version: V10, grade: ACCEPTABLE, weaknesses: ["cbc_sha1"] },
  ])("grades $code in $version as $grade", ({ code, version, grade, weaknesses }) => {
    const graded = gradeOf(suiteByCode(code)!, version);
    expect(graded.grade).toBe(grade);
    expect(graded.weaknesses.map((w) => w.code)).toEqual(weaknesses);
  });

  it("gives every weakness a grade, a label and a one-line reason", () => {
    for (const w of Object.values(WEAKNESSES)) {
      expect(w.grade).toBeGreaterThanOrEqual(ACCEPTABLE);
      expect(w.label.length).toBeGreaterThan(2);
      expect(w.reason).not.toMatch(/\n/);
      expect(weaknessLabel(w.code)).toBe(w.label);
    }
    expect(weaknessLabel("from_a_newer_agent")).toBe("from_a_newer_agent");
  });
});
