// The target policy (docs/security.md): which addresses and ports a probe may connect to. Pure.
//
// The agent applies it to every resolved address (agents/smtp/probe-target.ts connects to the
// checked address itself, so a second DNS answer cannot slip past it); the coordinator applies it
// early to IP literals. Addresses are matched as bigints against an ordered table, first match
// wins. node:net's BlockList would answer "denied or not" (it even matches IPv4-mapped forms
// against IPv4 rules), but not which range matched, and a denial must say why.
import { isIP } from "node:net";
import type { TargetPolicy } from "./policy-types.js";
import type { DenyList } from "./deny-list.js";
import { isPort } from "../host-name.js";

export const DEFAULT_ALLOWED_PORTS: readonly number[] = [25, 465, 587, 2525];
/** In every denial the deny list causes, and in no other: callers tell the two apart by it. */
export const DENY_LIST_MARK = "is on the operator's deny list";

/** An IPv4 or IPv6 network. `network` has its host bits zero. */
export interface Cidr {
  family: 4 | 6;
  network: bigint;
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

/** A range denied unless allowlisted. `kind` reads in a sentence: "a loopback address". */
export interface DeniedRange {
  cidr: string;
  kind: string;
  /** Where the range is defined. */
  source: string;
}

/** IPv6 ranges that carry an IPv4 address; such an address is judged by the IPv4 it carries. */
export interface Ipv4EmbeddingRange {
  cidr: string;
  /** Reads in a sentence: "an IPv4-mapped loopback address". */
  form: string;
  /** Where the 32 bits of IPv4 start, counted from the most significant bit. */
  ipv4Offset: number;
  source: string;
}

/** Ordered: more specific ranges before the ranges that contain them (first match wins). */
export const DENIED_IPV4_RANGES: readonly DeniedRange[] = [
  { cidr: "0.0.0.0/8", kind: "unspecified", source: "RFC 791, RFC 1122 §3.2.1.3 (\"this network\")" },
  { cidr: "10.0.0.0/8", kind: "private", source: "RFC 1918" },
  { cidr: "100.64.0.0/10", kind: "CGNAT (shared address space)", source: "RFC 6598" },
  { cidr: "127.0.0.0/8", kind: "loopback", source: "RFC 1122 §3.2.1.3" },
  { cidr: "169.254.0.0/16", kind: "link-local", source: "RFC 3927 (includes the 169.254.169.254 cloud metadata service)" },
  { cidr: "172.16.0.0/12", kind: "private", source: "RFC 1918" },
  { cidr: "192.0.0.0/24", kind: "IETF protocol assignment", source: "RFC 6890" },
  { cidr: "192.0.2.0/24", kind: "documentation", source: "RFC 5737 (TEST-NET-1)" },
  { cidr: "192.88.99.0/24", kind: "6to4 relay anycast", source: "RFC 7526" },
  { cidr: "192.168.0.0/16", kind: "private", source: "RFC 1918" },
  { cidr: "198.18.0.0/15", kind: "benchmarking", source: "RFC 2544" },
  { cidr: "198.51.100.0/24", kind: "documentation", source: "RFC 5737 (TEST-NET-2)" },
  { cidr: "203.0.113.0/24", kind: "documentation", source: "RFC 5737 (TEST-NET-3)" },
  { cidr: "224.0.0.0/4", kind: "multicast", source: "RFC 5771" },
  { cidr: "255.255.255.255/32", kind: "broadcast", source: "RFC 919, RFC 8190" },
  { cidr: "240.0.0.0/4", kind: "reserved", source: "RFC 1112 §4" },
];

export const IPV4_EMBEDDING_RANGES: readonly Ipv4EmbeddingRange[] = [
  { cidr: "::ffff:0:0/96", form: "IPv4-mapped", ipv4Offset: 96, source: "RFC 4291 §2.5.5.2" },
  { cidr: "64:ff9b::/96", form: "NAT64", ipv4Offset: 96, source: "RFC 6052 §2.1" },
  { cidr: "2002::/16", form: "6to4", ipv4Offset: 16, source: "RFC 3056 §2" },
  // After :: and ::1 (DENIED_IPV6_RANGES is checked first), which are not IPv4 in disguise.
  { cidr: "::/96", form: "IPv4-compatible", ipv4Offset: 96, source: "RFC 4291 §2.5.5.1 (deprecated)" },
];

/**
 * Checked before IPV4_EMBEDDING_RANGES. Global unicast is 2000::/3 only (RFC 4291 §2.4, IANA
 * IPv6 address space): the last three entries deny everything outside it that no entry above
 * names, such as the deprecated site-local fec0::/10.
 */
export const DENIED_IPV6_RANGES: readonly DeniedRange[] = [
  { cidr: "::/128", kind: "unspecified", source: "RFC 4291 §2.5.2" },
  { cidr: "::1/128", kind: "loopback", source: "RFC 4291 §2.5.3" },
  { cidr: "100::/64", kind: "discard-only", source: "RFC 6666" },
  { cidr: "2001::/23", kind: "IETF protocol assignment", source: "RFC 2928 (includes Teredo, RFC 4380)" },
  { cidr: "2001:db8::/32", kind: "documentation", source: "RFC 3849" },
  { cidr: "3fff::/20", kind: "documentation", source: "RFC 9637" },
  { cidr: "fc00::/7", kind: "private", source: "RFC 4193 (unique local)" },
  { cidr: "fe80::/10", kind: "link-local", source: "RFC 4291 §2.5.6" },
  { cidr: "fec0::/10", kind: "site-local", source: "RFC 3879 (deprecated)" },
  { cidr: "ff00::/8", kind: "multicast", source: "RFC 4291 §2.7" },
  { cidr: "::/3", kind: "reserved", source: "RFC 4291 §2.4 (not global unicast)" },
  { cidr: "4000::/2", kind: "reserved", source: "RFC 4291 §2.4 (not global unicast)" },
  { cidr: "8000::/1", kind: "reserved", source: "RFC 4291 §2.4 (not global unicast)" },
];

/** Every range of the policy in the order it is checked, for documentation (README table). */
export const TARGET_POLICY_RANGES: readonly { cidr: string; denied: string; source: string }[] = [
  ...DENIED_IPV4_RANGES.map((r) => ({ cidr: r.cidr, denied: r.kind, source: r.source })),
  // :: and ::1 are checked before the IPv4-carrying forms (::/96 contains them), the rest after.
  ...DENIED_IPV6_RANGES.slice(0, 2).map((r) => ({ cidr: r.cidr, denied: r.kind, source: r.source })),
  ...IPV4_EMBEDDING_RANGES.map((r) => ({ cidr: r.cidr, denied: `${r.form}: judged by the embedded IPv4 address`, source: r.source })),
  ...DENIED_IPV6_RANGES.slice(2).map((r) => ({ cidr: r.cidr, denied: r.kind, source: r.source })),
];

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
  const bits = address.family === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      throw new InvalidCidrError(text, `the prefix length must be a number from 0 to ${bits}`);
    }
    prefix = Number(prefixText);
  }
  const network = address.value & mask(prefix, bits);
  if (network !== address.value) {
    throw new InvalidCidrError(text, `host bits are set; the network is ${formatAddress(network, address.family)}/${prefix}`);
  }
  return { family: address.family, network, prefix, text: trimmed };
}

export function cidrContains(cidr: Cidr, address: ParsedAddress): boolean {
  const bits = cidr.family === 4 ? 32 : 128;
  return cidr.family === address.family && (address.value & mask(cidr.prefix, bits)) === cidr.network;
}

export interface TargetPolicyOptions {
  /** Ranges that are allowed even though the table denies them. */
  allowCidrs?: readonly string[];
  /** Default DEFAULT_ALLOWED_PORTS. */
  allowPorts?: readonly number[];
  /**
   * The operator's deny list, asked at every check (it is replaced when the file changes).
   * Deny wins over allow: an allowlisted range does not lift it.
   */
  denyList?: () => DenyList;
  /**
   * The addresses of this machine's interfaces (agents/probe/own-addresses.ts), asked at every
   * check. See checkAddress for the rule.
   */
  ownAddresses?: () => readonly string[];
}

/**
 * The policy as the engine hook (call it: `policy(address, port)`) with its parts. Each check
 * returns why not, or undefined when allowed.
 */
export interface TargetPolicyChecker extends TargetPolicy {
  check: TargetPolicy;
  checkAddress(address: string): string | undefined;
  /** A name the probe would resolve (the target, an MX exchanger): only the deny list judges names. */
  checkName(name: string): string | undefined;
  checkPort(port: number): string | undefined;
  readonly allowCidrs: readonly Cidr[];
  readonly allowPorts: readonly number[];
}

/** Throws InvalidCidrError for a bad range and RangeError for a bad port list. */
export function createTargetPolicy(options: TargetPolicyOptions = {}): TargetPolicyChecker {
  const allowCidrs = (options.allowCidrs ?? []).map(parseCidr);
  const allowPorts = [...(options.allowPorts ?? DEFAULT_ALLOWED_PORTS)];
  if (allowPorts.length === 0) throw new RangeError("the target policy needs at least one allowed port");
  for (const port of allowPorts) {
    if (!isPort(port)) throw new RangeError(`${port} is not a port (1-65535)`);
  }
  const allowedText = allowPorts.join(", ");

  const isAllowlisted = (a: ParsedAddress): boolean => allowCidrs.some((cidr) => cidrContains(cidr, a));
  const isExactlyAllowlisted = (a: ParsedAddress): boolean =>
    allowCidrs.some((cidr) => cidr.family === a.family && cidr.prefix === (a.family === 4 ? 32 : 128) && cidr.network === a.value);
  const own = memoOwnAddresses(options.ownAddresses);

  /**
   * In this order: a zone id or a non-address is refused; the deny list denies (the address, or
   * the IPv4 address an IPv6 form carries); an address of one of this machine's own non-loopback
   * interfaces is denied unless the allowlist names exactly it (a /32 or /128: a range that
   * happens to contain the agent's own address, like 198.18.0.0/15 in a lab, does not open the
   * agent to itself); then the allowlist allows; then the range table denies. Own loopback
   * addresses are left to the table (127.0.0.0/8 and ::1 are denied unless allowlisted), so that
   * test fixtures on 127.0.0.1 stay reachable with 127.0.0.0/8 allowlisted.
   */
  const checkAddress = (address: string): string | undefined => {
    if (address.includes("%")) {
      return `${address} has a zone id; scoped addresses are not allowed`;
    }
    const parsed = parseAddress(address);
    if (parsed === undefined) return `${JSON.stringify(address)} is not an IP address`;
    const embedded = findIpv4Embedding(parsed);
    const denyList = options.denyList?.();
    if (denyList !== undefined) {
      const entry = denyList.matchAddress(parsed);
      if (entry !== undefined) return `${address} ${DENY_LIST_MARK} (${entry})`;
      const inner = embedded === undefined ? undefined : denyList.matchAddress(embedded.ipv4);
      if (inner !== undefined) {
        return `${address} ${DENY_LIST_MARK} (it carries ${formatAddress(embedded!.ipv4.value, 4)}, in ${inner})`;
      }
    }
    const ownHit = own(parsed) ?? (embedded === undefined ? undefined : own(embedded.ipv4));
    if (ownHit !== undefined && !isExactlyAllowlisted(ownHit.address)) {
      const bits = ownHit.address.family === 4 ? 32 : 128;
      return `${address} is an address of this agent's own interfaces (${ownHit.text}); only --allow-cidr ${ownHit.text}/${bits} allows it`;
    }
    if (isAllowlisted(parsed) || (embedded !== undefined && isAllowlisted(embedded.ipv4))) return undefined;
    return describeDenial(address, parsed, embedded);
  };
  const checkName = (name: string): string | undefined => {
    const entry = options.denyList?.().matchName(name);
    return entry === undefined ? undefined : `${name} ${DENY_LIST_MARK} (${entry})`;
  };
  const checkPort = (port: number): string | undefined =>
    allowPorts.includes(port) ? undefined : `port ${port} is not allowed (allowed: ${allowedText})`;
  const check: TargetPolicy = (address, port) => checkAddress(address) ?? checkPort(port);

  return Object.assign((address: string, port: number) => check(address, port), {
    check,
    checkAddress,
    checkName,
    checkPort,
    allowCidrs,
    allowPorts,
  });
}

/**
 * The own-address lookup, re-parsed only when the provider hands out a new array (it caches,
 * agents/probe/own-addresses.ts). Loopback addresses are left out: the table judges them.
 */
function memoOwnAddresses(
  provider: (() => readonly string[]) | undefined,
): (address: ParsedAddress) => { address: ParsedAddress; text: string } | undefined {
  if (provider === undefined) return () => undefined;
  let source: readonly string[] | undefined;
  let parsed: { address: ParsedAddress; text: string }[] = [];
  return (address) => {
    const current = provider();
    if (current !== source) {
      source = current;
      parsed = current.flatMap((text) => {
        const a = parseAddress(text.split("%")[0] ?? "");
        if (a === undefined || isLoopback(a)) return [];
        return [{ address: a, text: formatAddress(a.value, a.family) }];
      });
    }
    return parsed.find((own) => own.address.family === address.family && own.address.value === address.value);
  };
}

function isLoopback(address: ParsedAddress): boolean {
  return address.family === 4 ? address.value >> 24n === 127n : address.value === 1n;
}

// ---- addresses as numbers ----

export interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
}

/** An IPv4 or IPv6 address (no zone id, no brackets) as a number, or undefined. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const family = isIP(text);
  if (family === 4) return { family: 4, value: parseIpv4(text) };
  if (family === 6 && !text.includes("%")) return { family: 6, value: parseIpv6(text) };
  return undefined;
}

function parseIpv4(text: string): bigint {
  return text.split(".").reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** Only for text isIP() accepted as IPv6. */
function parseIpv6(text: string): bigint {
  let source = text;
  const lastColon = source.lastIndexOf(":");
  const tail = source.slice(lastColon + 1);
  if (tail.includes(".")) {
    // A dotted IPv4 tail (RFC 4291 §2.2, form 3) is the last two groups.
    const v4 = parseIpv4(tail);
    source = `${source.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = source.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const zeros: string[] = Array.from({ length: 8 - headGroups.length - restGroups.length }, () => "0");
  const groups = rest === undefined ? headGroups : [...headGroups, ...zeros, ...restGroups];
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function mask(prefix: number, bits: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return (all << BigInt(bits - prefix)) & all;
}

function formatAddress(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join(".");
  }
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // Compress the longest run of two or more zero groups (RFC 5952 §4.2).
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.start < 0) return groups.join(":");
  return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.length).join(":")}`;
}

// ---- the table, compiled ----

const compile = (ranges: readonly DeniedRange[]): { range: DeniedRange; cidr: Cidr }[] =>
  ranges.map((range) => ({ range, cidr: parseCidr(range.cidr) }));
const IPV4_TABLE = compile(DENIED_IPV4_RANGES);
const IPV6_TABLE = compile(DENIED_IPV6_RANGES);
const EMBEDDINGS = IPV4_EMBEDDING_RANGES.map((embedding) => ({ embedding, cidr: parseCidr(embedding.cidr) }));
/** :: and ::1 are themselves, not IPv4 in disguise; they lead DENIED_IPV6_RANGES. */
const BEFORE_EMBEDDINGS = IPV6_TABLE.slice(0, 2);

interface Embedded {
  embedding: Ipv4EmbeddingRange;
  ipv4: ParsedAddress;
}

function findIpv4Embedding(address: ParsedAddress): Embedded | undefined {
  if (address.family !== 6 || BEFORE_EMBEDDINGS.some((entry) => cidrContains(entry.cidr, address))) return undefined;
  const match = EMBEDDINGS.find((entry) => cidrContains(entry.cidr, address));
  if (match === undefined) return undefined;
  const ipv4 = (address.value >> BigInt(128 - 32 - match.embedding.ipv4Offset)) & 0xffffffffn;
  return { embedding: match.embedding, ipv4: { family: 4, value: ipv4 } };
}

function describeDenial(text: string, address: ParsedAddress, embedded: Embedded | undefined): string | undefined {
  if (embedded !== undefined) {
    const inner = IPV4_TABLE.find((entry) => cidrContains(entry.cidr, embedded.ipv4));
    if (inner === undefined) return undefined;
    const ipv4Text = formatAddress(embedded.ipv4.value, 4);
    // "::ffff:10.0.0.1" shows its IPv4 address; "::ffff:a00:1" does not, so the reason names it.
    const where = text.includes(".") ? inner.range.cidr : `${ipv4Text}, in ${inner.range.cidr}`;
    return `${text} is ${article(embedded.embedding.form)} ${embedded.embedding.form} ${inner.range.kind} address (${where})`;
  }
  const table = address.family === 4 ? IPV4_TABLE : IPV6_TABLE;
  const match = table.find((entry) => cidrContains(entry.cidr, address));
  if (match === undefined) return undefined;
  return `${text} is ${article(match.range.kind)} ${match.range.kind} address (${match.range.cidr})`;
}

function article(word: string): string {
  return /^[aeiouAEIOU]/.test(word) ? "an" : "a";
}
