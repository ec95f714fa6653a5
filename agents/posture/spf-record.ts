// An SPF record's text read into terms (RFC 7208 §4.6.1, §5, §6, §12), with every syntax error
// named. Pure. The evaluation itself is mailauth's (spf-check.ts); this is what a domain check shows
// of a record and counts in it.
import { isIP } from "node:net";
import type { SpfTerm } from "../../gen/smtpprobe/v1/domain.js";

export interface ParsedSpf {
  terms: SpfTerm[];
  /** Syntax errors, each one sentence; any makes the record a permerror (RFC 7208 §4.6). */
  errors: string[];
}

const MECHANISMS = new Set(["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"]);
/** Terms that cause DNS queries (RFC 7208 §4.6.4); redirect only when it is followed. */
const QUERYING = new Set(["include", "a", "mx", "ptr", "exists", "redirect"]);
const MODIFIER = /^([a-z][a-z0-9_.-]*)=(.*)$/i;

/** The strings of one TXT record, joined without spaces (RFC 7208 §3.3). */
export function joinTxt(strings: readonly string[]): string {
  return strings.join("");
}

/** The SPF records among a name's TXT records: "v=spf1" alone or followed by a space (RFC 7208 §4.5). */
export function spfRecordsOf(txt: readonly (readonly string[])[]): string[] {
  return txt.map(joinTxt).filter((record) => /^v=spf1( |$)/i.test(record));
}

export function parseSpfRecord(record: string): ParsedSpf {
  const errors: string[] = [];
  const terms: SpfTerm[] = [];
   
  if (/[^\x20-\x7e]/.test(record)) errors.push("the record has characters outside printable ASCII (RFC 7208 §3.1)");
  const words = record.trim().split(/ +/).slice(1).filter((w) => w !== "");
  const modifierCount = new Map<string, number>();
  for (const text of words) {
    const term = parseTerm(text);
    terms.push(term.term);
    if (term.error) errors.push(term.error);
    if (term.term.qualifier === "") modifierCount.set(term.term.name, (modifierCount.get(term.term.name) ?? 0) + 1);
  }
  for (const name of ["redirect", "exp"]) {
    if ((modifierCount.get(name) ?? 0) > 1) errors.push(`"${name}=" appears more than once (RFC 7208 §6)`);
  }
  return { terms, errors };
}

function parseTerm(text: string): { term: SpfTerm; error?: string } {
  const modifier = MODIFIER.exec(text);
  if (modifier) {
    const name = modifier[1]!.toLowerCase();
    const value = modifier[2]!;
    const term = { text, qualifier: "", name, value, queriesDns: name === "redirect" };
    if ((name === "redirect" || name === "exp") && value === "") return { term, error: `"${text}" has no domain` };
    return { term };
  }
  let rest = text;
  let qualifier = "+";
  if (/^[+\-~?]/.test(rest)) {
    qualifier = rest[0]!;
    rest = rest.slice(1);
  }
  const split = /^([^:/]*)(.*)$/.exec(rest)!;
  const name = split[1]!.toLowerCase();
  const tail = split[2]!;
  const value = tail.startsWith(":") ? tail.slice(1) : tail;
  const term = { text, qualifier, name, value, queriesDns: QUERYING.has(name) };
  if (!MECHANISMS.has(name)) return { term: { ...term, queriesDns: false }, error: `"${text}" is not an SPF mechanism or modifier (RFC 7208 §12)` };
  const error = mechanismError(name, tail, text);
  return error ? { term, error } : { term };
}

function mechanismError(name: string, tail: string, text: string): string | undefined {
  switch (name) {
    case "all":
      return tail === "" ? undefined : `"${text}": "all" takes no value`;
    case "include":
    case "exists":
      return /^:[^/]+$/.test(tail) ? undefined : `"${text}": "${name}" needs ":domain"`;
    case "ptr":
      return tail === "" || /^:[^/]+$/.test(tail) ? undefined : `"${text}": "ptr" takes only ":domain"`;
    case "a":
    case "mx": {
      const match = /^(:[^/]+)?(\/(\d+))?(\/\/(\d+))?$/.exec(tail);
      if (!match) return `"${text}": "${name}" takes ":domain", "/prefix" and "//prefix6"`;
      if (match[3] !== undefined && !validPrefix(match[3], 32)) return `"${text}": IPv4 prefix length out of 0–32`;
      if (match[5] !== undefined && !validPrefix(match[5], 128)) return `"${text}": IPv6 prefix length out of 0–128`;
      return undefined;
    }
    case "ip4":
    case "ip6": {
      const match = /^:([^/]+)(\/(\d+))?$/.exec(tail);
      const family = name === "ip4" ? 4 : 6;
      if (!match || isIP(match[1]!) !== family) return `"${text}": "${name}" needs an IPv${family} address`;
      if (match[3] !== undefined && !validPrefix(match[3], family === 4 ? 32 : 128)) return `"${text}": prefix length out of range`;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** RFC 7208 §5.6: no leading zeros, within the family's bits. */
function validPrefix(digits: string, max: number): boolean {
  return /^(0|[1-9]\d*)$/.test(digits) && Number(digits) <= max;
}

/** The include and redirect targets of a record, in order; redirect only when there is no "all" (RFC 7208 §6.1). */
export function spfTargets(terms: readonly SpfTerm[]): { via: "include" | "redirect"; domain: string }[] {
  const hasAll = terms.some((t) => t.qualifier !== "" && t.name === "all");
  const targets: { via: "include" | "redirect"; domain: string }[] = [];
  for (const term of terms) {
    if (term.qualifier !== "" && term.name === "include" && term.value !== "") targets.push({ via: "include", domain: term.value });
  }
  const redirect = terms.find((t) => t.qualifier === "" && t.name === "redirect");
  if (redirect && !hasAll && redirect.value !== "") targets.push({ via: "redirect", domain: redirect.value });
  return targets;
}

/** DNS-querying terms of one record (RFC 7208 §4.6.4): a redirect beside "all" is never followed, so not counted. */
export function countQueryingTerms(terms: readonly SpfTerm[]): number {
  const hasAll = terms.some((t) => t.qualifier !== "" && t.name === "all");
  return terms.filter((t) => t.queriesDns && !(t.name === "redirect" && hasAll)).length;
}

/** A domain-spec with macros (RFC 7208 §7) cannot be followed without a sender and an address. */
export function hasMacro(domainSpec: string): boolean {
  return domainSpec.includes("%");
}
