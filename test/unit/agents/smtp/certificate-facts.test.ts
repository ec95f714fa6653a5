import { execFile } from "node:child_process";
import { generateKeyPair, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeCertificate, oneLineName, signatureAlgorithm } from "../../../../agents/smtp/certificate-facts.js";
import { testPki } from "../../../helpers/certs.js";

const execFileAsync = promisify(execFile);
const generateKeyPairAsync = promisify(generateKeyPair);

/** How a certificate of the table is made. */
type Recipe =
  | { by: "selfsigned"; keyType: "rsa"; bits: 1024 | 2048; hash: "sha1" | "sha256" | "sha384" | "sha512" }
  | { by: "selfsigned"; keyType: "ec"; curve: "P-256" | "P-384" | "P-521"; hash: "sha1" | "sha256" | "sha384" | "sha512" }
  // selfsigned signs with RSA and ECDSA only; EdDSA, RSA-PSS and DSA certificates come from openssl.
  | { by: "openssl"; newkey: string[]; sign: string[] };

interface Row {
  name: string;
  recipe: Recipe;
  keyType: string;
  keyBits: number;
  curve: string;
  signatureAlgorithm: string;
}

const TABLE: Row[] = [
  { name: "RSA 1024, SHA-256", recipe: { by: "selfsigned", keyType: "rsa", bits: 1024, hash: "sha256" }, keyType: "RSA", keyBits: 1024, curve: "", signatureAlgorithm: "sha256WithRSAEncryption" },
  { name: "RSA 2048, SHA-1", recipe: { by: "selfsigned", keyType: "rsa", bits: 2048, hash: "sha1" }, keyType: "RSA", keyBits: 2048, curve: "", signatureAlgorithm: "sha1WithRSAEncryption" },
  { name: "RSA 2048, SHA-256", recipe: { by: "selfsigned", keyType: "rsa", bits: 2048, hash: "sha256" }, keyType: "RSA", keyBits: 2048, curve: "", signatureAlgorithm: "sha256WithRSAEncryption" },
  { name: "RSA 2048, SHA-384", recipe: { by: "selfsigned", keyType: "rsa", bits: 2048, hash: "sha384" }, keyType: "RSA", keyBits: 2048, curve: "", signatureAlgorithm: "sha384WithRSAEncryption" },
  { name: "RSA 2048, SHA-512", recipe: { by: "selfsigned", keyType: "rsa", bits: 2048, hash: "sha512" }, keyType: "RSA", keyBits: 2048, curve: "", signatureAlgorithm: "sha512WithRSAEncryption" },
  { name: "ECDSA P-256, SHA-1", recipe: { by: "selfsigned", keyType: "ec", curve: "P-256", hash: "sha1" }, keyType: "EC", keyBits: 256, curve: "prime256v1", signatureAlgorithm: "ecdsa-with-SHA1" },
  { name: "ECDSA P-256, SHA-256", recipe: { by: "selfsigned", keyType: "ec", curve: "P-256", hash: "sha256" }, keyType: "EC", keyBits: 256, curve: "prime256v1", signatureAlgorithm: "ecdsa-with-SHA256" },
  { name: "ECDSA P-384, SHA-384", recipe: { by: "selfsigned", keyType: "ec", curve: "P-384", hash: "sha384" }, keyType: "EC", keyBits: 384, curve: "secp384r1", signatureAlgorithm: "ecdsa-with-SHA384" },
  { name: "ECDSA P-521, SHA-512", recipe: { by: "selfsigned", keyType: "ec", curve: "P-521", hash: "sha512" }, keyType: "EC", keyBits: 521, curve: "secp521r1", signatureAlgorithm: "ecdsa-with-SHA512" },
  { name: "Ed25519", recipe: { by: "openssl", newkey: ["ed25519"], sign: [] }, keyType: "Ed25519", keyBits: 256, curve: "", signatureAlgorithm: "Ed25519" },
  { name: "Ed448", recipe: { by: "openssl", newkey: ["ed448"], sign: [] }, keyType: "Ed448", keyBits: 456, curve: "", signatureAlgorithm: "Ed448" },
  {
    name: "RSA-PSS key and signature",
    recipe: { by: "openssl", newkey: ["rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"], sign: ["-sha256", "-sigopt", "rsa_padding_mode:pss"] },
    keyType: "RSA-PSS",
    keyBits: 2048,
    curve: "",
    signatureAlgorithm: "RSASSA-PSS",
  },
  // No name of ours for DSA with SHA-256: the OID passes through dotted (findings.ts knows the weak ones).
  { name: "DSA 2048, SHA-256", recipe: { by: "openssl", newkey: ["dsa:DSA_PARAMS"], sign: ["-sha256"] }, keyType: "DSA", keyBits: 2048, curve: "", signatureAlgorithm: "2.16.840.1.101.3.4.3.2" },
];

const DAY_MS = 86_400_000;
let workDir: string;
const rsaKeys = new Map<number, Promise<{ publicKey: string; privateKey: string }>>();

/** One RSA key per size for all rows of that size: key generation is the slow part. */
function rsaKey(bits: number): Promise<{ publicKey: string; privateKey: string }> {
  let key = rsaKeys.get(bits);
  if (!key) {
    key = generateKeyPairAsync("rsa", {
      modulusLength: bits,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    rsaKeys.set(bits, key);
  }
  return key;
}

async function makeCertificate(name: string, recipe: Recipe): Promise<X509Certificate> {
  if (recipe.by === "selfsigned") {
    const made = await generate([{ name: "commonName", value: "facts.test" }], {
      algorithm: recipe.hash,
      notBeforeDate: new Date(Date.now() - DAY_MS),
      notAfterDate: new Date(Date.now() + DAY_MS),
      ...(recipe.keyType === "rsa" ? { keyType: "rsa", keyPair: await rsaKey(recipe.bits) } : { keyType: "ec", curve: recipe.curve }),
    });
    return new X509Certificate(made.cert);
  }
  const out = join(workDir, `${name.replace(/\W+/g, "-")}.pem`);
  const newkey = recipe.newkey.map((arg) => arg.replace("DSA_PARAMS", join(workDir, "dsa-params.pem")));
  const args = ["req", "-x509", "-nodes", "-newkey", ...newkey, ...recipe.sign, "-keyout", join(workDir, "key.pem"), "-subj", "/CN=facts.test", "-days", "1", "-out", out];
  await execFileAsync("openssl", args, { timeout: 10_000 });
  return new X509Certificate(await readFile(out));
}

const certificates = new Map<string, X509Certificate>();

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "certificate-facts-"));
  await execFileAsync("openssl", ["dsaparam", "-out", join(workDir, "dsa-params.pem"), "2048"], { timeout: 20_000 });
  // One after another: openssl writes its key to the same scratch file.
  for (const row of TABLE) certificates.set(row.name, await makeCertificate(row.name, row.recipe));
}, 60_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("describeCertificate: key and signature, per kind of certificate", () => {
  it.each(TABLE)("$name", (row) => {
    const cert = certificates.get(row.name)!;
    const described = describeCertificate(cert);
    expect({ keyType: described.keyType, keyBits: described.keyBits, curve: described.curve, signatureAlgorithm: described.signatureAlgorithm }).toEqual({
      keyType: row.keyType,
      keyBits: row.keyBits,
      curve: row.curve,
      signatureAlgorithm: row.signatureAlgorithm,
    });
    expect(signatureAlgorithm(cert.raw)).toBe(row.signatureAlgorithm);
    expect(described.subject).toBe("CN=facts.test");
    // selfsigned's key usage lacks keyCertSign, as a server certificate's does: still self-signed.
    expect(described.selfSigned).toBe(true);
  });
});

describe("describeCertificate: names, validity and identity", () => {
  it("a leaf issued by a CA: names on one line, SANs as a list, not self-signed", async () => {
    const pki = await testPki();
    const leaf = new X509Certificate((await pki.leaf({ names: ["mx.facts.test", "192.0.2.25"] })).certPem);
    const described = describeCertificate(leaf);
    expect(described.subject).toBe("CN=mx.facts.test");
    expect(described.issuer).toBe("CN=smtp-probe test CA");
    expect(described.subjectAltNames).toEqual(["DNS:mx.facts.test", "IP Address:192.0.2.25"]);
    expect(described.selfSigned).toBe(false);
    expect(described.notBefore?.getTime()).toBe(new Date(leaf.validFrom).getTime());
    expect(described.notAfter?.getTime()).toBe(new Date(leaf.validTo).getTime());
    expect(described.fingerprintSha256).toBe(leaf.fingerprint256);
    expect(described.serialNumber).toBe(leaf.serialNumber);
  });

  it("a leaf named like its issuer is self-issued, not self-signed: another key signed it", async () => {
    const pki = await testPki();
    const lookalike = new X509Certificate((await pki.leaf({ names: ["smtp-probe test CA"] })).certPem);
    expect(lookalike.subject).toBe(lookalike.issuer);
    expect(describeCertificate(lookalike).selfSigned).toBe(false);
    expect(describeCertificate(new X509Certificate(pki.ca.certPem)).selfSigned).toBe(true);
  });

  it.each([
    ["CN=mx.example.com", "CN=mx.example.com"],
    ["C=DE\nO=Example\nCN=mx.example.com", "C=DE, O=Example, CN=mx.example.com"],
    ["", ""],
  ])("oneLineName %j", (name, expected) => {
    expect(oneLineName(name)).toBe(expected);
  });
});

describe("signatureAlgorithm: DER that is not a well-formed certificate", () => {
  /** A real certificate's DER, and the offset of its outer signature algorithm's OID. */
  function rsaSha256(): { der: Buffer; oidAt: number } {
    const der = Buffer.from(certificates.get("RSA 2048, SHA-256")!.raw);
    // sha256WithRSAEncryption, 1.2.840.113549.1.1.11: the last occurrence is the outer AlgorithmIdentifier.
    const oid = Buffer.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
    return { der, oidAt: der.lastIndexOf(oid) };
  }

  it.each<{ name: string; mutate: (der: Buffer, oidAt: number) => Buffer; expected: string }>([
    { name: "unchanged", mutate: (der) => der, expected: "sha256WithRSAEncryption" },
    // sha224WithRSAEncryption has no name of ours: dotted, so the report still says what it is.
    { name: "an OID without a name: dotted", mutate: (der, at) => (der.writeUInt8(0x0e, at + 10), der), expected: "1.2.840.113549.1.1.14" },
    { name: "something else where the OID belongs", mutate: (der, at) => (der.writeUInt8(0x05, at), der), expected: "" },
    { name: "cut inside the signature algorithm", mutate: (der, at) => der.subarray(0, at + 4), expected: "" },
    { name: "cut after the outer header", mutate: (der) => der.subarray(0, 4), expected: "" },
    { name: "one byte", mutate: () => Buffer.from([0x30]), expected: "" },
    { name: "empty", mutate: () => Buffer.alloc(0), expected: "" },
    { name: "a length of more than four octets", mutate: () => Buffer.from([0x30, 0x85, 1, 0, 0, 0, 0]), expected: "" },
    { name: "an indefinite length (BER, not DER)", mutate: () => Buffer.from([0x30, 0x80, 0x00, 0x00]), expected: "" },
    { name: "text, not DER", mutate: () => Buffer.from("-----BEGIN CERTIFICATE-----"), expected: "" },
  ])("$name", ({ mutate, expected }) => {
    const { der, oidAt } = rsaSha256();
    expect(oidAt).toBeGreaterThan(0);
    expect(signatureAlgorithm(mutate(der, oidAt))).toBe(expected);
  });
});
