// The human form of a ProbeReport from the coordinator: a header, the region × port matrix (a row
// per address family when both were probed), the verdicts (one line each, coloured by severity)
// and what the limits left out, the regions that gave no answer, the findings per region, and with
// --transcript each region's handshakes in full. Pure: text out, colour through a
// Style; everything the coordinator or a server sent goes through safe().
import { Outcome, Severity, type Finding, type HandshakeResult } from "../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import type { Style } from "./colors.js";
import { formatFindingGroups, formatHandshake, describeWhere } from "./format-human.js";
import { formatMatrix, reportMatrixView } from "./format-matrix.js";
import { formatNotProbed, formatVerdict, type NotProbedSource } from "./format-verdict.js";
import { formatMs, plural, safe } from "./labels.js";

export interface ReportOptions {
  style: Style;
  /** Each region's handshakes in full, with their timed transcripts. */
  transcript: boolean;
}

export function formatReport(report: ProbeReport, options: ReportOptions): string {
  const { style } = options;
  const out = [formatHeader(report, style), "", ...formatMatrix(reportMatrixView(report), style)];
  const verdicts = report.comparison?.verdicts ?? [];
  const notProbed = formatNotProbed(notProbedOf(report));
  if (verdicts.length > 0 || notProbed.length > 0) {
    out.push("", style.bold("Verdicts"), ...verdicts.map((v) => `  ${formatVerdict(v, style)}`), ...notProbed.map((line) => `  ${style.dim(line)}`));
  }
  const missing = report.comparison?.missing ?? [];
  if (missing.length > 0) {
    out.push("", style.bold("No answer from"), ...missing.map((m) => `  ${style.dim("–")} ${style.bold(safe(m.region))}: ${safe(m.cause)}`));
  }
  const findings = formatRegionFindings(report, style);
  if (findings.length > 0) out.push("", style.bold("Findings"), ...findings);
  if (options.transcript) {
    for (const { region, handshake } of handshakesByRegion(report)) {
      out.push("", ...formatHandshake(handshake, { style, transcript: true }, `${safe(region)} · ${describeWhere(handshake)}`));
    }
  }
  return `${out.join("\n")}\n`;
}

/** "mx.example.com · ports 25, 587 · 3 regions · 1.24 s · probe 1b4e28ba" (and "incomplete" when it is). */
export function formatHeader(report: ProbeReport, style: Style): string {
  const request = report.request;
  const ports = request?.ports ?? [];
  const parts = [
    style.bold(`${safe(request?.host ?? "")}${request?.mx ? " (MX)" : ""}`),
    `${ports.length === 1 ? "port" : "ports"} ${ports.join(", ")}`,
    plural(report.regions.length, "region"),
  ];
  if (report.durationMs) parts.push(formatMs(report.durationMs));
  if (report.probeId) parts.push(style.dim(`probe ${safe(report.probeId)}`));
  if (!report.complete) parts.push(style.yellow("incomplete"));
  return parts.join(style.dim(" · "));
}

/** What each region's result left out, for the regions that answered, in the planned order. */
function notProbedOf(report: ProbeReport): NotProbedSource[] {
  return report.tasks
    .filter((t) => t.status === TaskStatus.TASK_STATUS_DONE && t.result)
    .map((t) => ({ port: t.port, region: t.region, notProbed: t.result?.notProbed ?? [], omitted: t.result?.notProbedOmitted ?? 0 }));
}

/** Every handshake of the regions that answered, regions in the planned order, then ports. */
function handshakesByRegion(report: ProbeReport): { region: string; handshake: HandshakeResult }[] {
  const order = new Map(report.regions.map((r, i) => [r, i]));
  const tasks = report.tasks
    .filter((t) => t.status === TaskStatus.TASK_STATUS_DONE)
    .map((t, i) => ({ t, i }))
    .sort((a, b) => (order.get(a.t.region) ?? order.size) - (order.get(b.t.region) ?? order.size) || a.i - b.i)
    .map(({ t }) => t);
  return tasks.flatMap((t) => (t.result?.handshakes ?? []).map((handshake) => ({ region: t.region, handshake })));
}

/**
 * Errors and warnings per region, grouped by severity. Regions that saw exactly the same findings
 * (the usual case: one server, the same certificate) share one heading, "us-east, eu-west".
 * Regions without a result are left out (they are under "No answer from"), and so are regions
 * whose handshakes all stopped with no finding: "no errors" would mislead when nothing was judged.
 */
export function formatRegionFindings(report: ProbeReport, style: Style): string[] {
  const perRegion = new Map<string, Finding[]>();
  const judged = new Set<string>();
  for (const { region, handshake } of handshakesByRegion(report)) {
    if (handshake.outcome === Outcome.OUTCOME_OK || handshake.findings.length > 0) judged.add(region);
    const list = perRegion.get(region) ?? [];
    for (const f of handshake.findings) {
      if (f.severity !== Severity.SEVERITY_ERROR && f.severity !== Severity.SEVERITY_WARNING) continue;
      if (!list.some((g) => g.code === f.code && g.message === f.message && g.severity === f.severity)) list.push(f);
    }
    perRegion.set(region, list);
  }
  const groups = new Map<string, { regions: string[]; findings: Finding[] }>();
  for (const [region, findings] of perRegion) {
    if (!judged.has(region)) continue;
    const key = JSON.stringify(findings.map((f) => [f.severity, f.code, f.message]).sort());
    const group = groups.get(key);
    if (group) group.regions.push(region);
    else groups.set(key, { regions: [region], findings });
  }
  const out: string[] = [];
  for (const { regions, findings } of groups.values()) {
    const heading = style.bold(regions.map(safe).join(", "));
    if (findings.length === 0) out.push(`  ${heading}  ${style.green("no errors or warnings")}`);
    else out.push(`  ${heading}`, ...formatFindingGroups(findings, style));
  }
  return out;
}
