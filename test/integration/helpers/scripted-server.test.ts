import { readdir } from "node:fs/promises";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { testPki } from "../../helpers/certs.js";
import { stopAfterEach } from "../../helpers/cleanup.js";
import { connectRaw } from "../../helpers/raw-client.js";
import { loadServerCase, startScriptedServer, type ScriptStep } from "../../helpers/scripted-server.js";
import { delay, HelperTimeoutError, waitFor } from "../../helpers/wait.js";

const t = 500;
// Byte counts change fast here: poll often.
const POLL_MS = 5;

describe("scripted server cases", () => {
  const track = stopAfterEach();

  async function open(script: string | ScriptStep[]) {
    const server = track(await startScriptedServer(script));
    const client = track(await connectRaw({ host: server.host, port: server.port, timeoutMs: t }));
    return { server, client };
  }

  it("every fixture file loads and validates", async () => {
    const files = await readdir(new URL("../../fixtures/servers/", import.meta.url));
    const names = files.filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, ""));
    expect(names.sort()).toEqual(
      [
        "close-on-connect",
        "cram-md5-before-tls",
        "ehlo-refused-421",
        "ehlo-refused-550",
        "ehlo-rejected-helo",
        "endless-continuation",
        "garbage-instead-of-serverhello",
        "helo-refused-421",
        "helo-refused-550",
        "idle-421-after-banner",
        "no-banner",
        "no-crlf-10mib",
        "one-byte-per-second",
        "reset-after-banner",
        "starttls-injection",
        "tls-alert-instead-of-banner",
      ].sort(),
    );
    for (const name of names) {
      const loaded = await loadServerCase(name);
      expect(loaded.steps.length).toBeGreaterThan(0);
      expect(loaded.description).toBeTruthy();
    }
  });

  it("no-banner: says nothing", async () => {
    const { server, client } = await open("no-banner");
    await expect(client.readReply(200)).rejects.toBeInstanceOf(HelperTimeoutError);
    expect(client.received()).toBe("");
    expect(server.connections()).toBe(1);
  });

  it("no-crlf-10mib: 10 MiB of banner without a line end", async () => {
    const { server, client } = await open("no-crlf-10mib");
    await waitFor(() => client.received().length >= 4 + 10 * 1024 * 1024, 3_000, "10 MiB", POLL_MS);
    expect(client.received().startsWith("220 AAAA")).toBe(true);
    expect(client.received().includes("\n")).toBe(false);
    await delay(50);
    expect(client.received().length).toBe(4 + 10 * 1024 * 1024);
    expect(server.errors()).toEqual([]);
  });

  it("endless-continuation: 250- lines until the client leaves", async () => {
    const { server, client } = await open("endless-continuation");
    await client.readReply();
    client.send("EHLO client.test");
    await waitFor(() => client.received().length > 1024 * 1024, 2_000, "1 MiB of continuation lines", POLL_MS);
    expect(client.received()).toContain("250-scripted.test\r\n250-X\r\n250-X\r\n");
    expect(client.pending()).not.toMatch(/^\d{3} /m);
    client.close();
    await delay(50);
    expect(server.errors()).toEqual([]);
    expect(server.clientLines()).toEqual(["EHLO client.test"]);
  });

  it("one-byte-per-second: one byte, then nothing for a while", async () => {
    const { client } = await open("one-byte-per-second");
    await waitFor(() => client.received().length > 0, t, "first byte", POLL_MS);
    await delay(300);
    expect(client.received()).toBe("2");
  });

  it("drip with a short interval delivers the whole line", async () => {
    const { client } = await open([{ drip: "220 slow\r\n", intervalMs: 5 }, { silence: true }]);
    expect((await client.readReply()).raw).toBe("220 slow");
  });

  it("close-on-connect: FIN before any byte", async () => {
    const { client } = await open("close-on-connect");
    expect(await client.closed()).toBe("end");
    expect(client.received()).toBe("");
  });

  it("garbage-instead-of-serverhello: the client's TLS handshake fails", async () => {
    const { client } = await open("garbage-instead-of-serverhello");
    await client.readReply();
    expect((await client.command("EHLO client.test")).lines).toContain("STARTTLS");
    expect((await client.command("STARTTLS")).code).toBe(220);
    await expect(client.startTls({ rejectUnauthorized: false })).rejects.toThrow(/wrong version number|packet length/i);
  });

  it("starttls-injection: a forged line rides with the 220, then real TLS", async () => {
    const pki = await testPki();
    const { server, client } = await open("starttls-injection");
    await client.readReply();
    await client.command("EHLO client.test");
    client.send("STARTTLS");
    expect((await client.readReply()).raw).toBe("220 go");
    await waitFor(() => client.pending() === "250-EVIL\r\n", t, "injected bytes", POLL_MS);
    const secure = await client.startTls({ ca: pki.ca.certPem, servername: "scripted.test" });
    expect(secure.authorized).toBe(true);
    // This dumb client keeps the plaintext it had buffered, so the injected line shows up in
    // front of the real reply: exactly what a probe must discard (RFC 3207 section 6).
    expect((await client.command("EHLO client.test")).lines).toEqual([
      "EVIL",
      "scripted.test",
      "PIPELINING",
      "AUTH PLAIN LOGIN",
    ]);
    expect((await client.command("QUIT")).raw).toBe("221 2.0.0 bye");
    expect(await client.closed()).toBe("end");
    expect(server.clientLines()).toEqual(["EHLO client.test", "STARTTLS", "EHLO client.test", "QUIT"]);
    expect(server.errors()).toEqual([]);
  });

  it("ehlo-rejected-helo: 502 to EHLO, 250 to HELO", async () => {
    const { server, client } = await open("ehlo-rejected-helo");
    await client.readReply();
    expect((await client.command("EHLO client.test")).raw).toBe("502 5.5.1 EHLO not implemented");
    expect((await client.command("HELO client.test")).raw).toBe("250 scripted.test");
    expect((await client.command("QUIT")).raw).toBe("221 bye");
    expect(await client.closed()).toBe("end");
    expect(server.errors()).toEqual([]);
  });

  it("reset-after-banner: RST after the client's EHLO", async () => {
    const { client } = await open("reset-after-banner");
    expect((await client.readReply()).code).toBe(220);
    client.send("EHLO client.test");
    expect(await client.closed()).toBe("reset");
  });

  it("records an unexpected line as a script error and hangs up", async () => {
    const { server, client } = await open([{ send: "220 hi\r\n" }, { expectLine: "EHLO" }, { send: "250 ok\r\n" }]);
    await client.readReply();
    client.send("HELO client.test");
    expect(await client.closed()).toBe("end");
    expect(server.errors()).toEqual(['expected a line starting with "EHLO", got "HELO client.test"']);
  });

  it("times out an expectLine", async () => {
    const { server, client } = await open([{ send: "220 hi\r\n" }, { expectLine: "EHLO", timeoutMs: 50 }]);
    await client.readReply();
    expect(await client.closed()).toBe("end");
    expect(server.errors()).toEqual(['expectLine "EHLO": nothing within 50 ms']);
  });

  it("rejects malformed steps and case names", async () => {
    await expect(startScriptedServer([{ shout: "hi" } as unknown as ScriptStep])).rejects.toThrow(/unknown step/);
    await expect(startScriptedServer([{ wait: -1 } as unknown as ScriptStep])).rejects.toThrow(/wait takes milliseconds/);
    await expect(startScriptedServer("../etc/passwd")).rejects.toThrow(/kebab-case/);
    await expect(startScriptedServer("no-such-case")).rejects.toThrow(/ENOENT/);
  });

  it("stop() ends every connection: silent, endless, mid-TLS-handshake", async () => {
    const silent = await startScriptedServer("no-banner");
    const endless = await startScriptedServer([{ endless: "250-X\r\n" }]);
    const tls = await startScriptedServer([{ send: "220 go\r\n" }, { startTls: true, timeoutMs: 5_000 }]);
    const a = await connectRaw({ host: silent.host, port: silent.port, timeoutMs: t });
    const b = await connectRaw({ host: endless.host, port: endless.port, timeoutMs: t });
    b.socket().pause(); // let backpressure build up on the server
    const c = await connectRaw({ host: tls.host, port: tls.port, timeoutMs: t });
    await c.readReply();
    c.socket().write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); // half a ClientHello
    await delay(50);
    const started = Date.now();
    await Promise.all([silent.stop(), endless.stop(), tls.stop()]);
    expect(Date.now() - started).toBeLessThan(t);
    expect(await a.closed()).not.toBeUndefined();
    b.close();
    expect(await c.closed()).not.toBeUndefined();
    const refused = new Promise<string>((resolve) => {
      const socket = net.connect({ host: silent.host, port: silent.port });
      socket.on("connect", () => resolve("connected"));
      socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(await refused).toBe("ECONNREFUSED");
  });
});
