import { describe, expect, it } from "vitest";
import { Direction, type TranscriptEntry } from "../../../../gen/smtpprobe/v1/handshake.js";
import { describeReply, parseEnhancedCode, transcriptReplyMeanings } from "../../../../agents/smtp/reply-meaning.js";
import type { ReplyMoment } from "../../../../agents/smtp/reply-moment.js";

describe("parseEnhancedCode", () => {
  it.each([
    { name: "success", code: 250, text: "2.0.0 Ok", expected: "2.0.0" },
    { name: "policy refusal", code: 550, text: "5.7.1 Relaying denied", expected: "5.7.1" },
    { name: "two-digit detail", code: 550, text: "5.7.26 Unauthenticated email is not accepted", expected: "5.7.26" },
    { name: "three-digit subject and detail", code: 451, text: "4.123.456 odd but allowed", expected: "4.123.456" },
    { name: "temporary", code: 421, text: "4.4.2 mx.example.com Error: timeout exceeded", expected: "4.4.2" },
    { name: "code alone, end of text", code: 554, text: "5.7.1", expected: "5.7.1" },
    { name: "followed by a tab", code: 550, text: "5.1.1\tNo such user", expected: "5.1.1" },
    { name: "after stray leading spaces", code: 550, text: "  5.1.1 No such user", expected: "5.1.1" },
    { name: "class differs from the reply code", code: 550, text: "4.7.1 try later", expected: undefined },
    { name: "success class on a failure", code: 250, text: "5.7.1 nope", expected: undefined },
    { name: "class 3 is not a class", code: 354, text: "3.0.0 go ahead", expected: undefined },
    { name: "subject of four digits", code: 550, text: "5.1234.1 x", expected: undefined },
    { name: "detail of four digits", code: 550, text: "5.7.1234 x", expected: undefined },
    { name: "only two parts", code: 550, text: "5.1 x", expected: undefined },
    { name: "four parts", code: 550, text: "5.1.1.1 x", expected: undefined },
    { name: "glued to punctuation", code: 550, text: "5.7.1: denied", expected: undefined },
    { name: "glued to text", code: 550, text: "5.7.1denied", expected: undefined },
    { name: "not at the start", code: 550, text: "Denied 5.7.1", expected: undefined },
    { name: "no text", code: 550, text: "", expected: undefined },
    { name: "plain text", code: 220, text: "mx.example.com ESMTP", expected: undefined },
  ])("$name: $code $text", ({ code, text, expected }) => {
    expect(parseEnhancedCode(code, text)).toBe(expected);
  });
});

describe("describeReply", () => {
  it.each([
    { code: 211, says: "system status" },
    { code: 214, says: "help" },
    { code: 220, says: "service ready" },
    { code: 221, says: "closing" },
    { code: 250, says: "completed" },
    { code: 251, says: "will forward" },
    { code: 252, says: "cannot verify" },
    { code: 354, says: "start mail input" },
    { code: 421, says: "not available" },
    { code: 450, says: "mailbox unavailable for now" },
    { code: 451, says: "local error" },
    { code: 452, says: "insufficient system storage" },
    { code: 454, says: "TLS or authentication is not available" },
    { code: 455, says: "cannot accommodate the parameters" },
    { code: 500, says: "command unrecognized" },
    { code: 501, says: "parameters or arguments" },
    { code: 502, says: "not implemented" },
    { code: 503, says: "bad sequence" },
    { code: 504, says: "parameter not implemented" },
    { code: 521, says: "does not accept mail at all (RFC 7504)" },
    { code: 530, says: "authentication required" },
    { code: 535, says: "credentials invalid" },
    { code: 550, says: "mailbox unavailable or action refused" },
    { code: 551, says: "user not local" },
    { code: 552, says: "storage allocation" },
    { code: 553, says: "mailbox name not allowed" },
    { code: 554, says: "transaction failed" },
    { code: 555, says: "parameters not recognized" },
    { code: 556, says: "domain does not accept mail" },
    { code: 259, says: "success" },
    { code: 329, says: "intermediate" },
    { code: 471, says: "temporary failure" },
    { code: 458, says: "temporary failure (mail system)" },
    { code: 509, says: "permanent failure (syntax)" },
    { code: 559, says: "permanent failure (mail system), do not retry" },
    { code: 599, says: "permanent failure, do not retry" },
    { code: 600, says: "not a valid SMTP reply code" },
    { code: 199, says: "not a valid SMTP reply code" },
    { code: 0, says: "not a valid SMTP reply code" },
  ])("$code says $says", ({ code, says }) => {
    const text = describeReply(code);
    expect(text.startsWith(`${code}: `)).toBe(true);
    expect(text).toContain(says);
  });

  it("says what a 554 banner means to an operator", () => {
    expect(describeReply(554)).toBe(
      "554: transaction failed — the server refuses to talk to us (often a blocklist or policy rejection)",
    );
  });

  it.each([
    { code: 550, enhanced: "5.7.1", says: "delivery not authorized" },
    { code: 454, enhanced: "4.7.0", says: "security or policy problem" },
    { code: 530, enhanced: "5.7.0", says: "security or policy problem" },
    { code: 535, enhanced: "5.7.8", says: "authentication credentials invalid" },
    { code: 421, enhanced: "4.4.2", says: "bad connection" },
    { code: 500, enhanced: "5.5.1", says: "invalid command" },
    { code: 552, enhanced: "5.3.4", says: "message too big" },
    { code: 550, enhanced: "5.7.26", says: "DMARC" },
    { code: 550, enhanced: "5.7.23", says: "SPF validation failed" },
    { code: 550, enhanced: "5.1.1", says: "no such user" },
    { code: 452, enhanced: "4.2.2", says: "mailbox full" },
    { code: 550, enhanced: "5.7.30", says: "REQUIRETLS" },
    { code: 550, enhanced: "5.07.001", says: "delivery not authorized" },
    { code: 550, enhanced: "5.7.999", says: "a security or policy problem" },
    { code: 451, enhanced: "4.9.9", says: "an unknown kind of problem" },
    { code: 250, enhanced: "2.0.0", says: "; 2.0.0: success" },
    { code: 250, enhanced: "2.1.5", says: "success, destination address valid" },
  ])("$code $enhanced says $says", ({ code, enhanced, says }) => {
    const text = describeReply(code, enhanced);
    expect(text.startsWith(`${code} ${enhanced}: `)).toBe(true);
    expect(text).toContain(says);
    expect(text).not.toContain("\n");
  });

  it.each([
    { name: "empty", enhanced: "" },
    { name: "garbage", enhanced: "x.y.z" },
    { name: "class 3", enhanced: "3.0.0" },
    { name: "with trailing text", enhanced: "5.7.1 denied" },
  ])("ignores an enhanced code that is not one: $name", ({ enhanced }) => {
    expect(describeReply(550, enhanced)).toBe(describeReply(550));
  });
});

describe("describeReply at a moment: what the reply answers changes what its code means", () => {
  const banner: ReplyMoment = { kind: "banner" };
  const unsolicited: ReplyMoment = { kind: "unsolicited" };
  const to = (verb: string): ReplyMoment => ({ kind: "command", verb });

  it.each<{ code: number; at: ReplyMoment; says: string; saysNot?: string }>([
    // The banner: a refusal of this client, never about a mailbox.
    { code: 220, at: banner, says: "service ready" },
    { code: 550, at: banner, says: "the server refuses connections from this client", saysNot: "mailbox unavailable" },
    { code: 554, at: banner, says: "refuses to talk to us — it turns away connections from this client" },
    { code: 521, at: banner, says: "does not accept mail at all (RFC 7504)" },
    { code: 553, at: banner, says: "the server refuses connections from this client", saysNot: "mailbox name" },
    { code: 421, at: banner, says: "turns the connection away for now", saysNot: "greylisting" },
    { code: 450, at: banner, says: "turns the connection away for now, try again later", saysNot: "mailbox" },
    // EHLO and HELO: a refused greeting, or an old server.
    { code: 250, at: to("EHLO"), says: "hello accepted, extensions listed" },
    { code: 500, at: to("EHLO"), says: "falls back to HELO (RFC 5321 §3.2)" },
    { code: 502, at: to("EHLO"), says: "EHLO not implemented" },
    { code: 501, at: to("EHLO"), says: "refused the name given in EHLO as malformed" },
    { code: 550, at: to("EHLO"), says: "refuses the greeting — often its policy on the client's reverse DNS or on the name given in EHLO", saysNot: "mailbox" },
    { code: 554, at: to("EHLO"), says: "refuses the greeting" },
    { code: 421, at: to("EHLO"), says: "closes the connection instead of answering EHLO" },
    { code: 451, at: to("EHLO"), says: "turns the greeting away for now" },
    { code: 250, at: to("HELO"), says: "no extensions with HELO" },
    { code: 550, at: to("HELO"), says: "name given in HELO" },
    { code: 421, at: to("HELO"), says: "instead of answering HELO" },
    // STARTTLS.
    { code: 220, at: to("STARTTLS"), says: "ready to start TLS (RFC 3207 §4)" },
    { code: 454, at: to("STARTTLS"), says: "TLS not available for now (RFC 3207 §4)" },
    { code: 501, at: to("STARTTLS"), says: "takes no parameters" },
    { code: 502, at: to("STARTTLS"), says: "does not support TLS" },
    { code: 554, at: to("STARTTLS"), says: "refuses to start TLS" },
    // QUIT.
    { code: 221, at: to("QUIT"), says: "closing the connection, as asked" },
    // Unsolicited: nobody asked.
    { code: 421, at: unsolicited, says: "closed the session on its own", saysNot: "greylisting" },
    { code: 250, at: unsolicited, says: "sent on its own, not in answer to a command — requested action completed" },
    { code: 554, at: unsolicited, says: "sent on its own" },
    // A command without a meaning of its own: the general one.
    { code: 550, at: to("RCPT"), says: "mailbox unavailable or action refused" },
    { code: 421, at: to("MAIL"), says: "often overload, rate limiting or greylisting" },
  ])("$code at $at.kind $at.verb: $says", ({ code, at, says, saysNot }) => {
    const text = describeReply(code, undefined, at);
    expect(text.startsWith(`${code}: `)).toBe(true);
    expect(text).toContain(says);
    if (saysNot) expect(text).not.toContain(saysNot);
  });

  it("keeps the enhanced code's meaning after the moment's, and before any mail it speaks of no delivery", () => {
    expect(describeReply(550, "5.7.1", banner)).toBe(
      "550 5.7.1: the server refuses connections from this client — a policy refusal of the connection (often a blocklist, or the client's address or reverse DNS), not about any mailbox; 5.7.1: not authorized — refused by the server's policy (often a blocklist or a check of the client)",
    );
    expect(describeReply(550, "5.7.1", to("EHLO"))).toContain("; 5.7.1: not authorized — refused by the server's policy");
    expect(describeReply(550, "5.7.1", unsolicited)).toContain("; 5.7.1: not authorized");
    expect(describeReply(550, "5.7.1", to("RCPT"))).toContain("; 5.7.1: delivery not authorized, message refused");
    expect(describeReply(550, "5.7.1")).toContain("; 5.7.1: delivery not authorized, message refused");
  });

  it("gives 454 one text to STARTTLS, whoever asks", () => {
    const meaning = describeReply(454, "4.7.0", to("STARTTLS"));
    expect(meaning).toMatch(/^454 4\.7\.0: TLS not available for now/);
    expect(meaning).not.toContain(describeReply(454).slice("454: ".length));
  });
});

describe("transcriptReplyMeanings", () => {
  const entry = (direction: Direction, text: string, tls = false): TranscriptEntry => ({ offsetMs: 0, direction, tls, text });
  const S = (text: string, tls?: boolean): TranscriptEntry => entry(Direction.DIRECTION_SERVER, text, tls);
  const C = (text: string, tls?: boolean): TranscriptEntry => entry(Direction.DIRECTION_CLIENT, text, tls);
  const E = (text: string, tls?: boolean): TranscriptEntry => entry(Direction.DIRECTION_EVENT, text, tls);

  it("gives each reply, on its last line, the meaning of what it answered", () => {
    const entries = [
      E("connected to 192.0.2.1:25"),
      S("550-5.7.1 go away"),
      S("550 5.7.1 really"),
      C("QUIT"),
      S("221 bye"),
    ];
    const meanings = transcriptReplyMeanings(entries);
    expect([...meanings.keys()]).toEqual([2, 4]);
    expect(meanings.get(2)).toBe(describeReply(550, "5.7.1", { kind: "banner" }));
    expect(meanings.get(4)).toBe(describeReply(221, undefined, { kind: "command", verb: "QUIT" }));
  });

  it("follows STARTTLS, drops a reply TLS cut short, and knows an idle 421", () => {
    const entries = [
      S("220 mx ESMTP"),
      C("EHLO probe.test"),
      S("250-mx"),
      S("250 STARTTLS"),
      C("STARTTLS"),
      S("220 go"),
      S("250-EVIL"),
      E("discarded 10 bytes sent in plaintext after the STARTTLS reply"),
      E("TLS established: TLSv1.3", true),
      C("EHLO probe.test", true),
      S("250 mx", true),
      S("421 4.4.2 mx Error: timeout exceeded", true),
    ];
    const meanings = transcriptReplyMeanings(entries);
    expect(meanings.get(0)).toMatch(/^220: service ready/);
    expect(meanings.get(3)).toMatch(/^250: hello accepted, extensions listed/);
    expect(meanings.get(5)).toMatch(/^220: ready to start TLS/);
    expect(meanings.has(6)).toBe(false);
    expect(meanings.get(10)).toMatch(/^250: hello accepted, extensions listed/);
    expect(meanings.get(11)).toMatch(/^421 4\.4\.2: the server closed the session on its own/);
  });

  it("passes over lines that are not reply lines", () => {
    const meanings = transcriptReplyMeanings([S("SSH-2.0-OpenSSH_9.6"), S("220 mx")]);
    expect([...meanings.keys()]).toEqual([1]);
    expect(meanings.get(1)).toMatch(/^220: service ready/);
  });
});
