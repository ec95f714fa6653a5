// The agent's configuration: what main.ts (or the embedded coordinator) hands to startAgent(),
// its defaults, and the one check that turns a bad value into an error naming the field.
import { isIP } from "node:net";
import { checkToken, HEARTBEAT_BOUNDS } from "../../lib/bus.js";
import { isPort } from "../../lib/host-name.js";
import { DEFAULT_BLOCKLIST_ZONES, MAX_BLOCKLIST_ZONES, normalizeBlocklistZone } from "../posture/blocklist-answer.js";
import { checkEhloName, machineEhloName } from "../smtp/options.js";
import { AGENT_ID } from "./agent-info.js";
import { MAX_CANARY_DEADLINE_MS, type CanaryTarget } from "./canary.js";

export interface AgentConfig {
  /** A safe subject token (lib/bus.ts REGION_TOKEN). */
  region: string;
  /** Printable ASCII, at most 128 characters; unique among the region's agents. */
  agentId: string;
  version: string;
  /** Probes running at once; beyond it tasks wait in arrival order. Default 32. */
  concurrency?: number;
  /** Heartbeat period when a task's heartbeat_ms is 0. Default 1000. */
  heartbeatMs?: number;
  canaries?: readonly CanaryTarget[];
  /** Default 60 000; the first round runs at start. */
  canaryIntervalMs?: number;
  /** Deadline of one canary probe, at most (and by default) 10 000. */
  canaryDeadlineMs?: number;
  /** EHLO name when a task names none; default: the machine's FQDN, else an address literal. */
  defaultEhloName?: string;
  /** DNS servers as "ip" or "ip:port"; default the system's. */
  dnsServers?: readonly string[];
  /** Extra trusted CAs (PEM). */
  extraCa?: string;
  /** False: ask no DNS blocklist, whatever a domain check or a probe's posture option asks (--blocklists off). Default true. */
  blocklists?: boolean;
  /**
   * The address this agent's connections leave from, as the servers it probes see it (behind NAT,
   * the public one): its reverse DNS and blocklist listings are read at start and every
   * egressCheckIntervalMs, and published with the agent's stats (AgentInfo.egress_posture).
   */
  egressAddress?: string;
  /** The zones the egress address is looked up in; default the domain check's default zones. */
  egressBlocklistZones?: readonly string[];
  /** Default 300 000 (5 minutes); at least 1 000. */
  egressCheckIntervalMs?: number;
  /** Bound on one encoded AgentMessage; default 900 KiB, under NATS's default 1 MiB max payload. */
  maxResultBytes?: number;
  /**
   * Ask the coordinator for a slot (smtpprobe.v1.permit.<region>) before each connection: its
   * per-destination throttle. Default true; without an answer nothing connects (fail closed).
   * False only where no coordinator runs, as in tests of the agent alone.
   */
  permits?: boolean;
}

export const AGENT_DEFAULTS = {
  concurrency: 32,
  heartbeatMs: 1000,
  canaryIntervalMs: 60_000,
  canaryDeadlineMs: MAX_CANARY_DEADLINE_MS,
  maxResultBytes: 900 * 1024,
  stopGraceMs: 10_000,
  permits: true,
  blocklists: true,
  egressCheckIntervalMs: 300_000,
} as const;

export class InvalidAgentConfigError extends Error {
  override readonly name = "InvalidAgentConfigError";
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`agent configuration: ${field} ${problem}`);
  }
}

export type ResolvedAgentConfig = Required<Omit<AgentConfig, "defaultEhloName" | "dnsServers" | "extraCa" | "egressAddress">> &
  Pick<AgentConfig, "defaultEhloName" | "dnsServers" | "extraCa" | "egressAddress">;

/** Fills in defaults and checks the configuration; throws InvalidAgentConfigError naming the field. */
export function resolveAgentConfig(config: AgentConfig): ResolvedAgentConfig {
  const fail = (field: string, problem: string): never => {
    throw new InvalidAgentConfigError(field, problem);
  };
  try {
    checkToken(config.region);
  } catch {
    fail("region", `must be lower-case letters, digits and hyphens (at most 63), not ${JSON.stringify(config.region)}`);
  }
  if (!AGENT_ID.test(config.agentId)) fail("agentId", "must be 1 to 128 printable ASCII characters without spaces");
  const integer = (field: string, value: number | undefined, fallback: number, min: number, max: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < min || v > max) fail(field, `must be an integer from ${min} to ${max}, not ${v}`);
    return v;
  };
  const settings: ResolvedAgentConfig = {
    region: config.region,
    agentId: config.agentId,
    version: config.version,
    concurrency: integer("concurrency", config.concurrency, AGENT_DEFAULTS.concurrency, 1, 10_000),
    heartbeatMs: integer("heartbeatMs", config.heartbeatMs, AGENT_DEFAULTS.heartbeatMs, HEARTBEAT_BOUNDS.minMs, HEARTBEAT_BOUNDS.maxMs),
    canaries: [...(config.canaries ?? [])],
    canaryIntervalMs: integer("canaryIntervalMs", config.canaryIntervalMs, AGENT_DEFAULTS.canaryIntervalMs, 1, 24 * 3600_000),
    canaryDeadlineMs: integer("canaryDeadlineMs", config.canaryDeadlineMs, AGENT_DEFAULTS.canaryDeadlineMs, 1, MAX_CANARY_DEADLINE_MS),
    maxResultBytes: integer("maxResultBytes", config.maxResultBytes, AGENT_DEFAULTS.maxResultBytes, 1024, 64 * 1024 * 1024),
    permits: config.permits ?? AGENT_DEFAULTS.permits,
    blocklists: config.blocklists ?? AGENT_DEFAULTS.blocklists,
    egressAddress: config.egressAddress,
    egressBlocklistZones: (config.egressBlocklistZones ?? DEFAULT_BLOCKLIST_ZONES).map((zone, i) => normalizeBlocklistZone(zone) ?? fail(`egressBlocklistZones[${i}]`, `must be a DNS zone name, not ${JSON.stringify(zone)}`)),
    egressCheckIntervalMs: integer("egressCheckIntervalMs", config.egressCheckIntervalMs, AGENT_DEFAULTS.egressCheckIntervalMs, 1_000, 24 * 3600_000),
    // Resolved once here: resolveOptions would otherwise ask the OS for the host name per task.
    defaultEhloName: config.defaultEhloName ?? machineEhloName(),
    dnsServers: config.dnsServers,
    extraCa: config.extraCa,
  };
  settings.canaries.forEach((c, i) => {
    if (!c.host) fail(`canaries[${i}].host`, "must not be empty");
    if (!isPort(c.port)) fail(`canaries[${i}].port`, `must be from 1 to 65535, not ${c.port}`);
  });
  if (config.egressAddress !== undefined && isIP(config.egressAddress) === 0) fail("egressAddress", `must be an IPv4 or IPv6 address, not ${JSON.stringify(config.egressAddress)}`);
  if (settings.egressBlocklistZones.length > MAX_BLOCKLIST_ZONES) fail("egressBlocklistZones", `must hold at most ${MAX_BLOCKLIST_ZONES} zones, not ${settings.egressBlocklistZones.length}`);
  if (config.defaultEhloName) {
    const problem = checkEhloName(config.defaultEhloName);
    if (problem) fail("defaultEhloName", problem);
  }
  return settings;
}
