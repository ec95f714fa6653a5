// The check's wait for RSET and QUIT is bounded by QUIT_WAIT_MS (2 s), whatever the command timeout.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionOpener } from "../../../../agents/smtp/extra-connections.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { checkStarttlsEnforcement } from "../../../../agents/smtp/starttls-enforcement.js";
import { HandshakeResult, ProbeOptions, StarttlsEnforcementStatus, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";

describe("checkStarttlsEnforcement bounds", () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    // Answers the banner, EHLO and MAIL FROM, then never answers RSET or QUIT.
    server = createServer((socket) => {
      socket.write("220 silent.test ESMTP\r\n");
      socket.on("data", (data: Buffer) => {
        for (const line of data.toString("latin1").split("\r\n").filter(Boolean)) {
          if (line.startsWith("EHLO")) socket.write("250 silent.test\r\n");
          else if (line.startsWith("MAIL")) socket.write("530 5.7.0 Must issue a STARTTLS command first\r\n");
        }
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("waits at most 2 s each for RSET and QUIT, though the command timeout is longer", async () => {
    const options = resolveOptions(
      ProbeOptions.fromPartial({ tlsMode: TlsMode.TLS_MODE_AUTO, timeouts: { connectMs: 2000, bannerMs: 2000, commandMs: 10_000, deadlineMs: 30_000 } }),
      port,
      "probe.test",
    );
    const open = connectionOpener({ address: "127.0.0.1", port, policy: () => undefined, deadlineAt: performance.now() + 30_000, connectMs: 2000 });
    const result = HandshakeResult.fromPartial({ address: "127.0.0.1", port, banner: { code: 220, lines: ["silent.test ESMTP"] } });
    const started = performance.now();
    const e = await checkStarttlsEnforcement(result, options, { open, ehloName: "probe.test" });
    const ms = performance.now() - started;
    expect(e.status).toBe(StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED);
    expect(ms).toBeGreaterThanOrEqual(3900);
    expect(ms).toBeLessThan(6000);
  }, 15_000);
});
