import { createPrivateKey, X509Certificate } from "node:crypto";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { testPki, type PemPair } from "../../helpers/certs.js";
import { stopAfterEach } from "../../helpers/cleanup.js";
import { listenLoopback, closeServer, withTimeout } from "../../helpers/wait.js";

/** What a Node TLS client says about a server presenting `leaf`, trusting only the test CA. */
async function verdictFor(leaf: PemPair, servername: string, track: ReturnType<typeof stopAfterEach>): Promise<string> {
  const pki = await testPki();
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (socket) => socket.end());
  const port = await listenLoopback(server);
  track({ stop: () => closeServer(server) });
  const verdict = new Promise<string>((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ca: pki.ca.certPem, rejectUnauthorized: false }, () => {
      const error = socket.authorizationError;
      socket.destroy();
      resolve(socket.authorized ? "authorized" : String(error));
    });
    socket.once("error", reject);
  });
  return withTimeout(verdict, 500, "TLS handshake");
}

describe("testPki", () => {
  const track = stopAfterEach();

  it("is made once per process", async () => {
    const [a, b] = await Promise.all([testPki(), testPki()]);
    expect(a).toBe(b);
    const ca = new X509Certificate(a.ca.certPem);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe("CN=smtp-probe test CA");
  });

  it("signs leaves with DNS and IP SANs that a client trusting the CA accepts", async () => {
    const pki = await testPki();
    const leaf = await pki.leaf({ names: ["mx.example.test", "127.0.0.1", "::1"] });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.subject).toBe("CN=mx.example.test");
    expect(cert.issuer).toBe("CN=smtp-probe test CA");
    expect(cert.subjectAltName).toBe("DNS:mx.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(cert.checkIssued(new X509Certificate(pki.ca.certPem))).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
    expect(await verdictFor(leaf, "mx.example.test", track)).toBe("authorized");
    expect(await verdictFor(leaf, "other.example.test", track)).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
  });

  it("makes expired, not-yet-valid, weak and self-signed leaves", async () => {
    const pki = await testPki();
    const now = Date.now();

    const expired = await pki.leaf({ names: ["expired.test"], expired: true });
    expect(new Date(new X509Certificate(expired.certPem).validTo).getTime()).toBeLessThan(now);
    expect(await verdictFor(expired, "expired.test", track)).toBe("CERT_HAS_EXPIRED");

    const early = await pki.leaf({ names: ["early.test"], notYetValid: true });
    expect(new Date(new X509Certificate(early.certPem).validFrom).getTime()).toBeGreaterThan(now);
    expect(await verdictFor(early, "early.test", track)).toBe("CERT_NOT_YET_VALID");

    const weak = await pki.leaf({ names: ["weak.test"], rsaBits: 1024 });
    expect(new X509Certificate(weak.certPem).publicKey.asymmetricKeyDetails?.modulusLength).toBe(1024);
    expect(await verdictFor(weak, "weak.test", track)).toBe("authorized");

    const self = await pki.leaf({ names: ["self.test"], selfSigned: true });
    const selfCert = new X509Certificate(self.certPem);
    expect(selfCert.issuer).toBe(selfCert.subject);
    expect(await verdictFor(self, "self.test", track)).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
  });

  it("shares a key per size unless freshKey is asked for", async () => {
    const pki = await testPki();
    const a = await pki.leaf({ names: ["a.test"] });
    const b = await pki.leaf({ names: ["b.test"] });
    const c = await pki.leaf({ names: ["c.test"], freshKey: true });
    expect(a.keyPem).toBe(b.keyPem);
    expect(c.keyPem).not.toBe(a.keyPem);
    expect(new X509Certificate(a.certPem).fingerprint256).not.toBe(new X509Certificate(b.certPem).fingerprint256);
  });
});
