// A DKIM key record (RFC 6376 §3.6.1; Ed25519 keys RFC 8463) read into what a check reports: the
// key's type and size, revocation (an empty p=), test mode (t=y). The key is read by Node's crypto
// (OpenSSL), never parsed by hand. Pure.
import { createPublicKey } from "node:crypto";

export interface DkimKeyFacts {
  keyType: string;
  keyBits: number;
  revoked: boolean;
  testMode: boolean;
  /** Why the record is not a usable key; empty when it is (or is revoked). */
  error: string;
}

/** The record's tags; a record's strings are joined without spaces first. */
export function dkimTags(record: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of record.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (!tags.has(key)) tags.set(key, part.slice(eq + 1).trim());
  }
  return tags;
}

export function readDkimKey(record: string): DkimKeyFacts {
  const tags = dkimTags(record);
  const keyType = (tags.get("k") ?? "rsa").toLowerCase();
  const testMode = (tags.get("t") ?? "").split(":").some((flag) => flag.trim().toLowerCase() === "y");
  const facts: DkimKeyFacts = { keyType, keyBits: 0, revoked: false, testMode, error: "" };
  const version = tags.get("v");
  if (version !== undefined && version !== "DKIM1") return { ...facts, error: `v=${version}: only DKIM1 is defined` };
  const p = tags.get("p");
  if (p === undefined) return { ...facts, error: "no p= tag: not a DKIM key record" };
  const base64 = p.replace(/\s+/g, "");
  if (base64 === "") return { ...facts, revoked: true };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return { ...facts, error: "p= is not base64" };
  const der = Buffer.from(base64, "base64");
  if (keyType === "ed25519") {
    // RFC 8463 §4.2: the bare 32-byte public key.
    if (der.length !== 32) return { ...facts, error: `an Ed25519 key is 32 octets, this one ${der.length}` };
    return { ...facts, keyBits: 256 };
  }
  if (keyType !== "rsa") return { ...facts, error: `k=${keyType}: not a key type DKIM defines (rsa, ed25519)` };
  // RFC 6376 §3.6.1 says RSAPublicKey, and publishers use SubjectPublicKeyInfo: both are read.
  for (const type of ["spki", "pkcs1"] as const) {
    try {
      const key = createPublicKey({ key: der, format: "der", type });
      if (key.asymmetricKeyType !== "rsa") return { ...facts, error: `k=rsa, but p= holds a ${key.asymmetricKeyType ?? "other"} key` };
      return { ...facts, keyBits: key.asymmetricKeyDetails?.modulusLength ?? 0 };
    } catch {
      // next encoding
    }
  }
  return { ...facts, error: "p= does not hold an RSA public key" };
}

/** Selectors tried with --common-dkim-selectors: short and fixed, so the check stays bounded. */
export const COMMON_DKIM_SELECTORS: readonly string[] = [
  "default",
  "dkim",
  "mail",
  "selector1",
  "selector2",
  "google",
  "k1",
  "s1",
  "s2",
  "mxvault",
];

/** A selector is one or more DNS labels (RFC 6376 §3.1). */
export function isValidSelector(selector: string): boolean {
  return selector.length <= 200 && /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i.test(selector);
}
