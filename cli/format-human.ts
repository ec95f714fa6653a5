// The human form of `check` results: a summary line per (address, port), a verdict per port (open,
// partly reachable — naming the addresses or exchangers that failed —, unreachable) and what the
// limits left out, then per handshake the banner, capabilities, TLS and certificates, findings and
// (when asked) the transcript. Pure: it
// returns text; colour comes in as a Style that is the identity when colour is off.
//
// Everything the server or its certificate controls goes through `safe()` before it is coloured,
// so a hostile banner cannot write escape sequences to the operator's terminal.
import { formatAddressPosture } from "./format-address-posture.js";
import {
  CipherGrade,
  CipherOrder,
  Direction,
  failureSourceToJSON,
  Outcome,
  Phase,
  Severity,
  StarttlsEnforcementStatus,
  TlsMode,
  TlsScanStatus,
  VersionSupport,
  type Capabilities,
  type Certificate,
  type Finding,
  type HandshakeResult,
  type Reply,
  type StarttlsEnforcement,
  type TargetResult,
  type TlsInfo,
  type TlsProfile,
  type Transcript,
} from "../gen/smtpprobe/v1/handshake.js";
import { mayBeImplicitTls } from "../agents/smtp/findings.js";
import { weaknessLabel } from "../agents/smtp/tls-scan/cipher-catalogue.js";
import { versionLabel } from "../agents/smtp/tls-scan/tls-registry.js";
import { describeReply, transcriptReplyMeanings } from "../agents/smtp/reply-meaning.js";
import { formatHostPort } from "../lib/host-port.js";
import type { Style } from "./colors.js";
import { phaseLabel } from "../agents/smtp/phases.js";
import { formatMs, outcomeLabel, plural, safe } from "./labels.js";
import { formatNotProbed, formatVerdict } from "./format-verdict.js";
import { formatPolicyBlocks } from "./format-policy.js";
import { compareLocalResults } from "./local-verdicts.js";
import { wrapHanging } from "./text-wrap.js";

export interface HumanOptions {
  style: Style;
  /** Show the timed transcript of every handshake. */
  transcript: boolean;
  /**
   * The columns to fit (output-width.ts): longer lines wrap, each under its own value column.
   * Absent: lines are never wrapped.
   */
  width?: number;
}

const LABEL_WIDTH = 12;

export function formatHuman(results: readonly TargetResult[], options: HumanOptions): string {
  const { style } = options;
  const width = options.width ?? Number.POSITIVE_INFINITY;
  const out: string[] = [];
  for (const result of results) {
    if (result.mx) out.push(...wrapHanging("", formatMxLine(result, style), width, 4));
  }
  out.push(...formatSummaryLines(results, style, width));
  const verdicts = formatPortVerdicts(results, style, width);
  if (verdicts.length > 0) out.push("", ...verdicts);
  const hints = formatImplicitTlsHints(results, style, width);
  if (hints.length > 0) out.push("", ...hints);
  out.push(...formatPolicyBlocks(results.map((result) => ({ region: "", result })), style, width));
  for (const result of results) {
    for (const handshake of result.handshakes) {
      out.push("", ...formatHandshake(handshake, options));
    }
  }
  return `${out.join("\n")}\n`;
}

function formatMxLine(result: TargetResult, style: Style): string {
  const list = result.exchangers.length
    ? result.exchangers.map((mx) => `${mx.preference} ${safe(mx.exchange)}`).join(", ")
    : "none";
  return `${style.bold("MX")} ${safe(result.host)} ${style.dim(`(port ${result.port})`)}: ${list}`;
}

/** One line per handshake (address × port), columns aligned across all of them; wrapped under the text column. */
export function formatSummaryLines(results: readonly TargetResult[], style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const rows: { ok: boolean; errors: number; where: string; rest: string }[] = [];
  for (const result of results) {
    if (result.handshakes.length === 0) {
      rows.push({ ok: false, errors: 0, where: `${safe(result.host)}:${result.port}`, rest: "nothing to probe: no address found" });
    }
    for (const h of result.handshakes) {
      const errors = countSeverity(h.findings, Severity.SEVERITY_ERROR);
      rows.push({ ok: h.outcome === Outcome.OUTCOME_OK, errors, where: describeWhere(h), rest: summaryRest(h, style) });
    }
  }
  const whereWidth = Math.max(0, ...rows.map((row) => row.where.length));
  return rows.flatMap((row) => {
    const mark = row.ok ? (row.errors > 0 ? style.yellow("✔") : style.green("✔")) : style.red("✖");
    return wrapHanging(`${mark} ${style.bold(row.where.padEnd(whereWidth))}  `, row.rest, width);
  });
}

/**
 * Per port, its reachability verdict as the coordinator would give it for one region, this machine
 * ("◐ Port 25 is open from this machine on IPv4 (127.0.0.1), but IPv6 (::1) is refused."), then a
 * line per limit that left exchangers or addresses out.
 */
export function formatPortVerdicts(results: readonly TargetResult[], style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const verdicts = compareLocalResults(results).verdicts.flatMap((v) => wrapMarked(formatVerdict(v, style), width));
  const notProbed = formatNotProbed(results.map((r) => ({ port: r.port, region: "", notProbed: r.notProbed, omitted: r.notProbedOmitted })));
  return [...verdicts, ...notProbed.flatMap((line) => wrapHanging("", style.dim(line), width, 2))];
}

/**
 * A line that starts with a mark ("✔ ", "  ◐ ", "      ✖ "): wrapped with its continuation lines
 * under the text after the mark.
 */
export function wrapMarked(line: string, width: number): string[] {
  const head = /^ *\S+ /.exec(line)?.[0] ?? "";
  return wrapHanging(head, line.slice(head.length), width);
}

/**
 * Local mode: a port that accepted the connection and sent no banner — silent until the banner
 * timeout (NO_BANNER), or until the probe's deadline —, where implicit TLS is possible (not 25,
 * 587 or 2525, no --tls implicit), gets the command that probes it with implicit TLS. A suggestion
 * rather than a second probe of our own: the result stays the probe that was asked for, nothing
 * more is sent to the server, and the person decides whether the port is meant to speak TLS first.
 */
export function formatImplicitTlsHints(results: readonly TargetResult[], style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  for (const result of results) {
    const silent = result.handshakes.find((h) => isSilentBeforeBanner(h) && mayBeImplicitTls(h));
    if (!silent) continue;
    const waited = silent.timings.find((t) => t.phase === Phase.PHASE_BANNER)?.durationMs;
    const where = formatHostPort(silent.address || silent.host, silent.port);
    const command = `smtp-probe check ${safe(result.host)}${result.mx ? " --mx" : ""} --port ${result.port} --tls implicit`;
    const text = `${where} sent no banner${waited === undefined ? "" : ` in ${formatMs(waited)}`}: a port that speaks implicit TLS (RFC 8314) waits like that for the client's TLS handshake. Try: ${style.bold(command)}`;
    out.push(...wrapHanging(`${style.cyan("hint:")} `, text, width));
  }
  return out;
}

/** Connected, and no banner came before the banner timeout or the probe's deadline. */
function isSilentBeforeBanner(h: HandshakeResult): boolean {
  if (h.banner) return false;
  return h.outcome === Outcome.OUTCOME_NO_BANNER || (h.outcome === Outcome.OUTCOME_DEADLINE_EXCEEDED && h.phase === Phase.PHASE_BANNER);
}

/** "127.0.0.1:25", "[2001:db8::1]:25 (mx1.example.com, MX 10)", "mx.example.com:25" before an address. */
export function describeWhere(h: HandshakeResult): string {
  const host = safe(h.host);
  if (!h.address) return `${host}:${h.port}`;
  const at = formatHostPort(h.address, h.port);
  const names: string[] = [];
  if (host && host !== h.address) names.push(host);
  if (h.exchange) names.push(`MX ${h.mxPreference}`);
  return names.length ? `${at} (${names.join(", ")})` : at;
}

function summaryRest(h: HandshakeResult, style: Style): string {
  const ok = h.outcome === Outcome.OUTCOME_OK;
  const parts = [
    ok ? style.green(outcomeLabel(h.outcome)) : style.red(outcomeLabel(h.outcome)),
    ok ? "done" : `stopped at ${phaseLabel(h.phase)}`,
    formatMs(h.totalMs),
    h.tls?.protocol ? safe(h.tls.protocol) : h.tlsMode === TlsMode.TLS_MODE_NONE ? "TLS not tried" : "no TLS",
  ];
  const counts = findingCounts(h.findings, style);
  if (counts) parts.push(counts);
  const line = parts.join(" · ");
  return ok || !h.reason ? line : `${line} — ${safe(h.reason.trim())}`;
}

function findingCounts(findings: readonly Finding[], style: Style): string {
  const errors = countSeverity(findings, Severity.SEVERITY_ERROR);
  const warnings = countSeverity(findings, Severity.SEVERITY_WARNING);
  const parts: string[] = [];
  if (errors) parts.push(style.red(plural(errors, "error")));
  if (warnings) parts.push(style.yellow(plural(warnings, "warning")));
  return parts.join(", ");
}

/**
 * Lines of one handshake's block: a dim label column, values beside it, continuations indented;
 * a value too long for the width wraps under the value column, never under the labels.
 */
class Block {
  readonly lines: string[] = [];
  constructor(
    private readonly style: Style,
    private readonly width: number,
  ) {}

  row(label: string, values: string | readonly string[]): void {
    const [first = "", ...rest] = typeof values === "string" ? [values] : values;
    this.lines.push(...wrapHanging(`  ${label ? this.style.dim(label.padEnd(LABEL_WIDTH)) : " ".repeat(LABEL_WIDTH)}`, first, this.width));
    for (const value of rest) this.lines.push(...wrapHanging(`  ${" ".repeat(LABEL_WIDTH)}`, value, this.width));
  }

  /** Rows under a row: each a title and a value ("#0 CN=…", then "issuer  CN=…"), values wrapped under their own column. */
  subRows(label: string, rows: readonly (readonly [string, string])[]): void {
    rows.forEach(([head, value], i) => {
      const lead = `  ${i === 0 && label ? this.style.dim(label.padEnd(LABEL_WIDTH)) : " ".repeat(LABEL_WIDTH)}`;
      this.lines.push(...wrapHanging(lead + head, value, this.width));
    });
  }
}

/** One handshake's block; `title` heads it (default: where, as describeWhere says). */
export function formatHandshake(h: HandshakeResult, options: HumanOptions, title = describeWhere(h)): string[] {
  const { style } = options;
  const width = options.width ?? Number.POSITIVE_INFINITY;
  const block = new Block(style, width);
  if (h.outcome !== Outcome.OUTCOME_OK) {
    const source = h.failureSource ? ` (${failureSourceToJSON(h.failureSource).replace("FAILURE_SOURCE_", "").toLowerCase()})` : "";
    block.row("Stopped", `${style.red(outcomeLabel(h.outcome))} at ${phaseLabel(h.phase)}${source}: ${safe(h.reason.trim()) || "no reason given"}`);
  }
  if (h.banner) block.row("Banner", formatReply(h.banner, style));
  if (h.lastReply && !sameReply(h.lastReply, h.banner)) block.row("Last reply", formatReply(h.lastReply, style));
  if (h.ehloName && (h.capabilities || h.capabilitiesTls)) block.row("EHLO as", safe(h.ehloName));
  if (h.capabilities) block.row("Before TLS", formatCapabilities(h.capabilities, style));
  else if (h.tls?.implicit) block.row("Before TLS", style.dim("nothing: implicit TLS from the first byte"));
  if (h.capabilitiesTls) block.row("After TLS", formatCapabilities(h.capabilitiesTls, style));
  if (h.starttlsInjection) {
    block.row("Injected", style.red(`plaintext after the STARTTLS 220, discarded: ${safe(h.starttlsInjection)}`));
  }
  if (h.tls) formatTls(h.tls, style, block);
  if (h.tlsProfile) formatTlsProfile(h.tlsProfile, style, block);
  if (h.starttlsEnforcement) block.row("Enforcement", formatEnforcement(h.starttlsEnforcement, style));
  if (h.addressPosture) block.row("DNS", formatAddressPosture(h.addressPosture, style));
  if (h.timings.length) {
    block.row("Timings", h.timings.map((t) => `${phaseLabel(t.phase)} ${formatMs(t.durationMs)}`).join(style.dim(" · ")));
  }
  return [
    style.bold(`── ${title} `.padEnd(Math.min(60, width), "─")),
    ...block.lines,
    // "No findings" would mislead when the handshake stopped before there was anything to judge.
    ...(h.findings.length || h.outcome === Outcome.OUTCOME_OK ? formatFindings(h.findings, style, width) : []),
    ...(options.transcript && h.transcript ? formatTranscript(h.transcript, style, width) : []),
  ];
}

/** The reply's lines, the last one followed by the code's meaning. */
function formatReply(reply: Reply, style: Style): string[] {
  const lines = reply.lines.length ? reply.lines : [""];
  const meaning = reply.meaning || describeReply(reply.code, reply.enhancedCode || undefined);
  return lines.map((line, i) => {
    const text = `${reply.code}${i < lines.length - 1 ? "-" : " "}${safe(line)}`.trimEnd();
    return i === lines.length - 1 ? `${text}  ${style.dim(`— ${safe(meaning)}`)}` : text;
  });
}

function sameReply(a: Reply, b: Reply | undefined): boolean {
  return b !== undefined && a.code === b.code && a.lines.join("\n") === b.lines.join("\n");
}

/** The greeting line, then the extensions in a fixed order, STARTTLS first. */
export function formatCapabilities(caps: Capabilities, style: Style): string[] {
  if (caps.heloOnly) return [safe(caps.greeting), style.yellow("HELO only: no extensions known")];
  const keywords: string[] = [];
  if (caps.starttls) keywords.push(style.green("STARTTLS"));
  if (caps.size !== undefined) keywords.push(caps.size === 0 ? "SIZE (no limit)" : `SIZE ${caps.size}`);
  const flags: [boolean, string][] = [
    [caps.pipelining, "PIPELINING"],
    [caps.eightBitMime, "8BITMIME"],
    [caps.smtputf8, "SMTPUTF8"],
    [caps.chunking, "CHUNKING"],
    [caps.dsn, "DSN"],
    [caps.enhancedStatusCodes, "ENHANCEDSTATUSCODES"],
    [caps.requiretls, "REQUIRETLS"],
  ];
  for (const [on, name] of flags) if (on) keywords.push(name);
  if (caps.authMechanisms.length) keywords.push(`AUTH ${caps.authMechanisms.map(safe).join(" ")}`);
  keywords.push(...caps.other.map(safe));
  return [safe(caps.greeting), keywords.length ? keywords.join(style.dim(" · ")) : style.dim("no extensions")];
}

function formatTls(tls: TlsInfo, style: Style, block: Block): void {
  const session = [
    safe(tls.protocol) || "unknown protocol",
    safe(tls.cipher),
    tls.keyExchangeGroup ? `group ${safe(tls.keyExchangeGroup)}` : "",
    tls.implicit ? "implicit TLS" : "via STARTTLS",
    tls.sni ? `SNI ${safe(tls.sni)}` : "no SNI",
    // The handshake's time is not repeated here: the Timings row has it, with every other phase.
  ].filter(Boolean);
  block.row("TLS", session.join(style.dim(" · ")));
  if (tls.chain.length === 0) {
    block.row("Certificate", style.red("none sent"));
    return;
  }
  block.row("Trusted", tls.trusted ? style.green("yes") : style.red(`no — ${safe(tls.trustError) || "no reason given"}`));
  block.row(
    "Name",
    !tls.checkedName
      ? style.dim("not checked (no name to check)")
      : tls.nameMatches
        ? style.green(`matches ${safe(tls.checkedName)}`)
        : style.red(`does not match ${safe(tls.checkedName)} — ${safe(tls.nameError) || "no reason given"}`),
  );
  block.row("Expires", describeExpiry(tls.daysToExpiry, style));
  tls.chain.forEach((cert, index) => block.subRows(index === 0 ? "Chain" : "", certificateRows(cert, index, style)));
}

/**
 * The TLS scan, compactly: which versions are accepted, per accepted version how many suites and
 * the weakest with its grade, the groups, the cipher order, the chains per key type when they
 * differ. --json has every suite.
 */
function formatTlsProfile(profile: TlsProfile, style: Style, block: Block): void {
  if (profile.status === TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED) {
    block.row("TLS scan", style.dim(`not scanned: ${safe(profile.reason) || "no reason given"}`));
    return;
  }
  const named = (support: VersionSupport): string[] => profile.versions.filter((v) => v.support === support).map((v) => versionLabel(v.version));
  const accepted = named(VersionSupport.VERSION_SUPPORT_ACCEPTED);
  const refused = named(VersionSupport.VERSION_SUPPORT_REFUSED);
  const unknown = named(VersionSupport.VERSION_SUPPORT_UNKNOWN);
  const parts = [
    accepted.length ? `accepts ${accepted.join(", ")}` : style.red("accepts no version"),
    refused.length ? `refuses ${refused.join(", ")}` : "",
    unknown.length ? style.yellow(`unknown ${unknown.join(", ")}`) : "",
    style.dim(`${plural(profile.connections, "connection")}, ${formatMs(profile.totalMs)}`),
  ].filter(Boolean);
  const rows = [parts.join(style.dim(" · "))];
  if (profile.status === TlsScanStatus.TLS_SCAN_STATUS_PARTIAL) rows.push(style.yellow(`incomplete: ${safe(profile.reason) || "no reason given"}`));
  block.row("TLS scan", rows);
  for (const version of profile.versions) {
    if (version.support !== VersionSupport.VERSION_SUPPORT_ACCEPTED) continue;
    const count = `${plural(version.ciphers.length, "suite")}${version.ciphersComplete ? "" : "+"}`;
    const weakest = [...version.ciphers].sort((a, b) => b.grade - a.grade)[0];
    const worst = !weakest
      ? ""
      : weakest.grade === CipherGrade.CIPHER_GRADE_STRONG
        ? style.green("all strong")
        : `weakest ${safe(weakest.name)} ${gradePaint(weakest.grade, style)(`(${gradeName(weakest.grade)}: ${weaknessWords(weakest.weaknesses)})`)}`;
    block.row("", `${versionLabel(version.version).padEnd(9)}${[count, worst].filter(Boolean).join(", ")}`);
  }
  const groups = profile.groups.map((g) => safe(g.name));
  if (profile.dhePrimeBits) groups.push(profile.dhePrimeBits < 2048 ? style.yellow(`DHE ${profile.dhePrimeBits}-bit`) : `DHE ${profile.dhePrimeBits}-bit`);
  if (groups.length || !profile.groupsComplete) block.row("Groups", `${groups.join(", ") || style.dim("none found")}${profile.groupsComplete ? "" : style.dim(" (not all tried)")}`);
  if (profile.cipherOrder !== CipherOrder.CIPHER_ORDER_UNSPECIFIED) {
    const whose = profile.cipherOrder === CipherOrder.CIPHER_ORDER_SERVER ? "the server's own" : "the client's";
    block.row("Suite order", `${whose} ${style.dim(`(tested in ${versionLabel(profile.cipherOrderVersion)})`)}`);
  }
  profile.chains.forEach((c, i) => {
    const leaf = c.chain[0];
    const fingerprint = leaf ? ` ${style.dim(`SHA-256 ${safe(leaf.fingerprintSha256).slice(0, 23)}…`)}` : "";
    block.row(i === 0 ? "Chains" : "", `${safe(c.keyType)}: ${safe(leaf?.subject ?? "") || "(no subject)"}${fingerprint}`);
  });
}

/** "RSA key exchange, CBC in TLS 1.2": a suite's weaknesses in a few words each. */
function weaknessWords(codes: readonly string[]): string {
  return codes.map((code) => safe(weaknessLabel(code))).join(", ");
}

function gradeName(grade: CipherGrade): string {
  switch (grade) {
    case CipherGrade.CIPHER_GRADE_INSECURE:
      return "insecure";
    case CipherGrade.CIPHER_GRADE_WEAK:
      return "weak";
    case CipherGrade.CIPHER_GRADE_ACCEPTABLE:
      return "acceptable";
    case CipherGrade.CIPHER_GRADE_STRONG:
      return "strong";
    default:
      return "ungraded";
  }
}

function gradePaint(grade: CipherGrade, style: Style): (text: string) => string {
  if (grade === CipherGrade.CIPHER_GRADE_INSECURE) return style.red;
  if (grade === CipherGrade.CIPHER_GRADE_WEAK) return style.yellow;
  return style.dim;
}

/** "STARTTLS required before mail — MAIL FROM:<> before STARTTLS got 530 5.7.0 Must issue a STARTTLS command first". */
export function formatEnforcement(e: StarttlsEnforcement, style: Style): string {
  const reply = e.reply ? ` — MAIL FROM:<> before STARTTLS got ${e.reply.code} ${safe(e.reply.lines[0] ?? "")}`.trimEnd() : "";
  switch (e.status) {
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED:
      return `${style.green("STARTTLS required before mail")}${reply}`;
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED:
      return `none: mail is taken without TLS${reply}`;
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED:
      return `authentication required before mail${reply}`;
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REFUSED:
      return `mail refused for another reason${reply}`;
    default:
      return style.dim(`not checked: ${safe(e.reason) || "no reason given"}`);
  }
}

function describeExpiry(days: number, style: Style): string {
  if (days < 0) return style.red(`expired ${plural(-days, "day")} ago`);
  const text = days === 0 ? "within a day" : `in ${plural(days, "day")}`;
  return days <= 14 ? style.yellow(text) : text;
}

export function formatCertificate(cert: Certificate, index: number, style: Style): string[] {
  return certificateRows(cert, index, style).map(([head, value]) => head + value);
}

/** A certificate as rows of the Chain: its number and subject, then a dim title and a value per fact. */
function certificateRows(cert: Certificate, index: number, style: Style): [string, string][] {
  const pad = (label: string): string => `   ${style.dim(label.padEnd(10))} `;
  const key = [cert.keyType, cert.keyBits ? `${cert.keyBits} bits` : "", cert.curve ? `(${cert.curve})` : ""].filter(Boolean).join(" ");
  return [
    [`#${index} `, `${style.bold(safe(cert.subject) || "(no subject)")}${cert.selfSigned ? style.dim(" (self-signed)") : ""}`],
    [pad("issuer"), safe(cert.issuer)],
    [pad("SANs"), cert.subjectAltNames.length ? cert.subjectAltNames.map(safe).join(", ") : style.dim("none")],
    [pad("valid"), `${formatDate(cert.notBefore)} → ${formatDate(cert.notAfter)}`],
    [pad("key"), safe(key) || "unknown"],
    [pad("signature"), safe(cert.signatureAlgorithm) || "unknown"],
    [pad("SHA-256"), safe(cert.fingerprintSha256)],
  ];
}

const SEVERITY_GROUPS: readonly { severity: Severity; title: string; mark: string; color: keyof Style }[] = [
  { severity: Severity.SEVERITY_ERROR, title: "Errors", mark: "✖", color: "red" },
  { severity: Severity.SEVERITY_WARNING, title: "Warnings", mark: "▲", color: "yellow" },
  { severity: Severity.SEVERITY_INFO, title: "Info", mark: "ℹ", color: "cyan" },
];

/** Findings grouped by severity, errors first; each with its stable code and its sentence. */
export function formatFindings(findings: readonly Finding[], style: Style, width = Number.POSITIVE_INFINITY): string[] {
  if (findings.length === 0) return [`  ${style.dim("Findings".padEnd(LABEL_WIDTH))}${style.green("none")}`];
  return [`  ${style.dim("Findings")}`, ...formatFindingGroups(findings, style, width)];
}

/**
 * The findings grouped by severity, errors first: a title per group (indented 4), a line per
 * finding (6), wrapped under the text after its mark.
 */
export function formatFindingGroups(findings: readonly Finding[], style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  for (const group of SEVERITY_GROUPS) {
    const members = findings.filter((f) => f.severity === group.severity);
    if (members.length === 0) continue;
    const paint = style[group.color] as (text: string) => string;
    out.push(`    ${paint(style.bold(`${group.title} (${members.length})`))}`);
    for (const f of members) out.push(...wrapHanging(`      ${paint(group.mark)} `, `${style.dim(`[${safe(f.code)}]`)} ${safe(f.message)}`, width));
  }
  return out;
}

const ARROWS: Readonly<Record<number, string>> = {
  [Direction.DIRECTION_CLIENT]: "→",
  [Direction.DIRECTION_SERVER]: "←",
  [Direction.DIRECTION_EVENT]: "•",
};

/**
 * The timed transcript: offset, direction (→ sent, ← received, • event), a TLS marker, the text;
 * the last line of each server reply followed by the reply's meaning.
 */
export function formatTranscript(transcript: Transcript, style: Style, width = Number.POSITIVE_INFINITY): string[] {
  const out = [`  ${style.dim("Transcript")}`];
  const offsets = transcript.entries.map((e) => e.offsetMs.toFixed(2));
  const offsetWidth = Math.max(0, ...offsets.map((o) => o.length));
  // What a code means depends on what it answers (a 550 banner, a 220 to STARTTLS): the same
  // meaning the engine gave the result's replies.
  const meanings = transcriptReplyMeanings(transcript.entries);
  transcript.entries.forEach((entry, i) => {
    const text = safe(entry.text);
    const head = `    ${style.dim(`${(offsets[i] ?? "").padStart(offsetWidth)} ms`)}  ${ARROWS[entry.direction] ?? "?"} ${entry.tls ? style.cyan("TLS") : "   "} `;
    const meaning = meanings.get(i);
    const body = meaning !== undefined ? `${text}  ${style.dim(`— ${safe(meaning)}`)}` : entry.direction === Direction.DIRECTION_EVENT ? style.dim(text) : text;
    out.push(...wrapHanging(head, body, width));
  });
  if (transcript.truncated) out.push(`    ${style.yellow(`(truncated after ${transcript.bytes} bytes)`)}`);
  return out;
}

function formatDate(date: Date | undefined): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return "?";
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function countSeverity(findings: readonly Finding[], severity: Severity): number {
  return findings.filter((f) => f.severity === severity).length;
}
