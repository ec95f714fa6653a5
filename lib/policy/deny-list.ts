// The operator's deny list: domains and addresses no probe may touch, whatever the allowlist
// says. Parsing and matching are pure; reading and reloading the file is ./deny-list-watcher.ts.
//
// Format, one entry a line, `#` starts a comment (whole line or after the entry):
//   example.com          the domain and every name under it (mx.example.com, a.b.example.com)
//   192.0.2.7            one address (a /32 or /128)
//   198.51.100.0/24      a range; host bits must be zero, as for --allow-cidr
//   2001:db8::/32
// A name in Unicode is stored in its A-label form. Numeric look-alikes ("127.1", "0x7f.0.0.1")
// are refused, as in requests: an entry must mean one thing.
import { parseHostName } from "../host-name.js";
import { familyOf, InvalidCidrError, networkOf, parseCidr, type Cidr, type IpAddress } from "./cidr.js";

/** Bounds of one file: a deny list is an operator's list, not a feed. */
export const MAX_DENY_LIST_BYTES = 4 * 1024 * 1024;
export const MAX_DENY_LIST_ENTRIES = 100_000;

export class DenyListError extends Error {
  override readonly name = "DenyListError";
  constructor(
    /** 1-based; 0 when the problem is the file as a whole. */
    readonly line: number,
    readonly problem: string,
  ) {
    super(line > 0 ? `line ${line}: ${problem}` : problem);
  }
}

export interface DenyList {
  /** Domain entries, in the order written. */
  readonly domains: readonly string[];
  /** Address and range entries, in the order written. */
  readonly cidrs: readonly Cidr[];
  /** The entry that denies the name (the name itself or a parent domain), or undefined. */
  matchName(name: string): string | undefined;
  /** The entry whose range holds the address, or undefined. */
  matchAddress(address: IpAddress): string | undefined;
}

/** Throws DenyListError naming the first bad line. */
export function parseDenyList(text: string): DenyList {
  if (Buffer.byteLength(text, "utf8") > MAX_DENY_LIST_BYTES) {
    throw new DenyListError(0, `is larger than ${MAX_DENY_LIST_BYTES} bytes`);
  }
  const domains: string[] = [];
  const cidrs: Cidr[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const entry = raw.replace(/#.*$/, "").trim();
    if (entry === "") continue;
    const lineNo = index + 1;
    if (domains.length + cidrs.length >= MAX_DENY_LIST_ENTRIES) {
      throw new DenyListError(lineNo, `more than ${MAX_DENY_LIST_ENTRIES} entries`);
    }
    if (/\s/.test(entry)) throw new DenyListError(lineNo, `${JSON.stringify(entry)}: one entry a line`);
    if (entry.includes("/")) {
      cidrs.push(parseRange(entry, lineNo));
      continue;
    }
    if (entry.startsWith("*.")) {
      throw new DenyListError(lineNo, `${JSON.stringify(entry)}: write ${entry.slice(2)}; a domain entry already covers every name under it`);
    }
    const host = parseHostName(entry);
    if (!host.ok) throw new DenyListError(lineNo, `${JSON.stringify(entry)} ${host.problem}`);
    if (host.isIpLiteral) {
      cidrs.push(parseRange(host.host, lineNo));
    } else {
      domains.push(normalizeName(host.host));
    }
  }
  return compileDenyList(domains, cidrs);
}

export const EMPTY_DENY_LIST: DenyList = compileDenyList([], []);

/** Lower case, no final dot: how names are compared. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

function parseRange(text: string, lineNo: number): Cidr {
  try {
    return parseCidr(text);
  } catch (error) {
    if (error instanceof InvalidCidrError) throw new DenyListError(lineNo, error.message);
    throw error;
  }
}

function compileDenyList(domains: string[], cidrs: Cidr[]): DenyList {
  const domainSet = new Set(domains);
  // Grouped by (family, prefix), each network keyed by its text: a lookup is one Map probe per
  // prefix length in use, not a scan of up to MAX_DENY_LIST_ENTRIES ranges.
  const byPrefix = new Map<string, { family: 4 | 6; prefix: number; networks: Map<string, string> }>();
  for (const cidr of cidrs) {
    const key = `${cidr.family}/${cidr.prefix}`;
    let group = byPrefix.get(key);
    if (group === undefined) byPrefix.set(key, (group = { family: cidr.family, prefix: cidr.prefix, networks: new Map() }));
    const network = cidr.network.toNormalizedString();
    if (!group.networks.has(network)) group.networks.set(network, cidr.text);
  }
  const groups = [...byPrefix.values()];
  return {
    domains,
    cidrs,
    matchName(name) {
      if (domainSet.size === 0) return undefined;
      let candidate = normalizeName(name);
      for (;;) {
        if (domainSet.has(candidate)) return candidate;
        const dot = candidate.indexOf(".");
        if (dot < 0) return undefined;
        candidate = candidate.slice(dot + 1);
      }
    },
    matchAddress(address) {
      const family = familyOf(address);
      for (const group of groups) {
        if (group.family !== family) continue;
        const entry = group.networks.get(networkOf(address, group.prefix).toNormalizedString());
        if (entry !== undefined) return entry;
      }
      return undefined;
    },
  };
}
