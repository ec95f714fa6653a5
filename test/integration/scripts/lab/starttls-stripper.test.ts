// The lab's STARTTLS-stripping middlebox (scripts/lab/starttls-stripper.ts), on 127.0.0.1 in front
// of an smtp-server fixture: what it removes, what it answers itself, and that the rest passes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { STARTTLS_REFUSAL, startStarttlsStripper, type StarttlsStripper } from "../../../../scripts/lab/starttls-stripper.js";
import { connectRaw, type RawClient } from "../../../helpers/raw-client.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";

describe("STARTTLS stripper (on 127.0.0.1)", () => {
  let fixture: SmtpFixture;
  let stripper: StarttlsStripper;
  let client: RawClient | undefined;

  beforeAll(async () => {
    fixture = await startSmtpFixture();
    stripper = await startStarttlsStripper({ upstream: { host: fixture.host, port: fixture.port } });
  });
  afterEach(() => client?.close());
  afterAll(async () => {
    await stripper?.stop();
    await fixture?.stop();
  });

  it("removes STARTTLS from the EHLO reply and keeps the reply well formed", async () => {
    const direct = await connectRaw({ host: fixture.host, port: fixture.port });
    await direct.readReply();
    const original = await direct.command("EHLO probe.test");
    direct.close();
    expect(original.lines).toContain("STARTTLS");
    expect(original.lines[original.lines.length - 1]).toBe("STARTTLS"); // the fixture sends it last

    client = await connectRaw({ host: "127.0.0.1", port: stripper.port });
    expect((await client.readReply()).code).toBe(220);
    const ehlo = await client.command("EHLO probe.test");
    expect(ehlo.code).toBe(250);
    expect(ehlo.lines).toEqual(original.lines.filter((l) => l !== "STARTTLS"));
    const raw = ehlo.raw.split("\r\n").filter(Boolean);
    expect(raw.slice(0, -1).every((l) => l.startsWith("250-"))).toBe(true);
    expect(raw[raw.length - 1]).toMatch(/^250 /);
    expect(client.pending()).toBe(""); // nothing after the last line
    expect((await client.command("QUIT")).code).toBe(221);
    expect(stripper.strippedReplies()).toBeGreaterThanOrEqual(1);
  });

  it("answers STARTTLS itself with 502, in its turn after pipelined commands", async () => {
    client = await connectRaw({ host: "127.0.0.1", port: stripper.port });
    await client.readReply();
    const refusedBefore = stripper.refusedStarttls();
    client.send("EHLO probe.test");
    client.send("STARTTLS");
    client.send("NOOP");
    const ehlo = await client.readReply();
    expect(ehlo.code).toBe(250);
    expect(ehlo.lines).not.toContain("STARTTLS");
    const starttls = await client.readReply();
    expect(starttls.raw.trim()).toBe(STARTTLS_REFUSAL);
    expect((await client.readReply()).code).toBe(250); // NOOP, from the server, still plaintext
    expect(stripper.refusedStarttls()).toBe(refusedBefore + 1);
  });
});
