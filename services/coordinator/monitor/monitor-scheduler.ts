// Runs the monitors' probes, from every coordinator, each run exactly once: a coordinator follows
// the monitors through a watch of their keys (a new one is scheduled, a deleted one stops, as soon
// as JetStream says so), keeps them in a queue by the start of their next run
// (monitor-schedule.ts: nothing is looked at while no run is due), and when a run starts it tries
// to claim it (monitor-store.ts); only the one that claims it probes — through the ProbeService
// operation as the monitor's caller, under the interval as deadline — compares the verdicts with
// the run before, keeps the new state, then the event (monitor-events.ts: kept, and so sent to the
// watchers). A run
// whose time passed while no coordinator ran is skipped, never made up: the next due run is the
// current one. A coordinator that shuts down drains: it claims nothing more, and the runs it is
// probing get the grace period to end and keep their state and event, so that a rolling restart
// probes no run twice; a run still probing after it is stopped, and taken over by another
// coordinator once its lease has run out.
import { MonitorEvent } from "../../../gen/smtpprobe/v1/monitor.js";
import { ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import type { TargetPolicyChecker } from "../../../lib/policy/target-policy.js";
import { protoJson } from "../../../lib/proto-json.js";
import { deliverWebhook } from "./webhook.js";
import type { Bus, KeyWatch } from "../../../lib/bus.js";
import type { Logger } from "../../../lib/logger.js";
import { randomHex } from "../../../lib/random-hex.js";
import { CallError } from "../call-tracker.js";
import type { ProbeOperations } from "../probe-service.js";
import { factsOf, hasChanges, nextFacts } from "./monitor-changes.js";
import { runToClaim, verdictChanges, verdictsOf, type MonitorRecord } from "./monitor-records.js";
import { keepMonitorEvent, type MonitorEventLog } from "./monitor-events.js";
import { leaseMs } from "./monitor-claim.js";
import { DueQueue, nextLookAt } from "./monitor-schedule.js";
import type { MonitorStore } from "./monitor-store.js";

/** How often a coordinator looks for due runs in its queue: how late a run starts at most. */
export const TICK_MS = 250;
/** After the watch of the monitors failed or ended, the wait before the next one. */
export const REWATCH_MS = 2_000;
/** Runs this coordinator probes at once; a due run beyond them waits for the next tick (or another coordinator). */
const MAX_RUNNING = 32;
/** A failure that repeats at every tick is logged at most this often. */
const WARN_EVERY_MS = 60_000;
/** A claim held by another is looked at again this long after its lease would run out. */
const LEASE_MARGIN_MS = 50;
/** Webhook deliveries running at once from this coordinator. */
const MAX_DELIVERIES = 64;

export class MonitorScheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Set by stop(): a claim won after it is not probed (left to another coordinator, as by one that died). */
  private stopped = false;
  /** Per monitor, the last run this coordinator tried to claim: each is tried once. */
  private readonly tried = new Map<string, number>();
  private readonly running = new Map<string, AbortController>();
  private warnedAt = 0;
  /** The monitors as the watch gave them, by id. */
  private readonly monitors = new Map<string, MonitorRecord>();
  /** The monitors by when to look at them next. */
  private readonly queue = new DueQueue();
  private watch: KeyWatch | undefined;
  /** The current watch's own state (see follow()). */
  private current: { seen: Set<string> | undefined } | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private stopConnectionListener: (() => void) | undefined;
  /** The webhook deliveries running, each its way to stop it. */
  private readonly deliveries = new Set<AbortController>();
  /** The runs and webhook deliveries under way: a drain waits for them. */
  private readonly underWay = new Set<Promise<void>>();

  constructor(
    private readonly deps: { store: MonitorStore; bus: Bus; operations: ProbeOperations; logger: Logger; coordinatorId: string; policy: TargetPolicyChecker; events?: MonitorEventLog },
  ) {}

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    // Each tick under way is tracked: a drain waits for the claim it is asking for.
    this.timer = setInterval(() => this.track(this.tick()), TICK_MS);
    // Back from a NATS outage: a new watch gives the monitors as they are now (whatever the
    // client's own consumer did meanwhile).
    this.stopConnectionListener = this.deps.bus.onConnectionChange((connected) => {
      if (connected) this.rewatch(0);
    });
    void this.follow();
  }

  /** Stops at once: the runs probing are stopped (each taken over by another coordinator once its lease has run out). */
  stop(): void {
    this.stopClaiming();
    this.stopped = true;
    for (const controller of [...this.running.values(), ...this.deliveries]) controller.abort();
  }

  /**
   * Claims no more runs (a claim already asked for is probed if won), and gives the runs probing
   * (and the webhook deliveries under way) up to `graceMs` to end; then stops the rest.
   */
  async drain(graceMs: number): Promise<void> {
    this.stopClaiming();
    let over = false;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, graceMs)))).then(() => void (over = true));
    // A tick that ends here may start a run, a run its webhook delivery: the set is looked at again.
    while (this.underWay.size > 0 && !over) await Promise.race([Promise.allSettled(this.underWay), graceOver]);
    clearTimeout(timer);
    this.stop();
  }

  private stopClaiming(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.rewatchTimer);
    this.stopConnectionListener?.();
    this.watch?.stop();
    this.watch = undefined;
    this.current = undefined;
  }

  /** Kept in underWay until it settles. */
  private track(work: Promise<void>): void {
    this.underWay.add(work);
    const settled = (): void => void this.underWay.delete(work);
    work.then(settled, settled);
  }

  /** Starts a watch of the monitors; on failure, another after REWATCH_MS. */
  private async follow(): Promise<void> {
    if (!this.timer || this.watch) return;
    // This watch's own: the ids it gave before it was ready (the others were deleted meanwhile).
    const current = { seen: new Set<string>() as Set<string> | undefined };
    this.current = current;
    try {
      const watch = await this.deps.store.watchMonitors({
        added: (record) => {
          current.seen?.add(record.monitorId);
          this.add(record);
        },
        removed: (monitorId) => this.remove(monitorId),
        ready: () => {
          const seen = current.seen;
          current.seen = undefined;
          if (this.current !== current || !seen) return;
          for (const id of [...this.monitors.keys()]) if (!seen.has(id)) this.remove(id);
        },
        ended: (error) => {
          if (this.current !== current) return;
          this.current = undefined;
          this.watch = undefined;
          this.warn(error);
          this.rewatch(REWATCH_MS);
        },
      });
      if (!this.timer || this.current !== current) watch.stop(); // stopped, ended or rewatched meanwhile
      else this.watch = watch;
    } catch (error) {
      if (this.current === current) this.current = undefined;
      this.warn(error);
      this.rewatch(REWATCH_MS);
    }
  }

  /** A new watch after `delayMs`, the current one stopped. */
  private rewatch(delayMs: number): void {
    if (!this.timer) return;
    clearTimeout(this.rewatchTimer);
    this.rewatchTimer = setTimeout(() => {
      this.watch?.stop();
      this.watch = undefined;
      this.current = undefined;
      void this.follow();
    }, delayMs);
  }

  private add(record: MonitorRecord): void {
    if (this.monitors.has(record.monitorId)) return; // a monitor does not change once created
    this.monitors.set(record.monitorId, record);
    this.queue.schedule(record.monitorId, nextLookAt(record, Date.now(), false));
  }

  private remove(monitorId: string): void {
    this.monitors.delete(monitorId);
    this.tried.delete(monitorId);
    this.queue.remove(monitorId);
  }

  private warn(error: unknown): void {
    // While NATS is away this fails again and again: said once a minute.
    if (Date.now() - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = Date.now();
    this.deps.logger.warn({ err: error }, "monitors could not be read from JetStream; trying again");
  }

  /** Claims the runs that have started, each at most once, MAX_RUNNING probing at once. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      while (this.running.size < MAX_RUNNING && this.timer) {
        const now = Date.now();
        const id = this.queue.popDue(now);
        if (id === undefined) break;
        const record = this.monitors.get(id);
        if (!record) continue;
        const run = runToClaim(record, now);
        if (run === 0 || run <= (this.tried.get(id) ?? 0)) {
          this.queue.schedule(id, nextLookAt(record, now, true));
          continue;
        }
        if (this.running.has(id)) {
          // The run before is still probing (its deadline is this run's start): looked at again soon.
          this.queue.schedule(id, now + TICK_MS);
          continue;
        }
        const token = `${this.deps.coordinatorId}.${randomHex(6)}`;
        let claim: Awaited<ReturnType<MonitorStore["claim"]>>;
        try {
          claim = await this.deps.store.claim(id, run, token, leaseMs(record.intervalMs));
        } catch (error) {
          this.queue.schedule(id, now + TICK_MS); // NATS away: tried again while the run may still be claimed
          this.warn(error);
          break;
        }
        if (!claim.claimed && claim.recheckAt !== undefined) {
          // Held by another while its lease holds: looked at again when the lease would run out
          // (renewed or done by then, unless its coordinator died: then this one takes the run over).
          if (this.monitors.has(id)) this.queue.schedule(id, claim.recheckAt + LEASE_MARGIN_MS);
          continue;
        }
        this.tried.set(id, run);
        if (this.monitors.has(id)) this.queue.schedule(id, nextLookAt(record, Date.now(), true));
        // Draining meanwhile, the run is probed (the drain waits for it); stopped, it is left to
        // another coordinator, which takes it over once the lease has run out.
        if (claim.claimed && !this.stopped) this.track(this.run(record, run, token));
      }
    } finally {
      this.ticking = false;
    }
  }

  /** The change event to the monitor's webhook, in the background; beyond MAX_DELIVERIES at once, dropped and logged. */
  private deliver(record: MonitorRecord, event: MonitorEvent): void {
    const { logger, policy } = this.deps;
    if (this.deliveries.size >= MAX_DELIVERIES) {
      logger.warn({ monitorId: record.monitorId, run: event.run }, "a webhook delivery was dropped: too many running");
      return;
    }
    // The event without the report's per-region detail: the verdicts and the probe id (GetProbe has the rest).
    const report = event.report ? ProbeReport.fromPartial({ probeId: event.report.probeId, comparison: { verdicts: event.report.comparison?.verdicts ?? [] }, complete: event.report.complete }) : undefined;
    const body = JSON.stringify(protoJson("smtpprobe.v1.MonitorEvent", MonitorEvent.encode({ ...event, report }).finish()));
    const controller = new AbortController();
    this.deliveries.add(controller);
    this.track(
      deliverWebhook(record.webhookUrl, record.webhookSecret, body, { checkAddress: (a) => policy.checkAddress(a), checkName: (n) => policy.checkName(n), signal: controller.signal })
        .then((result) => {
          if (!result.ok) logger.warn({ monitorId: record.monitorId, run: event.run, attempts: result.attempts, reason: result.reason }, "a webhook delivery failed");
        })
        .finally(() => this.deliveries.delete(controller)),
    );
  }

  private async run(record: MonitorRecord, run: number, token: string): Promise<void> {
    const { store, bus, operations, logger } = this.deps;
    const controller = new AbortController();
    this.running.set(record.monitorId, controller);
    const lease = leaseMs(record.intervalMs);
    // The lease renewed while the probe runs; a renewal that finds the claim taken over stops it
    // (one that comes back after the run was marked done finds it done, and stops nothing).
    let renewing = true;
    const renewal = setInterval(() => {
      store.holdClaim(record.monitorId, run, token, { until: Date.now() + lease }).then(
        (held) => {
          if (!held && renewing) controller.abort();
        },
        () => undefined, // NATS away: renewed at the next beat, or taken over if it stays away
      );
    }, Math.max(1, Math.floor(lease / 3)));
    const stopRenewal = (): void => {
      renewing = false;
      clearInterval(renewal);
    };
    try {
      const deadline = record.createdAt + (run + 1) * record.intervalMs;
      let event: MonitorEvent;
      try {
        const report = await operations.probe(record.probe, { caller: record.caller, deadline }, { signal: controller.signal });
        if (!(await this.finish(record, run, token, controller, stopRenewal))) return;
        const before = await store.state(record.monitorId);
        const verdicts = verdictsOf(report);
        const { facts, changes: regionChanges } = nextFacts(before?.facts, factsOf(report));
        event = { monitorId: record.monitorId, run, report, changes: before ? verdictChanges(before.verdicts, verdicts) : [], regionChanges, first: before === undefined, error: "" };
        await store.putState(record.monitorId, { run, verdicts, facts });
      } catch (error) {
        if (!(error instanceof CallError)) throw error;
        if (!(await this.finish(record, run, token, controller, stopRenewal))) return;
        event = { monitorId: record.monitorId, run, report: undefined, changes: [], regionChanges: [], first: false, error: error.error.details ?? error.message };
      }
      if (controller.signal.aborted) return;
      await keepMonitorEvent(this.deps.events, bus, event, logger);
      if (record.webhookUrl !== "" && hasChanges(event)) this.deliver(record, event);
    } catch (error) {
      logger.warn({ err: error, monitorId: record.monitorId, run }, "a monitor's run failed");
    } finally {
      stopRenewal();
      this.running.delete(record.monitorId);
    }
  }

  /**
   * The probe is over: the claim marked done, true while it is still this run's own; false when
   * the run was stopped or taken over (the coordinator that took it keeps its state and event).
   */
  private async finish(record: MonitorRecord, run: number, token: string, controller: AbortController, stopRenewal: () => void): Promise<boolean> {
    stopRenewal();
    if (controller.signal.aborted) return false;
    if (await this.deps.store.holdClaim(record.monitorId, run, token, { done: true })) return true;
    this.deps.logger.info({ monitorId: record.monitorId, run }, "a monitor's run was taken over by another coordinator: its result is not kept");
    return false;
  }
}
