// DNS names as the resolver sends them: lower case, no trailing dot, within RFC 1035 §2.3.4's
// lengths (a label at most 63 octets, the name at most 253 characters as text). Pure.
import { domainToASCII } from "node:url";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/** The name in ASCII, lower case, without a trailing dot; undefined when it cannot be sent. */
export function normalizeDnsName(name: string): string | undefined {
  const trimmed = name.trim().replace(/\.$/, "");
  if (trimmed === "" || trimmed.length > 253) return undefined;
  // Underscore labels (_dmarc, _domainkey) and other octets records may use are allowed; only
  // what the wire cannot carry or what is certainly not a name is refused.
  const labels = trimmed.split(".");
  if (labels.some((label) => label.length === 0 || label.length > 63)) return undefined;
  if (/[\s\\]/.test(trimmed)) return undefined;
   
  if (/[^\x21-\x7e]/.test(trimmed)) {
    const ascii = domainToASCII(trimmed);
    return ascii === "" ? undefined : normalizeDnsName(ascii);
  }
  return trimmed.toLowerCase();
}

/** The PTR query name of an address: in-addr.arpa, or ip6.arpa in nibble form (RFC 3596 §2.5). */
export function reverseName(address: string, zone?: string): string | undefined {
  const nibbles = reversedLabels(address);
  if (nibbles === undefined) return undefined;
  const suffix = zone ?? (address.includes(":") ? "ip6.arpa" : "in-addr.arpa");
  return `${nibbles}.${suffix}`;
}

/** The address's labels in reverse order: "4.3.2.1" for 1.2.3.4, 32 nibbles for an IPv6 one. */
export function reversedLabels(address: string): string | undefined {
  if (isIP(address) === 0) return undefined;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") return (parsed as ipaddr.IPv4).octets.slice().reverse().join(".");
  const hex = (parsed as ipaddr.IPv6).parts.map((part) => part.toString(16).padStart(4, "0")).join("");
  return hex.split("").reverse().join(".");
}
