// The per-destination throttle: across all regions and callers, at most so many
// connections open and so many probes started per minute, per IP address and per network (/24 for
// IPv4, /48 for IPv6; an IPv4-mapped IPv6 address counts as its IPv4 address). Pure but for the
// clock and the one timer it sets, both injected, so the tests drive time by hand.
//
// Decisions where the design (docs/design.md) is silent:
// - Per-minute limits are a sliding log (the start times of the last minute's grants), not a token
//   bucket: "M per minute" then holds over every 60 s window, where a bucket of M would let 2M
//   through across a refill, and the log says exactly when the next slot opens, which the early
//   denial needs. Its memory is at most M numbers per key, and M is bounded by the settings.
// - Waiting is FIFO per address, and per network for waiters the network limit holds back; a
//   waiter held back by its own address's limit does not block another address of its network.
// - A lease ends when released, or by itself at the requester's deadline plus LEASE_GRACE_MS (at
//   most MAX_LEASE_MS from the grant): an agent that crashed or lost its release message cannot
//   hold a slot for longer than its probe could have run.
// - Bounds: waiters in total, keys in memory. Beyond either the request is denied: this is a
//   safety limit, so it fails closed.
import { isIpv6, parseAddress } from "../../lib/policy/cidr.js";
import { timerDelay } from "../../lib/timers.js";

export interface ThrottleLimits {
  /** Connections open at once to one address. */
  addressConcurrent: number;
  /** Connections started per sliding minute to one address. */
  addressPerMinute: number;
  /** Connections open at once to one /24 (IPv4) or /48 (IPv6). */
  networkConcurrent: number;
  /** Connections started per sliding minute to one network. */
  networkPerMinute: number;
  /** Requests waiting at once, over all keys; default THROTTLE_BOUNDS. */
  maxWaiters?: number;
  /** Addresses and networks tracked at once (empty ones are dropped first); default THROTTLE_BOUNDS. */
  maxKeys?: number;
}

/**
 * Bounds on the throttle's own memory: 10 000 waiting requests is far beyond what the agents'
 * concurrency sends at once, and each of 100 000 tracked keys holds at most a minute of grant times.
 */
export const THROTTLE_BOUNDS = { maxWaiters: 10_000, maxKeys: 100_000 } as const;

export interface ThrottleClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` after `ms`; returns what cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const realClock: ThrottleClock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => {
    const timer = setTimeout(fn, timerDelay(ms));
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};

export const WINDOW_MS = 60_000;
/** Time for a release to come back after the deadline (the handshake ends by then, the message may lag). */
export const LEASE_GRACE_MS = 5_000;
/** A lease never lasts longer than this, whatever deadline the requester names. */
export const MAX_LEASE_MS = 10 * 60_000;

export type ThrottleAnswer = { granted: true; leaseId: string } | { granted: false; reason: string };

export interface Destination {
  /** The canonical address: dotted IPv4 (also for an IPv4-mapped IPv6 address) or eight IPv6 groups. */
  address: string;
  /** "198.51.100.0/24" or "2001:db8:1::/48". */
  network: string;
}

/** The keys an address is counted under, or undefined when it is not an IP address. */
export function destinationOf(text: string): Destination | undefined {
  const parsed = parseAddress(text);
  if (!parsed) return undefined;
  // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) reaches the same host as a.b.c.d.
  const address = isIpv6(parsed) && parsed.isIPv4MappedAddress() ? parsed.toIPv4Address() : parsed;
  if (!isIpv6(address)) {
    return { address: address.toString(), network: `${address.octets.slice(0, 3).join(".")}.0/24` };
  }
  const groups = address.parts.map((part) => part.toString(16));
  return { address: groups.join(":"), network: `${groups.slice(0, 3).join(":")}::/48` };
}

interface KeyState {
  /** Leases open now. */
  open: number;
  /** Grant times within the last WINDOW_MS, ascending. */
  started: number[];
  /** Waiters counted under this key. */
  waiting: number;
}

interface Waiter {
  destination: Destination;
  /** The address as the requester wrote it, for reasons. */
  shown: string;
  deadlineAt: number;
  askedAt: number;
  resolve: (answer: ThrottleAnswer) => void;
  removeAbort?: () => void;
}

interface Lease {
  destination: Destination;
  expiresAt: number;
}

/** Why a destination cannot have a slot now; undefined when it can. */
interface Block {
  /** Which key holds it back: the address's own limits, or its network's. */
  on: "address" | "network";
  reason: string;
}

export class DestinationThrottle {
  readonly limits: Required<ThrottleLimits>;
  private readonly keys = new Map<string, KeyState>();
  private readonly leases = new Map<string, Lease>();
  /** In arrival order. */
  private waiters: Waiter[] = [];
  private nextLease = 0;
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private closed = false;

  constructor(
    limits: ThrottleLimits,
    private readonly clock: ThrottleClock = realClock,
  ) {
    this.limits = { ...THROTTLE_BOUNDS, ...limits };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`throttle limit ${name} must be a positive integer, not ${value}`);
    }
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get open(): number {
    return this.leases.size;
  }

  get trackedKeys(): number {
    return this.keys.size;
  }

  /**
   * Waits for a slot for `address` (FIFO) until `deadlineAt` (clock ms). Denies at once when the
   * earliest slot the per-minute limits allow is after the deadline, when too many wait, when too
   * many keys are tracked, or when `signal` aborts. Never rejects.
   */
  acquire(address: string, deadlineAt: number, signal?: AbortSignal): Promise<ThrottleAnswer> {
    const destination = destinationOf(address);
    if (!destination) return Promise.resolve({ granted: false, reason: `throttle: ${JSON.stringify(address)} is not an IP address` });
    if (this.closed) return Promise.resolve({ granted: false, reason: "throttled: the coordinator is shutting down" });
    if (signal?.aborted) return Promise.resolve({ granted: false, reason: "throttled: cancelled" });
    const now = this.clock.now();
    this.expire(now);
    if (!this.ensureKeys(destination)) {
      return Promise.resolve({ granted: false, reason: `throttled: tracking ${this.limits.maxKeys} destinations already (limit), ${address} cannot be counted` });
    }
    // Anyone waiting for this network (which includes this address) goes first. The keys count
    // their waiters, so this is no scan of the waiter list (up to maxWaiters long).
    const queuedAhead = this.keys.get(destination.network)!.waiting > 0;
    if (!queuedAhead) {
      const block = this.blockOf(destination, address, now);
      if (!block) return Promise.resolve(this.grant(destination, deadlineAt, now));
    }
    const earliest = this.earliestSlot(destination, now);
    if (earliest.at > deadlineAt) {
      this.dropIfEmpty(destination);
      return Promise.resolve({ granted: false, reason: `${earliest.reason}; the next slot is ${Math.ceil(earliest.at - now)} ms away, after the probe's deadline` });
    }
    if (this.waiters.length >= this.limits.maxWaiters) {
      this.dropIfEmpty(destination);
      return Promise.resolve({ granted: false, reason: `throttled: ${this.limits.maxWaiters} probes already wait for a connection slot (limit)` });
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { destination, shown: address, deadlineAt, askedAt: now, resolve };
      if (signal) {
        const onAbort = (): void => this.settle(waiter, { granted: false, reason: `throttled: cancelled after waiting ${Math.round(this.clock.now() - now)} ms` });
        signal.addEventListener("abort", onAbort, { once: true });
        waiter.removeAbort = () => signal.removeEventListener("abort", onAbort);
      }
      this.waiters.push(waiter);
      for (const key of [destination.address, destination.network]) this.keys.get(key)!.waiting += 1;
      this.pump();
    });
  }

  /**
   * A slot for `address` now, held until `deadlineAt` (clock ms) at most, when one is free with
   * nobody waiting ahead for its network; else undefined and nothing changes (the requester then
   * asks through acquire() and waits its turn). Never waits, never denies.
   */
  tryAcquire(address: string, deadlineAt: number): { leaseId: string } | undefined {
    const destination = destinationOf(address);
    if (!destination || this.closed) return undefined;
    const now = this.clock.now();
    this.expire(now);
    if (!this.ensureKeys(destination)) return undefined;
    if (this.keys.get(destination.network)!.waiting > 0 || this.blockOf(destination, address, now)) {
      this.dropIfEmpty(destination);
      return undefined;
    }
    const answer = this.grant(destination, deadlineAt, now);
    return answer.granted ? { leaseId: answer.leaseId } : undefined;
  }

  /** Ends a lease; false when there is no such lease (released already, expired, unknown). */
  release(leaseId: string): boolean {
    const lease = this.leases.get(leaseId);
    if (!lease) return false;
    this.endLease(leaseId, lease);
    this.pump();
    return true;
  }

  /** Denies every waiter, forgets every lease and the timer. */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) this.settle(waiter, { granted: false, reason: "throttled: the coordinator is shutting down" });
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.leases.clear();
    this.keys.clear();
  }

  private grant(destination: Destination, deadlineAt: number, now: number): ThrottleAnswer {
    const leaseId = `l${(this.nextLease++).toString(36)}`;
    const expiresAt = Math.min(Math.max(deadlineAt, now), now + MAX_LEASE_MS) + LEASE_GRACE_MS;
    this.leases.set(leaseId, { destination, expiresAt });
    for (const key of [destination.address, destination.network]) {
      const state = this.keys.get(key)!;
      state.open += 1;
      state.started.push(now);
    }
    this.schedule(expiresAt);
    return { granted: true, leaseId };
  }

  private endLease(leaseId: string, lease: Lease): void {
    this.leases.delete(leaseId);
    for (const key of [lease.destination.address, lease.destination.network]) {
      const state = this.keys.get(key);
      if (state) state.open -= 1;
    }
  }

  /** Ends expired leases (there are as many as connections open: a short loop). */
  private expire(now: number): void {
    for (const [id, lease] of this.leases) if (lease.expiresAt <= now) this.endLease(id, lease);
  }

  /** Forgets a key's grants older than the window; keys are pruned when touched, all of them only at the bound. */
  private prune(key: string, now: number): KeyState | undefined {
    const state = this.keys.get(key);
    if (!state) return undefined;
    const keep = state.started.findIndex((t) => t > now - WINDOW_MS);
    if (keep !== 0) state.started.splice(0, keep < 0 ? state.started.length : keep);
    return state;
  }

  /** Makes room for the destination's keys; false when the bound is reached even after dropping empty keys. */
  private ensureKeys(destination: Destination): boolean {
    const missing = [destination.address, destination.network].filter((k) => !this.keys.has(k));
    if (missing.length === 0) return true;
    if (this.keys.size + missing.length > this.limits.maxKeys) {
      const now = this.clock.now();
      for (const key of [...this.keys.keys()]) if (isEmpty(this.prune(key, now)!)) this.keys.delete(key);
      if (this.keys.size + missing.length > this.limits.maxKeys) return false;
    }
    for (const key of missing) this.keys.set(key, { open: 0, started: [], waiting: 0 });
    return true;
  }

  private dropIfEmpty(destination: Destination): void {
    for (const key of [destination.address, destination.network]) {
      const state = this.keys.get(key);
      if (state && isEmpty(state)) this.keys.delete(key);
    }
  }

  private blockOf(destination: Destination, shown: string, now: number): Block | undefined {
    const l = this.limits;
    const address = this.prune(destination.address, now)!;
    const network = this.prune(destination.network, now)!;
    const inWindow = (s: KeyState): number => s.started.length;
    if (address.open >= l.addressConcurrent) {
      return { on: "address", reason: `throttled: ${address.open} connections to ${shown} already open (limit ${l.addressConcurrent})` };
    }
    if (inWindow(address) >= l.addressPerMinute) {
      return { on: "address", reason: `throttled: ${l.addressPerMinute} connections to ${shown} in the last minute (limit ${l.addressPerMinute} per minute)` };
    }
    if (network.open >= l.networkConcurrent) {
      return { on: "network", reason: `throttled: ${network.open} connections to ${destination.network} already open (limit ${l.networkConcurrent})` };
    }
    if (inWindow(network) >= l.networkPerMinute) {
      return { on: "network", reason: `throttled: ${l.networkPerMinute} connections to ${destination.network} in the last minute (limit ${l.networkPerMinute} per minute)` };
    }
    return undefined;
  }

  /**
   * The earliest time the per-minute limits could let this destination through, counting the
   * waiters ahead of it (a lower bound: open connections may end any time, so they give none).
   */
  private earliestSlot(destination: Destination, now: number): { at: number; reason: string } {
    let best = { at: now, reason: "" };
    const check = (key: string, limit: number, label: string): void => {
      const state = this.prune(key, now)!;
      // An address key and a network key never share a string, so the key's count is the waiters ahead.
      const ahead = state.waiting;
      // Grants needed before ours, beyond what the window holds: the (len + ahead - limit)-th oldest must expire.
      const index = state.started.length + ahead - limit;
      if (index < 0) return;
      const at = index < state.started.length ? state.started[index]! + WINDOW_MS : now + WINDOW_MS;
      if (at > best.at) best = { at, reason: `throttled: ${limit} connections per minute to ${label} (limit), ${ahead} waiting before this one` };
    };
    check(destination.address, this.limits.addressPerMinute, destination.address);
    check(destination.network, this.limits.networkPerMinute, destination.network);
    return best;
  }

  private settle(waiter: Waiter, answer: ThrottleAnswer): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    for (const key of [waiter.destination.address, waiter.destination.network]) {
      const state = this.keys.get(key);
      if (state) state.waiting -= 1;
    }
    waiter.removeAbort?.();
    waiter.resolve(answer);
    if (!answer.granted) {
      this.dropIfEmpty(waiter.destination);
      // A waiter that left may have held back others of its address or network.
      queueMicrotask(() => this.pump());
    }
  }

  /** Grants what can be granted in arrival order, denies what is past its deadline, sets the next timer. */
  private pump(): void {
    if (this.closed) return;
    const now = this.clock.now();
    this.expire(now);
    const heldAddresses = new Set<string>();
    const heldNetworks = new Set<string>();
    let nextAt = Infinity;
    for (const waiter of [...this.waiters]) {
      const { address, network } = waiter.destination;
      if (waiter.deadlineAt <= now) {
        const block = this.blockOf(waiter.destination, waiter.shown, now);
        this.settle(waiter, { granted: false, reason: `${block?.reason ?? "throttled"}, waited ${Math.round(now - waiter.askedAt)} ms` });
        continue;
      }
      nextAt = Math.min(nextAt, waiter.deadlineAt);
      if (heldAddresses.has(address) || heldNetworks.has(network)) continue;
      const block = this.blockOf(waiter.destination, waiter.shown, now);
      if (block) {
        heldAddresses.add(address);
        if (block.on === "network") heldNetworks.add(network);
        nextAt = Math.min(nextAt, this.earliestWindowExpiry(waiter.destination, now));
        continue;
      }
      this.settle(waiter, this.grant(waiter.destination, waiter.deadlineAt, now));
    }
    for (const lease of this.leases.values()) nextAt = Math.min(nextAt, lease.expiresAt);
    this.schedule(nextAt);
  }

  /** When the oldest grant in the window of the destination's keys leaves it. */
  private earliestWindowExpiry(destination: Destination, now: number): number {
    let at = Infinity;
    for (const key of [destination.address, destination.network]) {
      const oldest = this.keys.get(key)?.started[0];
      if (oldest !== undefined) at = Math.min(at, oldest + WINDOW_MS);
    }
    return Math.max(at, now);
  }

  /** One timer, at the earliest time anything changes by itself. */
  private schedule(at: number): void {
    if (this.closed || !Number.isFinite(at)) return;
    if (this.cancelTimer && this.timerAt <= at) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.clock.setTimer(at - this.clock.now(), () => {
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      this.pump();
    });
  }
}

function isEmpty(state: KeyState): boolean {
  return state.open === 0 && state.started.length === 0 && state.waiting === 0;
}
