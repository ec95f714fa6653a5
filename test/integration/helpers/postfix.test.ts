import { access } from "node:fs/promises";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPki } from "../../helpers/certs.js";
import { stopAfterEach } from "../../helpers/cleanup.js";
import { postfixAvailable, startPostfix, type PostfixInstance } from "../../helpers/postfix.js";
import { connectRaw } from "../../helpers/raw-client.js";
import { need } from "../../helpers/requirements.js";

const t = 500;
const postfix = await need(postfixAvailable);

describe.skipIf(postfix.skip)("startPostfix", () => {
  const track = stopAfterEach();
  let instance: PostfixInstance;
  let ca: string;

  beforeAll(async () => {
    const pki = await testPki();
    ca = pki.ca.certPem;
    const leaf = await pki.leaf({ names: ["postfix.test", "127.0.0.1"] });
    instance = await startPostfix({ ...leaf, caPem: ca });
  });

  afterAll(async () => {
    await instance?.stop();
  });

  it("answers EHLO, STARTTLS with the given certificate, EHLO again and QUIT", async () => {
    expect(instance.host).toBe("127.0.0.1");
    expect(instance.myhostname).toBe("postfix.test");
    const client = track(await connectRaw({ host: instance.host, port: instance.port, timeoutMs: t }));
    expect((await client.readReply()).raw).toBe("220 postfix.test ESMTP Postfix");
    const ehlo = await client.command("EHLO client.test");
    expect(ehlo.lines[0]).toBe("postfix.test");
    expect(ehlo.lines).toEqual(expect.arrayContaining(["PIPELINING", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "CHUNKING"]));
    expect(ehlo.lines.some((line) => line.startsWith("AUTH"))).toBe(false);
    expect((await client.command("STARTTLS")).raw).toBe("220 2.0.0 Ready to start TLS");
    const secure = await client.startTls({ ca, servername: "postfix.test" });
    expect(secure.authorized).toBe(true);
    expect(secure.getPeerX509Certificate()?.subject).toBe("CN=postfix.test");
    const again = await client.command("EHLO client.test");
    expect(again.lines).not.toContain("STARTTLS");
    expect((await client.command("QUIT")).raw).toBe("221 2.0.0 Bye");
    expect(await client.closed()).toBe("end");
    expect(instance.logs()).toContain("TLS connection established");
  });
});

describe.skipIf(postfix.skip)("startPostfix stop()", () => {
  it("ends the master and its children, frees the port and removes the instance dir", async () => {
    const pki = await testPki();
    const leaf = await pki.leaf({ names: ["postfix.test"] });
    const instance = await startPostfix(leaf);
    // An open session: its smtpd must go with the master.
    const client = await connectRaw({ host: instance.host, port: instance.port, timeoutMs: t });
    await client.readReply();
    await instance.stop();
    expect(["end", "reset"]).toContain(await client.closed());
    await expect(access(instance.dir)).rejects.toThrow(/ENOENT/);
    // Nothing of this instance answers on its port any more. Another test's server may have taken
    // the freed port meanwhile: a connection that does not greet as this Postfix counts as freed.
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: instance.host, port: instance.port });
      let greeting = "";
      const done = (what: string): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(what);
      };
      const timer = setTimeout(() => done("another server"), 1_000);
      socket.on("data", (chunk: Buffer) => {
        greeting += chunk.toString("latin1");
        if (greeting.includes("\n")) done(greeting.startsWith(`220 ${instance.myhostname}`) ? "this postfix" : "another server");
      });
      socket.on("end", () => done("another server"));
      socket.on("error", (err: NodeJS.ErrnoException) => done(err.code ?? "error"));
    });
    expect(["ECONNREFUSED", "another server"]).toContain(answer);
    expect(instance.logs()).toContain("daemon started");
  });
});
