// A test PKI made in the test process: one CA and leaves signed by it (or self-signed), built
// with `selfsigned` (which signs with @peculiar/x509 over Node's webcrypto), never the openssl CLI.
// RSA key generation is the slow part, so the CA and one leaf key per size are made once per
// process and reused; every leaf() call still gets a certificate of its own (own serial, own
// fingerprint). Pass `freshKey: true` where a test needs two leaves with different keys.
import { generateKeyPair } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import { generate } from "selfsigned";

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface LeafOptions {
  /** DNS names and IP addresses, all in the SAN; the first one is also the subject CN. */
  names: string[];
  /** notAfter one day in the past. */
  expired?: boolean;
  /** notBefore one day in the future. */
  notYetValid?: boolean;
  /** RSA modulus size, default 2048; 1024 for weak-key tests. */
  rsaBits?: number;
  /** Signed by its own key instead of the CA (issuer = subject). */
  selfSigned?: boolean;
  /** A new key instead of the per-process shared one of that size. */
  freshKey?: boolean;
  /** Also usable as a TLS client certificate (extKeyUsage clientAuth), for mutual TLS. */
  clientAuth?: boolean;
}

export interface TestPki {
  ca: PemPair;
  leaf(opts: LeafOptions): Promise<PemPair>;
}

interface KeyPairPem {
  publicKey: string;
  privateKey: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const generateKeyPairAsync = promisify(generateKeyPair);

async function newRsaKey(bits: number): Promise<KeyPairPem> {
  // node:crypto generates in the thread pool: the event loop stays free, unlike a sync call.
  const { publicKey, privateKey } = await generateKeyPairAsync("rsa", {
    modulusLength: bits,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { publicKey, privateKey };
}

const sharedLeafKeys = new Map<number, Promise<KeyPairPem>>();

function sharedLeafKey(bits: number): Promise<KeyPairPem> {
  let key = sharedLeafKeys.get(bits);
  if (!key) {
    key = newRsaKey(bits);
    sharedLeafKeys.set(bits, key);
  }
  return key;
}

async function makeCa(): Promise<PemPair> {
  const keyPair = await newRsaKey(2048);
  const now = Date.now();
  const made = await generate([{ name: "commonName", value: "smtp-probe test CA" }], {
    keyPair,
    algorithm: "sha256",
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + 3650 * DAY_MS),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { certPem: made.cert, keyPem: made.private };
}

function validity(opts: LeafOptions): { notBeforeDate: Date; notAfterDate: Date } {
  const now = Date.now();
  if (opts.expired && opts.notYetValid) {
    throw new Error("leaf(): expired and notYetValid exclude each other");
  }
  if (opts.expired) {
    return { notBeforeDate: new Date(now - 30 * DAY_MS), notAfterDate: new Date(now - DAY_MS) };
  }
  if (opts.notYetValid) {
    return { notBeforeDate: new Date(now + DAY_MS), notAfterDate: new Date(now + 30 * DAY_MS) };
  }
  // An hour back tolerates clock skew between the test process and anything else reading it.
  return { notBeforeDate: new Date(now - 60 * 60 * 1000), notAfterDate: new Date(now + 90 * DAY_MS) };
}

async function makeLeaf(ca: PemPair, opts: LeafOptions): Promise<PemPair> {
  const [first] = opts.names;
  if (first === undefined) {
    throw new Error("leaf(): names must hold at least one DNS name or IP address");
  }
  const bits = opts.rsaBits ?? 2048;
  const keyPair = opts.freshKey ? await newRsaKey(bits) : await sharedLeafKey(bits);
  const altNames = opts.names.map((name) =>
    isIP(name) !== 0 ? { type: 7 as const, ip: name } : { type: 2 as const, value: name },
  );
  const made = await generate([{ name: "commonName", value: first }], {
    keyPair,
    algorithm: "sha256",
    ...validity(opts),
    ...(opts.selfSigned ? {} : { ca: { key: ca.keyPem, cert: ca.certPem } }),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true, ...(opts.clientAuth ? { clientAuth: true } : {}) },
      { name: "subjectAltName", altNames },
    ],
  });
  return { certPem: made.cert, keyPem: made.private };
}

/** A PKI of its own with a new CA, for a certificate that a test's main CA did not issue. */
export async function separatePki(): Promise<TestPki> {
  const ca = await makeCa();
  return { ca, leaf: (opts: LeafOptions) => makeLeaf(ca, opts) };
}

let cached: Promise<TestPki> | undefined;

/** The process-wide test PKI; the first call pays for the CA key. */
export function testPki(): Promise<TestPki> {
  if (!cached) {
    cached = makeCa().then((ca) => ({ ca, leaf: (opts: LeafOptions) => makeLeaf(ca, opts) }));
    // A failed generation must not poison every later test in the process.
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}
