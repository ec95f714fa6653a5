// The settings of `smtp-probe agent` (flags and SMTP_PROBE_* variables), and the one mapping from
// the engine settings to the agent's config, which the coordinator's embedded agent uses too.
// Light on purpose: the command line loads it for --help and the docs read it, without the agent.
import { type Settings, type SettingValues } from "../../lib/config.js";
import { duration, optionalText, parseHostPort, region } from "../../lib/config-schemas.js";
import { ENGINE_SETTINGS, LOG_SETTINGS, METRICS_SETTINGS, NATS_SETTINGS, natsUrlSetting, POLICY_SETTINGS, readCaFileSetting } from "../../lib/common-settings.js";
import type { AgentConfig } from "./agent-config.js";

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
  ...POLICY_SETTINGS,
  ...ENGINE_SETTINGS,
  ...METRICS_SETTINGS,
  ...LOG_SETTINGS,
} satisfies Settings;

export type AgentSettings = SettingValues<typeof AGENT_SETTINGS>;

/** What the engine settings set in an agent's config; the rest (region, id, version) is the process's. */
export type AgentEngineConfig = Pick<AgentConfig, "concurrency" | "canaries" | "canaryIntervalMs" | "canaryDeadlineMs" | "defaultEhloName" | "dnsServers" | "extraCa" | "blocklists">;

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
