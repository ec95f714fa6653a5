// The "Policy" block: a mail domain's MTA-STS and TLS-RPT as each region saw them, and what a
// sender honouring the policy does with each exchanger from there. Compact: regions that saw the
// same thing share a line. Pure; everything the domain publishes goes through safe().
import {
  MtaStsMode,
  MtaStsStatus,
  PolicyResult,
  Severity,
  TlsRptStatus,
  type Finding,
  type MailPolicy,
  type PolicyCheck,
  type TargetResult,
} from "../gen/smtpprobe/v1/handshake.js";
import type { Style } from "./colors.js";
import { safe } from "./labels.js";
import { wrapHanging } from "./text-wrap.js";

export interface PolicySource {
  /** Empty in local mode: one machine, no region named. */
  region: string;
  result: TargetResult;
}

const LABEL = 12;

export function formatPolicyBlocks(sources: readonly PolicySource[], style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  const ports = [...new Set(sources.filter((s) => s.result.mailPolicy).map((s) => s.result.port))];
  for (const port of ports) {
    const here = sources.filter((s) => s.result.port === port && s.result.mailPolicy);
    const domain = here[0]?.result.mailPolicy?.domain ?? "";
    out.push("", style.bold(`Policy ${safe(domain)} ${style.dim(`(port ${port})`)}`));
    const lines: { label: string; value: string }[] = [];
    for (const [value, regions] of grouped(here.map((s) => [s.region, stsLine(s.result.mailPolicy, style)]))) lines.push({ label: labelFor("MTA-STS", regions), value });
    for (const [value, regions] of grouped(here.map((s) => [s.region, rptLine(s.result.mailPolicy, style)]))) lines.push({ label: labelFor("TLS-RPT", regions), value });
    const senders = here.flatMap((s) => exchangerLines(s.result, style).map((line) => [s.region, line] as [string, string]));
    for (const [value, regions] of grouped(senders)) lines.push({ label: labelFor("Sender", regions), value });
    const findings = here.flatMap((s) => (s.result.mailPolicy?.findings ?? []).map((f) => [s.region, findingLine(f, style)] as [string, string]));
    for (const [value, regions] of grouped(findings)) lines.push({ label: regions.some(Boolean) ? regions.map(safe).join(", ") : "", value });
    for (const { label, value } of lines) {
      const head = label.length > LABEL ? `  ${style.dim(label)}\n  ${" ".repeat(LABEL)}` : `  ${style.dim(label.padEnd(LABEL))}`;
      const [first, second] = head.split("\n");
      if (second === undefined) out.push(...wrapHanging(first ?? "", value, width));
      else out.push(first ?? "", ...wrapHanging(second, value, width));
    }
  }
  return out;
}

/** "MTA-STS" alone locally or when every region agrees; "MTA-STS us-east, eu-west" otherwise. */
function labelFor(what: string, regions: readonly string[]): string {
  const named = regions.filter(Boolean);
  return named.length === 0 ? what : `${what} ${named.map(safe).join(", ")}`;
}

/** Values with the regions that saw each, in first-seen order; one value for all: no regions named. */
function grouped(pairs: readonly (readonly [string, string])[]): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const [region, value] of pairs) {
    const list = groups.get(value) ?? [];
    if (!list.includes(region)) list.push(region);
    groups.set(value, list);
  }
  const regions = new Set(pairs.map(([r]) => r));
  return [...groups].map(([value, rs]) => [value, groups.size === 1 && rs.length === regions.size ? [] : rs]);
}

function stsLine(policy: MailPolicy | undefined, style: Style): string {
  const sts = policy?.mtaSts;
  switch (sts?.status) {
    case MtaStsStatus.MTA_STS_STATUS_VALID: {
      const mode = sts.mode === MtaStsMode.MTA_STS_MODE_ENFORCE ? style.green("enforce") : sts.mode === MtaStsMode.MTA_STS_MODE_TESTING ? style.yellow("testing") : style.dim("none");
      const parts = [mode, `max_age ${sts.maxAge}`, sts.mxPatterns.length ? `mx ${sts.mxPatterns.map(safe).join(", ")}` : "", `id ${safe(sts.id)}`];
      return parts.filter(Boolean).join(style.dim(" · "));
    }
    case MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED:
      return style.dim("not published");
    case MtaStsStatus.MTA_STS_STATUS_INVALID:
      return style.red(`unusable: ${safe(sts.reason)}`);
    case MtaStsStatus.MTA_STS_STATUS_DNS_FAILED:
      return style.yellow(`unknown: ${safe(sts.reason)}`);
    default:
      return style.dim("not checked");
  }
}

function rptLine(policy: MailPolicy | undefined, style: Style): string {
  const rpt = policy?.tlsRpt;
  switch (rpt?.status) {
    case TlsRptStatus.TLS_RPT_STATUS_VALID:
      return rpt.rua.map(safe).join(", ");
    case TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED:
      return style.dim("not published");
    case TlsRptStatus.TLS_RPT_STATUS_INVALID:
      return style.red(`unusable: ${safe(rpt.reason)}`);
    case TlsRptStatus.TLS_RPT_STATUS_DNS_FAILED:
      return style.yellow(`unknown: ${safe(rpt.reason)}`);
    default:
      return style.dim("not checked");
  }
}

/** One line per exchanger and address: what a sender honouring the policy does there. */
function exchangerLines(result: TargetResult, style: Style): string[] {
  const lines: string[] = [];
  for (const h of result.handshakes) {
    const check = h.policyCheck;
    if (!check) continue;
    const name = safe(h.exchange || h.host);
    const at = h.address ? ` ${style.dim(safe(h.address))}` : "";
    lines.push(`${name}${at}: ${action(check, style)}`);
  }
  return [...new Set(lines)];
}

function action(check: PolicyCheck, style: Style): string {
  const why = safe(check.mtaStsReason);
  switch (check.mtaSts) {
    case PolicyResult.POLICY_RESULT_PASS:
      return `${style.green("✔ delivers")} under MTA-STS ${check.mtaStsMode === MtaStsMode.MTA_STS_MODE_TESTING ? "testing" : "enforce"}`;
    case PolicyResult.POLICY_RESULT_FAIL:
      return check.mtaStsMode === MtaStsMode.MTA_STS_MODE_ENFORCE
        ? `${style.red("✖ will not deliver")} (MTA-STS enforce): ${why}`
        : `${style.yellow("▲ delivers, reports a failure")} (MTA-STS testing): ${why}`;
    case PolicyResult.POLICY_RESULT_UNKNOWN:
      return style.dim(`? ${why}`);
    default:
      return style.dim("opportunistic TLS (no MTA-STS to honour)");
  }
}

function findingLine(f: Finding, style: Style): string {
  const mark = f.severity === Severity.SEVERITY_ERROR ? style.red("✖") : f.severity === Severity.SEVERITY_WARNING ? style.yellow("▲") : style.cyan("ℹ");
  return `${mark} ${style.dim(`[${safe(f.code)}]`)} ${safe(f.message)}`;
}
