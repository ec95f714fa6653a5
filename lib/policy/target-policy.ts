// The target policy (docs/security.md): which names may be resolved, and which addresses and ports
// a probe may connect to. Pure.
//
// The agent applies it to every name before resolving it and to every resolved address
// (agents/smtp/probe-target.ts connects to the checked address itself, so a second DNS answer
// cannot slip past it); the coordinator applies it early to IP literals and to the target's name. Addresses (./cidr.ts) are matched against an ordered table, first match
// wins. node:net's BlockList would answer "denied or not" (it even matches IPv4-mapped forms
// against IPv4 rules), but not which range matched, and a denial must say why.
import { domainToASCII } from "node:url";
import type { PolicyDenial, TargetPolicy } from "./policy-types.js";
import type { DenyList } from "./deny-list.js";
import {
  bitsOf,
  cidrContains,
  embeddedIpv4,
  formatAddress,
  isIpv6,
  isSameAddress,
  parseAddress,
  parseCidr,
  type Cidr,
  type IpAddress,
} from "./cidr.js";
import { isPort } from "../host-name.js";
import { checkSpecialUseName, normalizeName } from "./special-use-names.js";

export const DEFAULT_ALLOWED_PORTS: readonly number[] = [25, 465, 587, 2525];

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
   * The addresses of this machine's interfaces (./own-addresses.ts), asked at every check. See
   * checkAddress for the rule.
   */
  ownAddresses?: () => readonly string[];
  /**
   * Special-use names (./special-use-names.ts) that may be resolved all the same, each exactly
   * (case and a final dot aside): "localhost" allows localhost, not a.localhost. The deny list
   * still wins.
   */
  allowNames?: readonly string[];
}

/**
 * The policy as the engine hook (call it: `policy(address, port)`) with its parts. Each check
 * returns the denial, or undefined when allowed.
 */
export interface TargetPolicyChecker extends TargetPolicy {
  check: TargetPolicy;
  checkAddress(address: string): PolicyDenial | undefined;
  /**
   * A name the probe would resolve (the target, an MX exchanger), before any DNS query: the deny
   * list, then the special-use names not allowed by name.
   */
  checkName(name: string): PolicyDenial | undefined;
  checkPort(port: number): PolicyDenial | undefined;
  readonly allowCidrs: readonly Cidr[];
  readonly allowPorts: readonly number[];
  /** Normalized (lower case, no final dot). */
  readonly allowNames: readonly string[];
}

/** Throws InvalidCidrError (./cidr.ts) for a bad range and RangeError for a bad port list. */
export function createTargetPolicy(options: TargetPolicyOptions = {}): TargetPolicyChecker {
  const allowCidrs = (options.allowCidrs ?? []).map(parseCidr);
  const allowPorts = [...(options.allowPorts ?? DEFAULT_ALLOWED_PORTS)];
  if (allowPorts.length === 0) throw new RangeError("the target policy needs at least one allowed port");
  for (const port of allowPorts) {
    if (!isPort(port)) throw new RangeError(`${port} is not a port (1-65535)`);
  }
  const allowedText = allowPorts.join(", ");
  // Names are checked in their A-label form (the request's host, the resolver's exchangers).
  const allowNames = [...new Set((options.allowNames ?? []).map((name) => normalizeName(domainToASCII(name) || name)))];

  const isAllowlisted = (a: IpAddress): boolean => allowCidrs.some((cidr) => cidrContains(cidr, a));
  const isExactlyAllowlisted = (a: IpAddress): boolean =>
    allowCidrs.some((cidr) => cidr.prefix === bitsOf(a) && isSameAddress(cidr.network, a));
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
  const checkAddress = (address: string): PolicyDenial | undefined => {
    if (address.includes("%")) {
      return { kind: "zone_id", reason: `${address} has a zone id; scoped addresses are not allowed` };
    }
    const parsed = parseAddress(address);
    if (parsed === undefined) return { kind: "not_an_address", reason: `${JSON.stringify(address)} is not an IP address` };
    const embedded = findIpv4Embedding(parsed);
    const denyList = options.denyList?.();
    if (denyList !== undefined) {
      const entry = denyList.matchAddress(parsed);
      if (entry !== undefined) return onDenyList(address, entry);
      const inner = embedded === undefined ? undefined : denyList.matchAddress(embedded.ipv4);
      if (inner !== undefined) return onDenyList(address, `it carries ${formatAddress(embedded!.ipv4)}, in ${inner}`);
    }
    const ownHit = own(parsed) ?? (embedded === undefined ? undefined : own(embedded.ipv4));
    if (ownHit !== undefined && !isExactlyAllowlisted(ownHit.address)) {
      return {
        kind: "own_address",
        reason: `${address} is an address of this agent's own interfaces (${ownHit.text}); only --allow-cidr ${ownHit.text}/${bitsOf(ownHit.address)} allows it`,
      };
    }
    if (isAllowlisted(parsed) || (embedded !== undefined && isAllowlisted(embedded.ipv4))) return undefined;
    const reason = describeRangeDenial(address, parsed, embedded);
    return reason === undefined ? undefined : { kind: "range", reason };
  };
  const checkName = (name: string): PolicyDenial | undefined => {
    const entry = options.denyList?.().matchName(name);
    return entry === undefined ? checkSpecialUseName(name, allowNames) : onDenyList(name, entry);
  };
  const checkPort = (port: number): PolicyDenial | undefined =>
    allowPorts.includes(port) ? undefined : { kind: "port", reason: `port ${port} is not allowed (allowed: ${allowedText})` };
  const check: TargetPolicy = (address, port) => checkAddress(address) ?? checkPort(port);

  return Object.assign((address: string, port: number) => check(address, port), {
    check,
    checkAddress,
    checkName,
    checkPort,
    allowCidrs,
    allowPorts,
    allowNames,
  });
}

function onDenyList(subject: string, detail: string): PolicyDenial {
  return { kind: "deny_list", reason: `${subject} is on the operator's deny list (${detail})` };
}

/**
 * The own-address lookup, re-parsed only when the provider hands out a new array (it caches,
 * ./own-addresses.ts). Loopback addresses are left out: the table judges them.
 */
function memoOwnAddresses(
  provider: (() => readonly string[]) | undefined,
): (address: IpAddress) => { address: IpAddress; text: string } | undefined {
  if (provider === undefined) return () => undefined;
  let source: readonly string[] | undefined;
  let parsed: { address: IpAddress; text: string }[] = [];
  return (address) => {
    const current = provider();
    if (current !== source) {
      source = current;
      parsed = current.flatMap((text) => {
        const a = parseAddress(text.split("%")[0] ?? "");
        if (a === undefined || a.range() === "loopback") return [];
        return [{ address: a, text: formatAddress(a) }];
      });
    }
    return parsed.find((own) => isSameAddress(own.address, address));
  };
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
  ipv4: IpAddress;
}

function findIpv4Embedding(address: IpAddress): Embedded | undefined {
  if (!isIpv6(address) || BEFORE_EMBEDDINGS.some((entry) => cidrContains(entry.cidr, address))) return undefined;
  const match = EMBEDDINGS.find((entry) => cidrContains(entry.cidr, address));
  if (match === undefined) return undefined;
  return { embedding: match.embedding, ipv4: embeddedIpv4(address, match.embedding.ipv4Offset) };
}

/** Why the range table denies the address, or undefined when no range holds it. */
function describeRangeDenial(text: string, address: IpAddress, embedded: Embedded | undefined): string | undefined {
  if (embedded !== undefined) {
    const inner = IPV4_TABLE.find((entry) => cidrContains(entry.cidr, embedded.ipv4));
    if (inner === undefined) return undefined;
    // "::ffff:10.0.0.1" shows its IPv4 address; "::ffff:a00:1" does not, so the reason names it.
    const where = text.includes(".") ? inner.range.cidr : `${formatAddress(embedded.ipv4)}, in ${inner.range.cidr}`;
    return `${text} is ${article(embedded.embedding.form)} ${embedded.embedding.form} ${inner.range.kind} address (${where})`;
  }
  const table = address.kind() === "ipv4" ? IPV4_TABLE : IPV6_TABLE;
  const match = table.find((entry) => cidrContains(entry.cidr, address));
  if (match === undefined) return undefined;
  return `${text} is ${article(match.range.kind)} ${match.range.kind} address (${match.range.cidr})`;
}

function article(word: string): string {
  return /^[aeiouAEIOU]/.test(word) ? "an" : "a";
}
