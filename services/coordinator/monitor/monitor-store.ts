// Where monitors live, shared by every coordinator through JetStream: the monitors and the state
// of their last run in one key-value bucket (kept until deleted), the claims of their runs in
// another (one key per monitor holding the last run claimed, moved on with a revision-checked
// write: one coordinator wins each run, the others see it taken).
// Each monitor also has an owner key (the hash of its caller, then its id), so that a caller's
// monitors are listed from the keys alone, and holds one of its caller's slots (the hash, then a
// number below --max-monitors-per-caller), claimed by creating its key: a caller never holds more
// monitors than slots, however many creations run at once on however many coordinators.
import { createHash } from "node:crypto";
import type { Bus, KeyValueStore, KeyWatch } from "../../../lib/bus.js";
import { isCount, parseStoredObject } from "../stored-json.js";
import { decideClaim, decodeClaim, encodeClaim } from "./monitor-claim.js";
import { decodeMonitorRecord, decodeMonitorState, encodeMonitorRecord, encodeMonitorState, type MonitorRecord, type MonitorState } from "./monitor-records.js";

export const MONITOR_BUCKETS = { monitors: "smtpprobe-monitors", runs: "smtpprobe-monitor-runs" } as const;

/** Monitor ids are UUIDs (checked before use): safe subject tokens. */
export const monitorEventSubject = (monitorId: string): string => `smtpprobe.v1.monitor.event.${monitorId}`;

/**
 * A claim key not written for this long is removed by JetStream. At least the longest interval (a
 * day): run n can be claimed only within its interval, so a claim outlives every chance of the
 * same run being claimed again.
 */
const CLAIM_TTL_MS = 24 * 3_600_000;
/** Tries of a claim that lost a race to another write, and of a renewal or done mark that lost to one of its holder's own. */
const CLAIM_TRIES = 3;
/**
 * A slot whose monitor has no record is taken back after this long (a creation cut short between
 * its slot and its record, a deletion between its record and its slot); younger, it may be a
 * creation under way.
 */
export const SLOT_GRACE_MS = 120_000;

const MONITOR_KEY = "monitor.";
const STATE_KEY = "state.";
const OWNER_KEY = "owner.";
const SLOT_KEY = "slot.";
const CLAIM_KEY = "claim.";

/** A caller as a key token: any caller string (a key's tokens are [-_=A-Za-z0-9/] only). */
const ownerToken = (caller: string): string => createHash("sha256").update(caller).digest("hex").slice(0, 32);

/** The items in random order (Fisher–Yates). */
function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** What the scheduler hears from watchMonitors(). */
export interface MonitorWatcher {
  /** A monitor, as held when the watch started or created since. */
  added(record: MonitorRecord): void;
  removed(monitorId: string): void;
  /** Every monitor held when the watch started has been given. */
  ready(): void;
  /** The watch stopped on its own: start another. */
  ended(error: unknown): void;
}

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

  /** The owner key first: a monitor whose record exists always has it (see callerIds). Its slot is claimed before (claimSlot). */
  async put(record: MonitorRecord): Promise<void> {
    await this.monitors.put(`${OWNER_KEY}${ownerToken(record.caller)}.${record.monitorId}`, Buffer.from(record.monitorId));
    await this.monitors.put(MONITOR_KEY + record.monitorId, encodeMonitorRecord(record));
  }

  async get(monitorId: string): Promise<MonitorRecord | undefined> {
    const data = await this.monitors.get(MONITOR_KEY + monitorId);
    return data ? decodeMonitorRecord(data) : undefined;
  }

  /** The record first (the monitor stops), its slot last (a slot is never free while its monitor is there). */
  async delete(record: Pick<MonitorRecord, "monitorId" | "caller" | "slot">): Promise<void> {
    await this.monitors.delete(MONITOR_KEY + record.monitorId);
    await this.monitors.delete(STATE_KEY + record.monitorId).catch(() => undefined);
    await this.monitors.delete(`${OWNER_KEY}${ownerToken(record.caller)}.${record.monitorId}`).catch(() => undefined);
    await this.runs.delete(CLAIM_KEY + record.monitorId).catch(() => undefined);
    if (record.slot !== undefined) await this.releaseSlot(record.caller, record.slot, record.monitorId).catch(() => undefined);
  }

  /** How many monitors there are, over all callers: one listing of their record keys. */
  /** The ids of every monitor (a listing of their keys: for what needs them all, not at every tick). */
  async ids(): Promise<string[]> {
    return (await this.monitors.keys(`${MONITOR_KEY}>`)).map((key) => key.slice(MONITOR_KEY.length));
  }

  async count(): Promise<number> {
    return (await this.monitors.keys(`${MONITOR_KEY}>`)).length;
  }

  /**
   * A free slot of the caller's, below `limit`, claimed for the monitor; undefined when all are
   * held. Free slots are tried in order, each by creating its key, so two creations never get the
   * same one; a slot held by a monitor with no record for SLOT_GRACE_MS is taken back (with a
   * revision-checked write: by one creation only).
   */
  async claimSlot(caller: string, monitorId: string, limit: number, now = Date.now()): Promise<number | undefined> {
    const prefix = `${SLOT_KEY}${ownerToken(caller)}.`;
    const value = Buffer.from(JSON.stringify({ monitorId, at: now }));
    const held = new Set((await this.monitors.keys(`${prefix}>`)).map((key) => Number(key.slice(prefix.length))));
    // The free ones in random order: creations at once mostly try different slots (in order, each
    // would chase the others' slots, losing one race after another).
    const free = shuffled(Array.from({ length: limit }, (_, slot) => slot).filter((slot) => !held.has(slot)));
    for (const slot of free) {
      if (await this.monitors.create(prefix + slot, value)) return slot;
    }
    // Every slot is held: by the caller's monitors, unless some were left by a creation or a
    // deletion cut short. The owner keys say first whether that can be.
    if ((await this.monitors.keys(`${OWNER_KEY}${ownerToken(caller)}.>`)).length >= limit) return undefined;
    for (let slot = 0; slot < limit; slot++) {
      const entry = await this.monitors.entry(prefix + slot);
      if (!entry) {
        if (await this.monitors.create(prefix + slot, value)) return slot; // freed meanwhile
        continue;
      }
      const holder = parseStoredObject(entry.value);
      const stale = !holder || typeof holder.monitorId !== "string" || !isCount(holder.at) || (now - holder.at >= SLOT_GRACE_MS && !(await this.get(holder.monitorId)));
      if (stale && (await this.monitors.update(prefix + slot, value, entry.revision))) return slot;
    }
    return undefined;
  }

  /** Frees the slot, if the monitor still holds it. */
  async releaseSlot(caller: string, slot: number, monitorId: string): Promise<void> {
    const key = `${SLOT_KEY}${ownerToken(caller)}.${slot}`;
    const entry = await this.monitors.entry(key);
    if (entry && parseStoredObject(entry.value)?.monitorId === monitorId) await this.monitors.delete(key, entry.revision);
  }

  /**
   * The ids of the caller's monitors, sorted. May hold the id of a monitor whose creation failed
   * between its two writes (its record is missing): readers skip those.
   */
  async callerIds(caller: string): Promise<string[]> {
    const prefix = `${OWNER_KEY}${ownerToken(caller)}.`;
    return (await this.monitors.keys(`${prefix}>`)).map((key) => key.slice(prefix.length)).sort();
  }

  /**
   * Follows the monitors: each one held, then each created or deleted, until stop(). A record
   * that cannot be read is left out (as get() leaves it out).
   */
  watchMonitors(watcher: MonitorWatcher): Promise<KeyWatch> {
    return this.monitors.watch(`${MONITOR_KEY}>`, {
      entry: (key, value) => {
        const monitorId = key.slice(MONITOR_KEY.length);
        const record = value ? decodeMonitorRecord(value) : undefined;
        if (record && record.monitorId === monitorId) watcher.added(record);
        else watcher.removed(monitorId);
      },
      ready: () => watcher.ready(),
      ended: (error) => watcher.ended(error),
    });
  }

  /**
   * Claims run `run` of the monitor for `by` (a token of this claim) with a lease of `leaseMs`
   * (monitor-claim.ts decides): the monitor's claim key holds the last run claimed, and is moved
   * on only from the revision read, so of two coordinators claiming at once one write fails.
   * Not claimed: `recheckAt` when the run is held by another whose lease may still run out.
   */
  async claim(monitorId: string, run: number, by: string, leaseMs: number): Promise<{ claimed: true } | { claimed: false; recheckAt?: number }> {
    const key = CLAIM_KEY + monitorId;
    for (let attempt = 0; attempt < CLAIM_TRIES; attempt++) {
      const entry = await this.runs.entry(key);
      const now = Date.now();
      const decision = decideClaim(entry ? decodeClaim(entry.value) : undefined, run, now);
      if (!decision.take) return decision.recheckAt === undefined ? { claimed: false } : { claimed: false, recheckAt: decision.recheckAt };
      const value = encodeClaim({ run, by, until: now + leaseMs });
      if (entry ? await this.runs.update(key, value, entry.revision) : await this.runs.create(key, value)) return { claimed: true };
    }
    return { claimed: false };
  }

  /**
   * Renews the lease of a claim `by` holds on run `run` (`until`), or marks the run done: false
   * when the claim is no longer its own (taken over after its lease ran out), and the holder stops.
   * A write that lost to another write of the same holder (a renewal still on its way when the
   * run is marked done) is tried again on what that one wrote.
   */
  async holdClaim(monitorId: string, run: number, by: string, hold: { until: number } | { done: true }): Promise<boolean> {
    const key = CLAIM_KEY + monitorId;
    for (let attempt = 0; attempt < CLAIM_TRIES; attempt++) {
      const entry = await this.runs.entry(key);
      const held = entry ? decodeClaim(entry.value) : undefined;
      if (!entry || !held || held.run !== run || held.by !== by || held.done) return false;
      if (await this.runs.update(key, encodeClaim({ run, by, ...hold }), entry.revision)) return true;
    }
    return false;
  }

  async state(monitorId: string): Promise<MonitorState | undefined> {
    const data = await this.monitors.get(STATE_KEY + monitorId);
    return data ? decodeMonitorState(data) : undefined;
  }

  async putState(monitorId: string, state: MonitorState): Promise<void> {
    await this.monitors.put(STATE_KEY + monitorId, encodeMonitorState(state));
  }
}
