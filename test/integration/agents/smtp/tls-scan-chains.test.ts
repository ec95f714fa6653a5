// A server with two certificates, RSA and ECDSA (what a TLS library picks by the client's suites
// and signature algorithms): the scan shows the chain each kind of client gets, because they differ.
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "selfsigned";
import { TlsScanStatus } from "../../../../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../../../helpers/certs.js";
import { listenLoopback } from "../../../helpers/wait.js";
import { probeOnce } from "./probe-helpers.js";

describe("the chains per key type", () => {
  let server: tls.Server;
  let port: number;
  beforeAll(async () => {
    const pki = await testPki();
    const rsa = await pki.leaf({ names: ["rsa.example.test"] });
    const ec = await generate([{ name: "commonName", value: "ecdsa.example.test" }], { keyType: "ec", curve: "P-256", algorithm: "sha256" });
    // Implicit TLS: the greeting after the handshake. TLS 1.2 at most, so that the chain is in clear.
    server = tls.createServer({ key: [rsa.keyPem, ec.private], cert: [rsa.certPem, ec.cert], maxVersion: "TLSv1.2" }, (socket) => {
      socket.on("error", () => undefined);
      socket.write("220 dual.example.test ESMTP\r\n");
      socket.on("data", (data: Buffer) => {
        const line = data.toString("latin1");
        if (/^QUIT/i.test(line)) socket.end("221 bye\r\n");
        else socket.write("250 dual.example.test\r\n");
      });
    });
    server.on("tlsClientError", () => undefined);
    port = await listenLoopback(server);
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it("reads the RSA and the ECDSA chain from the ServerHello flights, and shows both", async () => {
    const r = await probeOnce(port, { tlsScan: true, tlsMode: 3, timeouts: { deadlineMs: 30_000 } });
    const profile = r.tlsProfile!;
    expect(profile.status, profile.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(profile.chains.map((c) => [c.keyType, c.chain[0]?.subject, c.chain[0]?.keyType])).toEqual([
      ["ECDSA", "CN=ecdsa.example.test", "EC"],
      ["RSA", "CN=rsa.example.test", "RSA"],
    ]);
  });
});
