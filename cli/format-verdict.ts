// Verdict lines and "not probed" lines, shared by the report of a coordinator (format-report.ts)
// and the local results (format-human.ts). Pure: text out, colour through a Style.
import { Severity, type NotProbed } from "../gen/smtpprobe/v1/handshake.js";
import { VerdictKind, type PortVerdict } from "../gen/smtpprobe/v1/probe_service.js";
import { MAXIMUMS } from "../agents/smtp/options.js";
import { LIMIT_FIELDS } from "../agents/smtp/not-probed.js";
import { LIMIT_FLAG_OF_FIELD } from "./check-args.js";
import type { Style } from "./colors.js";
import { safe } from "./labels.js";

/**
 * One verdict: a mark coloured by severity (✔ for a port open everywhere, ◐ for one open on some
 * addresses only), then its sentence.
 */
export function formatVerdict(verdict: PortVerdict, style: Style): string {
  const summary = safe(verdict.summary) || `port ${verdict.port}: ${safe(String(verdict.kind))}`;
  if (verdict.kind === VerdictKind.VERDICT_KIND_PARTIALLY_REACHABLE) return `${style.yellow("◐")} ${style.yellow(summary)}`;
  switch (verdict.severity) {
    case Severity.SEVERITY_ERROR:
      return `${style.red("✖")} ${style.red(summary)}`;
    case Severity.SEVERITY_WARNING:
      return `${style.yellow("▲")} ${style.yellow(summary)}`;
    case Severity.SEVERITY_INFO:
      return verdict.kind === VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE ? `${style.green("✔")} ${summary}` : `${style.cyan("ℹ")} ${summary}`;
    default:
      return `${style.dim("·")} ${summary}`;
  }
}

/** What one result (one port, one region) left out. */
export interface NotProbedSource {
  port: number;
  /** Empty in local mode. */
  region: string;
  notProbed: readonly NotProbed[];
  /** Left out beyond the list (TargetResult.not_probed_omitted). */
  omitted: number;
}

const LIMIT_MAXIMUMS: Readonly<Record<string, number>> = {
  [LIMIT_FIELDS.maxExchangers]: MAXIMUMS.maxExchangers,
  [LIMIT_FIELDS.maxAddresses]: MAXIMUMS.maxAddresses,
};

/** "mx4.five.test, mx5.five.test", "127.0.0.3, 127.0.0.4 of four.test": exchangers by name, addresses by their name. */
function namesText(entries: readonly NotProbed[], omitted: number): string {
  // In the order met: an exchanger's name, or a name whose addresses follow, gathered.
  const parts: { name: string; addresses: string[] }[] = [];
  for (const e of entries) {
    const part = e.address ? parts.find((p) => p.name === e.host && p.addresses.length > 0) : undefined;
    if (part) part.addresses.push(e.address);
    else parts.push({ name: e.host, addresses: e.address ? [e.address] : [] });
  }
  const text = parts.map((p) => (p.addresses.length > 0 ? `${p.addresses.map(safe).join(", ")} of ${safe(p.name)}` : safe(p.name))).join(", ");
  return omitted > 0 ? `${text} and ${omitted} more` : text;
}

/** "(max_exchangers 3; raise with --max-exchangers)", or "(max_addresses 8, the most allowed)". */
function limitText(limit: string, value: number): string {
  const name = safe(limit);
  const flag = LIMIT_FLAG_OF_FIELD[limit];
  if (value >= (LIMIT_MAXIMUMS[limit] ?? Number.POSITIVE_INFINITY)) return `(${name} ${value}, the most allowed)`;
  return flag ? `(${name} ${value}; raise with ${flag})` : `(${name} ${value})`;
}

/**
 * One line per limit that left something out: "not probed: mx4.five.test, mx5.five.test
 * (max_exchangers 3; raise with --max-exchangers)". The same names left out on several ports or in
 * several regions are one line; a line that holds for some of the results only says where
 * ("— port 25 from eu-west").
 */
export function formatNotProbed(sources: readonly NotProbedSource[]): string[] {
  const groups = new Map<string, { text: string; ports: number[]; regions: string[]; count: number }>();
  for (const source of sources) {
    const byLimit = new Map<string, NotProbed[]>();
    for (const e of source.notProbed) {
      const key = `${e.limit}\u0000${e.limitValue}`;
      byLimit.set(key, [...(byLimit.get(key) ?? []), e]);
    }
    // Entries past the list's bound are counted on the line of the last limit listed.
    const keys = [...byLimit.keys()];
    keys.forEach((key, i) => {
      const entries = byLimit.get(key) ?? [];
      const first = entries[0] as NotProbed;
      const text = `not probed: ${namesText(entries, i === keys.length - 1 ? source.omitted : 0)} ${limitText(first.limit, first.limitValue)}`;
      const group = groups.get(text) ?? { text, ports: [], regions: [], count: 0 };
      if (!group.ports.includes(source.port)) group.ports.push(source.port);
      if (source.region && !group.regions.includes(source.region)) group.regions.push(source.region);
      group.count += 1;
      groups.set(text, group);
    });
  }
  return [...groups.values()].map((g) => {
    if (g.count === sources.length) return g.text;
    const ports = `${g.ports.length === 1 ? "port" : "ports"} ${g.ports.join(", ")}`;
    return `${g.text} — ${ports}${g.regions.length > 0 ? ` from ${g.regions.map(safe).join(", ")}` : ""}`;
  });
}
