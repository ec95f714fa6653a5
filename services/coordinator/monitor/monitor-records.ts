// Monitors as JetStream keeps them, and what is decided about them without I/O: which run is due,
// and which verdicts changed between two runs. Pure.
import { ProbeRequest, VerdictKind, type ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import type { VerdictChange } from "../../../gen/smtpprobe/v1/monitor.js";
import { isCount, parseStoredObject } from "../stored-json.js";
import { decodeFacts, type PortFacts } from "./monitor-changes.js";

export interface MonitorRecord {
  monitorId: string;
  caller: string;
  intervalMs: number;
  /** Date.now() milliseconds; run n is due at createdAt + n × intervalMs, n ≥ 1. */
  createdAt: number;
  probe: ProbeRequest;
  /** Where each run that changed a verdict or a region's fact is POSTed, and the key of its signature; empty: none. */
  webhookUrl: string;
  webhookSecret: string;
  /** The caller's slot the monitor holds (monitor-store.ts); undefined for a monitor made before slots. */
  slot?: number;
}

/**
 * What the last run saw: its number, the verdicts (port and kind) of its report, and each region's
 * facts about each port as kept so far (monitor-changes.ts); a state written before facts were
 * kept has none, and the run after it reports no region change.
 */
export interface MonitorState {
  run: number;
  verdicts: { port: number; kind: VerdictKind }[];
  facts?: PortFacts[];
}

const MONITOR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isMonitorId(text: string): boolean {
  return MONITOR_ID.test(text);
}

/** The run due at `now`: 0 before the first interval has passed. */
export function dueRun(record: Pick<MonitorRecord, "createdAt" | "intervalMs">, now: number): number {
  return now < record.createdAt ? 0 : Math.floor((now - record.createdAt) / record.intervalMs);
}

/**
 * The run to claim at `now`: the due run, or 0 when less than a quarter of its interval is left
 * (its deadline is the interval's end: a monitor found late, or a coordinator held up, would
 * probe with too little time and report a refusal; the run is skipped instead, as one that passed
 * while no coordinator ran).
 */
export function runToClaim(record: Pick<MonitorRecord, "createdAt" | "intervalMs">, now: number): number {
  const run = dueRun(record, now);
  if (run === 0) return 0;
  const left = record.createdAt + (run + 1) * record.intervalMs - now;
  return left * 4 < record.intervalMs ? 0 : run;
}

/** The verdicts of a report, as a state records them. */
export function verdictsOf(report: ProbeReport): MonitorState["verdicts"] {
  return (report.comparison?.verdicts ?? []).map((v) => ({ port: v.port, kind: v.kind }));
}

/** The verdicts that appeared and those that went away, by port then kind. */
export function verdictChanges(before: MonitorState["verdicts"], after: MonitorState["verdicts"]): VerdictChange[] {
  const key = (v: { port: number; kind: VerdictKind }): string => `${v.port}:${v.kind}`;
  const had = new Set(before.map(key));
  const has = new Set(after.map(key));
  const changes: VerdictChange[] = [
    ...after.filter((v) => !had.has(key(v))).map((v) => ({ ...v, appeared: true })),
    ...before.filter((v) => !has.has(key(v))).map((v) => ({ ...v, appeared: false })),
  ];
  return changes.sort((a, b) => a.port - b.port || a.kind - b.kind || Number(b.appeared) - Number(a.appeared));
}

export function encodeMonitorRecord(record: MonitorRecord): Uint8Array {
  return Buffer.from(JSON.stringify({ ...record, probe: ProbeRequest.toJSON(record.probe) }));
}

export function decodeMonitorRecord(data: Uint8Array): MonitorRecord | undefined {
  const json = parseStoredObject(data);
  if (!json) return undefined;
  const { monitorId, caller, intervalMs, createdAt, probe, webhookUrl = "", webhookSecret = "", slot } = json;
  if (typeof webhookUrl !== "string" || typeof webhookSecret !== "string") return undefined;
  if (typeof monitorId !== "string" || !isMonitorId(monitorId) || typeof caller !== "string") return undefined;
  if (!isCount(intervalMs) || intervalMs === 0 || !isCount(createdAt) || typeof probe !== "object" || probe === null) return undefined;
  if (slot !== undefined && !isCount(slot)) return undefined;
  return { monitorId, caller, intervalMs, createdAt, probe: ProbeRequest.fromJSON(probe), webhookUrl, webhookSecret, ...(slot === undefined ? {} : { slot }) };
}

export function encodeMonitorState(state: MonitorState): Uint8Array {
  return Buffer.from(JSON.stringify(state));
}

export function decodeMonitorState(data: Uint8Array): MonitorState | undefined {
  const json = parseStoredObject(data);
  if (!json || !isCount(json.run) || !Array.isArray(json.verdicts)) return undefined;
  const verdicts = json.verdicts.filter((v): v is { port: number; kind: number } => typeof v === "object" && v !== null && isCount((v as { port: unknown }).port) && isCount((v as { kind: unknown }).kind));
  const facts = decodeFacts(json.facts);
  return { run: json.run, verdicts: verdicts.map((v) => ({ port: v.port, kind: v.kind as VerdictKind })), ...(facts ? { facts } : {}) };
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/**
 * One page of sorted monitor ids: those after the token (the last id of the page before), at most
 * pageSize of them (0: DEFAULT_PAGE_SIZE), and the token of the next page ("" when none follows).
 * A token that is not a monitor id or a page size over MAX_PAGE_SIZE is a violation naming the field.
 */
export function pageOfIds(
  sortedIds: readonly string[],
  pageSize: number,
  pageToken: string,
): { ok: true; ids: string[]; nextPageToken: string } | { ok: false; field: string; description: string } {
  if (pageSize > MAX_PAGE_SIZE) return { ok: false, field: "page_size", description: `must be at most ${MAX_PAGE_SIZE}, got ${pageSize}` };
  if (pageToken !== "" && !isMonitorId(pageToken)) return { ok: false, field: "page_token", description: "must be the next_page_token of a ListMonitors answer" };
  const size = pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize;
  const after = sortedIds.filter((id) => id > pageToken);
  const ids = after.slice(0, size);
  return { ok: true, ids, nextPageToken: after.length > size ? ids[ids.length - 1]! : "" };
}
