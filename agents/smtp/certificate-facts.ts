// One certificate as the report describes it: names, validity, key type and size, and the
// signature algorithm read from the DER. Pure: it reads an X509Certificate, never a socket.
import type { KeyObject, X509Certificate } from "node:crypto";
import type { Certificate } from "../../gen/smtpprobe/v1/handshake.js";

/** What the report says about one certificate. Never throws: unknown algorithms come out empty or dotted. */
export function describeCertificate(x509: X509Certificate): Certificate {
  const key = describeKey(x509.publicKey);
  return {
    subject: oneLineName(x509.subject),
    issuer: oneLineName(x509.issuer),
    subjectAltNames: x509.subjectAltName ? x509.subjectAltName.split(", ") : [],
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    keyType: key.type,
    keyBits: key.bits,
    curve: key.curve,
    signatureAlgorithm: signatureAlgorithm(x509.raw),
    fingerprintSha256: x509.fingerprint256,
    serialNumber: x509.serialNumber,
    selfSigned: isSelfSigned(x509),
  };
}

/**
 * RFC 5280 §3.2: issued by itself, and its signature verifies with its own key. Not checkIssued():
 * OpenSSL's test also wants keyCertSign in the key usage, which a self-signed server certificate
 * (digitalSignature, keyEncipherment) usually lacks.
 */
function isSelfSigned(x509: X509Certificate): boolean {
  if (x509.subject !== x509.issuer) return false;
  try {
    return x509.verify(x509.publicKey);
  } catch {
    return false; // a key or signature algorithm this Node cannot check
  }
}

/** "CN=mx.example.com, O=Example": a distinguished name as Node gives it (one RDN a line) on one line. */
export function oneLineName(name: string): string {
  return name.split("\n").filter(Boolean).join(", ");
}

function describeKey(key: KeyObject): { type: string; bits: number; curve: string } {
  const details = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType ?? "";
  const curve = details.namedCurve ?? "";
  const bits = details.modulusLength ?? CURVE_BITS[curve] ?? (type === "ed25519" ? 256 : type === "ed448" ? 456 : 0);
  return { type: KEY_TYPE_NAMES[type] ?? type, bits, curve };
}

const KEY_TYPE_NAMES: Record<string, string> = {
  rsa: "RSA",
  "rsa-pss": "RSA-PSS",
  dsa: "DSA",
  ec: "EC",
  ed25519: "Ed25519",
  ed448: "Ed448",
};

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521, secp256k1: 256, secp224r1: 224 };

/**
 * The signature algorithm of a DER certificate: Certificate ::= SEQUENCE { tbsCertificate,
 * signatureAlgorithm AlgorithmIdentifier, signatureValue } (RFC 5280 §4.1). Node's X509Certificate
 * does not expose it before Node 23, so the OID is read from the DER here.
 */
export function signatureAlgorithm(der: Buffer): string {
  try {
    const outer = readTlv(der, 0);
    const tbs = readTlv(der, outer.contentStart);
    const algorithm = readTlv(der, tbs.end);
    const oid = readTlv(der, algorithm.contentStart);
    if (oid.tag !== 0x06) return "";
    const dotted = decodeOid(der.subarray(oid.contentStart, oid.end));
    return SIGNATURE_OIDS[dotted] ?? dotted;
  } catch {
    return "";
  }
}

function readTlv(buf: Buffer, at: number): { tag: number; contentStart: number; end: number } {
  const tag = buf[at];
  let length = buf[at + 1];
  if (tag === undefined || length === undefined) throw new RangeError("truncated DER");
  let contentStart = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new RangeError("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[contentStart + i] ?? 0);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > buf.length) throw new RangeError("truncated DER");
  return { tag, contentStart, end };
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join(".");
}

const SIGNATURE_OIDS: Record<string, string> = {
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
};
