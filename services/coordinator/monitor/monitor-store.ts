// Where monitors live, shared by every coordinator through JetStream: the monitors and the state
// of their last run in one key-value bucket (kept until deleted), the claims of their runs in
// another (a run is claimed by creating its key: one coordinator wins, the others see it taken).
// Each monitor also has an owner key (the hash of its caller, then its id), so that a caller's
// monitors are found and counted from the keys alone.
import { createHash } from "node:crypto";
import type { Bus, KeyValueStore } from "../../../lib/bus.js";
import { decodeMonitorRecord, decodeMonitorState, encodeMonitorRecord, encodeMonitorState, type MonitorRecord, type MonitorState } from "./monitor-records.js";

export const MONITOR_BUCKETS = { monitors: "smtpprobe-monitors", runs: "smtpprobe-monitor-runs" } as const;

/** Monitor ids are UUIDs (checked before use): safe subject tokens. */
export const monitorEventSubject = (monitorId: string): string => `smtpprobe.v1.monitor.event.${monitorId}`;

/** A claim is kept this long: far longer than any interval's run, bounded so that the bucket does not grow. */
const CLAIM_TTL_MS = 24 * 3_600_000;

const MONITOR_KEY = "monitor.";
const STATE_KEY = "state.";
const OWNER_KEY = "owner.";

/** A caller as a key token: any caller string (a key's tokens are [-_=A-Za-z0-9/] only). */
const ownerToken = (caller: string): string => createHash("sha256").update(caller).digest("hex").slice(0, 32);

export class MonitorStore {
  private constructor(
    private readonly monitors: KeyValueStore,
    private readonly runs: KeyValueStore,
  ) {}

  /** The store, or undefined without JetStream (embedded mode). */
  static async open(bus: Bus): Promise<MonitorStore | undefined> {
    const monitors = await bus.keyValue(MONITOR_BUCKETS.monitors, { ttlMs: 0, maxBytes: 64 * 1024 * 1024 });
    const runs = await bus.keyValue(MONITOR_BUCKETS.runs, { ttlMs: CLAIM_TTL_MS, maxBytes: 64 * 1024 * 1024 });
    return monitors && runs ? new MonitorStore(monitors, runs) : undefined;
  }

  /** The owner key first: a monitor whose record exists always has it (see callerIds). */
  async put(record: MonitorRecord): Promise<void> {
    await this.monitors.put(`${OWNER_KEY}${ownerToken(record.caller)}.${record.monitorId}`, Buffer.from(record.monitorId));
    await this.monitors.put(MONITOR_KEY + record.monitorId, encodeMonitorRecord(record));
  }

  async get(monitorId: string): Promise<MonitorRecord | undefined> {
    const data = await this.monitors.get(MONITOR_KEY + monitorId);
    return data ? decodeMonitorRecord(data) : undefined;
  }

  async delete(record: Pick<MonitorRecord, "monitorId" | "caller">): Promise<void> {
    await this.monitors.delete(MONITOR_KEY + record.monitorId);
    await this.monitors.delete(STATE_KEY + record.monitorId).catch(() => undefined);
    await this.monitors.delete(`${OWNER_KEY}${ownerToken(record.caller)}.${record.monitorId}`).catch(() => undefined);
  }

  /** The ids of every monitor. */
  async ids(): Promise<string[]> {
    return (await this.monitors.keys()).filter((key) => key.startsWith(MONITOR_KEY)).map((key) => key.slice(MONITOR_KEY.length));
  }

  /** How many monitors there are, and how many of them are the caller's: one listing of the keys. */
  async counts(caller: string): Promise<{ all: number; callers: number }> {
    const prefix = `${OWNER_KEY}${ownerToken(caller)}.`;
    let all = 0;
    let callers = 0;
    for (const key of await this.monitors.keys()) {
      if (key.startsWith(MONITOR_KEY)) all += 1;
      else if (key.startsWith(prefix)) callers += 1;
    }
    return { all, callers };
  }

  /**
   * The ids of the caller's monitors, sorted. May hold the id of a monitor whose creation failed
   * between its two writes (its record is missing): readers skip those.
   */
  async callerIds(caller: string): Promise<string[]> {
    const prefix = `${OWNER_KEY}${ownerToken(caller)}.`;
    return (await this.monitors.keys()).filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)).sort();
  }

  /** True for the one coordinator that claims run `run` of the monitor. */
  claim(monitorId: string, run: number, by: string): Promise<boolean> {
    return this.runs.create(`run.${monitorId}.${run}`, Buffer.from(by));
  }

  async state(monitorId: string): Promise<MonitorState | undefined> {
    const data = await this.monitors.get(STATE_KEY + monitorId);
    return data ? decodeMonitorState(data) : undefined;
  }

  async putState(monitorId: string, state: MonitorState): Promise<void> {
    await this.monitors.put(STATE_KEY + monitorId, encodeMonitorState(state));
  }
}
