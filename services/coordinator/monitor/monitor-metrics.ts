// The monitors' latest runs as series for the coordinator's /metrics (monitor-series.ts has what
// they are). Every coordinator that exports them subscribes to every monitor's event subject, so
// whichever coordinator Prometheus scrapes shows every monitor, whoever ran it. At start each
// monitor's last kept event (monitor-events.ts; the event carries the report) is read once, so that
// a coordinator that starts shows every monitor's last run at once rather than from its next run;
// a monitor's record is read once for its host and interval; a monitor deleted is forgotten at the
// next listing of the monitors (every LIST_EVERY_MS).
//
// Written by hand, as /probe's are, not with prom-client's gauges: the series are remade from the
// snapshots, and with many monitors a scrape through prom-client (reset, set every sample, format)
// blocked the event loop about ten times longer than joining each monitor's lines, rendered once per
// run (docs/prometheus.md has the figures). The exposition is written after the process's own on
// the metrics port (http/monitor-metrics-route.ts).
import { MonitorEvent } from "../../../gen/smtpprobe/v1/monitor.js";
import type { Bus, BusMessage, BusSubscription } from "../../../lib/bus.js";
import type { Logger } from "../../../lib/logger.js";
import { isMonitorId } from "./monitor-records.js";
import { LatestRuns, monitorExposition, renderMonitor, snapshotOf, type MonitorSnapshot, type RenderedMonitor } from "./monitor-series.js";
import type { MonitorEventLog } from "./monitor-events.js";
import { monitorEventSubject, type MonitorStore } from "./monitor-store.js";

/** How often the monitors are listed, to forget the deleted ones. */
export const LIST_EVERY_MS = 5_000;
/** Records being read at once for monitors not seen yet; an event beyond them waits for the monitor's next run. */
export const MAX_LOOKUPS = 64;
/** A failure that repeats at every listing is logged at most this often. */
const WARN_EVERY_MS = 60_000;

export interface MonitorMetricsDeps {
  bus: Bus;
  store: Pick<MonitorStore, "get" | "ids">;
  /** The kept events, read at start for each monitor's last run; undefined: from the next runs only. */
  events?: Pick<MonitorEventLog, "last">;
  /** Monitors kept at most (--max-monitors). */
  maxMonitors: number;
  logger: Logger;
}

export class MonitorMetrics {
  private readonly latest: LatestRuns;
  /** Each snapshot's lines, made when it is kept; gone with the snapshot. */
  private readonly rendered = new WeakMap<MonitorSnapshot, RenderedMonitor>();
  private subscription: BusSubscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lookups = 0;
  /** A listing is under way: the next waits for it (a slow JetStream never piles them up). */
  private listing = false;
  private warnedAt = 0;
  /** The exposition as the snapshots are, made at the first scrape after a change. */
  private exposition: string | undefined;

  constructor(private readonly deps: MonitorMetricsDeps) {
    this.latest = new LatestRuns(deps.maxMonitors);
  }

  start(): void {
    if (this.subscription) return;
    this.subscription = this.deps.bus.subscribe(monitorEventSubject("*"), (message) => this.receive(message));
    this.timer = setInterval(() => void this.forgetDeleted(), LIST_EVERY_MS);
    void this.loadKept();
  }

  /**
   * Each monitor's last kept event, read once after the subscription: a run that ends meanwhile
   * arrives live and is kept over it (a snapshot of an earlier run never replaces a later one).
   * At most --max-monitors monitors, MAX_LOOKUPS at a time; a failure leaves those monitors to
   * their next run.
   */
  private async loadKept(): Promise<void> {
    const events = this.deps.events;
    if (!events) return;
    try {
      const ids = (await this.deps.store.ids()).slice(0, this.deps.maxMonitors);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < ids.length && this.subscription) {
          const id = ids[next++]!;
          const [event, record] = await Promise.all([events.last(id), this.deps.store.get(id)]);
          if (event && record && event.monitorId === id && this.subscription) this.keep(snapshotOf(event, { host: record.probe.host, intervalMs: record.intervalMs }, Date.now()));
        }
      };
      await Promise.all(Array.from({ length: Math.min(MAX_LOOKUPS, ids.length) }, worker));
    } catch (error) {
      this.warn(error);
    }
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The series in the text exposition (format 0.0.4), for the metrics port's /metrics. */
  metrics(): string {
    this.exposition ??= monitorExposition([...this.latest.values()].map((s) => this.rendered.get(s)!));
    return this.exposition;
  }

  /** How many monitors have series. */
  get size(): number {
    return this.latest.size;
  }

  private receive(message: BusMessage): void {
    let event: MonitorEvent;
    try {
      event = MonitorEvent.decode(message.data);
    } catch {
      return; // not a coordinator's: only they publish there
    }
    const id = event.monitorId;
    if (!isMonitorId(id) || message.subject !== monitorEventSubject(id)) return;
    const receivedAt = Date.now();
    const known = this.latest.get(id);
    if (known) {
      this.keep(snapshotOf(event, known, receivedAt));
      return;
    }
    if (this.lookups >= MAX_LOOKUPS) return;
    this.lookups += 1;
    // A monitor not seen yet: its record says host and interval; none, it was deleted.
    this.deps.store
      .get(id)
      .then(
        (record) => {
          if (record && this.subscription) this.keep(snapshotOf(event, { host: record.probe.host, intervalMs: record.intervalMs }, receivedAt));
        },
        (error: unknown) => this.warn(error),
      )
      .finally(() => (this.lookups -= 1));
  }

  private keep(snapshot: MonitorSnapshot): void {
    if (!this.latest.record(snapshot)) return;
    this.rendered.set(snapshot, renderMonitor(snapshot));
    this.exposition = undefined;
  }

  private async forgetDeleted(): Promise<void> {
    if (this.listing) return;
    this.listing = true;
    try {
      const listedAt = Date.now();
      const ids = new Set(await this.deps.store.ids());
      if (this.latest.retain(ids, listedAt)) this.exposition = undefined;
    } catch (error) {
      this.warn(error);
    } finally {
      this.listing = false;
    }
  }

  private warn(error: unknown): void {
    // While NATS is away this fails at every listing: said once a minute.
    if (Date.now() - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = Date.now();
    this.deps.logger.warn({ err: error }, "the monitors could not be read from JetStream for their series; trying again");
  }
}
