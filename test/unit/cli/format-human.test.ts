import { describe, expect, it } from "vitest";
import {
  Direction,
  FailureSource,
  HandshakeResult,
  Outcome,
  Phase,
  Severity,
  TargetResult,
  TlsMode,
  type DeepPartial,
} from "../../../gen/smtpprobe/v1/handshake.js";
import { makeStyle } from "../../../cli/colors.js";
import { formatHuman, formatImplicitTlsHints, formatPortVerdicts, formatSummaryLines } from "../../../cli/format-human.js";

const plain = makeStyle(false);
const FINGERPRINT = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

function handshake(overrides: DeepPartial<HandshakeResult> = {}): HandshakeResult {
  return HandshakeResult.fromPartial({
    host: "mx.example.com",
    address: "192.0.2.10",
    port: 25,
    outcome: Outcome.OUTCOME_OK,
    phase: Phase.PHASE_DONE,
    tlsMode: TlsMode.TLS_MODE_AUTO,
    ehloName: "probe.test",
    totalMs: 123.456,
    banner: { code: 220, lines: ["mx.example.com ESMTP ready"], meaning: "220: service ready" },
    capabilities: { greeting: "mx.example.com hello", starttls: true, pipelining: true, size: 10240000, other: ["XCLIENT NAME"] },
    capabilitiesTls: { greeting: "mx.example.com hello", pipelining: true, authMechanisms: ["PLAIN", "LOGIN"] },
    tls: {
      protocol: "TLSv1.3",
      cipher: "TLS_AES_256_GCM_SHA384",
      keyExchangeGroup: "X25519",
      sni: "mx.example.com",
      trusted: false,
      trustError: "self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)",
      checkedName: "mx.example.com",
      nameMatches: true,
      daysToExpiry: 42,
      handshakeMs: 12.5,
      chain: [
        {
          subject: "CN=mx.example.com",
          issuer: "CN=mx.example.com",
          subjectAltNames: ["DNS:mx.example.com", "DNS:mail.example.com"],
          notBefore: new Date("2026-01-01T00:00:00Z"),
          notAfter: new Date("2026-04-01T12:30:00Z"),
          keyType: "RSA",
          keyBits: 2048,
          signatureAlgorithm: "sha256WithRSAEncryption",
          fingerprintSha256: FINGERPRINT,
          selfSigned: true,
        },
      ],
    },
    timings: [
      { phase: Phase.PHASE_CONNECT, startMs: 0, durationMs: 1.5 },
      { phase: Phase.PHASE_BANNER, startMs: 1.5, durationMs: 250 },
    ],
    findings: [
      { code: "auth_before_tls", severity: Severity.SEVERITY_WARNING, message: "AUTH before TLS." },
      { code: "cert_untrusted", severity: Severity.SEVERITY_ERROR, message: "Not trusted." },
      { code: "tls_note", severity: Severity.SEVERITY_INFO, message: "Just so you know." },
    ],
    transcript: {
      entries: [
        { offsetMs: 1.2, direction: Direction.DIRECTION_EVENT, text: "connected to 192.0.2.10:25" },
        { offsetMs: 5, direction: Direction.DIRECTION_SERVER, text: "220 mx.example.com ESMTP ready" },
        { offsetMs: 6, direction: Direction.DIRECTION_CLIENT, text: "EHLO probe.test" },
        { offsetMs: 7, direction: Direction.DIRECTION_SERVER, text: "250-mx.example.com hello" },
        { offsetMs: 7.01, direction: Direction.DIRECTION_SERVER, text: "250 STARTTLS" },
        { offsetMs: 8, direction: Direction.DIRECTION_CLIENT, text: "MAIL FROM:<>" },
        { offsetMs: 9, direction: Direction.DIRECTION_SERVER, text: "550-5.7.1 go away" },
        { offsetMs: 9.5, direction: Direction.DIRECTION_SERVER, text: "550 really" },
        { offsetMs: 20, direction: Direction.DIRECTION_EVENT, tls: true, text: "TLS established: TLSv1.3" },
        { offsetMs: 123.45, direction: Direction.DIRECTION_CLIENT, tls: true, text: "QUIT" },
      ],
    },
    ...overrides,
  });
}

const refused = (): HandshakeResult =>
  HandshakeResult.fromPartial({
    host: "192.0.2.10",
    address: "192.0.2.10",
    port: 587,
    outcome: Outcome.OUTCOME_REFUSED,
    phase: Phase.PHASE_CONNECT,
    failureSource: FailureSource.FAILURE_SOURCE_TARGET,
    reason: "connection to 192.0.2.10:587 refused",
    tlsMode: TlsMode.TLS_MODE_AUTO,
    totalMs: 2.345,
  });

const target = (...handshakes: HandshakeResult[]): TargetResult =>
  TargetResult.fromPartial({ host: handshakes[0]?.host ?? "", port: handshakes[0]?.port ?? 25, handshakes });

const human = (results: TargetResult[], transcript = false): string => formatHuman(results, { style: plain, transcript });

describe("formatSummaryLines", () => {
  it("gives one aligned line per (address, port): mark, outcome, phase, time, TLS version, findings", () => {
    expect(formatSummaryLines([target(handshake()), target(refused())], plain)).toEqual([
      "✔ 192.0.2.10:25 (mx.example.com)  ok · done · 123 ms · TLSv1.3 · 1 error, 1 warning",
      "✖ 192.0.2.10:587                  refused · stopped at TCP connect · 2.35 ms · no TLS — connection to 192.0.2.10:587 refused",
    ]);
  });

  it("names the exchanger and brackets an IPv6 address", () => {
    const h = handshake({ host: "mx1.example.com", address: "2001:db8::25", exchange: "mx1.example.com", mxPreference: 10, findings: [] });
    expect(formatSummaryLines([target(h)], plain)).toEqual(["✔ [2001:db8::25]:25 (mx1.example.com, MX 10)  ok · done · 123 ms · TLSv1.3"]);
  });

  it("shows a DNS failure by name, and says when TLS was not tried", () => {
    const dns = HandshakeResult.fromPartial({
      host: "nx.example.com",
      port: 25,
      outcome: Outcome.OUTCOME_DNS_FAILED,
      phase: Phase.PHASE_RESOLVE,
      reason: "A/AAAA lookup of nx.example.com does not exist (NXDOMAIN)",
      totalMs: 12,
    });
    const none = handshake({ tlsMode: TlsMode.TLS_MODE_NONE, tls: undefined, findings: [] });
    expect(formatSummaryLines([target(dns), target(none)], plain)).toEqual([
      "✖ nx.example.com:25               DNS failed · stopped at DNS resolution · 12.0 ms · no TLS — A/AAAA lookup of nx.example.com does not exist (NXDOMAIN)",
      "✔ 192.0.2.10:25 (mx.example.com)  ok · done · 123 ms · TLS not tried",
    ]);
  });

  it("colours the mark: green when clean, yellow with error findings, red when not completed", () => {
    const color = makeStyle(true);
    const [withErrors, failedLine] = formatSummaryLines([target(handshake()), target(refused())], color);
    const [clean] = formatSummaryLines([target(handshake({ findings: [] }))], color);
    expect(clean).toMatch(/^\x1b\[32m✔/);
    expect(withErrors).toMatch(/^\x1b\[33m✔/);
    expect(failedLine).toMatch(/^\x1b\[31m✖/);
  });
});

describe("formatHuman", () => {
  const text = human([target(handshake())]);

  it("shows the banner with its meaning, and the EHLO name", () => {
    expect(text).toContain("  Banner      220 mx.example.com ESMTP ready  — 220: service ready\n");
    expect(text).toContain("  EHLO as     probe.test\n");
  });

  it("shows the capabilities before and after TLS, STARTTLS first, unknown keywords verbatim", () => {
    expect(text).toContain(
      [
        "  Before TLS  mx.example.com hello",
        "              STARTTLS · SIZE 10240000 · PIPELINING · XCLIENT NAME",
        "  After TLS   mx.example.com hello",
        "              PIPELINING · AUTH PLAIN LOGIN",
      ].join("\n"),
    );
  });

  it("shows the TLS session, trust with its reason, the name check and every certificate", () => {
    expect(text).toContain(
      [
        "  TLS         TLSv1.3 · TLS_AES_256_GCM_SHA384 · group X25519 · via STARTTLS · SNI mx.example.com",
        "  Trusted     no — self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)",
        "  Name        matches mx.example.com",
        "  Expires     in 42 days",
        "  Chain       #0 CN=mx.example.com (self-signed)",
        "                 issuer     CN=mx.example.com",
        "                 SANs       DNS:mx.example.com, DNS:mail.example.com",
        "                 valid      2026-01-01 00:00 UTC → 2026-04-01 12:30 UTC",
        "                 key        RSA 2048 bits",
        "                 signature  sha256WithRSAEncryption",
        `                 SHA-256    ${FINGERPRINT}`,
      ].join("\n"),
    );
  });

  it("shows a name mismatch and an expired certificate", () => {
    const tls = handshake().tls!;
    const h = handshake({ tls: { ...tls, trusted: true, nameMatches: false, nameError: "Host: other.example is not in the cert's altnames", checkedName: "other.example", daysToExpiry: -3 } });
    const out = human([target(h)]);
    expect(out).toContain("  Trusted     yes\n");
    expect(out).toContain("  Name        does not match other.example — Host: other.example is not in the cert's altnames\n");
    expect(out).toContain("  Expires     expired 3 days ago\n");
  });

  it("groups the findings by severity, errors first", () => {
    expect(text).toContain(
      [
        "  Findings",
        "    Errors (1)",
        "      ✖ [cert_untrusted] Not trusted.",
        "    Warnings (1)",
        "      ▲ [auth_before_tls] AUTH before TLS.",
        "    Info (1)",
        "      ℹ [tls_note] Just so you know.",
      ].join("\n"),
    );
    expect(human([target(handshake({ findings: [] }))])).toContain("  Findings    none\n");
  });

  it("shows the phase timings", () => {
    expect(text).toContain("  Timings     TCP connect 1.50 ms · banner 250 ms\n");
  });

  it("shows the TLS handshake's time once, among the timings", () => {
    const timings = [...handshake().timings, { phase: Phase.PHASE_STARTTLS, startMs: 251.5, durationMs: 1 }, { phase: Phase.PHASE_TLS, startMs: 252.5, durationMs: 12.5 }];
    const out = human([target(handshake({ timings }))]);
    expect(out).toContain("  Timings     TCP connect 1.50 ms · banner 250 ms · STARTTLS 1.00 ms · TLS handshake 12.5 ms\n");
    expect(out.match(/12\.5 ms/g)).toHaveLength(1);
  });

  it("leaves the transcript out unless asked", () => {
    expect(text).not.toContain("Transcript");
  });

  it("shows the transcript with offsets, arrows, the TLS marker, and each reply's meaning on its last line", () => {
    const out = human([target(handshake())], true);
    const transcript = out.slice(out.indexOf("  Transcript"));
    expect(transcript.split("\n").slice(0, 11)).toEqual([
      "  Transcript",
      "      1.20 ms  •     connected to 192.0.2.10:25",
      "      5.00 ms  ←     220 mx.example.com ESMTP ready  — 220: service ready — the server accepts the connection",
      "      6.00 ms  →     EHLO probe.test",
      "      7.00 ms  ←     250-mx.example.com hello",
      "      7.01 ms  ←     250 STARTTLS  — 250: hello accepted, extensions listed",
      "      8.00 ms  →     MAIL FROM:<>",
      "      9.00 ms  ←     550-5.7.1 go away",
      expect.stringMatching(/^ {6}9\.50 ms {2}← {5}550 really {2}— 550 5\.7\.1: mailbox unavailable .*; 5\.7\.1: delivery not authorized/),
      "     20.00 ms  • TLS TLS established: TLSv1.3",
      "    123.45 ms  → TLS QUIT",
    ]);
  });

  it("says why a handshake stopped, with the reply that ended it", () => {
    const rejected = handshake({
      outcome: Outcome.OUTCOME_REJECTED,
      phase: Phase.PHASE_BANNER,
      failureSource: FailureSource.FAILURE_SOURCE_TARGET,
      reason: 'the banner was answered 554 "5.7.1 no"',
      banner: { code: 554, enhancedCode: "5.7.1", lines: ["5.7.1 no", "go away"], meaning: "554 5.7.1: transaction failed" },
      capabilities: undefined,
      capabilitiesTls: undefined,
      tls: undefined,
      findings: [{ code: "banner_rejected", severity: Severity.SEVERITY_ERROR, message: "Rejected." }],
    });
    const out = human([target(rejected)]);
    expect(out).toContain("✖ 192.0.2.10:25 (mx.example.com)  rejected · stopped at banner · 123 ms · no TLS · 1 error — the banner was answered 554");
    expect(out).toContain('  Stopped     rejected at banner (target): the banner was answered 554 "5.7.1 no"\n');
    expect(out).toContain("  Banner      554-5.7.1 no\n              554 go away  — 554 5.7.1: transaction failed\n");
    expect(out).not.toContain("EHLO as");
    expect(out).not.toContain("Last reply");
  });

  it("says nothing of findings when a handshake stopped before there was anything to judge", () => {
    const out = human([target(refused())]);
    expect(out).toContain("  Stopped     refused at TCP connect (target): connection to 192.0.2.10:587 refused\n");
    expect(out).not.toContain("Findings");
  });

  it("shows the last reply when it is not the banner, and HELO-only capabilities", () => {
    const h = handshake({
      outcome: Outcome.OUTCOME_DEFERRED,
      phase: Phase.PHASE_STARTTLS,
      reason: "STARTTLS was answered 454",
      capabilities: { greeting: "old.example.com", heloOnly: true },
      capabilitiesTls: undefined,
      tls: undefined,
      lastReply: { code: 454, lines: ["TLS not available"], meaning: "" },
    });
    const out = human([target(h)]);
    expect(out).toContain("  Last reply  454 TLS not available  — 454: temporary failure — TLS or authentication is not available right now");
    expect(out).toContain("  Before TLS  old.example.com\n              HELO only: no extensions known\n");
  });

  it("says there was no plaintext stage with implicit TLS", () => {
    const tls = { ...handshake().tls!, implicit: true };
    const out = human([target(handshake({ port: 465, capabilities: undefined, tls }))]);
    expect(out).toContain("  Before TLS  nothing: implicit TLS from the first byte\n");
    expect(out).toContain(" · implicit TLS · ");
  });

  it("lists the MX records of an MX probe", () => {
    const result = TargetResult.fromPartial({
      host: "example.com",
      port: 25,
      mx: true,
      exchangers: [
        { exchange: "mx1.example.com", preference: 10 },
        { exchange: "mx2.example.com", preference: 20 },
      ],
      handshakes: [handshake({ host: "mx1.example.com", exchange: "mx1.example.com", mxPreference: 10 })],
    });
    expect(human([result]).split("\n")[0]).toBe("MX example.com (port 25): 10 mx1.example.com, 20 mx2.example.com");
  });

  it("never writes the server's control characters to the terminal", () => {
    const h = handshake({
      banner: { code: 220, lines: ["evil \x1b]0;owned\x07 \x9b31m"], meaning: "220: service ready" },
      tls: { ...handshake().tls!, chain: [{ ...handshake().tls!.chain[0]!, subject: "CN=\u202egoogle.com" }] },
    });
    const out = human([target(h)], true);
    expect(out).not.toMatch(/[\x1b\x07\x9b\u202e]/);
    expect(out).toContain("220 evil \\x1b]0;owned\\x07 \\x9b31m");
    expect(out).toContain("CN=\\u202egoogle.com");
  });
});

describe("formatPortVerdicts (local mode: a verdict per port, as a person reads it)", () => {
  const at = (address: string, port = 2525, over: DeepPartial<HandshakeResult> = {}) => handshake({ host: "dual.test", address, port, findings: [], ...over });
  const refusedAt = (address: string, port = 2525, over: DeepPartial<HandshakeResult> = {}) =>
    HandshakeResult.fromPartial({ host: "dual.test", address, port, outcome: Outcome.OUTCOME_REFUSED, phase: Phase.PHASE_CONNECT, ...over });

  it.each<[string, TargetResult[], string[]]>([
    ["one address answered", [target(at("127.0.0.1"))], ["✔ Port 2525 is open from this machine."]],
    [
      "dual stack, IPv6 refused: partly reachable, the family named",
      [target(at("127.0.0.1"), refusedAt("::1"))],
      ["◐ Port 2525 is open from this machine on IPv4 (127.0.0.1), but IPv6 (::1) is refused."],
    ],
    [
      "a dead primary exchanger",
      [
        TargetResult.fromPartial({
          host: "example.test",
          port: 25,
          mx: true,
          handshakes: [
            refusedAt("127.0.0.1", 25, { host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10 }),
            at("127.0.0.2", 25, { host: "mx2.example.test", exchange: "mx2.example.test", mxPreference: 20 }),
          ],
        }),
      ],
      ["◐ Port 25 is open from this machine through mx2.example.test, but mx1.example.test (127.0.0.1) is refused."],
    ],
    ["every address refused", [target(refusedAt("127.0.0.1"), refusedAt("::1"))], ["✖ Port 2525 is unreachable: refused from this machine."]],
    [
      "what a limit left out",
      [
        TargetResult.fromPartial({
          host: "four.test",
          port: 2525,
          handshakes: [at("127.0.0.1"), at("127.0.0.2")],
          notProbed: [
            { host: "four.test", address: "127.0.0.3", limit: "max_addresses", limitValue: 2 },
            { host: "four.test", address: "127.0.0.4", limit: "max_addresses", limitValue: 2 },
          ],
        }),
      ],
      ["✔ Port 2525 is open from this machine.", "not probed: 127.0.0.3, 127.0.0.4 of four.test (max_addresses 2; raise with --max-addresses)"],
    ],
  ])("%s", (_, results, lines) => {
    expect(formatPortVerdicts(results, plain)).toEqual(lines);
  });

  it("come after the summary lines, before the handshakes", () => {
    const lines = human([target(at("127.0.0.1"), refusedAt("::1"))]).split("\n");
    expect(lines.slice(0, 4)).toEqual([
      "✔ 127.0.0.1:2525 (dual.test)  ok · done · 123 ms · TLSv1.3",
      "✖ [::1]:2525 (dual.test)      refused · stopped at TCP connect · 0.00 ms · no TLS",
      "",
      "◐ Port 2525 is open from this machine on IPv4 (127.0.0.1), but IPv6 (::1) is refused.",
    ]);
  });
});

describe("a silent port that may speak implicit TLS (local mode)", () => {
  const silentAt = (port: number, over: DeepPartial<HandshakeResult> = {}): HandshakeResult =>
    HandshakeResult.fromPartial({
      host: "127.0.0.1",
      address: "127.0.0.1",
      port,
      outcome: Outcome.OUTCOME_NO_BANNER,
      phase: Phase.PHASE_BANNER,
      tlsMode: TlsMode.TLS_MODE_AUTO,
      timings: [{ phase: Phase.PHASE_BANNER, startMs: 1, durationMs: 30_000 }],
      ...over,
    });

  it.each<[string, HandshakeResult, string[]]>([
    [
      "no banner on 5870: the command with --tls implicit",
      silentAt(5870),
      ["hint: 127.0.0.1:5870 sent no banner in 30.00 s: a port that speaks implicit TLS (RFC 8314) waits like that for the client's TLS handshake. Try: smtp-probe check 127.0.0.1 --port 5870 --tls implicit"],
    ],
    [
      "the probe's deadline ended the wait for the banner: the same",
      silentAt(5870, { outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED, timings: [{ phase: Phase.PHASE_BANNER, startMs: 1, durationMs: 1990 }] }),
      ["hint: 127.0.0.1:5870 sent no banner in 1.99 s: a port that speaks implicit TLS (RFC 8314) waits like that for the client's TLS handshake. Try: smtp-probe check 127.0.0.1 --port 5870 --tls implicit"],
    ],
    ["port 25 speaks plaintext first: no hint", silentAt(25), []],
    ["587 and 2525 too", silentAt(2525), []],
    ["already --tls implicit: no hint", silentAt(5870, { tlsMode: TlsMode.TLS_MODE_IMPLICIT }), []],
    ["a deadline at another phase says nothing of the banner", silentAt(5870, { outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED, phase: Phase.PHASE_EHLO }), []],
  ])("%s", (_, h, lines) => {
    expect(formatImplicitTlsHints([target(h)], plain)).toEqual(lines);
    if (lines.length > 0) expect(human([target(h)])).toContain(`\n\n${lines[0]}\n`);
  });

  it("with --mx the command keeps it", () => {
    const result = TargetResult.fromPartial({ host: "example.com", port: 5870, mx: true, handshakes: [silentAt(5870, { host: "mx1.example.com" })] });
    expect(formatImplicitTlsHints([result], plain)[0]).toContain("Try: smtp-probe check example.com --mx --port 5870 --tls implicit");
  });
});

describe("formatHuman fits the width", () => {
  it.each([60, 100])("%i columns: every line fits, continuations under their value column, never under the labels", (width) => {
    const long = handshake({
      findings: [{ code: "cert_untrusted", severity: Severity.SEVERITY_ERROR, message: "The certificate for mx.example.com on 192.0.2.10 port 25 is not trusted: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); senders fall back to opportunistic TLS." }],
    });
    const lines = formatHuman([target(long), target(refused())], { style: plain, transcript: true, width }).trimEnd().split("\n");
    expect(Math.max(...lines.map((l) => Array.from(l).length))).toBeLessThanOrEqual(width);
    // In a handshake's block, a line that continues a row starts at the value column (14) or further.
    const block = lines.slice(lines.findIndex((l) => l.startsWith("── ")), lines.findIndex((l) => l.startsWith("  Findings")));
    for (const line of block.slice(1)) expect(line).toMatch(/^ {2}(?:[A-Z][\w ]{0,10}\S? +\S| {12}\S| {12} +\S)/);
    const sha = lines.findIndex((l) => l.includes("SHA-256"));
    if (width < 100) expect(lines[sha + 1]).toMatch(/^ {28}\S/);
    const finding = lines.findIndex((l) => l.startsWith("      ✖ [cert_untrusted]"));
    expect(lines[finding + 1]).toMatch(/^ {8}\S/);
  });

  it("colour escapes do not count: the same lines with and without colour", () => {
    const strip = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");
    const colored = formatHuman([target(handshake())], { style: makeStyle(true), transcript: true, width: 60 });
    expect(strip(colored)).toBe(formatHuman([target(handshake())], { style: plain, transcript: true, width: 60 }));
  });

  it("without a width, nothing is wrapped", () => {
    expect(human([target(handshake())])).toBe(formatHuman([target(handshake())], { style: plain, transcript: false, width: Number.POSITIVE_INFINITY }));
  });
});
