// Runs the monitors' probes, from every coordinator, each run exactly once: every TICK_MS a
// coordinator looks at every monitor it knows (listed every LIST_EVERY_MS), and for a run that has come due it tries to claim it
// (monitor-store.ts); only the one that claims it probes — through the ProbeService operation as
// the monitor's caller, under the interval as deadline — compares the verdicts with the run
// before, keeps the new state, then the event (monitor-events.ts: kept, and so sent to the
// watchers). A run whose time passed while no coordinator ran is skipped, never made up: the next
// due run is the current one.
import { MonitorEvent } from "../../../gen/smtpprobe/v1/monitor.js";
import { ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import type { TargetPolicyChecker } from "../../../lib/policy/target-policy.js";
import { protoJson } from "../../../lib/proto-json.js";
import { deliverWebhook } from "./webhook.js";
import type { Bus } from "../../../lib/bus.js";
import type { Logger } from "../../../lib/logger.js";
import { CallError } from "../call-tracker.js";
import type { ProbeOperations } from "../probe-service.js";
import { factsOf, hasChanges, nextFacts } from "./monitor-changes.js";
import { runToClaim, verdictChanges, verdictsOf, type MonitorRecord } from "./monitor-records.js";
import { keepMonitorEvent, type MonitorEventLog } from "./monitor-events.js";
import type { MonitorStore } from "./monitor-store.js";

/** How often a coordinator looks for due runs among the monitors it knows: how late a run starts at most. */
export const TICK_MS = 250;
/** How often it lists the monitors: a new one is scheduled, and a deleted one stops, within this. */
export const LIST_EVERY_MS = 2_000;
/** Runs this coordinator probes at once; a due run beyond them waits for the next tick (or another coordinator). */
const MAX_RUNNING = 32;
/** A failure that repeats at every tick is logged at most this often. */
const WARN_EVERY_MS = 60_000;
/** Webhook deliveries running at once from this coordinator. */
const MAX_DELIVERIES = 64;

export class MonitorScheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Per monitor, the last run this coordinator tried to claim: each is tried once. */
  private readonly tried = new Map<string, number>();
  private readonly running = new Map<string, AbortController>();
  private warnedAt = 0;
  /** The monitors as last listed (LIST_EVERY_MS), by id. */
  private readonly monitors = new Map<string, MonitorRecord>();
  private listedAt = 0;
  private deliveries = 0;
  private readonly stopping: AbortController[] = [];

  constructor(
    private readonly deps: { store: MonitorStore; bus: Bus; operations: ProbeOperations; logger: Logger; coordinatorId: string; policy: TargetPolicyChecker; events?: MonitorEventLog },
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), TICK_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const controller of [...this.running.values(), ...this.stopping]) controller.abort();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      if (Date.now() - this.listedAt >= LIST_EVERY_MS) await this.refresh();
      for (const record of this.monitors.values()) {
        if (this.running.size >= MAX_RUNNING || !this.timer) break;
        const id = record.monitorId;
        const run = runToClaim(record, Date.now());
        if (run === 0 || run <= (this.tried.get(id) ?? 0) || this.running.has(id)) continue;
        this.tried.set(id, run);
        if (await this.deps.store.claim(id, run, this.deps.coordinatorId)) void this.run(record, run);
      }
    } catch (error) {
      // While NATS is away this fails at every tick: said once a minute.
      if (Date.now() - this.warnedAt >= WARN_EVERY_MS) {
        this.warnedAt = Date.now();
        this.deps.logger.warn({ err: error }, "monitors could not be read from JetStream; trying again");
      }
    } finally {
      this.ticking = false;
    }
  }

  /**
   * The monitors from the bucket: a monitor does not change once created, so only new ids are
   * read, and deleted ones are forgotten.
   */
  private async refresh(): Promise<void> {
    const ids = new Set(await this.deps.store.ids());
    for (const id of [...this.monitors.keys()]) {
      if (ids.has(id)) continue;
      this.monitors.delete(id);
      this.tried.delete(id);
    }
    for (const id of ids) {
      if (this.monitors.has(id)) continue;
      const record = await this.deps.store.get(id);
      if (record) this.monitors.set(id, record);
    }
    this.listedAt = Date.now();
  }

  /** The change event to the monitor's webhook, in the background; beyond MAX_DELIVERIES at once, dropped and logged. */
  private deliver(record: MonitorRecord, event: MonitorEvent): void {
    const { logger, policy } = this.deps;
    if (this.deliveries >= MAX_DELIVERIES) {
      logger.warn({ monitorId: record.monitorId, run: event.run }, "a webhook delivery was dropped: too many running");
      return;
    }
    this.deliveries += 1;
    // The event without the report's per-region detail: the verdicts and the probe id (GetProbe has the rest).
    const report = event.report ? ProbeReport.fromPartial({ probeId: event.report.probeId, comparison: { verdicts: event.report.comparison?.verdicts ?? [] }, complete: event.report.complete }) : undefined;
    const body = JSON.stringify(protoJson("smtpprobe.v1.MonitorEvent", MonitorEvent.encode({ ...event, report }).finish()));
    const controller = new AbortController();
    this.stopping.push(controller);
    void deliverWebhook(record.webhookUrl, record.webhookSecret, body, { checkAddress: (a) => policy.checkAddress(a), checkName: (n) => policy.checkName(n), signal: controller.signal })
      .then((result) => {
        if (!result.ok) logger.warn({ monitorId: record.monitorId, run: event.run, attempts: result.attempts, reason: result.reason }, "a webhook delivery failed");
      })
      .finally(() => {
        this.deliveries -= 1;
        this.stopping.splice(this.stopping.indexOf(controller), 1);
      });
  }

  private async run(record: MonitorRecord, run: number): Promise<void> {
    const { store, bus, operations, logger } = this.deps;
    const controller = new AbortController();
    this.running.set(record.monitorId, controller);
    try {
      const deadline = record.createdAt + (run + 1) * record.intervalMs;
      let event: MonitorEvent;
      try {
        const report = await operations.probe(record.probe, { caller: record.caller, deadline }, { signal: controller.signal });
        const before = await store.state(record.monitorId);
        const verdicts = verdictsOf(report);
        const { facts, changes: regionChanges } = nextFacts(before?.facts, factsOf(report));
        event = { monitorId: record.monitorId, run, report, changes: before ? verdictChanges(before.verdicts, verdicts) : [], regionChanges, first: before === undefined, error: "" };
        await store.putState(record.monitorId, { run, verdicts, facts });
      } catch (error) {
        if (!(error instanceof CallError)) throw error;
        event = { monitorId: record.monitorId, run, report: undefined, changes: [], regionChanges: [], first: false, error: error.error.details ?? error.message };
      }
      if (controller.signal.aborted) return;
      await keepMonitorEvent(this.deps.events, bus, event, logger);
      if (record.webhookUrl !== "" && hasChanges(event)) this.deliver(record, event);
    } catch (error) {
      logger.warn({ err: error, monitorId: record.monitorId, run }, "a monitor's run failed");
    } finally {
      this.running.delete(record.monitorId);
    }
  }
}
