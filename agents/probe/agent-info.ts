// What an agent publishes about itself through service discovery, and the way back to the
// contract's AgentInfo. The agent writes the stats; the coordinator reads them from the network,
// so the reading is defensive: a field that is missing or malformed becomes its default, and an
// entry that cannot be placed (no region, no agent id) is not an agent.
import { AddressPosture } from "../../gen/smtpprobe/v1/address_posture.js";
import { EgressCheck, AgentInfo } from "../../gen/smtpprobe/v1/probe_service.js";
import { Outcome } from "../../gen/smtpprobe/v1/handshake.js";
import { REGION_TOKEN, SUBJECTS, type DiscoveredService } from "../../lib/bus.js";
import { isPort } from "../../lib/host-name.js";

/** The JSON the agent's service returns as its stats (snake_case, like the proto fields). */
export interface AgentStats {
  agent_id: string;
  region: string;
  /** Tasks holding a slot (running a probe). */
  in_flight: number;
  /** Tasks waiting for a slot. */
  queued: number;
  capacity: number;
  /** Tasks answered with a result. */
  tasks_done: number;
  /** ISO time. */
  started_at: string;
  /** EgressCheck.toJSON of each check, one per port. */
  egress: unknown[];
  /** AddressPosture.toJSON of the egress address's last reading (--egress-address), when there is one. */
  egress_posture?: unknown;
  /** ISO time of that reading. */
  egress_posture_checked_at?: string;
}

export function agentStats(
  stats: Omit<AgentStats, "egress" | "started_at" | "egress_posture" | "egress_posture_checked_at"> & {
    startedAt: Date;
    egress: readonly EgressCheck[];
    egressPosture?: { posture: AddressPosture; checkedAt: Date };
  },
): AgentStats {
  return {
    agent_id: stats.agent_id,
    region: stats.region,
    in_flight: stats.in_flight,
    queued: stats.queued,
    capacity: stats.capacity,
    tasks_done: stats.tasks_done,
    started_at: stats.startedAt.toISOString(),
    egress: stats.egress.map((check) => EgressCheck.toJSON(check)),
    ...(stats.egressPosture
      ? { egress_posture: AddressPosture.toJSON(stats.egressPosture.posture), egress_posture_checked_at: stats.egressPosture.checkedAt.toISOString() }
      : {}),
  };
}

/** Bounds on what is believed from the network. */
const MAX_ID = 128;
const MAX_TEXT = 1024;
const MAX_EGRESS = 64;
/** An agent asks at most 8 blocklists (MAX_BLOCKLIST_ZONES), and keeps a few PTR names. */
const MAX_LISTS = 8;
const MAX_PTR_NAMES = 16;
/** What an agent id may be: the agent refuses any other at start, discovery ignores any other. */
export const AGENT_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * An AgentInfo from a discovered agent service, or undefined when it is not one (another
 * service, no usable region or agent id, a region that disagrees with its metadata). `seenAt`
 * becomes last_seen.
 */
export function parseAgentInfo(service: DiscoveredService, seenAt: Date = new Date()): AgentInfo | undefined {
  if (!isRecord(service) || service.name !== SUBJECTS.agentService) return undefined;
  const metadata = isRecord(service.metadata) ? service.metadata : {};
  const data = isRecord(service.data) ? service.data : {};

  const region = text(metadata.region, MAX_ID);
  if (!region || !REGION_TOKEN.test(region)) return undefined;
  const statedRegion = text(data.region, MAX_ID);
  if (statedRegion && statedRegion !== region) return undefined;

  const agentId = text(metadata.agent_id, MAX_ID) || text(data.agent_id, MAX_ID);
  if (!agentId || !AGENT_ID.test(agentId)) return undefined;

  const egress = Array.isArray(data.egress) ? data.egress.slice(0, MAX_EGRESS).flatMap((e) => parseEgress(e) ?? []) : [];
  return AgentInfo.fromPartial({
    agentId,
    region,
    version: text(service.version, MAX_ID),
    inFlight: count(data.in_flight),
    capacity: count(data.capacity),
    tasksDone: count(data.tasks_done, Number.MAX_SAFE_INTEGER),
    startedAt: time(data.started_at) ?? time(service.started),
    lastSeen: seenAt,
    egress,
    egressPosture: parseEgressPosture(data.egress_posture),
    egressPostureCheckedAt: data.egress_posture === undefined ? undefined : time(data.egress_posture_checked_at),
  });
}

/** The egress address's reading, bounded; undefined when absent or not an AddressPosture. */
function parseEgressPosture(value: unknown): AddressPosture | undefined {
  if (!isRecord(value)) return undefined;
  let posture: AddressPosture;
  try {
    posture = AddressPosture.fromJSON(value);
  } catch {
    return undefined;
  }
  if (!posture.address || posture.address.length > MAX_ID) return undefined;
  const r = posture.reverseDns;
  // fromJSON reads any truthy value as true: a flag is believed only when it is JSON's true.
  const rawLists = Array.isArray(value.blocklists) ? value.blocklists : [];
  const flag = (raw: unknown, key: string): boolean => isRecord(raw) && raw[key] === true;
  return AddressPosture.fromPartial({
    address: posture.address,
    reverseDns: r && {
      ptrNames: r.ptrNames.slice(0, MAX_PTR_NAMES).map((n) => n.slice(0, 255)),
      forwardConfirmed: flag(value.reverseDns ?? value.reverse_dns, "forwardConfirmed") || flag(value.reverse_dns, "forward_confirmed"),
      confirmedName: r.confirmedName.slice(0, 255),
      error: r.error.slice(0, MAX_TEXT),
    },
    blocklists: posture.blocklists.slice(0, MAX_LISTS).map((b, i) => ({
      zone: b.zone.slice(0, 255),
      listed: flag(rawLists[i], "listed"),
      codes: b.codes.slice(0, MAX_LISTS).map((c) => c.slice(0, 64)),
      reason: b.reason.slice(0, MAX_TEXT),
      error: b.error.slice(0, MAX_TEXT),
    })),
  });
}

function parseEgress(value: unknown): EgressCheck | undefined {
  if (!isRecord(value)) return undefined;
  let check: EgressCheck;
  try {
    check = EgressCheck.fromJSON(value);
  } catch {
    return undefined;
  }
  if (!isPort(check.port)) return undefined;
  const outcome = check.outcome in Outcome && check.outcome !== Outcome.UNRECOGNIZED ? check.outcome : Outcome.OUTCOME_UNSPECIFIED;
  return EgressCheck.fromPartial({
    port: check.port,
    canary: check.canary.slice(0, MAX_ID),
    ok: value.ok === true,
    outcome,
    detail: check.detail.slice(0, MAX_TEXT),
    checkedAt: check.checkedAt && Number.isFinite(check.checkedAt.getTime()) ? check.checkedAt : undefined,
    durationMs: Number.isFinite(check.durationMs) && check.durationMs >= 0 ? check.durationMs : 0,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown, max: number): string {
  return typeof value === "string" ? value.slice(0, max) : "";
}

const UINT32_MAX = 0xffff_ffff;

/** A non-negative integer up to `max` (uint32 by default; uint64 within JS's safe range), else 0. */
function count(value: unknown, max: number = UINT32_MAX): number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= max ? value : 0;
}

function time(value: unknown): Date | undefined {
  if (typeof value !== "string" || value.length > 64) return undefined;
  const date = new Date(value);
  return Number.isFinite(date.getTime()) ? date : undefined;
}
