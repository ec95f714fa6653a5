import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Capabilities, type DeepPartial } from "../../../../gen/smtpprobe/v1/handshake.js";
import { heloCapabilities, parseEhloReply } from "../../../../agents/smtp/ehlo.js";

const GREETING = "mx.example.com Hello client.example.org [192.0.2.7]";

describe("parseEhloReply", () => {
  const cases: { name: string; lines: string[]; expected: DeepPartial<Capabilities> }[] = [
    { name: "no lines at all", lines: [], expected: {} },
    { name: "greeting only", lines: [GREETING], expected: { greeting: GREETING } },
    { name: "greeting trimmed", lines: ["  mx.example.com ESMTP \t"], expected: { greeting: "mx.example.com ESMTP" } },
    {
      name: "a Postfix reply",
      lines: [
        "mx.example.com",
        "PIPELINING",
        "SIZE 10240000",
        "VRFY",
        "ETRN",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
      ],
      expected: {
        greeting: "mx.example.com",
        pipelining: true,
        size: 10240000,
        starttls: true,
        enhancedStatusCodes: true,
        eightBitMime: true,
        dsn: true,
        smtputf8: true,
        chunking: true,
        other: ["VRFY", "ETRN"],
      },
    },
    { name: "REQUIRETLS", lines: [GREETING, "REQUIRETLS"], expected: { greeting: GREETING, requiretls: true } },
    {
      name: "keywords are case-insensitive",
      lines: [GREETING, "starttls", "Pipelining", "8bitmime", "smtpUTF8", "auth plain"],
      expected: { greeting: GREETING, starttls: true, pipelining: true, eightBitMime: true, smtputf8: true, authMechanisms: ["PLAIN"] },
    },
    { name: "SIZE without a value means no fixed limit", lines: [GREETING, "SIZE"], expected: { greeting: GREETING, size: 0 } },
    { name: "SIZE 0", lines: [GREETING, "SIZE 0"], expected: { greeting: GREETING, size: 0 } },
    { name: "SIZE with a value", lines: [GREETING, "SIZE 35882577"], expected: { greeting: GREETING, size: 35882577 } },
    { name: "SIZE with extra spaces", lines: [GREETING, "  SIZE \t 52428800  "], expected: { greeting: GREETING, size: 52428800 } },
    { name: "SIZE with a non-numeric value", lines: [GREETING, "SIZE unlimited"], expected: { greeting: GREETING, other: ["SIZE unlimited"] } },
    { name: "SIZE with a negative value", lines: [GREETING, "SIZE -1"], expected: { greeting: GREETING, other: ["SIZE -1"] } },
    { name: "SIZE with two values", lines: [GREETING, "SIZE 10 20"], expected: { greeting: GREETING, other: ["SIZE 10 20"] } },
    {
      name: "SIZE too large to hold exactly",
      lines: [GREETING, "SIZE 18446744073709551615"],
      expected: { greeting: GREETING, other: ["SIZE 18446744073709551615"] },
    },
    {
      name: "a repeated SIZE keeps the first, the repeat verbatim",
      lines: [GREETING, "SIZE 1000", "SIZE 2000"],
      expected: { greeting: GREETING, size: 1000, other: ["SIZE 2000"] },
    },
    {
      name: "AUTH mechanisms upper-cased, de-duplicated, in order",
      lines: [GREETING, "AUTH login Plain CRAM-MD5 PLAIN"],
      expected: { greeting: GREETING, authMechanisms: ["LOGIN", "PLAIN", "CRAM-MD5"] },
    },
    {
      name: "the old AUTH= form alongside AUTH",
      lines: [GREETING, "AUTH PLAIN LOGIN", "AUTH=LOGIN PLAIN XOAUTH2"],
      expected: { greeting: GREETING, authMechanisms: ["PLAIN", "LOGIN", "XOAUTH2"] },
    },
    { name: "the old AUTH= form alone", lines: [GREETING, "auth=login"], expected: { greeting: GREETING, authMechanisms: ["LOGIN"] } },
    { name: "AUTH separated by tabs", lines: [GREETING, "AUTH\tPLAIN\t\tLOGIN "], expected: { greeting: GREETING, authMechanisms: ["PLAIN", "LOGIN"] } },
    { name: "AUTH with no mechanism", lines: [GREETING, "AUTH"], expected: { greeting: GREETING } },
    {
      name: "empty and blank lines skipped",
      lines: [GREETING, "", "   ", "\t", "STARTTLS", ""],
      expected: { greeting: GREETING, starttls: true },
    },
    {
      name: "unknown keywords kept verbatim",
      lines: [GREETING, "XCLIENT NAME ADDR PROTO HELO", "X-EXPS GSSAPI NTLM", "DELIVERBY 300", "MT-PRIORITY MIXER"],
      expected: { greeting: GREETING, other: ["XCLIENT NAME ADDR PROTO HELO", "X-EXPS GSSAPI NTLM", "DELIVERBY 300", "MT-PRIORITY MIXER"] },
    },
    {
      name: "lines that are not keywords kept verbatim",
      lines: [GREETING, "-bad", "=== hi ===", "ÄUTH PLAIN"],
      expected: { greeting: GREETING, other: ["-bad", "=== hi ===", "ÄUTH PLAIN"] },
    },
    {
      name: "a flag keyword with parameters still counts",
      lines: [GREETING, "PIPELINING extra"],
      expected: { greeting: GREETING, pipelining: true },
    },
    { name: "a keyword glued to text is not the keyword", lines: [GREETING, "STARTTLSX"], expected: { greeting: GREETING, other: ["STARTTLSX"] } },
    { name: "an empty greeting", lines: ["", "DSN"], expected: { dsn: true } },
  ];

  it.each(cases)("$name", ({ lines, expected }) => {
    expect(parseEhloReply(lines)).toEqual(Capabilities.fromPartial(expected));
  });

  it("never throws, and gives upper-case, unique mechanisms and an encodable message, whatever the lines", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.constantFrom("AUTH", "SIZE", "AUTH=", "SIZE 99999999999999999999"))), (lines) => {
        const caps = parseEhloReply(lines);
        expect(new Set(caps.authMechanisms).size).toBe(caps.authMechanisms.length);
        for (const m of caps.authMechanisms) expect(m).toBe(m.toUpperCase());
        expect(() => Capabilities.decode(Capabilities.encode(caps).finish())).not.toThrow();
      }),
    );
  });
});

describe("heloCapabilities", () => {
  it.each([
    { name: "a plain greeting", greeting: "mx.example.com", expected: { greeting: "mx.example.com", heloOnly: true } },
    { name: "a padded greeting", greeting: " mx.example.com hi ", expected: { greeting: "mx.example.com hi", heloOnly: true } },
    { name: "an empty greeting", greeting: "", expected: { heloOnly: true } },
  ])("$name", ({ greeting, expected }) => {
    expect(heloCapabilities(greeting)).toEqual(Capabilities.fromPartial(expected));
  });
});
