// One probe's report as the Prometheus text exposition (format 0.0.4) a scrape of /probe answers,
// in the names blackbox_exporter's users know (probe_success, probe_duration_seconds,
// probe_tls_version_info, probe_ssl_earliest_cert_expiry) and SMTP's own under probe_smtp_*.
// Every series is labelled by region and port; label values come from region tokens and the
// contract's enums, never from a host name or an address (the scrape's target label has those).
//
// Written by hand rather than with prom-client: a scrape's answer is a handful of gauges made
// fresh for one report, while prom-client's registries and metric objects live for the process
// (blackbox_exporter makes a registry per request for the same reason); the format is a few lines
// per family. Pure.
import { Outcome, type HandshakeResult } from "../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ProbeReport, type TaskReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import { phaseNames } from "../../../agents/smtp/phases.js";
import { enumLabel } from "../../../lib/metrics.js";

/** The content type of the text exposition. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

interface Family {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** What the families are, in the order they are written (docs/prometheus.md lists them). */
export const PROBE_SERIES_HELP = {
  probe_success: "1 when the region's probe of the port ran its handshake to the end on at least one address, else 0.",
  probe_duration_seconds: "How long the region's task took, from dispatch to result.",
  probe_smtp_phase_duration_seconds: "Duration of each handshake phase that completed, by phase (the reported address).",
  probe_smtp_starttls_offered: "1 when the server offered STARTTLS in its EHLO reply before TLS, else 0 (absent with implicit TLS or before EHLO).",
  probe_tls_version_info: "1, labelled by the TLS version the session used (absent without TLS).",
  probe_ssl_earliest_cert_expiry: "When the first certificate of the chain the server sent expires, in Unix seconds.",
  probe_smtp_certificate_expiry_days: "Days until the server's certificate expires, at probe time; negative when expired.",
  probe_smtp_certificate_trusted: "1 when the server's certificate chain is trusted and matches the name checked, else 0.",
  probe_smtp_egress_ok: "1 when the agent's own canary on this port connected (its region can send on the port), else 0.",
  probe_smtp_result_info: "1, labelled by the task's status and the handshake's outcome and last phase.",
} as const satisfies Record<string, string>;

/**
 * The exposition of a report. One task per region for the scrape's port; in each, the handshake
 * that speaks for the task is the first that ended OK, else the first one (a sender tries the
 * addresses in turn, so one good address makes the server reachable).
 */
export function probeExposition(report: ProbeReport, port: number): string {
  const families = new Map<string, Family>(Object.entries(PROBE_SERIES_HELP).map(([name, help]) => [name, { name, help, samples: [] }]));
  for (const task of report.tasks.filter((t) => t.port === port)) {
    for (const sample of taskSamples(task)) families.get(sample.name)!.samples.push(sample);
  }
  return [...families.values()].filter((f) => f.samples.length > 0).map(formatFamily).join("");
}

/** One sample of a task: a family of PROBE_SERIES_HELP, its labels (region and port first), its value. */
export interface TaskSample {
  name: keyof typeof PROBE_SERIES_HELP;
  labels: Record<string, string>;
  value: number;
}

/**
 * The samples of one task (one region × port), in the families' order. The monitors' series
 * (monitor/monitor-series.ts) are made from these too, so that a name means the same in both.
 */
export function taskSamples(task: TaskReport): TaskSample[] {
  const samples: TaskSample[] = [];
  const add = (name: TaskSample["name"], labels: Record<string, string>, value: number): void => {
    samples.push({ name, labels, value });
  };
  const base = { region: task.region, port: String(task.port) };
  const handshake = speakingHandshake(task);
  add("probe_success", base, isSuccess(task) ? 1 : 0);
  add("probe_duration_seconds", base, task.durationMs / 1000);
  add("probe_smtp_result_info", {
    ...base,
    status: enumLabel(TaskStatus[task.status], "TASK_STATUS_"),
    outcome: handshake ? enumLabel(Outcome[handshake.outcome], "OUTCOME_") : "none",
    phase: handshake ? phaseNames(handshake.phase).name : "none",
  }, 1);
  if (task.egress) add("probe_smtp_egress_ok", base, task.egress.ok ? 1 : 0);
  if (!handshake) return samples;
  for (const timing of handshake.timings) add("probe_smtp_phase_duration_seconds", { ...base, phase: phaseNames(timing.phase).name }, timing.durationMs / 1000);
  if (handshake.capabilities) add("probe_smtp_starttls_offered", base, handshake.capabilities.starttls ? 1 : 0);
  const tls = handshake.tls;
  if (tls && tls.protocol !== "") {
    add("probe_tls_version_info", { ...base, version: tlsVersionLabel(tls.protocol) }, 1);
    const expiries = tls.chain.map((c) => c.notAfter?.getTime()).filter((t): t is number => t !== undefined);
    if (expiries.length > 0) add("probe_ssl_earliest_cert_expiry", base, Math.min(...expiries) / 1000);
    if (tls.chain.length > 0) {
      add("probe_smtp_certificate_expiry_days", base, tls.daysToExpiry);
      add("probe_smtp_certificate_trusted", base, tls.trusted && tls.nameMatches ? 1 : 0);
    }
  }
  return samples;
}

function isSuccess(task: TaskReport): boolean {
  return task.status === TaskStatus.TASK_STATUS_DONE && (task.result?.handshakes ?? []).some((h) => h.outcome === Outcome.OUTCOME_OK);
}

function speakingHandshake(task: TaskReport): HandshakeResult | undefined {
  const handshakes = task.result?.handshakes ?? [];
  return handshakes.find((h) => h.outcome === Outcome.OUTCOME_OK) ?? handshakes[0];
}

/** "TLSv1.3" → "TLS 1.3", as blackbox_exporter labels it; anything else as Node said it. */
export function tlsVersionLabel(protocol: string): string {
  const match = /^TLSv(\d(?:\.\d)?)$/.exec(protocol);
  if (match) return `TLS ${match[1]!.includes(".") ? match[1] : `${match[1]}.0`}`;
  return protocol === "SSLv3" ? "SSL 3.0" : protocol;
}

function formatFamily(family: Family): string {
  const lines = [`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} gauge`];
  for (const sample of family.samples) lines.push(`${family.name}{${formatLabels(sample.labels)}} ${formatValue(sample.value)}`);
  return `${lines.join("\n")}\n`;
}

/** `name="value",…` in the labels' order, values escaped. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",");
}

/** The text format's escapes in a label value: backslash, double quote, line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample's value as the text format writes it (NaN, +Inf, -Inf). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
