import { describe, expect, it } from "vitest";
import { encodedSize, entryCost, trimResult } from "../../../../agents/probe/trim-result.js";
import {
  Direction,
  HandshakeResult,
  Outcome,
  Phase,
  TargetResult,
  Transcript,
  TranscriptEntry,
} from "../../../../gen/smtpprobe/v1/handshake.js";

/** A transcript of `count` server lines of `width` characters, after a connect event, ending with "closed". */
function entries(count: number, width: number, label: string): TranscriptEntry[] {
  const lines: TranscriptEntry[] = [{ offsetMs: 0, direction: Direction.DIRECTION_EVENT, tls: false, text: `connected (${label})` }];
  for (let i = 0; i < count; i++) {
    lines.push({ offsetMs: i + 1, direction: Direction.DIRECTION_SERVER, tls: false, text: `250-${label}-${i}-${"x".repeat(width)}` });
  }
  lines.push({ offsetMs: count + 1, direction: Direction.DIRECTION_EVENT, tls: false, text: "closed" });
  return lines;
}

function handshake(address: string, transcript: TranscriptEntry[], extra: Partial<HandshakeResult> = {}): HandshakeResult {
  return HandshakeResult.fromPartial({
    host: "mx.example.com",
    address,
    port: 25,
    outcome: Outcome.OUTCOME_OK,
    phase: Phase.PHASE_DONE,
    transcript: { entries: transcript, truncated: false, bytes: transcript.reduce((n, e) => n + e.text.length, 0) },
    ...extra,
  });
}

function target(...handshakes: HandshakeResult[]): TargetResult {
  return TargetResult.fromPartial({ host: "mx.example.com", port: 25, handshakes });
}

const transcriptBytes = (h: HandshakeResult) => encodedSize(TargetResult.fromPartial({ handshakes: [{ transcript: h.transcript }] }));

describe("trimResult", () => {
  it("returns a result that fits as it is", () => {
    const input = target(handshake("192.0.2.1", entries(10, 20, "a")));
    const out = trimResult(input, 100_000);
    expect(out.result).toBe(input);
    expect(out).toMatchObject({ fits: true, droppedEntries: 0, textsCut: false, bytes: encodedSize(input) });
  });

  it("drops entries from the largest transcript first, keeping its first lines and how it ended", () => {
    const big = handshake("192.0.2.1", entries(600, 100, "big"));
    const small = handshake("192.0.2.2", entries(20, 100, "small"));
    const input = target(big, small);
    const before = structuredClone(input);
    const max = encodedSize(input) - 20_000;

    const out = trimResult(input, max);

    expect(out.fits).toBe(true);
    expect(out.bytes).toBeLessThanOrEqual(max);
    expect(out.bytes).toBe(encodedSize(out.result));
    expect(out.droppedEntries).toBeGreaterThan(0);
    expect(out.textsCut).toBe(false);
    expect(input).toEqual(before); // the input is not changed

    const [trimmedBig, untouched] = out.result.handshakes;
    expect(untouched!.transcript).toEqual(small.transcript);
    expect(untouched!.findings).toEqual([]);

    const kept = trimmedBig!.transcript!;
    expect(kept.truncated).toBe(true);
    expect(kept.entries[0]!.text).toBe("connected (big)");
    expect(kept.entries.at(-1)!.text).toBe("closed");
    const marker = kept.entries.find((e) => /entries dropped here by the agent/.test(e.text));
    expect(marker?.direction).toBe(Direction.DIRECTION_EVENT);
    expect(marker!.text).toMatch(new RegExp(`^${out.droppedEntries} `));
    expect(kept.entries).toHaveLength(big.transcript!.entries.length - out.droppedEntries + 1);
    expect(kept.bytes).toBe(kept.entries.reduce((n, e) => n + e.text.length, 0));
    expect(trimmedBig!.findings).toEqual([
      expect.objectContaining({ code: "transcript_truncated", message: expect.stringMatching(/192\.0\.2\.1 port 25 was too large for one message/) }),
    ]);
  });

  it("levels transcripts of similar size instead of emptying one", () => {
    const a = handshake("192.0.2.1", entries(400, 100, "a"));
    const b = handshake("192.0.2.2", entries(350, 100, "b"));
    const input = target(a, b);
    const out = trimResult(input, encodedSize(input) - 20_000);
    expect(out.fits).toBe(true);
    const [ta, tb] = out.result.handshakes.map(transcriptBytes);
    expect(out.result.handshakes.every((h) => h.transcript!.truncated)).toBe(true);
    // Both cut down to about the same level (within a couple of entries).
    expect(Math.abs(ta! - tb!)).toBeLessThan(500);
  });

  it("keeps the engine's own transcript_truncated finding and adds why it was cut again", () => {
    const h = handshake("192.0.2.1", entries(600, 100, "a"), {
      findings: [{ code: "transcript_truncated", severity: 3, message: "The transcript reached its size bound." }],
    });
    h.transcript!.truncated = true;
    const out = trimResult(target(h), 30_000);
    expect(out.result.handshakes[0]!.findings).toHaveLength(1);
    expect(out.result.handshakes[0]!.findings[0]!.message).toMatch(/^The transcript reached its size bound\. The result for .* was too large/);
  });

  it("cuts long texts elsewhere when the transcripts are not enough (a banner of many 8 KiB lines)", () => {
    const banner = { code: 220, enhancedCode: "", lines: Array.from({ length: 60 }, (_, i) => `${i} ${"b".repeat(8192)}`), meaning: "ready" };
    const h = handshake("192.0.2.1", entries(5, 10, "a"), { banner, lastReply: banner });
    const input = target(h);
    expect(encodedSize(input)).toBeGreaterThan(900_000);
    const out = trimResult(input, 300 * 1024);
    expect(out).toMatchObject({ fits: true, textsCut: true });
    const lines = out.result.handshakes[0]!.banner!.lines;
    expect(lines.length).toBeLessThanOrEqual(17);
    expect(lines[0]).toMatch(/^0 b+… \(cut by the agent\)$/);
    expect(lines.at(-1)).toBe("… 44 more cut by the agent");
    expect(out.result.handshakes[0]!.findings[0]!.message).toMatch(/long texts were cut/);
  });

  it("cuts the texts of the TLS profile and the enforcement check too", () => {
    const long = "z".repeat(20_000);
    const h = handshake("192.0.2.1", entries(2, 10, "a"), {
      tlsProfile: {
        status: 2,
        reason: long,
        versions: [{ version: 4, support: 1, detail: long, ciphers: [{ codePoint: 1, name: "x", grade: 4, weaknesses: [], reason: long }], ciphersComplete: false }],
        groups: [],
        groupsComplete: false,
        cipherOrder: 0,
        cipherOrderVersion: 0,
        chains: [{ keyType: "RSA", chain: [{ subject: long, issuer: long, subjectAltNames: Array.from({ length: 40 }, () => "DNS:a") } as never] }],
        dhePrimeBits: 0,
        connections: 3,
        totalMs: 1,
      },
      starttlsEnforcement: { status: 2, reply: { code: 250, enhancedCode: "", lines: [long], meaning: long }, reason: long, totalMs: 1 },
    });
    const out = trimResult(target(h), 40 * 1024);
    expect(out.fits).toBe(true);
    const { tlsProfile, starttlsEnforcement } = out.result.handshakes[0]!;
    for (const text of [tlsProfile!.reason, tlsProfile!.versions[0]!.detail, tlsProfile!.versions[0]!.ciphers[0]!.reason, tlsProfile!.chains[0]!.chain[0]!.subject, starttlsEnforcement!.reason, starttlsEnforcement!.reply!.lines[0]!]) {
      expect(text.length).toBeLessThan(4200);
      expect(text).toMatch(/cut by the agent/);
    }
    expect(tlsProfile!.chains[0]!.chain[0]!.subjectAltNames).toHaveLength(17);
  });

  it("says when even the trimmed result does not fit", () => {
    const many = Array.from({ length: 50 }, (_, i) => handshake(`192.0.2.${i}`, entries(3, 10, "x"), { reason: "r".repeat(100) }));
    const out = trimResult(target(...many), 2000);
    expect(out.fits).toBe(false);
    expect(out.bytes).toBeGreaterThan(2000);
  });
});

describe("entryCost", () => {
  it.each([
    { offsetMs: 0, direction: Direction.DIRECTION_UNSPECIFIED, tls: false, text: "" },
    { offsetMs: 1.5, direction: Direction.DIRECTION_SERVER, tls: true, text: "250 OK" },
    { offsetMs: 12345.67, direction: Direction.UNRECOGNIZED, tls: false, text: "x" },
    { offsetMs: 3, direction: Direction.DIRECTION_CLIENT, tls: false, text: "ü € 😀".repeat(50) },
    { offsetMs: 3, direction: Direction.DIRECTION_EVENT, tls: false, text: "y".repeat(20_000) },
  ])("is what the entry takes inside the encoded transcript: %j", (entry) => {
    const encoded = TranscriptEntry.encode(entry).finish().length;
    const inTranscript = Transcript.encode({ entries: [entry], truncated: false, bytes: 0 }).finish().length;
    expect(entryCost(entry)).toBe(inTranscript);
    expect(entryCost(entry)).toBeGreaterThan(encoded);
  });
});
