// One probe run shared by every call that asks for it: the first caller, a call repeating its
// idempotency key, an identical request of the same caller while it runs. It is cancelled only
// when the last of them goes away (reference counted), so a quota lease is held once per run.
//
// How long a call can find a probe:
// - by its request (caller + canonical request): while it runs; once its report exists, the same
//   request is a new probe;
// - by an idempotency key (the first caller's, or one a joiner brought): until the report is stored
//   and the key written to the store beside it, with the request it names; from then on the store
//   answers.
// A probe everyone left, or whose run failed, can be found by nobody any more.
//
// An idempotency key names one request (Google AIP-155): the same key with another request is
// refused (IdempotencyKeyReusedError), while the probe runs and after its report is stored, rather
// than answered with the report of a question the caller did not ask.
import { randomUUID } from "node:crypto";
import { ProbeReport, type ProbeEvent } from "../../gen/smtpprobe/v1/probe_service.js";
import type { Logger } from "../../lib/logger.js";
import type { ReportStore } from "./report-store.js";

/** How a waiting call gets a probe's events as they come (streaming calls). */
export type Emit = (event: ProbeEvent) => void;

/** What makes two calls the same probe. Both keys are scoped to the caller by whoever builds them. */
export interface ProbeKeys {
  /** Caller + canonical request (canonicalRequestKey). */
  request: string;
  /** Caller + idempotency key; "" when the request has none. */
  idempotency: string;
}

/** A call waiting for a probe: aborting its signal is how it leaves. */
export interface Waiter {
  signal: AbortSignal;
  emit?: Emit;
}

/** The same idempotency key as an earlier request, with another request. */
export class IdempotencyKeyReusedError extends Error {
  override readonly name = "IdempotencyKeyReusedError";
  constructor(
    /** The probe the key names: the first request's. */
    readonly probeId: string,
  ) {
    super(`the idempotency key was first used for another request (probe ${probeId})`);
  }
}

/** A shared probe as its runner sees it. */
export interface RunningProbe {
  /** Chosen when the probe is registered, so that a refusal can name it before the run starts. */
  readonly probeId: string;
  /** Aborts once every waiting call has left. */
  readonly signal: AbortSignal;
  /** Calls that joined after the first, so far. */
  readonly joined: number;
  /** To every waiting call; the accepted event is also kept for calls joining later. */
  emit(event: ProbeEvent): void;
  /**
   * The runner's store write of the report has ended (`written`: it succeeded). The idempotency
   * keys naming the probe are written beside it, then no key finds the probe here any more.
   * Never rejects.
   */
  reportStored(report: ProbeReport, written: boolean): Promise<void>;
}

export interface SharedProbesDeps {
  /** Where idempotency keys are written, once the report they name is stored. */
  keys: Pick<ReportStore, "getIdempotency" | "putIdempotency">;
  /** A finished report by probe id: one being stored, or one in the store. */
  findReport(probeId: string): Promise<ProbeReport | undefined>;
  logger: Logger;
}

interface SharedProbe {
  readonly probeId: string;
  readonly requestKey: string;
  report: Promise<ProbeReport>;
  /** The accepted event, once sent: a call joining later gets it first. */
  accepted?: ProbeEvent;
  readonly listeners: Set<Emit>;
  waiters: number;
  /** -1 until the first call has joined. */
  joined: number;
  readonly controller: AbortController;
  /** The idempotency keys that name it, written to the store with its report. */
  readonly idempotencyKeys: Set<string>;
}

export class SharedProbes {
  /** Probes by caller-scoped idempotency key, from the key's first use until the report is stored. */
  private readonly byIdempotencyKey = new Map<string, SharedProbe>();
  /** Running probes by caller + canonical request, until their report. */
  private readonly byRequest = new Map<string, SharedProbe>();

  constructor(private readonly deps: SharedProbesDeps) {}

  /** How many keys find a probe now (for tests and metrics). */
  get size(): { requests: number; idempotencyKeys: number } {
    return { requests: this.byRequest.size, idempotencyKeys: this.byIdempotencyKey.size };
  }

  /**
   * The report of the probe these keys name: joined when one runs, from the store when an
   * idempotency key names a stored one, else from a new run of `start`. The waiter gets the
   * probe's events from its joining on, and leaves by aborting its signal.
   */
  async startOrJoin(keys: ProbeKeys, waiter: Waiter, start: (probe: RunningProbe) => Promise<ProbeReport>): Promise<ProbeReport> {
    const running = this.find(keys);
    if (running) return this.join(running, keys.idempotency, waiter);
    if (keys.idempotency) {
      const record = await this.deps.keys.getIdempotency(keys.idempotency);
      const stored = record ? await this.deps.findReport(record.probeId) : undefined;
      if (record && stored) {
        // A record written before requests were kept beside keys names no request: not judged.
        if (record.request !== undefined && record.request !== keys.request) throw new IdempotencyKeyReusedError(record.probeId);
        return stored;
      }
      // Another call may have started the same probe during the lookups.
      const started = this.find(keys);
      if (started) return this.join(started, keys.idempotency, waiter);
    }

    // From here on, synchronously until the probe is registered: a duplicate arriving meanwhile
    // finds it and joins instead of starting a second one.
    const probe: SharedProbe = {
      probeId: randomUUID(),
      requestKey: keys.request,
      report: Promise.resolve(ProbeReport.fromPartial({})),
      listeners: new Set(),
      waiters: 0,
      joined: -1,
      controller: new AbortController(),
      idempotencyKeys: new Set(),
    };
    probe.report = start(this.runningView(probe));
    this.byRequest.set(keys.request, probe);
    probe.report.then(
      () => this.closeToRequests(probe),
      () => this.unregister(probe),
    );
    return this.join(probe, keys.idempotency, waiter);
  }

  /** The probe the keys name; throws IdempotencyKeyReusedError when the key names another request's. */
  private find(keys: ProbeKeys): SharedProbe | undefined {
    const byKey = keys.idempotency ? this.byIdempotencyKey.get(keys.idempotency) : undefined;
    if (byKey && byKey.requestKey !== keys.request) throw new IdempotencyKeyReusedError(byKey.probeId);
    return byKey ?? this.byRequest.get(keys.request);
  }

  /** Waits for a probe as one more call: its events from now on, its report, its share of the cancellation. */
  private join(probe: SharedProbe, idempotencyKey: string, { signal, emit }: Waiter): Promise<ProbeReport> {
    probe.waiters += 1;
    probe.joined += 1;
    // The call's own idempotency key names the probe it joined, from now until the report is stored.
    if (idempotencyKey && !this.byIdempotencyKey.has(idempotencyKey)) {
      this.byIdempotencyKey.set(idempotencyKey, probe);
      probe.idempotencyKeys.add(idempotencyKey);
    }
    if (emit) {
      if (probe.accepted) emit(probe.accepted);
      probe.listeners.add(emit);
    }
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      if (emit) probe.listeners.delete(emit);
      probe.waiters -= 1;
      if (probe.waiters === 0) {
        // Everyone went away: cancel it, and let nobody join a probe that is being cancelled.
        this.unregister(probe);
        probe.controller.abort();
      }
    };
    if (signal.aborted) leave();
    else signal.addEventListener("abort", leave, { once: true });
    return probe.report.finally(() => {
      signal.removeEventListener("abort", leave);
      if (emit) probe.listeners.delete(emit);
      if (!left) {
        left = true;
        probe.waiters -= 1;
      }
    });
  }

  private runningView(probe: SharedProbe): RunningProbe {
    return {
      probeId: probe.probeId,
      signal: probe.controller.signal,
      get joined() {
        return probe.joined;
      },
      emit(event) {
        if (event.accepted) probe.accepted = event;
        for (const listener of [...probe.listeners]) listener(event);
      },
      reportStored: (report, written) => this.reportStored(probe, report.probeId, written),
    };
  }

  private async reportStored(probe: SharedProbe, probeId: string, written: boolean): Promise<void> {
    if (written) {
      await Promise.all(
        [...probe.idempotencyKeys].map((key) =>
          this.deps.keys.putIdempotency(key, { probeId, request: probe.requestKey }).catch((error: unknown) => this.deps.logger.error({ probeId, err: error }, "could not store the idempotency key")),
        ),
      );
    }
    this.forgetIdempotencyKeys(probe);
  }

  /** Nobody finds it any more: it failed, or everyone left. */
  private unregister(probe: SharedProbe): void {
    this.closeToRequests(probe);
    this.forgetIdempotencyKeys(probe);
  }

  /** An identical request is a new probe from now on. */
  private closeToRequests(probe: SharedProbe): void {
    if (this.byRequest.get(probe.requestKey) === probe) this.byRequest.delete(probe.requestKey);
  }

  /**
   * The one way idempotency keys stop finding a probe. A key is left alone when it already names a
   * newer probe (started after everyone left this one).
   */
  private forgetIdempotencyKeys(probe: SharedProbe): void {
    for (const key of probe.idempotencyKeys) if (this.byIdempotencyKey.get(key) === probe) this.byIdempotencyKey.delete(key);
  }
}
