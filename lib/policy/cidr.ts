// IP addresses and CIDR ranges for the target policy, the deny list and the destination throttle.
// Pure.
//
// Parsing, masking and matching are ipaddr.js's: a maintained library that ships its own types,
// matches CIDR ranges and knows IPv4-mapped addresses, where hand-written bigint arithmetic was
// ours to get right. ipaddr.js is lenient, though: it reads "127.1", "0x7f.0.0.1" and "010.0.0.1"
// as addresses, as inet_aton(3) does. Only canonical forms may pass here (a caller's input must
// mean one thing to every parser on the way), so node:net's isIP admits the text first and
// ipaddr.js parses only what isIP accepted.
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** An IPv4 or IPv6 address in canonical form (no zone id, no brackets), or undefined. */
export function parseAddress(text: string): IpAddress | undefined {
  const family = isIP(text);
  if (family === 0 || text.includes("%")) return undefined;
  if (family === 4) return ipaddr.IPv4.parse(text);
  // ipaddr.js reads "::a.b.c.d" as "::ffff:a.b.c.d"; RFC 4291 §2.5.5.1 says it is the
  // IPv4-compatible ::a.b.c.d (96 zero bits), and the policy must judge it as written.
  const compatible = /^::(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (compatible !== null) {
    const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(compatible[1]!).octets;
    return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d]);
  }
  return ipaddr.IPv6.parse(text);
}

export function isIpv6(address: IpAddress): address is ipaddr.IPv6 {
  return address.kind() === "ipv6";
}

export function familyOf(address: IpAddress): 4 | 6 {
  return address.kind() === "ipv4" ? 4 : 6;
}

export function bitsOf(address: IpAddress): 32 | 128 {
  return address.kind() === "ipv4" ? 32 : 128;
}

/** IPv4 dotted, IPv6 in its RFC 5952 form ("2001:db8::1", "::ffff:7f00:1"). */
export function formatAddress(address: IpAddress): string {
  return address.toString();
}

export function isSameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.kind() === b.kind() && a.toNormalizedString() === b.toNormalizedString();
}

/** The address with every bit after the first `prefix` cleared. */
export function networkOf(address: IpAddress, prefix: number): IpAddress {
  const family = address.kind() === "ipv4" ? ipaddr.IPv4 : ipaddr.IPv6;
  const mask = family.subnetMaskFromPrefixLength(prefix).toByteArray();
  return ipaddr.fromByteArray(address.toByteArray().map((byte, i) => byte & (mask[i] ?? 0)));
}

/**
 * The IPv4 address held in 32 bits of an IPv6 address, from bit `offset` (a multiple of 8,
 * counted from the most significant bit): 96 for IPv4-mapped, NAT64 and IPv4-compatible forms,
 * 16 for 6to4.
 */
export function embeddedIpv4(address: ipaddr.IPv6, offset: number): ipaddr.IPv4 {
  const start = offset / 8;
  return new ipaddr.IPv4(address.toByteArray().slice(start, start + 4));
}

/** An IPv4 or IPv6 network. `network` has its host bits zero. */
export interface Cidr {
  family: 4 | 6;
  network: IpAddress;
  prefix: number;
  /** As written in the table or configuration. */
  text: string;
}

export class InvalidCidrError extends Error {
  override readonly name = "InvalidCidrError";
  constructor(
    readonly input: string,
    readonly problem: string,
  ) {
    super(`${JSON.stringify(input)} is not a CIDR range: ${problem}`);
  }
}

/**
 * "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits must be zero: a
 * range written "10.1.2.3/8" allows more than its author probably meant, so it is refused with
 * the range it would be.
 */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const prefixText = slash < 0 ? undefined : trimmed.slice(slash + 1);
  if (addressText.includes("%")) throw new InvalidCidrError(text, "a zone id has no place in a range");
  const address = parseAddress(addressText);
  if (address === undefined) throw new InvalidCidrError(text, `${JSON.stringify(addressText)} is not an IPv4 or IPv6 address`);
  const bits = bitsOf(address);
  let prefix: number = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      throw new InvalidCidrError(text, `the prefix length must be a number from 0 to ${bits}`);
    }
    prefix = Number(prefixText);
  }
  const network = networkOf(address, prefix);
  if (!isSameAddress(network, address)) {
    throw new InvalidCidrError(text, `host bits are set; the network is ${formatAddress(network)}/${prefix}`);
  }
  return { family: familyOf(address), network, prefix, text: trimmed };
}

export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  return address.kind() === cidr.network.kind() && address.match(cidr.network, cidr.prefix);
}
