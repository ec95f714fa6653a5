// Pins what each startSmtpFixture() option really puts on the wire (smtp-server 3.21), read with
// a dumb raw client. Note smtp-server waits ~100 ms before its greeting (early-talker check).
import { X509Certificate } from "node:crypto";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { testPki } from "../../helpers/certs.js";
import { stopAfterEach } from "../../helpers/cleanup.js";
import { connectRaw, type RawClient } from "../../helpers/raw-client.js";
import { startSmtpFixture, type SmtpFixture, type SmtpFixtureOptions } from "../../helpers/smtp-fixture.js";

const t = 500;

describe("startSmtpFixture", () => {
  const track = stopAfterEach();

  async function open(opts: SmtpFixtureOptions = {}): Promise<{ fixture: SmtpFixture; client: RawClient; ca: string }> {
    const pki = await testPki();
    const fixture = track(await startSmtpFixture(opts));
    const client = track(
      await connectRaw({
        host: fixture.host,
        port: fixture.port,
        tls: opts.implicitTls ? { ca: pki.ca.certPem, servername: "fixture.test" } : undefined,
        timeoutMs: t,
      }),
    );
    return { fixture, client, ca: pki.ca.certPem };
  }

  it("default: STARTTLS offered, AUTH only after TLS", async () => {
    const { fixture, client, ca } = await open();
    expect(fixture.host).toBe("127.0.0.1");
    expect((await client.readReply()).raw).toBe("220 fixture.test ESMTP");
    expect((await client.command("EHLO client.test")).raw).toBe(
      ["250-fixture.test Nice to meet you, [127.0.0.1]", "250-PIPELINING", "250-8BITMIME", "250-SMTPUTF8", "250 STARTTLS"].join("\r\n"),
    );
    expect((await client.command("STARTTLS")).raw).toBe("220 Ready to start TLS");
    const secure = await client.startTls({ ca, servername: "fixture.test" });
    expect(secure.authorized).toBe(true);
    expect((await client.command("EHLO client.test")).lines).toEqual([
      "fixture.test Nice to meet you, [127.0.0.1]",
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "AUTH LOGIN PLAIN",
    ]);
    expect((await client.command("QUIT")).raw).toBe("221 Bye");
    expect(await client.closed()).toBe("end");
    expect(fixture.servernames()).toEqual(["fixture.test"]);
    expect(fixture.connections()).toBe(1);
  });

  it("starttls hidden: not in EHLO, still works", async () => {
    const { client, ca } = await open({ starttls: "hidden" });
    await client.readReply();
    expect((await client.command("EHLO client.test")).lines).toEqual([
      "fixture.test Nice to meet you, [127.0.0.1]",
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
    ]);
    expect((await client.command("STARTTLS")).code).toBe(220);
    expect((await client.startTls({ ca, servername: "fixture.test" })).authorized).toBe(true);
  });

  it("starttls disabled: 500 on STARTTLS (and on AUTH, which never comes)", async () => {
    const { client } = await open({ starttls: "disabled" });
    await client.readReply();
    expect((await client.command("EHLO client.test")).lines).not.toContain("STARTTLS");
    expect((await client.command("STARTTLS")).raw).toBe("500 Error: command not recognized");
    expect((await client.command("AUTH PLAIN AGEAYg==")).raw).toBe("500 Error: command not recognized");
  });

  it("authBeforeTls and size: AUTH and SIZE in the plaintext EHLO", async () => {
    const { client } = await open({ authBeforeTls: true, size: 1000 });
    await client.readReply();
    expect((await client.command("EHLO client.test")).lines).toEqual([
      "fixture.test Nice to meet you, [127.0.0.1]",
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "AUTH LOGIN PLAIN",
      "STARTTLS",
      "SIZE 1000",
    ]);
    expect((await client.command("AUTH PLAIN AGEAYg==")).raw).toBe("535 Authentication not implemented");
  });

  it.each([
    [554, "554 go away"],
    [421, "421 try later"],
  ] as const)("rejectConnection %i: one reply instead of the greeting, then FIN", async (code, wire) => {
    const message = code === 554 ? "go away" : "try later";
    const { client } = await open({ rejectConnection: { code, message } });
    expect((await client.readReply()).raw).toBe(wire);
    expect(await client.closed()).toBe("end");
  });

  it("banner, hideEhloExtensions, showEhloExtensions", async () => {
    const { client, ca } = await open({
      banner: "hello there",
      hideEhloExtensions: ["PIPELINING", "8BITMIME", "SMTPUTF8"],
      showEhloExtensions: ["ENHANCEDSTATUSCODES", "DSN", "REQUIRETLS"],
    });
    expect((await client.readReply()).raw).toBe("220 fixture.test ESMTP hello there");
    expect((await client.command("EHLO client.test")).lines).toEqual([
      "fixture.test Nice to meet you, [127.0.0.1]",
      "ENHANCEDSTATUSCODES",
      "DSN",
      "STARTTLS",
    ]);
    // ENHANCEDSTATUSCODES also puts enhanced codes on the replies.
    expect((await client.command("STARTTLS")).raw).toBe("220 2.0.0 Ready to start TLS");
    await client.startTls({ ca, servername: "fixture.test" });
    // REQUIRETLS is only shown inside TLS.
    expect((await client.command("EHLO client.test")).lines.slice(1)).toEqual([
      "ENHANCEDSTATUSCODES",
      "DSN",
      "AUTH LOGIN PLAIN",
      "REQUIRETLS",
    ]);
    expect((await client.command("QUIT")).raw).toBe("221 2.0.0 Bye");
  });

  it("disabledCommands EHLO: 500, and HELO works", async () => {
    const { client } = await open({ disabledCommands: ["EHLO"] });
    await client.readReply();
    expect((await client.command("EHLO client.test")).raw).toBe("500 Error: command not recognized");
    expect((await client.command("HELO client.test")).raw).toBe("250 fixture.test Nice to meet you, [127.0.0.1]");
  });

  it("implicitTls: TLS from the first byte, no STARTTLS, AUTH shown", async () => {
    const { client, fixture } = await open({ implicitTls: true });
    expect((await client.readReply()).raw).toBe("220 fixture.test ESMTP");
    expect((await client.command("EHLO client.test")).lines).toEqual([
      "fixture.test Nice to meet you, [127.0.0.1]",
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "AUTH LOGIN PLAIN",
    ]);
    expect(fixture.servernames()).toEqual(["fixture.test"]);
  });

  it("serves the certificate it is given", async () => {
    const pki = await testPki();
    const expired = await pki.leaf({ names: ["old.test"], expired: true });
    const { client } = await open({ tls: expired });
    await client.readReply();
    await client.command("EHLO client.test");
    await client.command("STARTTLS");
    const secure = await client.startTls({ ca: pki.ca.certPem, servername: "old.test", rejectUnauthorized: false });
    expect(secure.authorizationError?.toString()).toBe("CERT_HAS_EXPIRED");
    const peer = secure.getPeerX509Certificate();
    expect(peer?.fingerprint256).toBe(new X509Certificate(expired.certPem).fingerprint256);
  });

  it("useCertificate: the next STARTTLS on the same port presents the new one", async () => {
    const pki = await testPki();
    const [first, second] = await Promise.all([pki.leaf({ names: ["fixture.test"] }), pki.leaf({ names: ["fixture.test"] })]);
    const { fixture, client } = await open({ tls: first });
    const peerAfterStartTls = async (c: RawClient): Promise<string | undefined> => {
      await c.readReply();
      await c.command("EHLO client.test");
      await c.command("STARTTLS");
      return (await c.startTls({ ca: pki.ca.certPem, servername: "fixture.test" })).getPeerX509Certificate()?.fingerprint256;
    };
    expect(await peerAfterStartTls(client)).toBe(new X509Certificate(first.certPem).fingerprint256);
    fixture.useCertificate(second);
    const again = track(await connectRaw({ host: fixture.host, port: fixture.port, timeoutMs: t }));
    expect(await peerAfterStartTls(again)).toBe(new X509Certificate(second.certPem).fingerprint256);
  });

  it("stop() closes open sessions, even mid-handshake, and the port", async () => {
    const fixture = await startSmtpFixture({});
    const idle = await connectRaw({ host: fixture.host, port: fixture.port, timeoutMs: t });
    await idle.readReply();
    const upgrading = await connectRaw({ host: fixture.host, port: fixture.port, timeoutMs: t });
    await upgrading.readReply();
    await upgrading.command("EHLO client.test");
    await upgrading.command("STARTTLS");
    upgrading.socket().write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); // half a ClientHello
    const implicit = await startSmtpFixture({ implicitTls: true });
    const pending = net.connect({ host: implicit.host, port: implicit.port });
    pending.on("error", () => undefined);
    await new Promise((resolve) => pending.once("connect", resolve));

    const started = Date.now();
    await Promise.all([fixture.stop(), implicit.stop()]);
    expect(Date.now() - started).toBeLessThan(t);
    expect(await idle.closed()).toBe("end");
    expect(await upgrading.closed()).toBe("end");
    await expect(connectRaw({ host: fixture.host, port: fixture.port, timeoutMs: t })).rejects.toThrow(/ECONNREFUSED/);
    pending.destroy();
  });
});
