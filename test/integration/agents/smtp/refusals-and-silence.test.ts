// What the engine makes of a server that refuses our greeting, says nothing, or speaks out of
// turn, and how the port's role changes the findings: scripted raw servers on loopback.
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase, PortRole, Severity, TlsMode, type HandshakeResult } from "../../../../gen/smtpprobe/v1/handshake.js";
import { transcriptReplyMeanings } from "../../../../agents/smtp/reply-meaning.js";
import { startScriptedServer, type ScriptedServer, type ScriptStep } from "../../../helpers/scripted-server.js";
import { closeServer, waitFor, withTimeout } from "../../../helpers/wait.js";
import { codes, probeOnce, sent } from "./probe-helpers.js";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function start(script: string | ScriptStep[]): Promise<ScriptedServer> {
  const server = await startScriptedServer(script);
  stops.push(() => server.stop());
  return server;
}

const short = { timeouts: { bannerMs: 300, commandMs: 500, tlsMs: 1000, connectMs: 500, deadlineMs: 4000 } };

function findingOf(r: HandshakeResult, code: string) {
  return r.findings.find((f) => f.code === code);
}

/** The meaning the transcript shows on the line of the reply that ended the handshake. */
function transcriptMeaningOf(r: HandshakeResult, line: RegExp): string | undefined {
  const entries = r.transcript?.entries ?? [];
  const meanings = transcriptReplyMeanings(entries);
  const index = entries.findIndex((e) => line.test(e.text));
  return meanings.get(index);
}

describe("a refused greeting: QUIT, GREETING_REFUSED, and a finding that says why", () => {
  it.each([
    {
      name: "550 5.7.1 to EHLO",
      fixture: "ehlo-refused-550",
      phase: Phase.PHASE_EHLO,
      severity: Severity.SEVERITY_ERROR,
      sent: ["EHLO probe.test", "QUIT"],
      line: /^550 5\.7\.1 Client host rejected/,
      says: ["refused the greeting: EHLO probe.test was answered 550 5.7.1", '"Client host rejected: cannot find your reverse hostname"', "reverse DNS"],
    },
    {
      name: "421 4.7.0 to EHLO",
      fixture: "ehlo-refused-421",
      phase: Phase.PHASE_EHLO,
      severity: Severity.SEVERITY_WARNING,
      sent: ["EHLO probe.test", "QUIT"],
      line: /^421 4\.7\.0/,
      says: ["EHLO probe.test was answered 421 4.7.0", '"refuse.test Temporary lookup failure, try again later"', "a 4xx is temporary"],
    },
    {
      name: "550 5.7.1 to HELO after EHLO was not known",
      fixture: "helo-refused-550",
      phase: Phase.PHASE_HELO,
      severity: Severity.SEVERITY_ERROR,
      sent: ["EHLO probe.test", "HELO probe.test", "QUIT"],
      line: /^550 5\.7\.1 Helo command rejected/,
      says: ["HELO probe.test (after EHLO was not known) was answered 550 5.7.1", '"Helo command rejected: need fully-qualified hostname"', "name given in EHLO/HELO"],
    },
    {
      name: "421 to HELO after EHLO was not known",
      fixture: "helo-refused-421",
      phase: Phase.PHASE_HELO,
      severity: Severity.SEVERITY_WARNING,
      sent: ["EHLO probe.test", "HELO probe.test", "QUIT"],
      line: /^421 refuse\.test/,
      says: ["HELO probe.test (after EHLO was not known) was answered 421", "a 4xx is temporary"],
    },
  ])("$name", async ({ fixture, phase, severity, sent: lines, line, says }) => {
    const server = await start(fixture);
    const r = await probeOnce(server.port, short);
    expect(Outcome[r.outcome]).toBe("OUTCOME_GREETING_REFUSED");
    expect(Phase[r.phase]).toBe(Phase[phase]);
    expect(r.failureSource).toBe(FailureSource.FAILURE_SOURCE_TARGET);
    // QUIT was sent, and the server's script saw it (it expects QUIT before it ends).
    expect(sent(r)).toEqual(lines);
    await waitFor(() => server.clientLines().includes("QUIT"), 1000, "QUIT at the server");
    expect(server.errors()).toEqual([]);
    const found = findingOf(r, "greeting_refused");
    expect(found?.severity).toBe(severity);
    for (const text of says) expect(found?.message).toContain(text);
    // One meaning for the reply: the result's, the finding's and the transcript's.
    expect(r.lastReply?.meaning).toBeTruthy();
    expect(found?.message).toContain(r.lastReply?.meaning);
    expect(transcriptMeaningOf(r, line)).toBe(r.lastReply?.meaning);
    expect(r.lastReply?.meaning).not.toMatch(/mailbox/);
    // Nothing to judge beyond the refusal: no finding about STARTTLS on a port never asked.
    expect(codes(r)).not.toContain("starttls_missing");
  });

  it("EHLO over TLS refused: QUIT inside TLS, GREETING_REFUSED at EHLO over TLS", async () => {
    const server = await start([
      { send: "220 refuse.test ESMTP\r\n" },
      { expectLine: "EHLO" },
      { send: "250-refuse.test\r\n250 STARTTLS\r\n" },
      { expectLine: "STARTTLS" },
      { send: "220 go\r\n" },
      { startTls: true },
      { expectLine: "EHLO" },
      { send: "554 5.7.1 not from you\r\n" },
      { expectLine: "QUIT" },
      { send: "221 bye\r\n" },
    ]);
    const r = await probeOnce(server.port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_GREETING_REFUSED);
    expect(r.phase).toBe(Phase.PHASE_EHLO_TLS);
    expect(sent(r)).toEqual(["EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"]);
    expect(r.transcript?.entries.find((e) => e.text === "QUIT")?.tls).toBe(true);
    expect(findingOf(r, "greeting_refused")?.message).toContain("EHLO over TLS probe.test was answered 554 5.7.1: the server refuses the greeting");
    // The TLS facts were read all the same.
    expect(r.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
  });

  it("a 550 banner means the server refuses this client, not a mailbox", async () => {
    const server = await start([{ send: "550 5.7.1 Access denied for 127.0.0.1\r\n" }, { expectLine: "QUIT" }, { send: "221 bye\r\n" }]);
    const r = await probeOnce(server.port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_REJECTED);
    expect(r.banner?.meaning).toMatch(/^550 5\.7\.1: the server refuses connections from this client/);
    expect(r.banner?.meaning).not.toContain("mailbox unavailable");
    expect(findingOf(r, "banner_rejected")?.message).toContain(r.banner?.meaning);
    expect(transcriptMeaningOf(r, /^550 /)).toBe(r.banner?.meaning);
  });

  it("a 421 the server sent on its own (an idle timeout) answers nothing, and says so", async () => {
    const server = await start("idle-421-after-banner");
    const r = await probeOnce(server.port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_DEFERRED);
    expect(r.phase).toBe(Phase.PHASE_EHLO);
    expect(r.reason).toBe('before EHLO was answered, the server sent 421 "4.4.2 idle.test Error: timeout exceeded" on its own');
    expect(r.lastReply?.meaning).toMatch(/^421 4\.4\.2: the server closed the session on its own/);
    expect(r.lastReply?.meaning).not.toContain("greylisting");
    expect(transcriptMeaningOf(r, /^421 /)).toBe(r.lastReply?.meaning);
  });
});

describe("no banner: silence is its own outcome, and on a port that may speak implicit TLS the finding says so", () => {
  it("an arbitrary port in auto mode", async () => {
    const server = await start("no-banner");
    const r = await probeOnce(server.port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_NO_BANNER);
    expect(r.failureSource).toBe(FailureSource.FAILURE_SOURCE_TARGET);
    expect(r.tlsMode).toBe(TlsMode.TLS_MODE_AUTO);
    const found = findingOf(r, "no_banner");
    expect(found?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(found?.message).toContain(`port ${server.port} accepted the connection but sent nothing in 0.3 s`);
    expect(found?.message).toContain("--tls implicit (tls_mode TLS_MODE_IMPLICIT)");
    // The banner timeout is not a slow banner: none came.
    expect(codes(r)).not.toContain("banner_slow");
  });

  it("port 465 in auto mode", async () => {
    const silent = await startSilentOnPort(465);
    const r = await probeOnce(465, { ...short, tlsMode: TlsMode.TLS_MODE_AUTO }, {}, silent.host);
    expect(r.outcome).toBe(Outcome.OUTCOME_NO_BANNER);
    expect(r.portRole).toBe(PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION);
    expect(findingOf(r, "no_banner")?.message).toContain(`${silent.host} port 465 accepted the connection but sent nothing`);
    expect(findingOf(r, "no_banner")?.message).toContain("--tls implicit");
    expect(codes(r)).not.toContain("banner_slow");
  });

  it("a slow banner that came is banner_slow; a banner timeout with bytes is no no_banner", async () => {
    const server = await start("one-byte-per-second");
    const r = await probeOnce(server.port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_TIMED_OUT);
    expect(codes(r)).not.toContain("no_banner");
    expect(codes(r)).not.toContain("banner_slow");
  });
});

describe("AUTH before TLS, by what the mechanisms send", () => {
  it("CRAM-MD5 only, on a submission port: no cleartext password, and what CRAM-MD5 does send", async () => {
    const server = await start("cram-md5-before-tls");
    const r = await probeOnce(server.port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.portRole).toBe(PortRole.PORT_ROLE_SUBMISSION);
    expect(r.capabilities?.authMechanisms).toEqual(["CRAM-MD5"]);
    const found = findingOf(r, "auth_before_tls");
    expect(found?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(found?.message).toContain("offers AUTH (CRAM-MD5) before TLS");
    expect(found?.message).toContain("CRAM-MD5 does not send the password in cleartext");
    expect(found?.message).not.toMatch(/sends its password in cleartext|cleartext password/);
    expect(found?.message).toContain("crack offline");
    expect(codes(r)).not.toContain("auth_plaintext_password");
  });

  it("the same server said to be a relay: AUTH on a relay port is the point", async () => {
    const server = await start("cram-md5-before-tls");
    const r = await probeOnce(server.port, { ...short, portRole: PortRole.PORT_ROLE_MX_RELAY });
    expect(r.portRole).toBe(PortRole.PORT_ROLE_MX_RELAY);
    expect(findingOf(r, "auth_before_tls")?.message).toContain("on an MX relay port");
    // The test PKI is not trusted here: on a relay that is a warning, on submission an error.
    expect(findingOf(r, "cert_untrusted")?.severity).toBe(Severity.SEVERITY_WARNING);
  });
});

/** A server that accepts and never speaks, on `port` of a loopback address of its own (127.x.y.z). */
async function startSilentOnPort(port: number): Promise<{ host: string }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.resume();
    socket.once("close", () => sockets.delete(socket));
  });
  // A random loopback address, so that tests running side by side do not contend for the port.
  for (let attempt = 0; ; attempt += 1) {
    const host = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, host, () => {
            server.off("error", reject);
            resolve();
          });
        }),
        2000,
        `listen on ${host}:${port}`,
      );
      stops.push(async () => {
        for (const socket of sockets) socket.destroy();
        await closeServer(server);
      });
      return { host };
    } catch (error) {
      if (attempt >= 5 || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    }
  }
}
