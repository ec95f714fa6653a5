// Certificates for the lab's SMTP servers: a CA made for the occasion and a leaf per server signed by
// it, with the server's names and addresses in the SAN. The agents trust the CA (--ca-file), so
// that what the demo shows is the network's doing, not an untrusted certificate.
import { generateKeyPair } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import { generate } from "selfsigned";
import type { PemPair } from "./smtp-target.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const generateKeyPairAsync = promisify(generateKeyPair);

async function rsaKey(): Promise<{ publicKey: string; privateKey: string }> {
  return generateKeyPairAsync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
}

export interface LabCertificates {
  ca: PemPair;
  /** A leaf per server, in the order of `servers`. */
  leaves: PemPair[];
}

/** A CA and one leaf per entry of `servers` (each a list of DNS names and IP addresses, the first also the CN). */
export async function labCertificates(servers: readonly (readonly string[])[]): Promise<LabCertificates> {
  const now = Date.now();
  // An hour back tolerates clock skew; 90 days ahead keeps the probe's "expires soon" finding away.
  const validity = { notBeforeDate: new Date(now - 60 * 60 * 1000), notAfterDate: new Date(now + 90 * DAY_MS) };
  const [caKey, leafKey] = await Promise.all([rsaKey(), rsaKey()]);
  const ca = await generate([{ name: "commonName", value: "smtp-probe lab CA" }], {
    keyPair: caKey,
    algorithm: "sha256",
    ...validity,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaves = await Promise.all(
    servers.map(async (names) => {
      const made = await generate([{ name: "commonName", value: names[0] ?? "lab.test" }], {
        keyPair: leafKey,
        algorithm: "sha256",
        ...validity,
        ca: { key: ca.private, cert: ca.cert },
        extensions: [
          { name: "basicConstraints", cA: false },
          { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
          { name: "extKeyUsage", serverAuth: true },
          { name: "subjectAltName", altNames: names.map((name) => (isIP(name) !== 0 ? { type: 7 as const, ip: name } : { type: 2 as const, value: name })) },
        ],
      });
      return { certPem: made.cert, keyPem: made.private };
    }),
  );
  return { ca: { certPem: ca.cert, keyPem: ca.private }, leaves };
}
