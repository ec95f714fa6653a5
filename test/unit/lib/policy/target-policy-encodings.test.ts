// Every denied range in every spelling a caller could use: the coordinator's path (request
// validation, then the early policy check) must deny or refuse each, never allow one. Pure.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { parseCidr, type IpAddress } from "../../../../lib/policy/cidr.js";
import { createTargetPolicy, DENIED_IPV4_RANGES, DENIED_IPV6_RANGES, IPV4_EMBEDDING_RANGES } from "../../../../lib/policy/target-policy.js";
import { checkTargetEarly, validateProbeRequest } from "../../../../services/coordinator/validate-request.js";

const policy = createTargetPolicy();

type Verdict = { kind: "refused" | "denied"; why: string } | { kind: "allowed" };

/** The coordinator's path for a host: validateProbeRequest, then checkTargetEarly. */
function judge(host: string): Verdict {
  const validated = validateProbeRequest(ProbeRequest.fromPartial({ host, ports: [25] }));
  if (!validated.ok) return { kind: "refused", why: validated.violations.map((v) => `${v.field}: ${v.description}`).join("; ") };
  const denied = checkTargetEarly(validated.value, policy);
  if (denied === undefined) return { kind: "allowed" };
  // No deny list, no own addresses, port 25 allowed: only the range table can deny here.
  expect(denied.kind).toBe("range");
  return { kind: "denied", why: denied.reason };
}

// ---- spellings of an IPv4 address (v: 0 .. 2^32-1) ----

const octets = (v: number): number[] => [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256);
const hex16 = (v: number): [string, string] => [Math.floor(v / 65536).toString(16), (v % 65536).toString(16)];
const pad4 = (h: string): string => h.padStart(4, "0");

/** Spellings that are IP literals: the policy must judge them by the IPv4 address inside. */
const LITERAL_FORMS: Record<string, (v: number) => string> = {
  dotted: (v) => octets(v).join("."),
  "bracketed dotted": (v) => `[${octets(v).join(".")}]`,
  "IPv4-mapped dotted": (v) => `::ffff:${octets(v).join(".")}`,
  "IPv4-mapped hex": (v) => `::ffff:${hex16(v).join(":")}`,
  "IPv4-mapped upper case": (v) => `::FFFF:${hex16(v).join(":").toUpperCase()}`,
  "IPv4-mapped expanded, zero-padded": (v) => `0000:0000:0000:0000:0000:ffff:${hex16(v).map(pad4).join(":")}`,
  "IPv4-mapped bracketed": (v) => `[::ffff:${octets(v).join(".")}]`,
  "NAT64 dotted": (v) => `64:ff9b::${octets(v).join(".")}`,
  "NAT64 hex": (v) => `64:ff9b::${hex16(v).join(":")}`,
  "NAT64 expanded upper case": (v) => `0064:FF9B:0000:0000:0000:0000:${hex16(v).map(pad4).join(":").toUpperCase()}`,
  "6to4": (v) => `2002:${hex16(v).join(":")}::`,
  "6to4 with a host part": (v) => `2002:${hex16(v).join(":")}:1::25`,
  "IPv4-compatible dotted": (v) => `::${octets(v).join(".")}`,
  "IPv4-compatible hex": (v) => `::${hex16(v).join(":")}`,
};

/** Spellings that are no literal: request validation must refuse them (never reinterpret). */
const NUMERIC_FORMS: Record<string, (v: number) => string> = {
  integer: (v) => String(v),
  "hex integer": (v) => `0x${v.toString(16)}`,
  "hex dotted": (v) => octets(v).map((o) => `0x${o.toString(16)}`).join("."),
  "octal dotted": (v) => octets(v).map((o) => `0${o.toString(8)}`).join("."),
  "zero-padded dotted": (v) => octets(v).map((o) => String(o).padStart(4, "0")).join("."),
  "shorthand a.b.c": (v) => { const [a, b] = octets(v); return `${a}.${b}.${v % 65536}`; },
  "shorthand a.b": (v) => `${octets(v)[0]}.${v % 2 ** 24}`,
  "mixed hex and octal": (v) => { const [a, b, c, d] = octets(v); return `0x${a!.toString(16)}.0${b!.toString(8)}.${c}.0x${d!.toString(16)}`; },
  "final dot": (v) => `${octets(v).join(".")}.`,
};

/** An address as a number, for arithmetic on range bounds. */
const valueOf = (address: IpAddress): bigint => address.toByteArray().reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);

const V4_RANGES = DENIED_IPV4_RANGES.map((range) => {
  const cidr = parseCidr(range.cidr);
  const first = Number(valueOf(cidr.network));
  return { ...range, first, last: first + 2 ** (32 - cidr.prefix) - 1 };
});

describe("every denied IPv4 range, in every spelling (table)", () => {
  const cases = V4_RANGES.flatMap((range) =>
    [range.first, Math.min(range.first + 1, range.last), range.last].flatMap((v) => [
      ...Object.entries(LITERAL_FORMS).map(([form, spell]) => ({ range: range.cidr, form, text: spell(v), expect: "denied" as const })),
      ...Object.entries(NUMERIC_FORMS).map(([form, spell]) => ({ range: range.cidr, form, text: spell(v), expect: "refused" as const })),
    ]),
  );

  it.each(cases)("$range, $form: $text is $expect", ({ text, expect: expected }) => {
    const verdict = judge(text);
    expect(verdict.kind).toBe(expected);
  });

  it("says why: the range, and the IPv4 address an IPv6 form carries", () => {
    expect(judge("::ffff:a9fe:a9fe")).toEqual({ kind: "denied", why: "::ffff:a9fe:a9fe is an IPv4-mapped link-local address (169.254.169.254, in 169.254.0.0/16)" });
    expect(judge("[64:FF9B::7F00:1]")).toEqual({ kind: "denied", why: "64:ff9b::7f00:1 is a NAT64 loopback address (127.0.0.1, in 127.0.0.0/8)" });
    expect(judge("0x7f.1")).toEqual({
      kind: "refused",
      why: 'host: "0x7f.1" is a non-canonical IPv4 form (hexadecimal, shorthand) that inet_aton(3) and URL parsers read as 127.0.0.1; write the address in dotted-decimal form',
    });
    expect(judge("fe80::1%eth0")).toEqual({ kind: "refused", why: 'host: "fe80::1%eth0" has an IPv6 zone id; give the address without it' });
  });

  it("allows the same spellings of a public address (the table is not denying everything)", () => {
    const v = 8 * 2 ** 24 + 8 * 2 ** 16 + 8 * 256 + 8;
    for (const [form, spell] of Object.entries(LITERAL_FORMS)) expect(judge(spell(v)), form).toEqual({ kind: "allowed" });
  });
});

// ---- spellings of an IPv6 address ----

const groupsOf = (value: bigint): string[] => Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));

/** RFC 5952 text, by the WHATWG URL parser: a formatter independent of the code under test. */
const compressed = (value: bigint): string => new URL(`http://[${groupsOf(value).join(":")}]/`).hostname.slice(1, -1);

const V6_FORMS: Record<string, (value: bigint) => string> = {
  compressed,
  "upper case": (value) => compressed(value).toUpperCase(),
  expanded: (value) => groupsOf(value).join(":"),
  "zero-padded": (value) => groupsOf(value).map(pad4).join(":"),
  bracketed: (value) => `[${compressed(value)}]`,
  "dotted tail": (value) => `${groupsOf(value).slice(0, 6).join(":")}:${octets(Number(value & 0xffffffffn)).join(".")}`,
};

const V6_RANGES = DENIED_IPV6_RANGES.map((range) => {
  const cidr = parseCidr(range.cidr);
  const first = valueOf(cidr.network);
  return { ...range, first, last: first + (1n << BigInt(128 - cidr.prefix)) - 1n };
});
const EMBEDDINGS = IPV4_EMBEDDING_RANGES.map((e) => parseCidr(e.cidr)).map((c) => ({ prefix: c.prefix, network: valueOf(c.network) }));
/** Inside an IPv4-carrying range an address is judged by its IPv4 address: tested above. */
const carriesIpv4 = (value: bigint): boolean =>
  value > 1n && EMBEDDINGS.some((c) => (value >> BigInt(128 - c.prefix)) << BigInt(128 - c.prefix) === c.network);

describe("every denied IPv6 range, in every spelling (table)", () => {
  const cases = V6_RANGES.flatMap((range) =>
    [range.first, range.first + 1n, range.last]
      .filter((value) => !carriesIpv4(value))
      .flatMap((value) => Object.entries(V6_FORMS).map(([form, spell]) => ({ range: range.cidr, form, text: spell(value) }))),
  );
  it.each(cases)("$range, $form: $text is denied", ({ text }) => {
    expect(judge(text).kind).toBe("denied");
  });
});

describe("property: no spelling of a denied address is ever allowed", () => {
  const runs = { numRuns: 300 };

  it("IPv4: every spelling of a random address in every denied range is denied or refused", () => {
    const rangeAndAddress = fc
      .constantFrom(...V4_RANGES)
      .chain((range) => fc.tuple(fc.constant(range), fc.integer({ min: range.first, max: range.last })));
    fc.assert(
      fc.property(rangeAndAddress, ([range, v]) => {
        for (const [form, spell] of [...Object.entries(LITERAL_FORMS), ...Object.entries(NUMERIC_FORMS)]) {
          const text = spell(v);
          const verdict = judge(text);
          if (verdict.kind === "allowed") throw new Error(`${text} (${form} of ${octets(v).join(".")}, in ${range.cidr}) was allowed`);
        }
      }),
      runs,
    );
  });

  it("IPv6: every spelling of a random address in every denied range is denied", () => {
    const rangeAndAddress = fc
      .constantFrom(...V6_RANGES)
      .chain((range) => fc.tuple(fc.constant(range), fc.bigInt({ min: range.first, max: range.last })));
    fc.assert(
      fc.property(rangeAndAddress, ([range, value]) => {
        fc.pre(!carriesIpv4(value));
        for (const [form, spell] of Object.entries(V6_FORMS)) {
          const text = spell(value);
          if (judge(text).kind === "allowed") throw new Error(`${text} (${form}, in ${range.cidr}) was allowed`);
        }
      }),
      runs,
    );
  });
});
