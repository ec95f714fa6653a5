import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseHostName } from "../../../lib/host-name.js";

describe("parseHostName", () => {
  it.each([
    ["mx.example.com", "mx.example.com", false],
    ["MX.Example.COM.", "mx.example.com.", false],
    ["localhost", "localhost", false],
    ["bücher.de", "xn--bcher-kva.de", false],
    ["BÜCHER.de", "xn--bcher-kva.de", false],
    ["xn--bcher-kva.de", "xn--bcher-kva.de", false],
    ["1e3.example", "1e3.example", false],
    ["192.0.2.1", "192.0.2.1", true],
    ["2001:db8::1", "2001:db8::1", true],
    ["::ffff:127.0.0.1", "::ffff:127.0.0.1", true],
    ["[2001:db8::1]", "2001:db8::1", true],
    ["[192.0.2.1]", "192.0.2.1", true],
    // Syntax only: the zone id is the caller's to refuse (the coordinator does).
    ["fe80::1%eth0", "fe80::1%eth0", true],
  ])("accepts %j as %j", (input, host, isIpLiteral) => {
    expect(parseHostName(input)).toEqual({ ok: true, host, isIpLiteral });
  });

  it.each([
    ["", "must not be empty"],
    ["exa mple.com", "is not a host name or IP address"],
    ["mx.example.com:25", "is not a host name or IP address"],
    ["user@example.com", "is not a host name or IP address"],
    ["mx\r\n.example.com", "is not a host name or IP address"],
    // domainToASCII would percent-decode this to example.com.
    ["ex%41mple.com", "is not a host name or IP address"],
    ["xn--a.com", "is not a host name or IP address"],
    // Numeric look-alikes: an address to inet_aton or WHATWG URL, a name to others.
    ["1.2.3", "is a non-canonical IPv4 form (shorthand) that inet_aton(3) and URL parsers read as 1.2.0.3"],
    ["127.1", "is a non-canonical IPv4 form (shorthand) that inet_aton(3) and URL parsers read as 127.0.0.1; write the address in dotted-decimal form"],
    ["192.0.2.256", "is not a valid IP address"],
    ["1.2.3.4.5", "is not a valid IP address"],
    ["08.0.0.1", "is not a valid IP address"],
    ["4294967296", "is not a valid IP address"],
    ["010.0.0.1", "is a non-canonical IPv4 form (octal) that inet_aton(3) and URL parsers read as 8.0.0.1"],
    ["127.000.000.001", "(octal) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["2130706433", "(integer) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["127.0.0.1.", "(final dot) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["0x7f.1", "(hexadecimal, shorthand) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["0x7f", "(hexadecimal, integer) that inet_aton(3) and URL parsers read as 0.0.0.127"],
    ["0x7F000001", "(hexadecimal, integer) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["127.0.0.0x1", "(hexadecimal) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["0177.0.0.1", "(octal) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["0x7f.0.01", "(hexadecimal, octal, shorthand) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["１２７.０.０.１", "is a numeric look-alike of the address 127.0.0.1"],
    ["[mx.example.com]", "is not an IP address in brackets"],
    ["[2001:db8::1", "is not an IP address in brackets"],
    ["2001:db8::1]", "is not an IP address in brackets"],
    ["a..b", "is not a valid host name"],
    ["-mx.example.com", "is not a valid host name"],
    ["under_score.example", "is not a valid host name"],
    [`${"a".repeat(64)}.com`, "is not a valid host name"],
    [`${"abcdefghi.".repeat(26)}com`, "is longer than 253 characters"],
  ])("refuses %j: %s", (input, problem) => {
    const result = parseHostName(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(problem);
  });

  // Names already in lower-case A-label form skip domainToASCII; the same name in capitals takes it
  // (domainToASCII lower-cases it): both must come out the same, accepted or refused alike.
  it("says of a lower-case name what domainToASCII's path says of it in capitals", () => {
    const char = fc.constantFrom(..."abcxyz0189-.".split(""));
    const label = fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/), fc.string({ unit: char, maxLength: 8 }), fc.constantFrom("xn--bcher-kva", "0x7f", "xn--", "a".repeat(63), "a".repeat(64)));
    const name = fc.tuple(fc.array(label, { minLength: 1, maxLength: 6 }), fc.boolean()).map(([labels, dot]) => labels.join(".") + (dot ? "." : ""));
    fc.assert(
      fc.property(fc.oneof(name, fc.constantFrom(`${"a".repeat(63)}.`.repeat(3) + "a".repeat(61), `${"a".repeat(63)}.`.repeat(3) + "a".repeat(62))), (input) => {
        expect(parseHostName(input)).toEqual(parseHostName(input.toUpperCase()));
      }),
      { numRuns: 2_000 },
    );
  });
});
