// A run's claim as JetStream keeps it (one key per monitor, the last run claimed), and what a
// coordinator may do with it, decided without I/O. The coordinator that claims a run holds it for a
// lease, renewed while it probes, and marks it done before it keeps the run's state and event: a
// coordinator that dies while probing stops renewing, and once the lease has run out another takes
// the run over (while a quarter of the interval is left, as for any claim), so that a run is not
// missed when its coordinator dies; one whose renewal or done mark finds the claim taken over
// stops, so that a run is not kept twice. Pure.
import { isCount, parseStoredObject } from "../stored-json.js";

export interface HeldClaim {
  run: number;
  /** The claim's holder: the coordinator's id and a token of this claim. */
  by: string;
  /** Date.now() milliseconds at which the lease runs out; absent in claims written without one (never taken over). */
  until?: number;
  /** The run's state and event are being kept: the run is over, never taken over. */
  done?: boolean;
}

/** A lease is at most this long: a run whose coordinator died is taken over within it. */
export const MAX_LEASE_MS = 15_000;

/**
 * How long a claim holds without renewal: a quarter of the interval, at most MAX_LEASE_MS. A run
 * is claimed within the first tenth of its interval (the spread) plus a tick, so its lease runs out
 * with more than a quarter of the interval left: another coordinator may still take it over.
 */
export function leaseMs(intervalMs: number): number {
  return Math.min(MAX_LEASE_MS, Math.floor(intervalMs / 4));
}

export type ClaimDecision = { take: true } | { take: false; recheckAt?: number };

/**
 * Whether run `run` may be claimed at `now` given the claim held: yes when none is held or an
 * earlier run is, or when the same run's holder let its lease run out without marking it done (a
 * takeover); no when a later run is held or the same run is done; not yet (recheckAt, the lease's
 * end) while the same run's lease holds.
 */
export function decideClaim(held: HeldClaim | undefined, run: number, now: number): ClaimDecision {
  if (!held || held.run < run) return { take: true };
  if (held.run > run || held.done || held.until === undefined) return { take: false };
  return held.until <= now ? { take: true } : { take: false, recheckAt: held.until };
}

export function encodeClaim(claim: HeldClaim): Uint8Array {
  return Buffer.from(JSON.stringify(claim));
}

/** The claim, or undefined when the bytes are not one (a key written by something else: claimable). */
export function decodeClaim(data: Uint8Array): HeldClaim | undefined {
  const json = parseStoredObject(data);
  if (!json || !isCount(json.run)) return undefined;
  const by = typeof json.by === "string" ? json.by : "";
  const until = isCount(json.until) ? json.until : undefined;
  return { run: json.run, by, ...(until === undefined ? {} : { until }), ...(json.done === true ? { done: true } : {}) };
}
