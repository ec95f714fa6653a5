// The cipher-suite catalogue: every suite the scan offers (cipher-suites.ts), what its IANA name
// says it is made of, and what is wrong with it — each weakness with a grade and one line that
// says why. The grade of a suite is that of its worst weakness in the version it was accepted in
// (CBC is only a weakness where TLS 1.2 offers AEAD instead). Pure.
import { CipherGrade, TlsVersion } from "../../../gen/smtpprobe/v1/handshake.js";
import { CIPHER_SUITE_TABLE } from "./cipher-suites.js";

export interface CipherSuite {
  code: number;
  /** The IANA name ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"). */
  name: string;
  /** Key exchange as the name says it ("ECDHE_RSA", "RSA", "DH_anon", ...); "" for TLS 1.3 suites. */
  keyExchange: string;
  /** Bulk cipher ("AES_128_GCM", "3DES_EDE_CBC", "NULL", ...). */
  cipher: string;
  /** "MD5", "SHA" (SHA-1), "SHA256", "SHA384", or "AEAD" for the suites whose name has none (CCM). */
  mac: string;
  /** A TLS 1.3 suite (RFC 8446 §B.4): valid in TLS 1.3 only. */
  tls13: boolean;
  /** Defined for TLS 1.2 only (AEAD, SHA-256/384 MACs, RFC 5246 §1.2). */
  tls12Only: boolean;
  /** The kind of certificate key the suite authenticates with: "RSA", "ECDSA", "DSA", "" (anonymous, PSK, or any in TLS 1.3). */
  authKey: string;
  /** How the server's key-exchange message is read: ephemeral EC or finite-field DH, or neither. */
  serverKeyExchange: "ecdhe" | "dhe" | "none";
}

export interface Weakness {
  code: string;
  /** A few words for a list ("RSA key exchange, no forward secrecy"). */
  label: string;
  grade: CipherGrade;
  /** One line for a person: what is wrong. */
  reason: string;
}

/** The catalogue's weaknesses, worst first; a suite's list keeps this order. */
export const WEAKNESSES = {
  null_cipher: {
    code: "null_cipher",
    label: "no encryption",
    grade: CipherGrade.CIPHER_GRADE_INSECURE,
    reason: "no encryption at all: the mail crosses the network in cleartext inside TLS records",
  },
  anonymous: {
    code: "anonymous",
    label: "no authentication",
    grade: CipherGrade.CIPHER_GRADE_INSECURE,
    reason: "anonymous key exchange: the server is not authenticated, so anyone on the path can stand in for it",
  },
  export: {
    code: "export",
    label: "export-grade",
    grade: CipherGrade.CIPHER_GRADE_INSECURE,
    reason: "export-grade keys (40 or 56 bits, 512-bit RSA or DH): broken in minutes (FREAK, Logjam)",
  },
  rc4: {
    code: "rc4",
    label: "RC4",
    grade: CipherGrade.CIPHER_GRADE_INSECURE,
    reason: "RC4: its keystream biases reveal repeated plaintext; prohibited by RFC 7465",
  },
  des: {
    code: "des",
    label: "single DES",
    grade: CipherGrade.CIPHER_GRADE_INSECURE,
    reason: "single DES: a 56-bit key, found by brute force in hours",
  },
  block_64: {
    code: "block_64",
    label: "64-bit block (Sweet32)",
    grade: CipherGrade.CIPHER_GRADE_WEAK,
    reason: "a 64-bit block cipher (3DES, IDEA): the Sweet32 birthday attack recovers plaintext from long sessions",
  },
  static_rsa: {
    code: "static_rsa",
    label: "RSA key exchange, no forward secrecy",
    grade: CipherGrade.CIPHER_GRADE_WEAK,
    reason: "RSA key exchange: no forward secrecy (the server's key decrypts recorded sessions) and open to RSA padding oracles (ROBOT)",
  },
  static_dh: {
    code: "static_dh",
    label: "static key exchange, no forward secrecy",
    grade: CipherGrade.CIPHER_GRADE_WEAK,
    reason: "static (EC)DH or plain PSK key exchange: no forward secrecy, the same secret protects every session",
  },
  cbc_sha1: {
    code: "cbc_sha1",
    label: "CBC with SHA-1",
    grade: CipherGrade.CIPHER_GRADE_ACCEPTABLE,
    reason: "CBC with HMAC-SHA1, MAC-then-encrypt: padding oracles (Lucky13 and its kin) keep resurfacing; kept only for old peers",
  },
  cbc_tls12: {
    code: "cbc_tls12",
    label: "CBC in TLS 1.2",
    grade: CipherGrade.CIPHER_GRADE_ACCEPTABLE,
    reason: "CBC in TLS 1.2, where AEAD suites (AES-GCM, ChaCha20-Poly1305) avoid CBC's padding oracles",
  },
  short_tag: {
    code: "short_tag",
    label: "8-byte tag",
    grade: CipherGrade.CIPHER_GRADE_ACCEPTABLE,
    reason: "CCM with an 8-byte tag: a shorter integrity check than other AEAD suites",
  },
} as const satisfies Record<string, Weakness>;

/** A weakness code in a few words; an unknown code (a newer agent's) as it is. */
export function weaknessLabel(code: string): string {
  return (WEAKNESSES as Record<string, Weakness>)[code]?.label ?? code;
}

export interface GradedSuite {
  suite: CipherSuite;
  grade: CipherGrade;
  /** Worst first. */
  weaknesses: Weakness[];
}

/** Every suite of the catalogue, in code-point order. */
export const CIPHER_SUITES: readonly CipherSuite[] = parseTable(CIPHER_SUITE_TABLE);

const BY_CODE = new Map(CIPHER_SUITES.map((s) => [s.code, s]));

export function suiteByCode(code: number): CipherSuite | undefined {
  return BY_CODE.get(code);
}

/** The suite's IANA name, or its value in hex when the catalogue does not know it. */
export function suiteName(code: number): string {
  return BY_CODE.get(code)?.name ?? `0x${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Whether a suite can be negotiated in a version (RFC 8446 §B.4; RFC 5246 §1.2 for the TLS 1.2-only suites). */
export function isValidIn(suite: CipherSuite, version: TlsVersion): boolean {
  if (version === TlsVersion.TLS_VERSION_TLS_1_3) return suite.tls13;
  if (suite.tls13) return false;
  return !suite.tls12Only || version === TlsVersion.TLS_VERSION_TLS_1_2;
}

/** The suites a hello for `version` offers, strongest first (as a real client lists them). */
export function candidatesFor(version: TlsVersion): CipherSuite[] {
  return CIPHER_SUITES.filter((s) => isValidIn(s, version)).sort((a, b) => gradeOf(a, version).grade - gradeOf(b, version).grade || a.code - b.code);
}

/** A suite's weaknesses in a version, worst first, and its grade. */
export function gradeOf(suite: CipherSuite, version: TlsVersion): GradedSuite {
  const weaknesses: Weakness[] = [];
  const add = (w: Weakness, when: boolean): void => {
    if (when) weaknesses.push(w);
  };
  const kx = suite.keyExchange;
  const cipher = suite.cipher;
  const cbc = /_CBC/.test(cipher);
  add(WEAKNESSES.null_cipher, cipher === "NULL");
  add(WEAKNESSES.anonymous, /anon/.test(kx));
  add(WEAKNESSES.export, /EXPORT/.test(kx));
  add(WEAKNESSES.rc4, cipher.startsWith("RC4"));
  add(WEAKNESSES.des, /^DES(40)?_CBC/.test(cipher));
  add(WEAKNESSES.block_64, /^(3DES|IDEA)/.test(cipher));
  // RSA_PSK also encrypts its premaster secret to the server's RSA key.
  add(WEAKNESSES.static_rsa, /^RSA(_PSK)?$/.test(kx));
  // SRP's exchange is ephemeral (RFC 5054), so it keeps forward secrecy.
  add(WEAKNESSES.static_dh, /^(DH_(DSS|RSA)|ECDH_(ECDSA|RSA)|PSK|KRB5)$/.test(kx));
  add(WEAKNESSES.cbc_sha1, cbc && suite.mac === "SHA");
  add(WEAKNESSES.cbc_tls12, cbc && version === TlsVersion.TLS_VERSION_TLS_1_2);
  add(WEAKNESSES.short_tag, /CCM_8/.test(cipher));
  weaknesses.sort((a, b) => b.grade - a.grade);
  const grade = weaknesses[0]?.grade ?? CipherGrade.CIPHER_GRADE_STRONG;
  return { suite, grade, weaknesses };
}

/** "TLS_{KX}_WITH_{CIPHER}_{MAC}", or "TLS_{CIPHER}_{HASH}" for TLS 1.3 (RFC 8446 §B.4). */
export function parseSuiteName(code: number, name: string): CipherSuite {
  const bare = name.replace(/_OLD$/, "");
  const withAt = bare.indexOf("_WITH_");
  if (withAt === -1) {
    const rest = bare.replace(/^TLS_/, "");
    return { code, name, keyExchange: "", cipher: rest.replace(/_SHA(256|384)$|_SM3$/, ""), mac: "AEAD", tls13: true, tls12Only: false, authKey: "", serverKeyExchange: "none" };
  }
  const keyExchange = bare.slice(4, withAt);
  const right = bare.slice(withAt + 6);
  const macMatch = /_(MD5|SHA|SHA256|SHA384)$/.exec(right);
  const aead = /GCM|CCM|CHACHA20/.test(right);
  const mac = macMatch && !aead ? macMatch[1]! : "AEAD";
  const cipher = macMatch ? right.slice(0, -macMatch[0].length) : right;
  const tls12Only = aead || mac === "SHA256" || mac === "SHA384";
  return { code, name, keyExchange, cipher, mac, tls13: false, tls12Only, authKey: authKeyOf(keyExchange), serverKeyExchange: serverKeyExchangeOf(keyExchange) };
}

function authKeyOf(kx: string): string {
  if (/anon|^PSK$|^DHE_PSK$|^ECDHE_PSK$|^PSK_DHE$|^KRB5|^SRP_SHA$/.test(kx)) return "";
  if (/ECDSA/.test(kx)) return "ECDSA";
  if (/DSS/.test(kx)) return "DSA";
  return "RSA";
}

/** The (EC)DHE parameters lead the ServerKeyExchange only without PSK (RFC 4279 §3 puts an identity hint first). */
function serverKeyExchangeOf(kx: string): "ecdhe" | "dhe" | "none" {
  if (/PSK/.test(kx)) return "none";
  if (/^ECDHE_|^ECDH_anon$/.test(kx)) return "ecdhe";
  if (/^DHE_|^DH_anon$/.test(kx)) return "dhe";
  return "none";
}

function parseTable(table: string): CipherSuite[] {
  return table
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [hex = "", name = ""] = line.split(" ");
      return parseSuiteName(Number.parseInt(hex, 16), name);
    })
    .sort((a, b) => a.code - b.code);
}
