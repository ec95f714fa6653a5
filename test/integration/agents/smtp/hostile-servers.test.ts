import { afterEach, describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase } from "../../../../gen/smtpprobe/v1/handshake.js";
import { freePort } from "../../../helpers/free-port.js";
import { startScriptedServer, type ScriptedServer, type ScriptStep } from "../../../helpers/scripted-server.js";
import { endsBy, wellBefore } from "../../../helpers/timing.js";
import { transcriptReplyMeanings } from "../../../../agents/smtp/reply-meaning.js";
import { codes, probeOnce, sent } from "./probe-helpers.js";

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function start(script: string | ScriptStep[]): Promise<ScriptedServer> {
  server = await startScriptedServer(script);
  return server;
}

const short = { timeouts: { bannerMs: 300, commandMs: 300, tlsMs: 300, connectMs: 300, deadlineMs: 4000 } };

describe("hostile and broken servers cost bounded time and memory, and the result says what they did", () => {
  it.each([
    // Silence since the connection was made is its own outcome; bytes that make no reply are a timeout.
    ["no-banner", "OUTCOME_NO_BANNER", "PHASE_BANNER", /banner timed out after 300 ms: the server sent nothing/],
    ["tls-alert-instead-of-banner", "OUTCOME_TIMED_OUT", "PHASE_BANNER", /sent 7 bytes but no complete reply .*a TLS record/],
    ["no-crlf-10mib", "OUTCOME_PROTOCOL_ERROR", "PHASE_BANNER", /longer than 8192 octets/],
    ["endless-continuation", "OUTCOME_PROTOCOL_ERROR", "PHASE_EHLO", /longer than 200 lines/],
    ["one-byte-per-second", "OUTCOME_TIMED_OUT", "PHASE_BANNER", /banner timed out after 300 ms: the server sent \d+ bytes? but no complete reply \("2/],
    ["close-on-connect", "OUTCOME_CLOSED_BY_PEER", "PHASE_BANNER", /closed the connection/],
    ["reset-after-banner", "OUTCOME_RESET", "PHASE_EHLO", /reset/],
    ["garbage-instead-of-serverhello", "OUTCOME_TLS_FAILED", "PHASE_TLS", /did not answer with TLS/],
  ] as const)("%s → %s", async (name, outcome, phase, reason) => {
    const { port } = await start(name);
    const began = performance.now();
    const r = await probeOnce(port, short);
    expect(Outcome[r.outcome]).toBe(outcome);
    expect(Phase[r.phase]).toBe(phase);
    expect(r.failureSource).toBe(FailureSource.FAILURE_SOURCE_TARGET);
    expect(r.reason).toMatch(reason);
    // Bounded time: each stops on its own phase timeout or bound, well inside the deadline.
    expect(performance.now() - began).toBeLessThan(wellBefore(short.timeouts.deadlineMs));
  });

  it("STARTTLS offered but the TLS handshake fails: starttls_failed", async () => {
    const { port } = await start("garbage-instead-of-serverhello");
    expect(codes(await probeOnce(port, short))).toContain("starttls_failed");
  });

  it("discards plaintext injected after the STARTTLS reply (RFC 3207 §6)", async () => {
    const { port } = await start("starttls-injection");
    const r = await probeOnce(port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.starttlsInjection).toBe("250-EVIL\\x0d\\x0a");
    expect(codes(r)).toContain("starttls_injection");
    // The injected line was never taken as a reply: the EHLO over TLS got the real one.
    expect(r.capabilitiesTls?.other).not.toContain("EVIL");
    expect(r.capabilitiesTls?.authMechanisms).toEqual(["PLAIN", "LOGIN"]);
    expect(sent(r)).toEqual(["EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"]);
  });

  it("STARTTLS offered, then refused with 454: DEFERRED at STARTTLS, starttls_failed, QUIT sent", async () => {
    const { port } = await start([
      { send: "220 refuse.test ESMTP\r\n" },
      { expectLine: "EHLO" },
      { send: "250-refuse.test\r\n250 STARTTLS\r\n" },
      { expectLine: "STARTTLS" },
      { send: "454 4.7.0 TLS not available due to local problem\r\n" },
      { expectLine: "QUIT" },
      { send: "221 bye\r\n" },
    ]);
    const r = await probeOnce(port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_DEFERRED);
    expect(r.phase).toBe(Phase.PHASE_STARTTLS);
    expect(r.lastReply?.enhancedCode).toBe("4.7.0");
    expect(r.lastReply?.meaning).toMatch(/TLS not available/);
    expect(codes(r)).toContain("starttls_failed");
    // One text for 454: the result's reply, the finding that quotes it, and the transcript.
    expect(r.findings.find((f) => f.code === "starttls_failed")?.message).toContain(r.lastReply?.meaning);
    const entries = r.transcript?.entries ?? [];
    expect(transcriptReplyMeanings(entries).get(entries.findIndex((e) => e.text.startsWith("454 ")))).toBe(r.lastReply?.meaning);
    expect(sent(r)).toEqual(["EHLO probe.test", "STARTTLS", "QUIT"]);
  });

  it("EHLO rejected: HELO instead", async () => {
    const { port } = await start("ehlo-rejected-helo");
    const r = await probeOnce(port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.capabilities?.heloOnly).toBe(true);
  });

  it("a closed port is refused", async () => {
    const port = await freePort();
    const r = await probeOnce(port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_REFUSED);
    expect(r.phase).toBe(Phase.PHASE_CONNECT);
    expect(r.transcript?.entries.map((e) => e.text).join("\n")).toMatch(/refused/);
  });

  it("a drip-fed banner meets the whole-probe deadline", async () => {
    const { port } = await start("one-byte-per-second");
    const began = performance.now();
    const deadlineMs = 400;
    const r = await probeOnce(port, { timeouts: { bannerMs: 10_000, deadlineMs } });
    expect(r.outcome).toBe(Outcome.OUTCOME_DEADLINE_EXCEEDED);
    expect(r.phase).toBe(Phase.PHASE_BANNER);
    expect(r.reason).toMatch(/deadline of 400 ms/);
    // By the deadline, far from the banner timeout.
    expect(performance.now() - began).toBeLessThan(endsBy(deadlineMs));
  });

  it("a long reply line (> 512 octets, RFC 5321 §4.5.3.1.5) is a finding, not a failure", async () => {
    const { port } = await start([
      { send: `220 ${"x".repeat(1000)}\r\n` },
      { expectLine: "EHLO" },
      { send: "250 long.test\r\n" },
      { expectLine: "QUIT" },
      { send: "221 bye\r\n" },
    ]);
    const r = await probeOnce(port, short);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(codes(r)).toContain("reply_line_long");
  });

  it("the transcript stops at its bound and says so", async () => {
    const { port } = await start("endless-continuation");
    const r = await probeOnce(port, { ...short, limits: { maxTranscriptBytes: 2048, maxReplyLines: 1000 } });
    expect(r.outcome).toBe(Outcome.OUTCOME_PROTOCOL_ERROR);
    expect(r.transcript?.truncated).toBe(true);
    expect(r.transcript?.bytes).toBeLessThanOrEqual(2048);
    expect(codes(r)).toContain("transcript_truncated");
  });

  it("cancellation closes the socket at once", async () => {
    const srv = await start("no-banner");
    const controller = new AbortController();
    const began = performance.now();
    const abortAfterMs = 100;
    setTimeout(() => controller.abort(), abortAfterMs);
    const r = await probeOnce(srv.port, { timeouts: { bannerMs: 10_000 } }, { signal: controller.signal });
    expect(r.outcome).toBe(Outcome.OUTCOME_CANCELLED);
    expect(performance.now() - began).toBeLessThan(endsBy(abortAfterMs));
    expect(srv.connections()).toBe(1);
  });
});
