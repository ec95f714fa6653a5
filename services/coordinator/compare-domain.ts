// What differs between the regions' views of one domain: each part's value per region, and where
// the regions do not all see the same, one sentence naming who saw what. DNS answers that differ by
// region are what the domain check looks for (geo-steered MX, a resolver that rewrites, a split
// view). Pure.
import type { DomainDifference, DomainPosture } from "../../gen/smtpprobe/v1/domain.js";
import { quoteServerText } from "./compare-text.js";

/** Each compared value is shown at most this long in a sentence, its controls escaped (DNS text is the domain owner's). */
const MAX_VALUE = 160;

export function compareDomainPostures(postures: readonly DomainPosture[]): DomainDifference[] {
  if (postures.length < 2) return [];
  const out: DomainDifference[] = [];
  const differ = (part: string, what: string, valueOf: (p: DomainPosture) => string | undefined): void => {
    const groups = new Map<string, string[]>();
    for (const p of postures) {
      const value = valueOf(p);
      if (value === undefined) continue;
      groups.set(value, [...(groups.get(value) ?? []), p.region]);
    }
    if (groups.size < 2) return;
    const regions = [...groups.values()].flat().sort();
    const sides = [...groups.entries()].map(([value, rs]) => `${quoteServerText(value, MAX_VALUE)} from ${rs.sort().join(", ")}`);
    // "The addresses of …", "The SPF tree's DNS lookups": plural subjects take "differ".
    const verb = /^The (addresses|SPF tree's DNS lookups)\b/.test(what) ? "differ" : "differs";
    out.push({ part, regions, summary: `${what} ${verb}: ${sides.join("; ")}.` });
  };

  differ("mx", "The MX", (p) => (p.mx ? (p.mx.error || (p.mx.nullMx ? "a null MX" : p.mx.exchangers.map((e) => `${e.preference} ${e.exchange}`).join(", ") || "none")) : undefined));
  const exchangers = new Set(postures.flatMap((p) => p.mx?.exchangers.map((e) => e.exchange) ?? []));
  for (const name of [...exchangers].sort()) {
    differ("mx", `The addresses of ${name}`, (p) => {
      const e = p.mx?.exchangers.find((x) => x.exchange === name);
      return e ? e.addresses.join(", ") || e.error || "none" : undefined;
    });
  }
  differ("spf", "The SPF record", (p) => (p.spf?.record ? p.spf.record.record || p.spf.record.error : undefined));
  differ("spf", "The SPF tree's DNS lookups", (p) => (p.spf?.record?.record ? String(p.spf.dnsLookups) : undefined));
  differ("dmarc", "The DMARC record", (p) => (p.dmarc ? p.dmarc.record || p.dmarc.error : undefined));
  const selectors = new Set(postures.flatMap((p) => p.dkimKeys.map((k) => k.selector)));
  for (const selector of [...selectors].sort()) {
    differ("dkim", `The DKIM key of selector ${selector}`, (p) => {
      const k = p.dkimKeys.find((x) => x.selector === selector);
      if (!k) return undefined;
      if (!k.found) return "none";
      return k.revoked ? "revoked" : k.error ? k.error : `${k.keyType} ${k.keyBits} bits (${k.record.slice(-24)})`;
    });
  }
  const addresses = new Set(postures.flatMap((p) => p.mx?.exchangers.flatMap((e) => e.addressPostures.map((a) => a.address)) ?? []));
  for (const address of [...addresses].sort()) {
    const of = (p: DomainPosture) => p.mx?.exchangers.flatMap((e) => e.addressPostures).find((a) => a.address === address);
    differ("reverse_dns", `The reverse DNS of ${address}`, (p) => {
      const r = of(p)?.reverseDns;
      return r ? (r.ptrNames.join(", ") || "none") + (r.forwardConfirmed ? "" : r.ptrNames.length > 0 ? " (not confirmed)" : "") : undefined;
    });
    const zones = new Set(postures.flatMap((p) => of(p)?.blocklists.map((b) => b.zone) ?? []));
    for (const zone of [...zones].sort()) {
      differ("blocklist", `The listing of ${address} in ${zone}`, (p) => {
        const b = of(p)?.blocklists.find((x) => x.zone === zone);
        // A list that did not answer in a region says nothing there.
        return b && b.error === "" ? (b.listed ? `listed (${b.codes.join(", ")})` : "not listed") : undefined;
      });
    }
  }
  return out;
}
