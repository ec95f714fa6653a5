// `smtp-probe domain`'s flags checked and turned into what the check needs; every problem a
// UsageError naming the flag. Pure.
import { DEFAULT_BLOCKLIST_ZONES, MAX_BLOCKLIST_ZONES, normalizeBlocklistZone } from "../agents/posture/blocklist-answer.js";
import { isValidSelector } from "../agents/posture/dkim-key.js";
import { parseHostName } from "../lib/host-name.js";
import { MAX_DNS_SERVERS, parseDnsServer, parseTimeout, quote } from "./check-args.js";
import { UsageError } from "./usage-error.js";

export interface DomainFlags {
  dkimSelector?: string[];
  commonDkimSelectors?: boolean;
  dnsServer?: string[];
  dnsbl?: string[] | false;
  timeout?: string;
  json?: boolean;
  color?: boolean;
}

export interface DomainRequest {
  domain: string;
  dkimSelectors: string[];
  commonDkimSelectors: boolean;
  dnsServers: string[];
  /** Blocklist zones the exchangers' addresses are looked up in; empty with --no-dnsbl. */
  blocklistZones: string[];
  /** The whole check's deadline. */
  timeoutMs: number;
  json: boolean;
  colorAllowed: boolean;
}

export const MAX_DKIM_SELECTORS = 16;
const DEFAULT_TIMEOUT_MS = 30_000;

export function parseDomainArgs(domain: string, flags: DomainFlags): DomainRequest {
  const parsed = parseHostName(domain.trim());
  if (!parsed.ok) throw new UsageError("domain", `${quote(domain)} ${parsed.problem}`);
  if (parsed.isIpLiteral) throw new UsageError("domain", `${quote(domain)} is an IP address; a domain check needs a domain name`);
  const selectors = [...new Set((flags.dkimSelector ?? []).flatMap((v) => v.split(",")).map((s) => s.trim().toLowerCase()).filter((s) => s !== ""))];
  for (const selector of selectors) {
    if (!isValidSelector(selector)) throw new UsageError("--dkim-selector", `${quote(selector)} is not a selector (DNS labels: letters, digits, hyphens, underscores)`);
  }
  if (selectors.length > MAX_DKIM_SELECTORS) throw new UsageError("--dkim-selector", `at most ${MAX_DKIM_SELECTORS} selectors, got ${selectors.length}`);
  const dnsServers = (flags.dnsServer ?? []).map(parseDnsServer);
  if (dnsServers.length > MAX_DNS_SERVERS) throw new UsageError("--dns-server", `at most ${MAX_DNS_SERVERS} DNS servers, got ${dnsServers.length}`);
  let blocklistZones: string[] = [...DEFAULT_BLOCKLIST_ZONES];
  if (flags.dnsbl === false) blocklistZones = [];
  else if (flags.dnsbl !== undefined) {
    blocklistZones = [...new Set(flags.dnsbl.flatMap((v) => v.split(",")).map((zone) => {
      const normalized = normalizeBlocklistZone(zone);
      if (normalized === undefined) throw new UsageError("--dnsbl", `${quote(zone)} is not a DNS zone name`);
      return normalized;
    }))];
    if (blocklistZones.length > MAX_BLOCKLIST_ZONES) throw new UsageError("--dnsbl", `at most ${MAX_BLOCKLIST_ZONES} zones, got ${blocklistZones.length}`);
  }
  return {
    domain: parsed.host.replace(/\.$/, "").toLowerCase(),
    dkimSelectors: selectors,
    commonDkimSelectors: flags.commonDkimSelectors ?? false,
    dnsServers,
    blocklistZones,
    timeoutMs: flags.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseTimeout(flags.timeout),
    json: flags.json ?? false,
    colorAllowed: flags.color ?? true,
  };
}
