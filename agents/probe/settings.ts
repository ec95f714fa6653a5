// The settings of `smtp-probe agent` (flags and SMTP_PROBE_* variables), and the one mapping from
// the engine settings to the agent's config, which the coordinator's embedded agent uses too.
// Light on purpose: the command line loads it for --help and the docs read it, without the agent.
import { type Settings, type SettingValues } from "../../lib/config.js";
import { isIP } from "node:net";
import { duration, optionalText, parseHostPort, region, textList } from "../../lib/config-schemas.js";
import { ENGINE_SETTINGS, LOG_SETTINGS, METRICS_SETTINGS, NATS_SETTINGS, natsUrlSetting, POLICY_SETTINGS, readCaFileSetting } from "../../lib/common-settings.js";
import { MAX_BLOCKLIST_ZONES, normalizeBlocklistZone } from "../posture/blocklist-answer.js";
import type { AgentConfig } from "./agent-config.js";

const zoneList = textList.to<string[]>((items) => {
  const bad = items.find((zone) => normalizeBlocklistZone(zone) === undefined);
  if (bad !== undefined) return { problem: `${JSON.stringify(bad)} is not a DNS zone name` };
  if (items.length > MAX_BLOCKLIST_ZONES) return { problem: `must name at most ${MAX_BLOCKLIST_ZONES} zones, not ${items.length}` };
  return { value: items.map((zone) => normalizeBlocklistZone(zone)!) };
});

/** The agent's own egress address; the coordinator's embedded agent takes them too. */
export const EGRESS_SETTINGS = {
  egressAddress: {
    flag: "--egress-address",
    env: "SMTP_PROBE_EGRESS_ADDRESS",
    placeholder: "IP",
    description: "the address this agent's connections leave from, as servers see it (behind NAT, the public one): its reverse DNS and blocklist listings are read at start and every --egress-check-interval, and shown by `smtp-probe regions`",
    schema: optionalText.refine((v) => v === undefined || isIP(v) !== 0, "must be an IPv4 or IPv6 address"),
  },
  egressDnsbl: {
    flag: "--egress-dnsbl",
    env: "SMTP_PROBE_EGRESS_DNSBL",
    placeholder: "ZONE",
    repeatable: true,
    description: "the blocklist zones the egress address is looked up in, at most 8 (default: zen.spamhaus.org, bl.spamcop.net, b.barracudacentral.org; none with --blocklists off); repeatable",
    schema: zoneList,
  },
  egressCheckInterval: {
    flag: "--egress-check-interval",
    env: "SMTP_PROBE_EGRESS_CHECK_INTERVAL",
    placeholder: "DURATION",
    default: "5m",
    description: "how often the egress address's reverse DNS and listings are read again (at least 1s)",
    schema: duration.refine((ms) => ms >= 1_000 && ms <= 24 * 3_600_000, "must be between 1s and 24h"),
  },
} satisfies Settings;

export const AGENT_SETTINGS = {
  region: { flag: "--region", env: "SMTP_PROBE_REGION", placeholder: "NAME", description: "the region this agent serves (lower-case token)", schema: region },
  nats: natsUrlSetting(true),
  ...NATS_SETTINGS,
  agentId: {
    flag: "--agent-id",
    env: "SMTP_PROBE_AGENT_ID",
    placeholder: "ID",
    description: "this agent's id, unique in its region (default: host name and a random suffix)",
    schema: optionalText,
  },
  grace: {
    flag: "--grace",
    env: "SMTP_PROBE_GRACE",
    placeholder: "DURATION",
    default: "10s",
    description: "on SIGTERM, how long running probes may finish before they are cancelled",
    schema: duration,
  },
  ...EGRESS_SETTINGS,
  ...POLICY_SETTINGS,
  ...ENGINE_SETTINGS,
  ...METRICS_SETTINGS,
  ...LOG_SETTINGS,
} satisfies Settings;

export type AgentSettings = SettingValues<typeof AGENT_SETTINGS>;

/** The egress settings as agent config. */
export function agentEgressConfig(s: SettingValues<typeof EGRESS_SETTINGS>): Pick<AgentConfig, "egressAddress" | "egressBlocklistZones" | "egressCheckIntervalMs"> {
  return {
    egressAddress: s.egressAddress,
    egressBlocklistZones: s.egressDnsbl.length > 0 ? s.egressDnsbl : undefined,
    egressCheckIntervalMs: s.egressCheckInterval,
  };
}

/** What the engine settings set in an agent's config; the rest (region, id, version) is the process's. */
export type AgentEngineConfig = Pick<
  AgentConfig,
  "concurrency" | "canaries" | "canaryIntervalMs" | "canaryDeadlineMs" | "defaultEhloName" | "dnsServers" | "extraCa" | "blocklists" | "egressAddress" | "egressBlocklistZones" | "egressCheckIntervalMs"
>;

/** The engine settings (ENGINE_SETTINGS) as agent config; reads and checks --ca-file (a ConfigError naming it). */
export async function agentEngineConfig(s: SettingValues<typeof ENGINE_SETTINGS>): Promise<AgentEngineConfig> {
  return {
    concurrency: s.concurrency,
    // Checked by the setting's schema (hostPortList).
    canaries: s.canary.map((c) => parseHostPort(c)!),
    canaryIntervalMs: s.canaryInterval,
    canaryDeadlineMs: s.canaryTimeout,
    defaultEhloName: s.ehloName,
    dnsServers: s.dnsServer.length > 0 ? s.dnsServer : undefined,
    blocklists: s.blocklists,
    extraCa: s.caFile ? await readCaFileSetting(s.caFile) : undefined,
  };
}
