// The TLS code points the scan speaks: protocol versions, key-exchange groups, signature schemes
// and alerts, with their IANA names (the TLS registries of RFC 8446 §11 and RFC 8447). Pure data.
import { TlsVersion } from "../../../gen/smtpprobe/v1/handshake.js";

/** The versions the scan tests, oldest first. SSLv2 (another hello format entirely) is not tested. */
export const SCANNED_VERSIONS: readonly TlsVersion[] = [
  TlsVersion.TLS_VERSION_SSL_3_0,
  TlsVersion.TLS_VERSION_TLS_1_0,
  TlsVersion.TLS_VERSION_TLS_1_1,
  TlsVersion.TLS_VERSION_TLS_1_2,
  TlsVersion.TLS_VERSION_TLS_1_3,
];

/** ProtocolVersion on the wire (RFC 8446 §4.1.2, RFC 6101 for SSL 3.0). */
export const WIRE_VERSION: Readonly<Record<number, number>> = {
  [TlsVersion.TLS_VERSION_SSL_3_0]: 0x0300,
  [TlsVersion.TLS_VERSION_TLS_1_0]: 0x0301,
  [TlsVersion.TLS_VERSION_TLS_1_1]: 0x0302,
  [TlsVersion.TLS_VERSION_TLS_1_2]: 0x0303,
  [TlsVersion.TLS_VERSION_TLS_1_3]: 0x0304,
};

/** The version a wire value stands for, or undefined (a value no version has). */
export function versionOfWire(wire: number): TlsVersion | undefined {
  for (const version of SCANNED_VERSIONS) if (WIRE_VERSION[version] === wire) return version;
  return undefined;
}

/** "TLS 1.2", "SSL 3.0": a version for people. */
export function versionLabel(version: TlsVersion): string {
  switch (version) {
    case TlsVersion.TLS_VERSION_SSL_3_0:
      return "SSL 3.0";
    case TlsVersion.TLS_VERSION_TLS_1_0:
      return "TLS 1.0";
    case TlsVersion.TLS_VERSION_TLS_1_1:
      return "TLS 1.1";
    case TlsVersion.TLS_VERSION_TLS_1_2:
      return "TLS 1.2";
    case TlsVersion.TLS_VERSION_TLS_1_3:
      return "TLS 1.3";
    default:
      return `version ${version}`;
  }
}

/** A wire version for people, also one the scan does not test ("0x0305"). */
export function wireVersionLabel(wire: number): string {
  const version = versionOfWire(wire);
  return version === undefined ? `0x${wire.toString(16).padStart(4, "0")}` : versionLabel(version);
}

export interface GroupEntry {
  code: number;
  name: string;
  /** Offered in a TLS 1.3 hello (RFC 8446 §4.2.7 and later registrations). */
  tls13: boolean;
  /** An elliptic curve a TLS 1.2 ECDHE suite can use (RFC 8422 §5.1.1). */
  tls12Ecdhe: boolean;
}

const ec = (code: number, name: string, tls13 = false): GroupEntry => ({ code, name, tls13, tls12Ecdhe: true });
const tls13Only = (code: number, name: string): GroupEntry => ({ code, name, tls13: true, tls12Ecdhe: false });

/** The IANA TLS Supported Groups registry, without the GOST curves. */
export const GROUPS: readonly GroupEntry[] = [
  ec(1, "sect163k1"),
  ec(2, "sect163r1"),
  ec(3, "sect163r2"),
  ec(4, "sect193r1"),
  ec(5, "sect193r2"),
  ec(6, "sect233k1"),
  ec(7, "sect233r1"),
  ec(8, "sect239k1"),
  ec(9, "sect283k1"),
  ec(10, "sect283r1"),
  ec(11, "sect409k1"),
  ec(12, "sect409r1"),
  ec(13, "sect571k1"),
  ec(14, "sect571r1"),
  ec(15, "secp160k1"),
  ec(16, "secp160r1"),
  ec(17, "secp160r2"),
  ec(18, "secp192k1"),
  ec(19, "secp192r1"),
  ec(20, "secp224k1"),
  ec(21, "secp224r1"),
  ec(22, "secp256k1"),
  ec(23, "secp256r1", true),
  ec(24, "secp384r1", true),
  ec(25, "secp521r1", true),
  ec(26, "brainpoolP256r1"),
  ec(27, "brainpoolP384r1"),
  ec(28, "brainpoolP512r1"),
  ec(29, "x25519", true),
  ec(30, "x448", true),
  tls13Only(31, "brainpoolP256r1tls13"),
  tls13Only(32, "brainpoolP384r1tls13"),
  tls13Only(33, "brainpoolP512r1tls13"),
  tls13Only(256, "ffdhe2048"),
  tls13Only(257, "ffdhe3072"),
  tls13Only(258, "ffdhe4096"),
  tls13Only(259, "ffdhe6144"),
  tls13Only(260, "ffdhe8192"),
  tls13Only(0x11eb, "SecP256r1MLKEM768"),
  tls13Only(0x11ec, "X25519MLKEM768"),
  tls13Only(0x11ed, "SecP384r1MLKEM1024"),
];

const GROUP_BY_CODE = new Map(GROUPS.map((g) => [g.code, g]));

/** The group's IANA name, or its number in hex when it is not in the registry we know. */
export function groupName(code: number): string {
  return GROUP_BY_CODE.get(code)?.name ?? `0x${code.toString(16).padStart(4, "0")}`;
}

/** Groups a TLS 1.3 hello offers, the most common first (the server picks by its own order anyway). */
export const TLS13_GROUPS: readonly number[] = [29, 23, 24, 25, 30, ...GROUPS.filter((g) => g.tls13 && ![29, 23, 24, 25, 30].includes(g.code)).map((g) => g.code)];

/** Curves a TLS 1.2 (and older) hello offers for ECDHE, the common ones first. */
export const TLS12_CURVES: readonly number[] = [29, 23, 24, 25, 30, ...GROUPS.filter((g) => g.tls12Ecdhe && ![29, 23, 24, 25, 30].includes(g.code)).map((g) => g.code)];

/**
 * Signature schemes offered in TLS 1.2 and 1.3 (RFC 8446 §4.2.3, RFC 5246 §7.4.1.4.1): every one
 * a server might sign with, SHA-1 and DSA included, so that no server refuses for want of one.
 */
export const SIGNATURE_SCHEMES: readonly number[] = [
  0x0403, 0x0503, 0x0603, // ecdsa_secp256r1_sha256, secp384r1_sha384, secp521r1_sha512
  0x0807, 0x0808, // ed25519, ed448
  0x0804, 0x0805, 0x0806, // rsa_pss_rsae_sha256/384/512
  0x0809, 0x080a, 0x080b, // rsa_pss_pss_sha256/384/512
  0x081a, 0x081b, 0x081c, // ecdsa_brainpoolP256r1tls13_sha256, P384, P512
  0x0401, 0x0501, 0x0601, // rsa_pkcs1_sha256/384/512
  0x0303, 0x0301, 0x0302, // ecdsa_sha224, rsa_pkcs1_sha224, dsa_sha224 (RFC 5246 pairs)
  0x0402, 0x0502, 0x0602, // dsa_sha256/384/512
  0x0203, 0x0201, 0x0202, // ecdsa_sha1, rsa_pkcs1_sha1, dsa_sha1
];

/** Alert descriptions (RFC 8446 §6, RFC 5246 §7.2). */
const ALERTS: Readonly<Record<number, string>> = {
  0: "close_notify",
  10: "unexpected_message",
  20: "bad_record_mac",
  21: "decryption_failed",
  22: "record_overflow",
  30: "decompression_failure",
  40: "handshake_failure",
  41: "no_certificate",
  42: "bad_certificate",
  43: "unsupported_certificate",
  44: "certificate_revoked",
  45: "certificate_expired",
  46: "certificate_unknown",
  47: "illegal_parameter",
  48: "unknown_ca",
  49: "access_denied",
  50: "decode_error",
  51: "decrypt_error",
  60: "export_restriction",
  70: "protocol_version",
  71: "insufficient_security",
  80: "internal_error",
  86: "inappropriate_fallback",
  90: "user_canceled",
  100: "no_renegotiation",
  109: "missing_extension",
  110: "unsupported_extension",
  112: "unrecognized_name",
  116: "certificate_required",
  120: "no_application_protocol",
};

/** "handshake_failure (40)". */
export function alertLabel(description: number): string {
  const name = ALERTS[description];
  return name ? `${name} (${description})` : `alert ${description}`;
}
