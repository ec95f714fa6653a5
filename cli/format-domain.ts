// The domain check for people: per region a compact block (MX, SPF with its include tree, DMARC,
// DKIM keys), its findings grouped by severity, and the differences between regions. Everything
// read from DNS is published by the domain's owner and goes through safe() before the terminal.
import type { AddressPosture } from "../gen/smtpprobe/v1/address_posture.js";
import { SpfResult, type DkimKey, type DomainCheckReport, type DomainPosture, type SpfRecordNode } from "../gen/smtpprobe/v1/domain.js";
import type { Style } from "./colors.js";
import { formatFindingGroups } from "./format-human.js";
import { formatMs, plural, safe } from "./labels.js";
import { wrapHanging } from "./text-wrap.js";

const LABEL = 10;
const SPF_LIMIT = 10;
const SPF_VOID_LIMIT = 2;

const SPF_WORDS: Record<number, string> = {
  [SpfResult.SPF_RESULT_NONE]: "none",
  [SpfResult.SPF_RESULT_NEUTRAL]: "neutral",
  [SpfResult.SPF_RESULT_PASS]: "pass",
  [SpfResult.SPF_RESULT_FAIL]: "fail",
  [SpfResult.SPF_RESULT_SOFTFAIL]: "softfail",
  [SpfResult.SPF_RESULT_TEMPERROR]: "temperror",
  [SpfResult.SPF_RESULT_PERMERROR]: "permerror",
};

export function spfResultWord(result: SpfResult): string {
  return SPF_WORDS[result] ?? "unknown";
}

export function formatDomainReport(report: DomainCheckReport, style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  for (const posture of report.postures) out.push(...formatPosture(posture, style, width), "");
  for (const difference of report.differences) out.push(...wrapHanging(`${style.yellow("≠")} `, safe(difference.summary), width));
  for (const missing of report.missing) out.push(...wrapHanging(`${style.red("✖")} `, `${safe(missing.region)}: ${safe(missing.reason)}`, width));
  if (out[out.length - 1] === "") out.pop();
  return out;
}

function formatPosture(p: DomainPosture, style: Style, width: number): string[] {
  const dns = p.dns;
  const head = `${style.bold(`Domain ${safe(p.domain)}`)} ${style.dim(`from ${safe(p.region)}: ${plural(dns?.queriesSent ?? 0, "DNS question")} sent, ${dns?.cacheAnswers ?? 0} from the cache, ${formatMs(p.totalMs)}`)}`;
  const out = [head];
  const row = (label: string, text: string): void => {
    out.push(...wrapHanging(`  ${style.dim(label.padEnd(LABEL))}`, text, width));
  };
  const more = (text: string, indent = 0): void => {
    out.push(...wrapHanging(`  ${" ".repeat(LABEL + indent)}`, text, width));
  };

  const mx = p.mx;
  if (!mx || mx.error) row("MX", style.red(safe(mx?.error || "not read")));
  else if (mx.nullMx) row("MX", "null MX (RFC 7505): accepts no mail");
  else {
    mx.exchangers.forEach((e, i) => {
      const text = `${mx.implicit ? "none; implicit:" : e.preference} ${safe(e.exchange)}  ${e.addresses.length > 0 ? e.addresses.join(", ") : style.red(safe(e.error))}`;
      if (i === 0) row("MX", text);
      else more(text);
      for (const a of e.addressPostures) more(addressLine(a, style), 2);
    });
    if (mx.provider) more(`provider: ${safe(mx.provider)}`);
  }

  const spf = p.spf;
  const root = spf?.record;
  if (!spf || !root || root.record === "") row("SPF", style.yellow(safe(root?.error || "not read")));
  else {
    row("SPF", safe(root.record));
    for (const line of treeLines(root, 1)) more(line, 2);
    const lookups = `${spf.dnsLookups} of ${SPF_LIMIT} DNS lookups, ${spf.voidLookups} of ${SPF_VOID_LIMIT} void`;
    more(spf.dnsLookups > SPF_LIMIT || spf.voidLookups > SPF_VOID_LIMIT ? style.red(lookups) : lookups);
    const evaluations = spf.evaluations.map((e) => `${e.address} ${spfResultWord(e.result)}`);
    if (evaluations.length > 0) more(`MX addresses: ${evaluations.join(", ")}`);
    if (spf.fullWalk) more(`any other address: ${spfResultWord(spf.fullWalk.result)}`);
  }

  const dmarc = p.dmarc;
  if (!dmarc || dmarc.record === "") row("DMARC", style.yellow(safe(dmarc?.error || "not read")));
  else {
    row("DMARC", safe(dmarc.record));
    more(`at ${safe(dmarc.recordDomain)}${dmarc.inherited ? " (the organisational domain's)" : ""}: p=${safe(dmarc.policy)} sp=${safe(dmarc.subdomainPolicy)} pct=${dmarc.pct} adkim=${dmarc.adkim} aspf=${dmarc.aspf}`);
    for (const [tag, uris] of [["rua", dmarc.rua], ["ruf", dmarc.ruf]] as const) {
      for (const uri of uris) {
        const note = uri.external ? (uri.authorized ? " (another organisation, which agrees)" : style.yellow(" (another organisation, which does not agree)")) : "";
        more(`${tag} ${safe(uri.uri)}${note}`);
      }
    }
  }

  if (p.dkimKeys.length === 0) row("DKIM", style.dim("no selector asked (--dkim-selector, --common-dkim-selectors)"));
  const selectorWidth = Math.max(0, ...p.dkimKeys.map((k) => safe(k.selector).length));
  p.dkimKeys.forEach((key, i) => {
    const text = dkimLine(key, selectorWidth, style);
    if (i === 0) row("DKIM", text);
    else more(text);
  });

  if (p.findings.length === 0) out.push(`  ${style.dim("Findings".padEnd(LABEL))}${style.green("none")}`);
  else out.push(`  ${style.dim("Findings")}`, ...formatFindingGroups(p.findings, style, width));
  return out;
}

function addressLine(a: AddressPosture, style: Style): string {
  const rdns = a.reverseDns;
  const ptr = !rdns || rdns.ptrNames.length === 0
    ? style.yellow("no PTR")
    : `PTR ${rdns.ptrNames.map(safe).join(", ")}${rdns.forwardConfirmed ? " (forward-confirmed)" : style.yellow(" (not forward-confirmed)")}`;
  const listed = a.blocklists.filter((b) => b.listed).map((b) => style.red(`listed in ${safe(b.zone)} (${b.codes.join(", ")})`));
  const failed = a.blocklists.filter((b) => !b.listed && b.error !== "").map((b) => style.dim(`${safe(b.zone)}: no answer`));
  const clean = a.blocklists.filter((b) => !b.listed && b.error === "").length;
  const lists = [...listed, ...failed, ...(clean > 0 ? [`not listed in ${plural(clean, "blocklist")}`] : [])];
  return `${a.address}: ${[ptr, ...lists].join("; ")}`;
}

function treeLines(node: SpfRecordNode, depth: number): string[] {
  return node.children.flatMap((child) => {
    const what = child.record !== "" && child.error === "" ? safe(child.record) : safe(child.error || child.record);
    return [`${"  ".repeat(depth - 1)}${child.via} ${safe(child.domain)}: ${what}`, ...treeLines(child, depth + 1)];
  });
}

function dkimLine(key: DkimKey, width: number, style: Style): string {
  const name = safe(key.selector).padEnd(width);
  if (!key.found) return `${name}  ${style.yellow("no key")}`;
  if (key.revoked) return `${name}  revoked`;
  if (key.error) return `${name}  ${style.red(safe(key.error))}`;
  const size = key.keyType === "rsa" && key.keyBits < 1024 ? style.red(`${key.keyBits} bits`) : `${key.keyBits} bits`;
  return `${name}  ${safe(key.keyType)} ${size}${key.testMode ? style.yellow(" test mode") : ""}${key.commonSelector ? style.dim(" (common selector)") : ""}`;
}
