// The monitors' latest runs as Prometheus series: what a MonitorEvent leaves of its run (a
// snapshot: a few numbers per region × port, not the report), the latest snapshot of each monitor
// within a bound, and the samples of every family for a scrape of /metrics. The per-task families
// are /probe's (http/probe-exposition.ts) with `probe_` become `smtpprobe_monitor_` and the
// monitor's labels in front, so that a name means the same thing in both. Pure.
//
// Label values: monitor_id is a UUID, host the monitor's target as its caller wrote it (one per
// monitor), region a checked region token, port one of the monitor's (at most 8), and the rest
// come from the contract's enums. So the series are bounded by the monitors kept (at most
// --max-monitors) × their regions × ports; docs/prometheus.md has the count.
import type { MonitorEvent } from "../../../gen/smtpprobe/v1/monitor.js";
import { VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { enumLabel } from "../../../lib/metrics.js";
import { formatLabels, formatValue, PROBE_SERIES_HELP, taskSamples, type TaskSample } from "../http/probe-exposition.js";

/** The tasks of one run kept at most: a request's bound (32 regions × 8 ports). */
export const MAX_TASKS_PER_MONITOR = 256;

/** What the series of a monitor are made from: its last run, cut to the numbers exported. */
export interface MonitorSnapshot {
  monitorId: string;
  /** The monitor's target (its ProbeRequest's host). */
  host: string;
  intervalMs: number;
  run: number;
  /** When the run ended, Unix milliseconds: the report's finished_at, else when the event came. */
  endedAt: number;
  /** The probe's duration in seconds; undefined for a refused run. */
  durationSeconds: number | undefined;
  /** The run was refused (a quota, the target policy): no report, no tasks. */
  refused: boolean;
  /** The task samples as /probe has them, phase durations left out. */
  tasks: TaskSample[];
  verdicts: { port: number; kind: string }[];
}

type Labels = readonly string[];
const MONITOR: Labels = ["monitor_id", "host"];
const TASK: Labels = [...MONITOR, "region", "port"];

/** The /probe families a monitor exports, and the labels each has beyond region and port. */
const TASK_FAMILIES = {
  probe_success: [],
  probe_duration_seconds: [],
  probe_smtp_starttls_offered: [],
  probe_tls_version_info: ["version"],
  probe_ssl_earliest_cert_expiry: [],
  probe_smtp_certificate_expiry_days: [],
  probe_smtp_certificate_trusted: [],
  probe_smtp_egress_ok: [],
  probe_smtp_result_info: ["status", "outcome", "phase"],
} as const satisfies Partial<Record<keyof typeof PROBE_SERIES_HELP, Labels>>;

/** The name of a /probe family among the monitors' series. */
export const monitorFamilyName = (probeFamily: string): string => probeFamily.replace(/^probe_/, "smtpprobe_monitor_");

/** Every family: its help and label names, in the order written (docs/prometheus.md lists them). */
export const MONITOR_SERIES: ReadonlyMap<string, { help: string; labelNames: Labels }> = new Map([
  ["smtpprobe_monitor_last_run_timestamp_seconds", { help: "When the monitor's last run ended, in Unix seconds.", labelNames: MONITOR }],
  ["smtpprobe_monitor_last_run", { help: "The number n of the monitor's last run (the run due at created_at + n × interval).", labelNames: MONITOR }],
  ["smtpprobe_monitor_last_run_duration_seconds", { help: "How long the monitor's last probe took (absent when the run was refused).", labelNames: MONITOR }],
  ["smtpprobe_monitor_last_run_refused", { help: "1 when the monitor's last run was refused (a quota, the target policy) and probed nothing, else 0.", labelNames: MONITOR }],
  ["smtpprobe_monitor_interval_seconds", { help: "The monitor's interval.", labelNames: MONITOR }],
  ...Object.entries(TASK_FAMILIES).map(([probeFamily, extra]): [string, { help: string; labelNames: Labels }] => [
    monitorFamilyName(probeFamily),
    { help: `The monitor's last run: ${PROBE_SERIES_HELP[probeFamily as keyof typeof TASK_FAMILIES]}`, labelNames: [...TASK, ...extra] },
  ]),
  ["smtpprobe_monitor_verdict_info", { help: "1 for each verdict of the monitor's last run, labelled by port and kind.", labelNames: [...MONITOR, "port", "kind"] }],
]);

/** The snapshot of an event's run, for the monitor whose record says host and interval. */
export function snapshotOf(event: MonitorEvent, monitor: { host: string; intervalMs: number }, receivedAt: number): MonitorSnapshot {
  const report = event.report;
  const refused = report === undefined;
  return {
    monitorId: event.monitorId,
    host: monitor.host,
    intervalMs: monitor.intervalMs,
    run: event.run,
    endedAt: report?.finishedAt?.getTime() ?? receivedAt,
    durationSeconds: report ? report.durationMs / 1000 : undefined,
    refused,
    tasks: (report?.tasks ?? [])
      .slice(0, MAX_TASKS_PER_MONITOR)
      .flatMap(taskSamples)
      .filter((sample) => sample.name in TASK_FAMILIES),
    verdicts: (report?.comparison?.verdicts ?? []).map((v) => ({ port: v.port, kind: enumLabel(VerdictKind[v.kind], "VERDICT_KIND_") })),
  };
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of every family (MONITOR_SERIES' names, in its order) for these snapshots. */
export function monitorSeries(snapshots: Iterable<MonitorSnapshot>): Map<string, Sample[]> {
  const families = new Map<string, Sample[]>([...MONITOR_SERIES.keys()].map((name) => [name, []]));
  const add = (name: string, labels: Record<string, string>, value: number): void => {
    families.get(name)!.push({ labels, value });
  };
  for (const s of snapshots) {
    const monitor = { monitor_id: s.monitorId, host: s.host };
    add("smtpprobe_monitor_last_run_timestamp_seconds", monitor, s.endedAt / 1000);
    add("smtpprobe_monitor_last_run", monitor, s.run);
    if (s.durationSeconds !== undefined) add("smtpprobe_monitor_last_run_duration_seconds", monitor, s.durationSeconds);
    add("smtpprobe_monitor_last_run_refused", monitor, s.refused ? 1 : 0);
    add("smtpprobe_monitor_interval_seconds", monitor, s.intervalMs / 1000);
    for (const task of s.tasks) add(monitorFamilyName(task.name), { ...monitor, ...task.labels }, task.value);
    for (const verdict of s.verdicts) add("smtpprobe_monitor_verdict_info", { ...monitor, port: String(verdict.port), kind: verdict.kind }, 1);
  }
  return families;
}

/** A monitor's lines of each family (text format 0.0.4), made once per run: a scrape joins them. */
export type RenderedMonitor = ReadonlyMap<string, string>;

export function renderMonitor(snapshot: MonitorSnapshot): RenderedMonitor {
  const rendered = new Map<string, string>();
  for (const [name, samples] of monitorSeries([snapshot])) {
    if (samples.length > 0) rendered.set(name, samples.map((s) => `${name}{${formatLabels(s.labels)}} ${formatValue(s.value)}\n`).join(""));
  }
  return rendered;
}

/** The exposition of every monitor: each family with samples once, HELP and TYPE, then its lines. */
export function monitorExposition(monitors: Iterable<RenderedMonitor>): string {
  const all = [...monitors];
  const parts: string[] = [];
  for (const [name, { help }] of MONITOR_SERIES) {
    const lines = all.map((m) => m.get(name) ?? "").join("");
    if (lines !== "") parts.push(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`, lines);
  }
  return parts.join("");
}

/**
 * The latest snapshot of each monitor, at most `max` of them: an older run than the one kept is
 * ignored (two coordinators' runs may end out of order), a new monitor past the bound takes the
 * place of the one whose last run is the oldest, and retain() forgets the monitors no longer
 * listed (deleted).
 */
export class LatestRuns {
  private readonly byId = new Map<string, MonitorSnapshot>();

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
  }

  /** Keeps the snapshot if it is the monitor's latest run; true when it changed what is kept. */
  record(snapshot: MonitorSnapshot): boolean {
    const kept = this.byId.get(snapshot.monitorId);
    if (kept && kept.run > snapshot.run) return false;
    if (!kept && this.byId.size >= this.max) this.byId.delete(this.oldest()!);
    this.byId.set(snapshot.monitorId, snapshot);
    return true;
  }

  /**
   * Forgets every monitor not in `ids`, listed at `listedAt` (Unix ms), but those whose run ended
   * since (a monitor created while the list was read); true when one was forgotten.
   */
  retain(ids: ReadonlySet<string>, listedAt: number): boolean {
    let forgot = false;
    for (const [id, snapshot] of [...this.byId]) {
      if (ids.has(id) || snapshot.endedAt >= listedAt) continue;
      this.byId.delete(id);
      forgot = true;
    }
    return forgot;
  }

  get(monitorId: string): MonitorSnapshot | undefined {
    return this.byId.get(monitorId);
  }

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<MonitorSnapshot> {
    return this.byId.values();
  }

  private oldest(): string | undefined {
    let oldest: MonitorSnapshot | undefined;
    for (const s of this.byId.values()) if (!oldest || s.endedAt < oldest.endedAt) oldest = s;
    return oldest?.monitorId;
  }
}
