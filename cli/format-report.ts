// The human form of a ProbeReport from the coordinator: a header, the region × port matrix (a row
// per address family when both were probed), the verdicts (one line each, coloured by severity)
// and what the limits left out, the regions asked for that no agent has ever served (a misspelt
// name, apart from outages), the regions that gave no answer, the findings per region, and with
// --transcript each region's handshakes in full. Pure: text out, colour through a
// Style; everything the coordinator or a server sent goes through safe().
import { Outcome, Severity, type Finding, type HandshakeResult, type TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import type { Style } from "./colors.js";
import { formatFindingGroups, formatHandshake, describeWhere, wrapMarked } from "./format-human.js";
import { formatMatrix, reportMatrixView } from "./format-matrix.js";
import { formatPolicyBlocks, type PolicySource } from "./format-policy.js";
import { formatNotProbed, formatVerdict, type NotProbedSource } from "./format-verdict.js";
import { formatMs, plural, safe } from "./labels.js";
import { wrapHanging } from "./text-wrap.js";

export interface ReportOptions {
  style: Style;
  /** Each region's handshakes in full, with their timed transcripts. */
  transcript: boolean;
  /** The columns to fit (output-width.ts); absent: lines are never wrapped. The matrix is never wrapped. */
  width?: number;
}

export function formatReport(report: ProbeReport, options: ReportOptions): string {
  const { style } = options;
  const width = options.width ?? Number.POSITIVE_INFINITY;
  const out = [...wrapHanging("", formatHeader(report, style), width, 2)];
  const matrix = reportMatrixView(report);
  // Every region asked for is unknown: nothing was probed, and a matrix or verdicts would only
  // restate that no region answered.
  const nothingProbed = matrix.regions.length === 0 && (report.comparison?.unknownRegions.length ?? 0) > 0;
  if (!nothingProbed) out.push("", ...formatMatrix(matrix, style));
  const verdicts = nothingProbed ? [] : (report.comparison?.verdicts ?? []);
  const notProbed = formatNotProbed(notProbedOf(report));
  if (verdicts.length > 0 || notProbed.length > 0) {
    out.push(
      "",
      style.bold("Verdicts"),
      ...verdicts.flatMap((v) => wrapMarked(`  ${formatVerdict(v, style)}`, width)),
      ...notProbed.flatMap((line) => wrapHanging("  ", style.dim(line), width, 4)),
    );
  }
  out.push(...formatPolicyBlocks(policySources(report), style, width));
  const unknown = formatUnknownRegions(report, style, width);
  if (unknown.length > 0) out.push("", ...unknown);
  const missing = report.comparison?.missing ?? [];
  if (missing.length > 0) {
    out.push("", style.bold("No answer from"), ...missing.flatMap((m) => wrapHanging(`  ${style.dim("–")} `, `${style.bold(safe(m.region))}: ${safe(m.cause)}`, width)));
  }
  const findings = formatRegionFindings(report, style, width);
  if (findings.length > 0) out.push("", style.bold("Findings"), ...findings);
  if (options.transcript) {
    for (const { region, handshake } of handshakesByRegion(report)) {
      out.push("", ...formatHandshake(handshake, { style, transcript: true, width }, `${safe(region)} · ${describeWhere(handshake)}`));
    }
  }
  return `${out.join("\n")}\n`;
}

/**
 * The regions asked for that no agent has ever served, each with the coordinator's sentence naming
 * the live regions ("unknown region eu-wst; live regions: ap-south, eu-west, us-east"). They are
 * not in the matrix and not among the regions without an answer: a name nobody knows is no outage.
 */
export function formatUnknownRegions(report: ProbeReport, style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const unknown = report.comparison?.unknownRegions ?? [];
  if (unknown.length === 0) return [];
  const lines = unknown.map((region) => {
    const detail = report.tasks.find((t) => t.region === region && t.status === TaskStatus.TASK_STATUS_UNKNOWN_REGION)?.detail;
    return wrapHanging(`  ${style.red("✖")} `, safe(detail || `unknown region ${region}`), width);
  });
  const heading = `${unknown.length === 1 ? "Unknown region" : "Unknown regions"} (not probed; smtp-probe regions lists the live ones)`;
  return [...wrapHanging("", style.bold(heading), width, 2), ...lines.flat()];
}

/** "mx.example.com · ports 25, 587 · 3 regions · 1.24 s · probe 1b4e28ba" (and "incomplete" when it is). */
export function formatHeader(report: ProbeReport, style: Style): string {
  const request = report.request;
  const ports = request?.ports ?? [];
  const parts = [
    style.bold(`${safe(request?.host ?? "")}${request?.mx ? " (MX)" : ""}`),
    `${ports.length === 1 ? "port" : "ports"} ${ports.join(", ")}`,
    regionCount(report),
  ];
  if (report.durationMs) parts.push(formatMs(report.durationMs));
  if (report.probeId) parts.push(style.dim(`probe ${safe(report.probeId)}`));
  // A region nobody serves has no result, and makes the report incomplete; it is named apart.
  const unknown = new Set(report.comparison?.unknownRegions ?? []);
  if (!report.complete && report.tasks.some((t) => !t.result && !unknown.has(t.region))) parts.push(style.yellow("incomplete"));
  return parts.join(style.dim(" · "));
}

/** "3 regions", or "1 region (1 unknown)" when some names are no region at all. */
function regionCount(report: ProbeReport): string {
  const unknown = report.comparison?.unknownRegions.length ?? 0;
  const known = plural(report.regions.length - unknown, "region");
  return unknown > 0 ? `${known} (${unknown} unknown)` : known;
}

/** What each region's result left out, for the regions that answered, in the planned order. */
function notProbedOf(report: ProbeReport): NotProbedSource[] {
  return report.tasks
    .filter((t) => t.status === TaskStatus.TASK_STATUS_DONE && t.result)
    .map((t) => ({ port: t.port, region: t.region, notProbed: t.result?.notProbed ?? [], omitted: t.result?.notProbedOmitted ?? 0 }));
}

/** Each answered task's result, regions in the planned order, for the Policy block. */
function policySources(report: ProbeReport): PolicySource[] {
  const order = new Map(report.regions.map((r, i) => [r, i]));
  return report.tasks
    .filter((t) => t.status === TaskStatus.TASK_STATUS_DONE && t.result?.mailPolicy)
    .sort((a, b) => (order.get(a.region) ?? order.size) - (order.get(b.region) ?? order.size))
    .map((t) => ({ region: t.region, result: t.result as TargetResult }));
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
export function formatRegionFindings(report: ProbeReport, style: Style, width = Number.POSITIVE_INFINITY): string[] {
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
    if (findings.length === 0) out.push(...wrapHanging("  ", `${heading}  ${style.green("no errors or warnings")}`, width, 4));
    else out.push(...wrapHanging("  ", heading, width, 4), ...formatFindingGroups(findings, style, width));
  }
  return out;
}
