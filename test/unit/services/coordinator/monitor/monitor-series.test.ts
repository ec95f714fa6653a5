import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { Outcome, Phase } from "../../../../../gen/smtpprobe/v1/handshake.js";
import type { MonitorEvent } from "../../../../../gen/smtpprobe/v1/monitor.js";
import { TaskStatus } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import { PROBE_SERIES_HELP } from "../../../../../services/coordinator/http/probe-exposition.js";
import {
  LatestRuns,
  MAX_TASKS_PER_MONITOR,
  MONITOR_SERIES,
  monitorExposition,
  monitorFamilyName,
  monitorSeries,
  renderMonitor,
  snapshotOf,
  type MonitorSnapshot,
  type Sample,
} from "../../../../../services/coordinator/monitor/monitor-series.js";
import { done, failed, ok, refused, report, silent } from "../../../../helpers/report-builders.js";

const ID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
const OTHER = "2b4e28ba-2fa1-41d2-883f-0016d3cca427";
const MONITOR = { host: "mx.example.com", intervalMs: 300_000 };
const FINISHED = new Date("2026-12-05T04:00:00Z");
const NOT_AFTER = new Date("2030-01-01T00:00:00Z");
const RECEIVED = FINISHED.getTime() + 5;

const event = (over: Partial<MonitorEvent>): MonitorEvent => ({ monitorId: ID, run: 7, report: undefined, changes: [], regionChanges: [], first: false, error: "", ...over });

/** The samples of one family, as `{labels} value` lines (the label names in order). */
function lines(series: Map<string, Sample[]>, name: string): string[] {
  return (series.get(name) ?? []).map((s) => `{${Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(",")}} ${s.value}`);
}

describe("snapshotOf and monitorSeries: a run's state as series", () => {
  const tls = { protocol: "TLSv1.3", daysToExpiry: 40, trusted: true, nameMatches: true, chain: [{ notAfter: NOT_AFTER }] };
  const probed = report(["eu-west", "us-east"], [25], [
    done("eu-west", 25, [ok({ timings: [{ phase: Phase.PHASE_CONNECT, durationMs: 12 }], tls })], { durationMs: 250 }),
    done("us-east", 25, [refused()], { durationMs: 3, egress: { port: 25, ok: false } }),
  ]);
  probed.finishedAt = FINISHED;
  const base = `monitor_id=${ID},host=mx.example.com`;

  it.each<[string, MonitorEvent, Record<string, string[]>]>([
    [
      "a run that probed: the monitor's series, /probe's per region × port, the verdicts",
      event({ report: probed }),
      {
        smtpprobe_monitor_last_run_timestamp_seconds: [`{${base}} ${FINISHED.getTime() / 1000}`],
        smtpprobe_monitor_last_run: [`{${base}} 7`],
        smtpprobe_monitor_last_run_duration_seconds: [`{${base}} 1.234`],
        smtpprobe_monitor_last_run_refused: [`{${base}} 0`],
        smtpprobe_monitor_interval_seconds: [`{${base}} 300`],
        smtpprobe_monitor_success: [`{${base},region=eu-west,port=25} 1`, `{${base},region=us-east,port=25} 0`],
        smtpprobe_monitor_duration_seconds: [`{${base},region=eu-west,port=25} 0.25`, `{${base},region=us-east,port=25} 0.003`],
        smtpprobe_monitor_smtp_starttls_offered: [`{${base},region=eu-west,port=25} 1`],
        smtpprobe_monitor_tls_version_info: [`{${base},region=eu-west,port=25,version=TLS 1.3} 1`],
        smtpprobe_monitor_ssl_earliest_cert_expiry: [`{${base},region=eu-west,port=25} ${NOT_AFTER.getTime() / 1000}`],
        smtpprobe_monitor_smtp_certificate_expiry_days: [`{${base},region=eu-west,port=25} 40`],
        smtpprobe_monitor_smtp_certificate_trusted: [`{${base},region=eu-west,port=25} 1`],
        smtpprobe_monitor_smtp_egress_ok: [`{${base},region=us-east,port=25} 0`],
        smtpprobe_monitor_smtp_result_info: [
          `{${base},region=eu-west,port=25,status=done,outcome=ok,phase=done} 1`,
          `{${base},region=us-east,port=25,status=done,outcome=refused,phase=connect} 1`,
        ],
        // us-east's own canary fails: its failure is put down to the agent's egress.
        smtpprobe_monitor_verdict_info: [`{${base},port=25,kind=reachable_everywhere} 1`, `{${base},port=25,kind=agent_egress_blocked} 1`],
      },
    ],
    [
      "a refused run: when, refused, no task or verdict series",
      event({ error: "RESOURCE_EXHAUSTED: quota", run: 8 }),
      {
        smtpprobe_monitor_last_run_timestamp_seconds: [`{${base}} ${RECEIVED / 1000}`],
        smtpprobe_monitor_last_run: [`{${base}} 8`],
        smtpprobe_monitor_last_run_duration_seconds: [],
        smtpprobe_monitor_last_run_refused: [`{${base}} 1`],
        smtpprobe_monitor_interval_seconds: [`{${base}} 300`],
        smtpprobe_monitor_success: [],
        smtpprobe_monitor_smtp_result_info: [],
        smtpprobe_monitor_verdict_info: [],
      },
    ],
    [
      "a region without an agent: a failure with its status, nothing about the server",
      event({ report: report(["ap-south"], [587], [silent("ap-south", 587, TaskStatus.TASK_STATUS_NO_AGENT)]) }),
      {
        smtpprobe_monitor_last_run_timestamp_seconds: [`{${base}} ${RECEIVED / 1000}`],
        smtpprobe_monitor_success: [`{${base},region=ap-south,port=587} 0`],
        smtpprobe_monitor_smtp_result_info: [`{${base},region=ap-south,port=587,status=no_agent,outcome=none,phase=none} 1`],
        smtpprobe_monitor_smtp_starttls_offered: [],
        smtpprobe_monitor_tls_version_info: [],
        smtpprobe_monitor_verdict_info: [`{${base},port=587,kind=no_data} 1`],
      },
    ],
    [
      "one good address of several speaks for the task",
      event({ report: report(["eu-west"], [25], [done("eu-west", 25, [failed(Outcome.OUTCOME_TIMED_OUT, Phase.PHASE_BANNER), ok({ capabilities: { starttls: false }, tls: undefined })])]) }),
      {
        smtpprobe_monitor_success: [`{${base},region=eu-west,port=25} 1`],
        smtpprobe_monitor_smtp_starttls_offered: [`{${base},region=eu-west,port=25} 0`],
        smtpprobe_monitor_verdict_info: [`{${base},port=25,kind=partially_reachable} 1`],
      },
    ],
  ])("%s", (_name, monitorEvent, expected) => {
    const series = monitorSeries([snapshotOf(monitorEvent, MONITOR, RECEIVED)]);
    for (const [name, want] of Object.entries(expected)) expect(lines(series, name), name).toEqual(want);
  });

  it("leaves out /probe's phase durations (a series per phase per monitor)", () => {
    const snapshot = snapshotOf(event({ report: probed }), MONITOR, RECEIVED);
    expect(snapshot.tasks.some((t) => t.name === "probe_smtp_phase_duration_seconds")).toBe(false);
    expect([...MONITOR_SERIES.keys()].some((name) => name.includes("phase_duration"))).toBe(false);
  });

  it(`keeps at most ${MAX_TASKS_PER_MONITOR} tasks of a run`, () => {
    const tasks = Array.from({ length: MAX_TASKS_PER_MONITOR + 10 }, (_, i) => silent(`r${i}`, 25, TaskStatus.TASK_STATUS_NO_AGENT));
    const snapshot = snapshotOf(event({ report: report(["r0"], [25], tasks, { comparison: { verdicts: [], cells: [], missing: [], unknownRegions: [] } }) }), MONITOR, RECEIVED);
    expect(lines(monitorSeries([snapshot]), "smtpprobe_monitor_success")).toHaveLength(MAX_TASKS_PER_MONITOR);
  });

  it("names each /probe family it exports as smtpprobe_monitor_* with /probe's help and the monitor's labels first", () => {
    for (const probeFamily of Object.keys(PROBE_SERIES_HELP).filter((name) => name !== "probe_smtp_phase_duration_seconds")) {
      const family = MONITOR_SERIES.get(monitorFamilyName(probeFamily));
      expect(family, probeFamily).toBeDefined();
      expect(family!.help).toContain(PROBE_SERIES_HELP[probeFamily as keyof typeof PROBE_SERIES_HELP]);
      expect(family!.labelNames.slice(0, 4)).toEqual(["monitor_id", "host", "region", "port"]);
    }
  });

  it("every sample has exactly its family's label names, in order, and prom-client takes them", async () => {
    const series = monitorSeries([snapshotOf(event({ report: probed }), MONITOR, RECEIVED), snapshotOf(event({ monitorId: OTHER, error: "x" }), MONITOR, RECEIVED)]);
    const registry = new Registry();
    const { Gauge } = await import("prom-client");
    for (const [name, samples] of series) {
      const { help, labelNames } = MONITOR_SERIES.get(name)!;
      const gauge = new Gauge({ name, help, labelNames, registers: [registry] });
      for (const sample of samples) {
        expect(Object.keys(sample.labels), name).toEqual(labelNames);
        gauge.set(sample.labels, sample.value);
      }
    }
    expect(await registry.metrics()).toContain(`smtpprobe_monitor_last_run_refused{monitor_id="${OTHER}",host="mx.example.com"} 1`);
  });
});

describe("renderMonitor and monitorExposition: the text format", () => {
  it("each family with samples once, HELP and TYPE first, every monitor's lines under it; label values escaped", () => {
    const a = snapshotOf(event({ error: "refused", run: 2 }), { host: 'odd"host\\', intervalMs: 60_000 }, 1_000);
    const b = snapshotOf(event({ monitorId: OTHER, error: "refused", run: 3 }), MONITOR, 2_000);
    expect(monitorExposition([renderMonitor(a), renderMonitor(b)])).toBe(
      [
        `# HELP smtpprobe_monitor_last_run_timestamp_seconds ${MONITOR_SERIES.get("smtpprobe_monitor_last_run_timestamp_seconds")!.help}`,
        "# TYPE smtpprobe_monitor_last_run_timestamp_seconds gauge",
        `smtpprobe_monitor_last_run_timestamp_seconds{monitor_id="${ID}",host="odd\\"host\\\\"} 1`,
        `smtpprobe_monitor_last_run_timestamp_seconds{monitor_id="${OTHER}",host="mx.example.com"} 2`,
        `# HELP smtpprobe_monitor_last_run ${MONITOR_SERIES.get("smtpprobe_monitor_last_run")!.help}`,
        "# TYPE smtpprobe_monitor_last_run gauge",
        `smtpprobe_monitor_last_run{monitor_id="${ID}",host="odd\\"host\\\\"} 2`,
        `smtpprobe_monitor_last_run{monitor_id="${OTHER}",host="mx.example.com"} 3`,
        `# HELP smtpprobe_monitor_last_run_refused ${MONITOR_SERIES.get("smtpprobe_monitor_last_run_refused")!.help}`,
        "# TYPE smtpprobe_monitor_last_run_refused gauge",
        `smtpprobe_monitor_last_run_refused{monitor_id="${ID}",host="odd\\"host\\\\"} 1`,
        `smtpprobe_monitor_last_run_refused{monitor_id="${OTHER}",host="mx.example.com"} 1`,
        `# HELP smtpprobe_monitor_interval_seconds ${MONITOR_SERIES.get("smtpprobe_monitor_interval_seconds")!.help}`,
        "# TYPE smtpprobe_monitor_interval_seconds gauge",
        `smtpprobe_monitor_interval_seconds{monitor_id="${ID}",host="odd\\"host\\\\"} 60`,
        `smtpprobe_monitor_interval_seconds{monitor_id="${OTHER}",host="mx.example.com"} 300`,
        "",
      ].join("\n"),
    );
  });

  it("no monitors: nothing", () => {
    expect(monitorExposition([])).toBe("");
  });
});

describe("LatestRuns: the latest run of each monitor, bounded", () => {
  const snap = (monitorId: string, run: number, endedAt: number): MonitorSnapshot => ({
    monitorId,
    host: "mx.example.com",
    intervalMs: 1000,
    run,
    endedAt,
    durationSeconds: 1,
    refused: false,
    tasks: [],
    verdicts: [],
  });
  const ids = (latest: LatestRuns): string[] => [...latest.values()].map((s) => `${s.monitorId.slice(0, 1)}:${s.run}`).sort();

  type Step = { record: MonitorSnapshot; changed: boolean } | { retain: string[]; listedAt: number; changed: boolean };
  it.each<[string, number, Step[], string[]]>([
    ["a later run replaces the one kept", 10, [{ record: snap(ID, 1, 100), changed: true }, { record: snap(ID, 2, 200), changed: true }], ["1:2"]],
    ["an older run that ends after the newer one is ignored", 10, [{ record: snap(ID, 3, 300), changed: true }, { record: snap(ID, 2, 310), changed: false }], ["1:3"]],
    ["the same run again (a repeated message) is kept", 10, [{ record: snap(ID, 3, 300), changed: true }, { record: snap(ID, 3, 300), changed: true }], ["1:3"]],
    [
      "past the bound, a new monitor takes the place of the oldest run",
      1,
      [{ record: snap(ID, 1, 100), changed: true }, { record: snap(OTHER, 1, 200), changed: true }],
      ["2:1"],
    ],
    [
      "a monitor no longer listed is forgotten",
      10,
      [{ record: snap(ID, 1, 100), changed: true }, { record: snap(OTHER, 1, 100), changed: true }, { retain: [OTHER], listedAt: 150, changed: true }],
      ["2:1"],
    ],
    [
      "a monitor whose run ended after the list was read is kept (created meanwhile)",
      10,
      [{ record: snap(ID, 1, 200), changed: true }, { retain: [], listedAt: 150, changed: false }],
      ["1:1"],
    ],
    ["nothing to forget: unchanged", 10, [{ record: snap(ID, 1, 100), changed: true }, { retain: [ID, OTHER], listedAt: 150, changed: false }], ["1:1"]],
  ])("%s", (_name, max, steps, kept) => {
    const latest = new LatestRuns(max);
    for (const step of steps) {
      const changed = "record" in step ? latest.record(step.record) : latest.retain(new Set(step.retain), step.listedAt);
      expect(changed).toBe(step.changed);
    }
    expect(ids(latest)).toEqual(kept);
    expect(latest.size).toBe(kept.length);
  });

  it.each([0, -1, 1.5])("refuses a bound of %s", (max) => {
    expect(() => new LatestRuns(max)).toThrow(/max must be a positive integer/);
  });
});
