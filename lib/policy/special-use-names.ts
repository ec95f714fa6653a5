// Special-use domain names (RFC 6761 and the names reserved beside it): names that mean something
// only on one machine or one network, or nothing at all, and that no public mail server has. A
// probe of one would ask the agent's resolver (which may answer with the agent's own loopback or
// its site's private names) or leak the name to public DNS. Pure.
//
// ./target-policy.ts refuses them by name, before any DNS query, unless the operator allows one
// exactly (--allow-name); the CLI's local mode does the same.
//
// `.test` and `.example` (RFC 6761 §6.2, §6.5) are special-use too, but left out on purpose: they
// never resolve on the public internet, so they expose nothing, and tests and labs name their own
// servers with them.
import type { PolicyDenial } from "./policy-types.js";

/** One reserved suffix: the name itself and every name under it. */
export interface SpecialUseSuffix {
  /** Lower case, no leading or trailing dot: "localhost", "home.arpa". */
  suffix: string;
  /** Where it is reserved, and what it means, for the denial's reason. */
  source: string;
}

export const SPECIAL_USE_SUFFIXES: readonly SpecialUseSuffix[] = [
  { suffix: "localhost", source: "RFC 6761 §6.3: the local machine's loopback names" },
  { suffix: "invalid", source: "RFC 6761 §6.4: names that never exist" },
  { suffix: "local", source: "RFC 6762: link-local names of Multicast DNS" },
  { suffix: "onion", source: "RFC 7686: Tor onion services, not in the DNS" },
  { suffix: "internal", source: "reserved for private use by ICANN (2024), beside RFC 6761: names of one organisation's network" },
  { suffix: "home.arpa", source: "RFC 8375: names of a home network" },
];

/** A name's lower-case form without its final dot: how names are compared here. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** The reserved suffix the name is, or is under; undefined for an ordinary name. */
export function specialUseSuffixOf(name: string): SpecialUseSuffix | undefined {
  const normalized = normalizeName(name);
  return SPECIAL_USE_SUFFIXES.find(({ suffix }) => normalized === suffix || normalized.endsWith(`.${suffix}`));
}

/** Whether the name is the loopback name (localhost, or a name under it). */
export function isLocalhostName(name: string): boolean {
  return specialUseSuffixOf(name)?.suffix === "localhost";
}

/**
 * The denial of a special-use name not among `allowNames` (normalized: lower case, no final dot),
 * or undefined.
 */
export function checkSpecialUseName(name: string, allowNames: readonly string[]): PolicyDenial | undefined {
  const special = specialUseSuffixOf(name);
  const normalized = normalizeName(name);
  if (special === undefined || allowNames.includes(normalized)) return undefined;
  return {
    kind: "special_use_name",
    reason: `${name} is a special-use name (${special.source}), never looked up in public DNS; only --allow-name ${normalized} allows it`,
  };
}
