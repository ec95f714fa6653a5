// Caller quotas and the coordinator-wide load bound, counted in probe executions: one execution is
// one (region, port) task, so a probe of 3 regions × 2 ports costs 6. Pure: the clock is injected,
// nothing here does I/O or sets a timer.
//
// Three limits, checked in this order, so that an overloaded coordinator sheds load before it
// spends anything on per-caller bookkeeping:
//   1. max_executions_in_flight: every caller together (the coordinator's own memory and the agents'
//      capacity; beyond it calls are refused at once, never queued, so a client sees
//      RESOURCE_EXHAUSTED in microseconds instead of a timeout);
//   2. caller_executions_in_flight: one caller's running executions (one caller cannot hold the
//      whole coordinator);
//   3. caller_executions_per_minute: one caller's rate.
//
// The rate is a token bucket per caller, not a sliding window: it needs two numbers per caller
// whatever the traffic (a sliding-window log keeps one entry per request; a sliding-window counter
// only approximates), it lets an idle caller spend a minute's worth at once (a burst of probes from
// a batch job is what the service is for), and the wait until enough tokens are back is exact, so
// the RetryInfo we send is a real answer rather than a guess. A refused call takes no tokens.
//
// A limit of 0 is no limit. A request larger than a limit can never be admitted: it is refused
// without a retry delay (retrying cannot help; the caller must split it).

export type QuotaLimitName = "max_executions_in_flight" | "caller_executions_in_flight" | "caller_executions_per_minute";

export interface QuotaLimits {
  /** Executions one caller may start per minute (token bucket of this size, refilled evenly); 0: no limit. */
  callerExecutionsPerMinute: number;
  /** Executions one caller may have running at once; 0: no limit. */
  callerExecutionsInFlight: number;
  /** Executions of every caller together running at once; 0: no limit. */
  maxExecutionsInFlight: number;
}

export interface QuotaLease {
  readonly caller: string;
  readonly executions: number;
  /** Gives the executions back; idempotent (a second call does nothing). */
  release(): void;
}

export interface QuotaRefusal {
  limit: QuotaLimitName;
  caller: string;
  /** What the request asked for. */
  executions: number;
  /** The configured value of the limit. */
  allowed: number;
  /** When a retry may succeed; undefined when it never can (the request alone exceeds the limit). */
  retryAfterMs: number | undefined;
  /** One sentence for the caller, naming the limit. */
  description: string;
}

export type Admission = { ok: true; lease: QuotaLease } | { ok: false; refusal: QuotaRefusal };

/**
 * When no lease is due to end soon enough to make room, a refused caller is told to come back after
 * this long: probes usually end well before their deadline, so the deadline is only an upper bound.
 */
export const IN_FLIGHT_RETRY_HINT_MS = 1000;
/** Idle callers are swept at most this often (the sweep walks every caller). */
export const SWEEP_INTERVAL_MS = 60_000;

interface CallerState {
  /** Tokens in the bucket at `updatedAt` (fractional). */
  tokens: number;
  updatedAt: number;
  inFlight: number;
}

interface LeaseRecord {
  caller: string;
  executions: number;
  /** When the probe is due to end at the latest (its deadline); undefined: unknown. */
  endsAt: number | undefined;
}

export class CallerQuota {
  private readonly callers = new Map<string, CallerState>();
  private readonly leases = new Set<LeaseRecord>();
  private total = 0;
  private lastSweep: number;
  private readonly now: () => number;

  constructor(
    readonly limits: QuotaLimits,
    options: { now?: () => number } = {},
  ) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 0) throw new RangeError(`CallerQuota: ${name} must be a whole number ≥ 0 (got ${value})`);
    }
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  /**
   * Admits `executions` for `caller`, or says which limit refuses them and when to retry.
   * `endsAt` (the probe's deadline) makes the retry hint of an in-flight refusal sharper.
   */
  admit(caller: string, executions: number, endsAt?: number): Admission {
    if (!Number.isInteger(executions) || executions < 1) throw new RangeError(`CallerQuota.admit: executions must be a whole number ≥ 1 (got ${executions})`);
    const now = this.now();
    this.sweep(now);
    const { maxExecutionsInFlight, callerExecutionsInFlight, callerExecutionsPerMinute } = this.limits;

    if (maxExecutionsInFlight > 0 && this.total + executions > maxExecutionsInFlight) {
      return this.refuse("max_executions_in_flight", caller, executions, maxExecutionsInFlight, () =>
        this.inFlightRetryMs([...this.leases], this.total + executions - maxExecutionsInFlight, now),
      );
    }
    const state = this.stateOf(caller, now);
    if (callerExecutionsInFlight > 0 && state.inFlight + executions > callerExecutionsInFlight) {
      return this.refuse("caller_executions_in_flight", caller, executions, callerExecutionsInFlight, () =>
        this.inFlightRetryMs(
          [...this.leases].filter((l) => l.caller === caller),
          state.inFlight + executions - callerExecutionsInFlight,
          now,
        ),
      );
    }
    if (callerExecutionsPerMinute > 0 && state.tokens < executions) {
      const perMs = callerExecutionsPerMinute / 60_000;
      return this.refuse("caller_executions_per_minute", caller, executions, callerExecutionsPerMinute, () =>
        // Less a hair of floating-point noise: 5.999 tokens of 6 at 1 per second is 1 ms away, not 2.
        Math.max(1, Math.ceil((executions - state.tokens) / perMs - 1e-6)),
      );
    }

    if (callerExecutionsPerMinute > 0) state.tokens -= executions;
    state.inFlight += executions;
    this.total += executions;
    const record: LeaseRecord = { caller, executions, endsAt };
    this.leases.add(record);
    let released = false;
    return {
      ok: true,
      lease: {
        caller,
        executions,
        release: () => {
          if (released) return;
          released = true;
          this.leases.delete(record);
          this.total -= executions;
          const current = this.callers.get(caller);
          if (current) current.inFlight -= executions;
        },
      },
    };
  }

  /** Executions running: of one caller, or of all. */
  inFlight(caller?: string): number {
    return caller === undefined ? this.total : (this.callers.get(caller)?.inFlight ?? 0);
  }

  /** Callers remembered (for tests: idle ones are forgotten). */
  get trackedCallers(): number {
    return this.callers.size;
  }

  private refuse(limit: QuotaLimitName, caller: string, executions: number, allowed: number, retry: () => number): Admission {
    const never = executions > allowed;
    const retryAfterMs = never ? undefined : retry();
    const what = {
      max_executions_in_flight: `the coordinator is at its bound of ${allowed} probe executions in flight (every caller together)`,
      caller_executions_in_flight: `caller ${caller} is at its limit of ${allowed} probe executions in flight`,
      caller_executions_per_minute: `caller ${caller} is over its limit of ${allowed} probe executions per minute`,
    }[limit];
    const description = never
      ? `${limit}: the request needs ${executions} probe executions (regions × ports), more than the limit of ${allowed}; split it`
      : `${limit}: ${what}; this request needs ${executions} (regions × ports); retry after ${retryAfterMs} ms`;
    return { ok: false, refusal: { limit, caller, executions, allowed, retryAfterMs, description } };
  }

  /**
   * The time until leases due to end by their deadlines free `excess` executions, capped at the
   * hint: an upper bound that is usually far too long, so the hint wins in most cases.
   */
  private inFlightRetryMs(leases: LeaseRecord[], excess: number, now: number): number {
    let freed = 0;
    const dated = leases.filter((l) => l.endsAt !== undefined).sort((a, b) => (a.endsAt as number) - (b.endsAt as number));
    for (const lease of dated) {
      freed += lease.executions;
      if (freed >= excess) return Math.max(1, Math.min(IN_FLIGHT_RETRY_HINT_MS, (lease.endsAt as number) - now));
    }
    return IN_FLIGHT_RETRY_HINT_MS;
  }

  private stateOf(caller: string, now: number): CallerState {
    const capacity = this.limits.callerExecutionsPerMinute;
    let state = this.callers.get(caller);
    if (!state) {
      state = { tokens: capacity, updatedAt: now, inFlight: 0 };
      this.callers.set(caller, state);
      return state;
    }
    if (capacity > 0 && now > state.updatedAt) {
      state.tokens = Math.min(capacity, state.tokens + ((now - state.updatedAt) * capacity) / 60_000);
    }
    state.updatedAt = Math.max(state.updatedAt, now);
    return state;
  }

  /**
   * Forgets callers that nothing distinguishes from a new one: nothing in flight and a bucket full
   * again by now. Memory is then bounded by the callers active within the last minute.
   */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    const capacity = this.limits.callerExecutionsPerMinute;
    for (const [caller, state] of this.callers) {
      if (state.inFlight > 0) continue;
      const refilled = capacity === 0 ? 0 : state.tokens + ((now - state.updatedAt) * capacity) / 60_000;
      if (refilled >= capacity) this.callers.delete(caller);
    }
  }
}
