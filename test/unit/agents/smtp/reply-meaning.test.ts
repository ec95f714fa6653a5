import { describe, expect, it } from "vitest";
import { describeReply, parseEnhancedCode } from "../../../../agents/smtp/reply-meaning.js";

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
