import { describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase, type Reply } from "../../../../gen/smtpprobe/v1/handshake.js";
import {
  bannerNotReceived,
  cancelledByCaller,
  classifyConnectError,
  classifyUnexpectedReply,
  classifyWaitError,
  classifyWaitFailure,
  connectedPeerDenied,
  deadlinePassed,
  describePhaseWait,
  greetingRefused,
  internalError,
  starttlsRefused,
  type HandshakeFailure,
} from "../../../../agents/smtp/failure-mapping.js";
import { SessionWaitError, type WaitFailure } from "../../../../agents/smtp/session.js";
import { ReplyProtocolError } from "../../../../agents/smtp/reply-reader.js";

const { TARGET, NETWORK, INTERNAL, POLICY } = {
  TARGET: FailureSource.FAILURE_SOURCE_TARGET,
  NETWORK: FailureSource.FAILURE_SOURCE_NETWORK,
  INTERNAL: FailureSource.FAILURE_SOURCE_INTERNAL,
  POLICY: FailureSource.FAILURE_SOURCE_POLICY,
};

/** An error as node:net gives it to a failed connect: code, errno, syscall and the peer. */
function errnoError(code: string, errno: number, syscall = "connect", where = "192.0.2.1:25"): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}${syscall === "connect" ? ` ${where}` : ""}`), { code, errno, syscall });
}

/** An error as node:tls gives it: OpenSSL's error line (with a trailing newline), its code and reason. */
function opensslError(code: string, reason: string, alert?: number): NodeJS.ErrnoException {
  const where = alert === undefined ? "../deps/openssl/openssl/ssl/record/ssl3_record.c:350:" : `../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number ${alert}`;
  return Object.assign(new Error(`800C2BDC4F7F0000:error:0A000410:SSL routines:ssl3_read_bytes:${reason}:${where}\n`), {
    code,
    library: "SSL routines",
    reason,
  });
}

function expectFailure(actual: HandshakeFailure | undefined, outcome: Outcome, source: FailureSource, reason: string | RegExp): void {
  expect(actual, "a failure").toBeDefined();
  expect(Outcome[actual!.outcome]).toBe(Outcome[outcome]);
  expect(FailureSource[actual!.source]).toBe(FailureSource[source]);
  if (typeof reason === "string") expect(actual!.reason).toBe(reason);
  else expect(actual!.reason).toMatch(reason);
}

describe("classifyConnectError: a TCP connect that failed", () => {
  const where = "192.0.2.1:25";
  it.each([
    { name: "RST to the SYN", error: errnoError("ECONNREFUSED", -111), outcome: Outcome.OUTCOME_REFUSED, source: TARGET, reason: "connection to 192.0.2.1:25 refused (nothing listens, or a firewall rejects)" },
    { name: "ICMP host unreachable", error: errnoError("EHOSTUNREACH", -113), outcome: Outcome.OUTCOME_UNREACHABLE, source: NETWORK, reason: "192.0.2.1:25 is unreachable from here (EHOSTUNREACH)" },
    { name: "no route to the network", error: errnoError("ENETUNREACH", -101), outcome: Outcome.OUTCOME_UNREACHABLE, source: NETWORK, reason: "192.0.2.1:25 is unreachable from here (ENETUNREACH)" },
    { name: "no local address of that family", error: errnoError("EADDRNOTAVAIL", -99), outcome: Outcome.OUTCOME_UNREACHABLE, source: NETWORK, reason: "192.0.2.1:25 is unreachable from here (EADDRNOTAVAIL)" },
    { name: "address family not supported (no IPv6)", error: errnoError("EAFNOSUPPORT", -97), outcome: Outcome.OUTCOME_UNREACHABLE, source: NETWORK, reason: "192.0.2.1:25 is unreachable from here (EAFNOSUPPORT)" },
    { name: "the kernel gave up on the SYN", error: errnoError("ETIMEDOUT", -110), outcome: Outcome.OUTCOME_TIMED_OUT, source: NETWORK, reason: "connecting to 192.0.2.1:25 timed out (ETIMEDOUT)" },
    { name: "reset while connecting", error: errnoError("ECONNRESET", -104, "read"), outcome: Outcome.OUTCOME_RESET, source: NETWORK, reason: "connection to 192.0.2.1:25 was reset while connecting" },
    { name: "any other errno", error: errnoError("EACCES", -13), outcome: Outcome.OUTCOME_UNREACHABLE, source: NETWORK, reason: "connecting to 192.0.2.1:25 failed: EACCES" },
    { name: "an error without a code", error: new Error("odd"), outcome: Outcome.OUTCOME_UNREACHABLE, source: NETWORK, reason: "connecting to 192.0.2.1:25 failed: Error: odd" },
    // The engine's own connect timer (connectMs), not the kernel's: silence on the path.
    { name: "connectMs passed", error: new SessionWaitError({ kind: "timeout", timeoutMs: 300 }), outcome: Outcome.OUTCOME_TIMED_OUT, source: NETWORK, reason: "the TCP connection timed out after 300 ms" },
    { name: "closed before connecting", error: new SessionWaitError({ kind: "closed" }), outcome: Outcome.OUTCOME_CLOSED_BY_PEER, source: TARGET, reason: "the server closed the connection during the TCP connection" },
  ])("$name", ({ error, outcome, source, reason }) => {
    expectFailure(classifyConnectError(error, where), outcome, source, reason);
  });

  it("names an IPv6 peer as given", () => {
    expect(classifyConnectError(errnoError("ECONNREFUSED", -111), "[2001:db8::1]:25").reason).toContain("[2001:db8::1]:25 refused");
  });
});

describe("classifyWaitError: errors while the TLS handshake runs", () => {
  const what = "the TLS handshake";
  it.each([
    { name: "plaintext where a ServerHello was expected", error: opensslError("ERR_SSL_WRONG_VERSION_NUMBER", "wrong version number"), reason: "the TLS handshake failed: the server did not answer with TLS (plaintext or garbage where a ServerHello was expected) (ERR_SSL_WRONG_VERSION_NUMBER)" },
    { name: "a record length no TLS server sends", error: opensslError("ERR_SSL_PACKET_LENGTH_TOO_LONG", "packet length too long"), reason: /did not answer with TLS \(plaintext where a TLS record was expected\) \(ERR_SSL_PACKET_LENGTH_TOO_LONG\)$/ },
    { name: "no version in common, seen by us", error: opensslError("ERR_SSL_UNSUPPORTED_PROTOCOL", "unsupported protocol"), reason: /no TLS version in common with the server \(ERR_SSL_UNSUPPORTED_PROTOCOL\)$/ },
    { name: "alert 40 handshake_failure", error: opensslError("ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE", "sslv3 alert handshake failure", 40), reason: /no cipher or version in common \(ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE\)$/ },
    { name: "alert 70 protocol_version", error: opensslError("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION", "tlsv1 alert protocol version", 70), reason: /the server refused our TLS versions \(ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION\)$/ },
    { name: "alert 80 internal_error", error: opensslError("ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR", "tlsv1 alert internal error", 80), reason: /an internal TLS error \(ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR\)$/ },
    { name: "a DH key below what OpenSSL accepts", error: opensslError("ERR_SSL_DH_KEY_TOO_SMALL", "dh key too small"), reason: /Diffie-Hellman key is too small to accept \(ERR_SSL_DH_KEY_TOO_SMALL\)$/ },
    { name: "a certificate key below what OpenSSL accepts", error: opensslError("ERR_SSL_EE_KEY_TOO_SMALL", "ee key too small"), reason: /certificate key is too small to accept \(ERR_SSL_EE_KEY_TOO_SMALL\)$/ },
    // Alerts without words of their own keep OpenSSL's first line, code first, for searching.
    {
      name: "alert 48 unknown_ca: code and OpenSSL's line",
      error: opensslError("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca", 48),
      reason: "the TLS handshake failed: ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 800C2BDC4F7F0000:error:0A000410:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48",
    },
    { name: "alert 116 certificate_required", error: opensslError("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "tlsv13 alert certificate required", 116), reason: /^the TLS handshake failed: ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: .*SSL alert number 116$/ },
    { name: "reset by the server mid-handshake", error: errnoError("ECONNRESET", -104, "read"), reason: "the TLS handshake failed: the server reset the connection during the TLS handshake (ECONNRESET)" },
    { name: "written to a closed connection", error: errnoError("EPIPE", -32, "write"), reason: "the TLS handshake failed: the server closed the connection during the TLS handshake (EPIPE)" },
    { name: "an error without a code: its first line", error: new Error("socket hang up\nmore"), reason: "the TLS handshake failed: socket hang up" },
  ])("$name", ({ error, reason }) => {
    for (const phase of [Phase.PHASE_TLS, Phase.PHASE_TLS_CONNECT]) {
      expectFailure(classifyWaitError(error, what, phase), Outcome.OUTCOME_TLS_FAILED, TARGET, reason);
    }
  });

  it.each([
    { name: "the TLS timer (tlsMs) passed", error: new SessionWaitError({ kind: "timeout", timeoutMs: 500 }), outcome: Outcome.OUTCOME_TIMED_OUT, reason: "the TLS handshake timed out after 500 ms" },
    { name: "closed before the handshake ended", error: new SessionWaitError({ kind: "closed" }), outcome: Outcome.OUTCOME_CLOSED_BY_PEER, reason: "the server closed the connection during the TLS handshake" },
    {
      name: "a socket error recorded by the session",
      error: new SessionWaitError({ kind: "socket_error", code: "ERR_SSL_WRONG_VERSION_NUMBER", message: "x:wrong version number\n" }),
      outcome: Outcome.OUTCOME_TLS_FAILED,
      reason: /did not answer with TLS .* \(ERR_SSL_WRONG_VERSION_NUMBER\)$/,
    },
  ])("$name", ({ error, outcome, reason }) => {
    expectFailure(classifyWaitError(error, what, Phase.PHASE_TLS), outcome, TARGET, reason);
  });
});

describe("classifyWaitError: anything but a wait failure outside TLS is a bug", () => {
  it.each([Phase.PHASE_CONNECT, Phase.PHASE_BANNER, Phase.PHASE_EHLO, Phase.PHASE_STARTTLS, Phase.PHASE_EHLO_TLS, Phase.PHASE_QUIT])("%s", (phase) => {
    expect(classifyWaitError(new TypeError("x is undefined"), "it", phase)).toBeUndefined();
  });
});

describe("classifyWaitFailure: a wait for the server that ended without a reply, per phase", () => {
  const protocolError = new ReplyProtocolError("line_too_long", "a reply line is longer than 512 octets");
  it.each<{ name: string; wait: WaitFailure; phase: Phase; what: string; outcome: Outcome; source: FailureSource; reason: string }>([
    { name: "silence after connecting", wait: { kind: "timeout", timeoutMs: 200 }, phase: Phase.PHASE_BANNER, what: "the banner", outcome: Outcome.OUTCOME_TIMED_OUT, source: TARGET, reason: "the banner timed out after 200 ms" },
    { name: "silence on the path (connect)", wait: { kind: "timeout", timeoutMs: 300 }, phase: Phase.PHASE_CONNECT, what: "the TCP connection", outcome: Outcome.OUTCOME_TIMED_OUT, source: NETWORK, reason: "the TCP connection timed out after 300 ms" },
    { name: "no answer to EHLO", wait: { kind: "timeout", timeoutMs: 250 }, phase: Phase.PHASE_EHLO, what: "EHLO", outcome: Outcome.OUTCOME_TIMED_OUT, source: TARGET, reason: "EHLO timed out after 250 ms" },
    { name: "FIN instead of a banner", wait: { kind: "closed" }, phase: Phase.PHASE_BANNER, what: "the banner", outcome: Outcome.OUTCOME_CLOSED_BY_PEER, source: TARGET, reason: "the server closed the connection during the banner" },
    { name: "FIN after STARTTLS", wait: { kind: "closed" }, phase: Phase.PHASE_STARTTLS, what: "STARTTLS", outcome: Outcome.OUTCOME_CLOSED_BY_PEER, source: TARGET, reason: "the server closed the connection during STARTTLS" },
    { name: "RST during EHLO", wait: { kind: "reset", code: "ECONNRESET" }, phase: Phase.PHASE_EHLO, what: "EHLO", outcome: Outcome.OUTCOME_RESET, source: TARGET, reason: "the connection was reset during EHLO" },
    { name: "EPIPE during EHLO over TLS", wait: { kind: "reset", code: "EPIPE" }, phase: Phase.PHASE_EHLO_TLS, what: "EHLO over TLS", outcome: Outcome.OUTCOME_RESET, source: TARGET, reason: "the connection was reset during EHLO over TLS" },
    { name: "another socket error outside TLS", wait: { kind: "socket_error", code: "ETIMEDOUT", message: "read ETIMEDOUT" }, phase: Phase.PHASE_BANNER, what: "the banner", outcome: Outcome.OUTCOME_RESET, source: TARGET, reason: "the connection failed during the banner: ETIMEDOUT" },
    { name: "a socket error without a code", wait: { kind: "socket_error", code: "", message: "odd" }, phase: Phase.PHASE_EHLO, what: "EHLO", outcome: Outcome.OUTCOME_RESET, source: TARGET, reason: "the connection failed during EHLO: odd" },
    { name: "a reply past the reader's bounds", wait: { kind: "protocol", error: protocolError }, phase: Phase.PHASE_EHLO, what: "EHLO", outcome: Outcome.OUTCOME_PROTOCOL_ERROR, source: TARGET, reason: "protocol error during EHLO: a reply line is longer than 512 octets" },
    { name: "the session destroyed under the wait", wait: { kind: "aborted" }, phase: Phase.PHASE_BANNER, what: "the banner", outcome: Outcome.OUTCOME_CANCELLED, source: INTERNAL, reason: "cancelled" },
  ])("$name", ({ wait, phase, what, outcome, source, reason }) => {
    expectFailure(classifyWaitFailure(wait, what, phase), outcome, source, reason);
    expectFailure(classifyWaitError(new SessionWaitError(wait), what, phase), outcome, source, reason);
  });
});

describe("classifyUnexpectedReply", () => {
  const reply = (code: number, first?: string): Reply => ({ code, enhancedCode: "", lines: first === undefined ? [] : [first], meaning: "" });
  it.each([
    { name: "554 banner", reply: reply(554, "no service for you"), expected: 220, what: "the banner", outcome: Outcome.OUTCOME_REJECTED, reason: 'the banner was answered 554 "no service for you"' },
    { name: "421 banner", reply: reply(421, "busy"), expected: 220, what: "the banner", outcome: Outcome.OUTCOME_DEFERRED, reason: 'the banner was answered 421 "busy"' },
    { name: "454 to STARTTLS", reply: reply(454, "TLS not available"), expected: 220, what: "STARTTLS", outcome: Outcome.OUTCOME_DEFERRED, reason: 'STARTTLS was answered 454 "TLS not available"' },
    { name: "a 2xx where another was due", reply: reply(250, "ok"), expected: 220, what: "the banner", outcome: Outcome.OUTCOME_PROTOCOL_ERROR, reason: 'the banner was answered 250 "ok", expected 220' },
    { name: "a reply without text", reply: reply(550), expected: 250, what: "EHLO", outcome: Outcome.OUTCOME_REJECTED, reason: "EHLO was answered 550" },
    { name: "a long first line cut at 120", reply: reply(550, "x".repeat(500)), expected: 250, what: "HELO", outcome: Outcome.OUTCOME_REJECTED, reason: `HELO was answered 550 "${"x".repeat(120)}"` },
  ])("$name", ({ reply, expected, what, outcome, reason }) => {
    expectFailure(classifyUnexpectedReply(reply, expected, what), outcome, TARGET, reason);
  });

  it("says so when the reply came on its own, before the command was answered", () => {
    expectFailure(
      classifyUnexpectedReply(reply(421, "4.4.2 timeout exceeded"), 250, "EHLO", true),
      Outcome.OUTCOME_DEFERRED,
      TARGET,
      'before EHLO was answered, the server sent 421 "4.4.2 timeout exceeded" on its own',
    );
  });
});

describe("greetingRefused", () => {
  const reply = (code: number, first?: string): Reply => ({ code, enhancedCode: "", lines: first === undefined ? [] : [first], meaning: "" });
  it.each([
    { name: "550 to EHLO", reply: reply(550, "5.7.1 no PTR"), command: "EHLO", reason: 'EHLO was answered 550 "5.7.1 no PTR"' },
    { name: "421 to EHLO", reply: reply(421), command: "EHLO", reason: "EHLO was answered 421" },
    { name: "554 to HELO", reply: reply(554, "go away"), command: "HELO", reason: 'HELO was answered 554 "go away"' },
  ])("$name", ({ reply, command, reason }) => {
    expectFailure(greetingRefused(reply, command), Outcome.OUTCOME_GREETING_REFUSED, TARGET, reason);
  });
});

describe("bannerNotReceived: silence, or bytes that made no reply", () => {
  it.each([
    { name: "nothing at all", octets: 0, bytes: "", outcome: Outcome.OUTCOME_NO_BANNER, reason: "the banner timed out after 300 ms: the server sent nothing since the connection was made" },
    { name: "half a banner", octets: 5, bytes: "220 s", outcome: Outcome.OUTCOME_TIMED_OUT, reason: 'the banner timed out after 300 ms: the server sent 5 bytes but no complete reply ("220 s")' },
    { name: "one byte", octets: 1, bytes: "2", outcome: Outcome.OUTCOME_TIMED_OUT, reason: 'the server sent 1 byte but no complete reply ("2")' },
    { name: "more than was kept", octets: 5000, bytes: "A".repeat(64), outcome: Outcome.OUTCOME_TIMED_OUT, reason: `sent 5000 bytes but no complete reply ("${"A".repeat(64)}…")` },
    {
      name: "a TLS record (an alert)",
      octets: 7,
      bytes: "\x15\x03\x03\x00\x02\x02\x28",
      outcome: Outcome.OUTCOME_TIMED_OUT,
      reason: 'sent 7 bytes but no complete reply ("\\x15\\x03\\x03\\x00\\x02\\x02(", a TLS record: the port speaks TLS from the first byte)',
    },
  ])("$name", ({ octets, bytes, outcome, reason }) => {
    const failure = bannerNotReceived(300, octets, Buffer.from(bytes, "latin1"));
    expect(failure.outcome).toBe(outcome);
    expect(failure.source).toBe(TARGET);
    expect(failure.reason).toContain(reason);
  });
});

describe("stops that are not errors of the socket", () => {
  it.each([
    { name: "the probe's deadline", failure: deadlinePassed(1500), outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED, source: TARGET, reason: "the probe's deadline of 1500 ms passed" },
    { name: "the caller's abort", failure: cancelledByCaller(), outcome: Outcome.OUTCOME_CANCELLED, source: INTERNAL, reason: "cancelled by the caller" },
    { name: "the policy on the connected peer", failure: connectedPeerDenied("127.0.0.1 is a loopback address"), outcome: Outcome.OUTCOME_POLICY_DENIED, source: POLICY, reason: "closed right after connecting: 127.0.0.1 is a loopback address" },
    {
      name: "STARTTLS refused when TLS is required",
      failure: starttlsRefused({ code: 502, enhancedCode: "", lines: ["not implemented"], meaning: "" }),
      outcome: Outcome.OUTCOME_STARTTLS_UNAVAILABLE,
      source: TARGET,
      reason: "TLS is required but the server answered STARTTLS with 502",
    },
    { name: "a bug of ours", failure: internalError(new TypeError("x is undefined")), outcome: Outcome.OUTCOME_INTERNAL_ERROR, source: INTERNAL, reason: "internal error: x is undefined" },
    { name: "a bug that threw a non-error", failure: internalError("boom"), outcome: Outcome.OUTCOME_INTERNAL_ERROR, source: INTERNAL, reason: "internal error: boom" },
  ])("$name", ({ failure, outcome, source, reason }) => {
    expectFailure(failure, outcome, source, reason);
  });
});

describe("describePhaseWait", () => {
  it.each([
    [Phase.PHASE_BANNER, "the banner"],
    [Phase.PHASE_EHLO, "EHLO"],
    [Phase.PHASE_HELO, "HELO"],
    [Phase.PHASE_STARTTLS, "STARTTLS"],
    [Phase.PHASE_EHLO_TLS, "EHLO over TLS"],
    [Phase.PHASE_QUIT, "QUIT"],
  ])("%s: %s", (phase, words) => {
    expect(describePhaseWait(phase)).toBe(words);
  });
});
