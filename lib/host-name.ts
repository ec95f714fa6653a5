// Host syntax shared by the CLI and the coordinator: a host name (IDN allowed), or an IP literal.
// Pure: no DNS, no I/O. Whether an address may be connected to is the target policy's business
// (lib/policy/target-policy.ts), not this module's.
import { isIP } from "node:net";
import { domainToASCII } from "node:url";

/** A TCP port number: a whole number from 1 to 65535. */
export function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** RFC 1035 §2.3.4: 255 octets on the wire, 253 characters in text form (no final dot). */
export const MAX_HOST_NAME_LENGTH = 253;

export type HostParseResult =
  | {
      ok: true;
      /** The name in its lower-case A-label form (a final dot kept), or the address without brackets. */
      host: string;
      isIpLiteral: boolean;
    }
  | {
      ok: false;
      /**
       * A phrase that follows the value: `"0x7f" is a numeric look-alike of 0.0.0.127; …`. For
       * empty input it stands alone: "must not be empty".
       */
      problem: string;
    };

/** LDH labels of at most 63 octets (RFC 1035 §2.3.1, RFC 1123 §2.1). */
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A name domainToASCII returns unchanged: lower-case LDH labels, the last one starting with a
 * letter (so that no URL parser reads it as a number), a final dot allowed. Names with an A-label
 * ("xn--", whose Punycode domainToASCII checks) take the full path.
 */
const PLAIN_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/;

/**
 * Characters that are never part of a host name. `%` is here because domainToASCII
 * percent-decodes ("ex%41mple.com" would become "example.com"); an IPv6 zone id ("fe80::1%eth0")
 * is an IP literal and never reaches this check.
 */
const NOT_IN_A_HOST = /[\s\x00-\x1f\x7f/:@?#\\%]/;

/**
 * A host name (IDN allowed, converted to its A-label form), an IPv4 or IPv6 literal, or an
 * address in brackets ("[2001:db8::1]", "[192.0.2.1]", as in SMTP address literals and URLs).
 *
 * Numeric look-alikes are refused rather than reinterpreted: "127.1", "0x7f.1", "2130706433",
 * "010.0.0.1" all mean an address to some parser (inet_aton, WHATWG URL) and a name to others,
 * and a probe must not connect somewhere other than what its caller read.
 *
 * IPv6 literals are returned as given (a zone id included); callers that cannot use a zone id
 * refuse it themselves.
 */
export function parseHostName(input: string): HostParseResult {
  const bad = (problem: string): HostParseResult => ({ ok: false, problem });
  if (input === "") return bad("must not be empty");
  if (input.startsWith("[") || input.endsWith("]")) {
    const inner = input.slice(1, -1);
    if (!input.startsWith("[") || !input.endsWith("]") || isIP(inner) === 0) return bad("is not an IP address in brackets");
    return { ok: true, host: inner, isIpLiteral: true };
  }
  if (isIP(input) !== 0) return { ok: true, host: input, isIpLiteral: true };
  if (NOT_IN_A_HOST.test(input)) return bad("is not a host name or IP address");
  const numeric = describeNumericForm(input);
  if (numeric !== undefined) return bad(numeric);
  const labels = input.replace(/\.$/, "").split(".");
  // A last label of digits is an IPv4 address gone wrong ("10.0.0.256", "1.2.3.4.5"), never a TLD.
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return bad("is not a valid IP address");
  // Most names are already in their A-label form: checked without domainToASCII (a batch checks
  // thousands), with the same outcome (test/unit/lib/host-name.test.ts compares the two).
  if (PLAIN_NAME.test(input) && !input.includes("xn--")) {
    if (input.replace(/\.$/, "").length > MAX_HOST_NAME_LENGTH) return bad(`is longer than ${MAX_HOST_NAME_LENGTH} characters`);
    return { ok: true, host: input, isIpLiteral: false };
  }
  // domainToASCII applies UTS #46 (IDN) and returns "" for what is no domain at all. It also
  // applies the WHATWG IPv4 parser, so a hex or octal look-alike comes back as an address.
  const ascii = domainToASCII(input);
  if (ascii === "") return bad("is not a host name or IP address");
  if (isIP(ascii) !== 0) return bad(`is a numeric look-alike of the address ${ascii}; write the address itself`);
  const name = ascii.replace(/\.$/, "");
  if (name.length > MAX_HOST_NAME_LENGTH) return bad(`is longer than ${MAX_HOST_NAME_LENGTH} characters`);
  if (!name.split(".").every((label) => LDH_LABEL.test(label))) {
    return bad("is not a valid host name (letters, digits and hyphens in dot-separated labels of up to 63 characters)");
  }
  return { ok: true, host: ascii, isIpLiteral: false };
}

/**
 * Input made of numbers only ("127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "127.0.0.1."):
 * what inet_aton(3) and the WHATWG URL parser would read as an IPv4 address, named with the
 * address they would read, so the caller sees why it is refused; undefined for anything else.
 * Never an address: such input is refused, not reinterpreted.
 */
export function describeNumericForm(input: string): string | undefined {
  const trailingDot = input.endsWith(".") && input.length > 1;
  const parts = (trailingDot ? input.slice(0, -1) : input).split(".");
  if (parts.length > 4 || !parts.every((part) => /^(?:0x[0-9a-f]*|\d+)$/i.test(part))) return undefined;
  const forms = new Set<string>();
  const values: number[] = [];
  for (const part of parts) {
    if (/^0x/i.test(part)) {
      forms.add("hexadecimal");
      values.push(part.length === 2 ? 0 : parseInt(part.slice(2), 16));
    } else if (part.length > 1 && part.startsWith("0")) {
      if (!/^[0-7]+$/.test(part)) return undefined;
      forms.add("octal");
      values.push(parseInt(part, 8));
    } else {
      values.push(Number(part));
    }
  }
  if (parts.length === 1) forms.add("integer");
  else if (parts.length < 4) forms.add("shorthand");
  if (trailingDot) forms.add("final dot");
  // inet_aton: every part but the last is one octet; the last fills the octets left.
  const last = values[values.length - 1] as number;
  if (values.slice(0, -1).some((v) => v > 255) || last >= 256 ** (5 - values.length) || !Number.isSafeInteger(last)) return undefined;
  let value = last;
  for (const [index, v] of values.slice(0, -1).entries()) value += v * 256 ** (3 - index);
  const dotted = [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
  return `is a non-canonical IPv4 form (${[...forms].join(", ")}) that inet_aton(3) and URL parsers read as ${dotted}; write the address in dotted-decimal form`;
}
