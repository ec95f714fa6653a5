import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplyReader, type SmtpReply } from "../../../../agents/smtp/reply-reader.js";

const limits = { maxLineOctets: 64, maxReplyLines: 5 };

function readAll(chunks: readonly Buffer[], l = limits) {
  const reader = new ReplyReader(l);
  const lines: string[] = [];
  const replies: SmtpReply[] = [];
  for (const chunk of chunks) {
    lines.push(...reader.push(chunk).map((x) => x.text));
    for (let r = reader.next(); r; r = reader.next()) replies.push(r);
  }
  return { lines, replies, error: reader.error?.kind, longest: reader.longestLineOctets, rest: reader.takeBuffered() };
}

describe("ReplyReader", () => {
  it.each([
    ["single line", "220 mx.test ESMTP\r\n", [{ code: 220, lines: ["mx.test ESMTP"] }], undefined],
    ["code alone", "250\r\n", [{ code: 250, lines: [""] }], undefined],
    ["multi-line", "250-mx.test\r\n250-SIZE 10\r\n250 STARTTLS\r\n", [{ code: 250, lines: ["mx.test", "SIZE 10", "STARTTLS"] }], undefined],
    ["bare LF tolerated", "220 hi\n", [{ code: 220, lines: ["hi"] }], undefined],
    ["two replies in one chunk", "250 a\r\n221 b\r\n", [{ code: 250, lines: ["a"] }, { code: 221, lines: ["b"] }], undefined],
    ["no code", "hello\r\n", [], "malformed"],
    ["code changes mid-reply", "250-a\r\n251 b\r\n", [], "malformed"],
    ["1xx is not SMTP", "123 x\r\n", [], "malformed"],
    ["line too long", `220 ${"x".repeat(100)}\r\n`, [], "line_too_long"],
    ["too many lines", "250-a\r\n".repeat(6) + "250 z\r\n", [], "too_many_lines"],
    ["partial reply stays buffered", "250-a\r\n250-b", [], undefined],
  ])("%s", (_name, input, replies, error) => {
    const got = readAll([Buffer.from(input)]);
    expect(got.replies).toEqual(replies);
    expect(got.error).toBe(error);
  });

  it("stops buffering a line without CRLF at the bound", () => {
    const reader = new ReplyReader(limits);
    for (let i = 0; i < 1000; i++) reader.push(Buffer.alloc(1024, 0x41));
    expect(reader.error?.kind).toBe("line_too_long");
    expect(reader.takeBuffered().length).toBe(0);
  });

  it("hands back unread bytes for the STARTTLS discard (RFC 3207 §6)", () => {
    const reader = new ReplyReader(limits);
    reader.push(Buffer.from("220 go\r\n250-EVIL\r\n250 MORE\r\n250-pa"));
    expect(reader.next()).toEqual({ code: 220, lines: ["go"] });
    expect(reader.takeBuffered().toString()).toBe("250-EVIL\r\n250 MORE\r\n250-pa");
    expect(reader.next()).toBeUndefined();
  });

  it("counts the longest line", () => {
    expect(readAll([Buffer.from("250-ab\r\n250 abcdefgh\r\n")]).longest).toBe(12);
  });

  const replyText = fc
    .tuple(
      fc.integer({ min: 200, max: 599 }),
      fc.array(fc.stringMatching(/^[ -~]{0,20}$/), { minLength: 1, maxLength: 4 }),
    )
    .map(([code, lines]) => lines.map((l, i) => `${code}${i === lines.length - 1 ? " " : "-"}${l}\r\n`).join(""));
  const stream = fc.oneof(
    fc.array(replyText, { minLength: 1, maxLength: 5 }).map((r) => r.join("")),
    // Adversarial bytes as well: whatever they are, chunking must not change the verdict.
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
  );

  it("gives the same lines, replies and error however the bytes are chunked", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 40 }), (text, sizes) => {
        const bytes = Buffer.from(text, "latin1");
        const whole = readAll([bytes]);
        const chunks: Buffer[] = [];
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const size = sizes[i % sizes.length] ?? 1;
          chunks.push(bytes.subarray(at, at + size));
          at += size;
        }
        const split = readAll(chunks);
        expect(split.replies).toEqual(whole.replies);
        expect(split.lines).toEqual(whole.lines);
        expect(split.error).toEqual(whole.error);
      }),
      { numRuns: 500 },
    );
  });
});
