// What a DNS blocklist's answer means (RFC 5782), and the zones asked by default. Pure.
//
// RFC 5782 §2.1: an address is listed when its query name (the address's reversed labels, IPv6 in
// nibbles, §2.4, under the zone) has an A record, by convention in 127.0.0.0/8, with 127.0.0.2 the
// usual code, and a TXT record with the reason. Lists also answer inside 127.255.255.0/24 to say
// they did not answer the question (Spamhaus: 127.255.255.252 a typo in the zone, .254 a query
// through a public resolver, .255 too many queries): that is an error of the check, never a
// listing, and says nothing about the address. An answer outside 127.0.0.0/8 is not a listing
// either (a resolver that rewrites NXDOMAIN to an advertising page answers so).

/** A short default list of widely used zones; operators replace it or turn blocklists off. */
export const DEFAULT_BLOCKLIST_ZONES: readonly string[] = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"];
export const MAX_BLOCKLIST_ZONES = 8;

export type BlocklistVerdict = { kind: "listed"; codes: string[] } | { kind: "refused"; codes: string[]; reason: string } | { kind: "not_listed" };

const REFUSALS: Record<string, string> = {
  "127.255.255.252": "the list says the zone name is wrong (127.255.255.252)",
  "127.255.255.254": "the list refuses queries through this resolver, e.g. a public one (127.255.255.254)",
  "127.255.255.255": "the list refuses: too many queries from this resolver (127.255.255.255)",
};

/** The verdict of a zone's A records for an address (an empty list: not listed). */
export function readBlocklistAnswer(addresses: readonly string[]): BlocklistVerdict {
  const codes = [...addresses];
  if (codes.length === 0) return { kind: "not_listed" };
  const refusal = codes.find((code) => code.startsWith("127.255.255."));
  if (refusal !== undefined) return { kind: "refused", codes, reason: REFUSALS[refusal] ?? `the list answered ${refusal}, a code that reports an error rather than a listing` };
  const listing = codes.filter((code) => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(code) && code !== "127.0.0.1");
  if (listing.length > 0) return { kind: "listed", codes: listing };
  return { kind: "refused", codes, reason: `the answer ${codes.join(", ")} is not a blocklist code (127.0.0.x): a resolver that rewrites answers?` };
}

/** A blocklist zone as configured: a DNS name, lower case, no trailing dot; undefined when not. */
export function normalizeBlocklistZone(zone: string): string | undefined {
  const name = zone.trim().toLowerCase().replace(/\.$/, "");
  return /^(?=.{1,200}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)+$/.test(name) ? name : undefined;
}
