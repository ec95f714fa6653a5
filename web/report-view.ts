// A finished report on the page: what was probed and a share link, the matrix, the verdicts, the
// findings grouped by severity, and per region and port the handshakes — banner, capabilities
// before and after TLS, the TLS session and certificate chain, the mail domain's policy (MTA-STS,
// TLS-RPT, DANE) and each exchanger's checks against it, timings, and the timed transcript
// with each reply's meaning. Every value from the report is text (dom.ts).
import {
  daneStatusToJSON,
  MtaStsStatus,
  mtaStsModeToJSON,
  mtaStsStatusToJSON,
  policyResultToJSON,
  TlsRptStatus,
  tlsRptStatusToJSON,
  Direction,
  Outcome,
  Severity,
  tlsModeToJSON,
  portRoleToJSON,
  type Capabilities,
  type Certificate,
  type Finding,
  type HandshakeResult,
  type MailPolicy,
  type Reply,
  type TlsInfo,
  type Transcript,
} from "../gen/smtpprobe/v1/handshake.js";
import { taskStatusToJSON, TaskStatus, type ProbeReport, type TaskReport } from "../gen/smtpprobe/v1/probe_service.js";
import { transcriptReplyMeanings } from "../agents/smtp/reply-meaning.js";
import { phaseLabel } from "../agents/smtp/phases.js";
import { reportMatrixView } from "../cli/format-matrix.js";
import { formatMs, outcomeLabel } from "../cli/labels.js";
import { facts, h, type Child } from "./dom.js";
import { matrixTable, taskAnchor } from "./matrix.js";
import { enumWords, formatDate, plural } from "./words.js";

const SEVERITY_CLASS: Partial<Record<Severity, string>> = {
  [Severity.SEVERITY_ERROR]: "sev-error",
  [Severity.SEVERITY_WARNING]: "sev-warning",
  [Severity.SEVERITY_INFO]: "sev-info",
};

const SEVERITY_GROUPS: readonly [Severity, string][] = [
  [Severity.SEVERITY_ERROR, "Errors"],
  [Severity.SEVERITY_WARNING, "Warnings"],
  [Severity.SEVERITY_INFO, "Information"],
];

export function reportView(report: ProbeReport): Child[] {
  const request = report.request;
  const ports = request?.ports ?? [];
  const shareLink = `/p/${report.probeId}`;
  const summary = [request?.host ?? "", request?.mx ? "(MX)" : "", `· ports ${ports.join(", ")}`, `· ${plural(report.regions.length, "region")}`, `· ${formatMs(report.durationMs)}`, report.complete ? "" : "· incomplete"]
    .filter(Boolean)
    .join(" ");
  const byTask = new Set(report.tasks.map((t) => taskAnchor(t.region, t.port)));
  return [
    h("h2", { id: "report-title" }, "Report"),
    h("p", { className: "summary" }, summary),
    h("p", { className: "share" }, "Share: ", h("a", { href: shareLink, id: "share-link" }, `${location.origin}${shareLink}`), h("span", { className: "hint" }, `(probe ${report.probeId}, kept for a while by the coordinator)`)),
    h("div", { className: "matrix-wrap" }, matrixTable(reportMatrixView(report), "Final: each cell links to its details below", (region, port) => byTask.has(taskAnchor(region, port)))),
    verdictsView(report),
    findingsView(report),
    h("h3", {}, "Per region and port"),
    ...report.tasks.map(taskView),
  ];
}

function verdictsView(report: ProbeReport): HTMLElement {
  const comparison = report.comparison;
  const items = (comparison?.verdicts ?? []).map((v) => h("li", { className: SEVERITY_CLASS[v.severity] ?? "" }, v.summary));
  for (const missing of comparison?.missing ?? []) items.push(h("li", { className: "sev-warning" }, `${missing.region}: no answer (${missing.cause})`));
  if ((comparison?.unknownRegions ?? []).length > 0) items.push(h("li", { className: "sev-warning" }, `Regions no agent has ever served: ${comparison!.unknownRegions.join(", ")}`));
  return h("div", {}, h("h3", {}, "Verdicts"), items.length ? h("ul", { className: "plain", id: "verdicts" }, ...items) : h("p", {}, "None."));
}

interface SeenFinding {
  finding: Finding;
  where: string[];
}

function findingsView(report: ProbeReport): HTMLElement {
  const seen = new Map<string, SeenFinding>();
  for (const task of report.tasks) {
    // The mail domain's own findings (MTA-STS, TLS-RPT, DANE), then each handshake's.
    for (const hs of [{ findings: task.result?.mailPolicy?.findings ?? [] }, ...(task.result?.handshakes ?? [])]) {
      for (const finding of hs.findings) {
        const key = `${finding.severity}\u0000${finding.code}\u0000${finding.message}`;
        const entry = seen.get(key) ?? { finding, where: [] };
        entry.where.push(`${task.region}, port ${task.port}`);
        seen.set(key, entry);
      }
    }
  }
  const groups = SEVERITY_GROUPS.map(([severity, title]) => {
    const members = [...seen.values()].filter((s) => s.finding.severity === severity);
    if (members.length === 0) return undefined;
    return h(
      "div",
      {},
      h("h4", {}, `${title} (${members.length})`),
      h(
        "ul",
        { className: "plain" },
        ...members.map((s) => h("li", { className: SEVERITY_CLASS[severity] ?? "" }, h("span", { className: "code" }, `[${s.finding.code}] `), s.finding.message, h("span", { className: "hint" }, ` — ${[...new Set(s.where)].join("; ")}`))),
      ),
    );
  });
  const any = groups.some(Boolean);
  return h("div", { id: "findings" }, h("h3", {}, "Findings"), ...(any ? groups : [h("p", {}, "None.")]));
}

function taskView(task: TaskReport): HTMLElement {
  const status = enumWords(taskStatusToJSON(task.status), "TASK_STATUS_");
  const handshakes = task.result?.handshakes ?? [];
  const first = handshakes[0];
  const headline = task.status !== TaskStatus.TASK_STATUS_DONE ? status : first ? `${outcomeLabel(first.outcome)}${first.tls?.protocol ? ` · ${first.tls.protocol}` : ""}` : "no handshake";
  return h(
    "details",
    { className: "task", id: taskAnchor(task.region, task.port) },
    h("summary", {}, `${task.region} · port ${task.port} · ${headline}`),
    task.detail ? h("p", {}, task.detail) : undefined,
    facts([
      ["Agent", task.agentId],
      ["Took", formatMs(task.durationMs)],
      ["Egress canary", task.egress ? `${task.egress.canary}: ${task.egress.ok ? "reached" : `failed (${outcomeLabel(task.egress.outcome)}) ${task.egress.detail}`}` : undefined],
      ["MX", task.result?.mx ? task.result.exchangers.map((x) => `${x.preference} ${x.exchange}`).join(", ") || "none" : undefined],
      ...mailPolicyFacts(task.result?.mailPolicy),
    ]),
    ...handshakes.map(handshakeView),
  );
}

/** The mail domain's policy as the region saw it: MTA-STS, TLS-RPT, each exchanger's TLSA answer. */
function mailPolicyFacts(policy: MailPolicy | undefined): [string, Child][] {
  if (!policy) return [];
  const sts = policy.mtaSts;
  const stsText = !sts
    ? undefined
    : sts.status === MtaStsStatus.MTA_STS_STATUS_VALID
      ? `${enumWords(mtaStsModeToJSON(sts.mode), "MTA_STS_MODE_")} · max_age ${sts.maxAge} · mx ${sts.mxPatterns.join(", ")}`
      : `${enumWords(mtaStsStatusToJSON(sts.status), "MTA_STS_STATUS_")}${sts.reason ? `: ${sts.reason}` : ""}`;
  const rpt = policy.tlsRpt;
  const rptText = !rpt ? undefined : rpt.status === TlsRptStatus.TLS_RPT_STATUS_VALID ? rpt.rua.join(", ") : `${enumWords(tlsRptStatusToJSON(rpt.status), "TLS_RPT_STATUS_")}${rpt.reason ? `: ${rpt.reason}` : ""}`;
  const dane = policy.tlsa.map((t) => `${t.exchanger}: ${enumWords(daneStatusToJSON(t.status), "DANE_STATUS_")}${t.authenticated ? " (AD)" : ""}, ${plural(t.records.length, "TLSA record")}`).join("; ");
  return [
    [`MTA-STS (${policy.domain})`, stsText],
    ["TLS-RPT", rptText],
    ["DANE", dane || undefined],
  ];
}

function handshakeView(hs: HandshakeResult): HTMLElement {
  const where = hs.address ? `${hs.address} port ${hs.port}${hs.host && hs.host !== hs.address ? ` (${hs.host}${hs.exchange ? `, MX ${hs.mxPreference}` : ""})` : ""}` : `${hs.host} port ${hs.port}`;
  const ok = hs.outcome === Outcome.OUTCOME_OK;
  return h(
    "div",
    { className: "handshake" },
    h("h4", {}, where),
    facts([
      ["Outcome", ok ? `${outcomeLabel(hs.outcome)} · done · ${formatMs(hs.totalMs)}` : `${outcomeLabel(hs.outcome)} at ${phaseLabel(hs.phase)}: ${hs.reason || "no reason given"}`],
      ["TLS mode", enumWords(tlsModeToJSON(hs.tlsMode), "TLS_MODE_")],
      ["Port role", enumWords(portRoleToJSON(hs.portRole), "PORT_ROLE_")],
      ["Banner", hs.banner ? replyView(hs.banner) : undefined],
      ["Last reply", hs.lastReply && hs.lastReply !== hs.banner && hs.lastReply.lines.join("\n") !== hs.banner?.lines.join("\n") ? replyView(hs.lastReply) : undefined],
      ["EHLO as", hs.ehloName],
      ["Before TLS", hs.capabilities ? capabilitiesView(hs.capabilities) : hs.tls?.implicit ? "nothing: implicit TLS from the first byte" : undefined],
      ["After TLS", hs.capabilitiesTls ? capabilitiesView(hs.capabilitiesTls) : undefined],
      ["Injected", hs.starttlsInjection ? `plaintext after the STARTTLS 220, discarded: ${hs.starttlsInjection}` : undefined],
      ["MTA-STS", hs.policyCheck ? `${enumWords(policyResultToJSON(hs.policyCheck.mtaSts), "POLICY_RESULT_")}: ${hs.policyCheck.mtaStsReason}` : undefined],
      ["DANE", hs.dane ? `${enumWords(policyResultToJSON(hs.dane.result), "POLICY_RESULT_")}: ${hs.dane.reason}` : undefined],
      ["Timings", hs.timings.length ? hs.timings.map((t) => `${phaseLabel(t.phase)} ${formatMs(t.durationMs)}`).join(" · ") : undefined],
    ]),
    hs.tls ? tlsView(hs.tls) : undefined,
    hs.findings.length ? h("ul", { className: "plain" }, ...hs.findings.map((f) => h("li", { className: SEVERITY_CLASS[f.severity] ?? "" }, h("span", { className: "code" }, `[${f.code}] `), f.message))) : undefined,
    hs.transcript ? transcriptView(hs.transcript) : undefined,
  );
}

function replyView(reply: Reply): HTMLElement {
  const lines = reply.lines.length ? reply.lines : [""];
  return h("span", {}, h("span", { className: "code" }, lines.map((line, i) => `${reply.code}${i < lines.length - 1 ? "-" : " "}${line}`).join("\n")), reply.meaning ? h("span", { className: "meaning" }, reply.meaning) : undefined);
}

function capabilitiesView(caps: Capabilities): HTMLElement {
  const keywords = [
    caps.starttls && "STARTTLS",
    caps.pipelining && "PIPELINING",
    caps.eightBitMime && "8BITMIME",
    caps.size !== undefined && (caps.size ? `SIZE ${caps.size}` : "SIZE"),
    caps.authMechanisms.length > 0 && `AUTH ${caps.authMechanisms.join(" ")}`,
    caps.smtputf8 && "SMTPUTF8",
    caps.chunking && "CHUNKING",
    caps.dsn && "DSN",
    caps.enhancedStatusCodes && "ENHANCEDSTATUSCODES",
    caps.requiretls && "REQUIRETLS",
    ...caps.other,
  ].filter((k): k is string => typeof k === "string");
  return h("span", {}, h("span", { className: "code" }, caps.greeting), h("span", { className: "meaning" }, caps.heloOnly ? "HELO only: no extensions known" : keywords.join(" · ") || "no extensions"));
}

function tlsView(tls: TlsInfo): HTMLElement {
  return h(
    "div",
    {},
    facts([
      ["TLS", [tls.protocol, tls.cipher, tls.keyExchangeGroup && `group ${tls.keyExchangeGroup}`, tls.implicit ? "implicit" : "via STARTTLS", tls.sni ? `SNI ${tls.sni}` : "no SNI", formatMs(tls.handshakeMs)].filter(Boolean).join(" · ")],
      ["Trusted", tls.trusted ? "yes" : `no — ${tls.trustError || "unknown reason"}`],
      ["Name", tls.nameMatches ? `matches ${tls.checkedName}` : `does not match ${tls.checkedName}${tls.nameError ? ` — ${tls.nameError}` : ""}`],
      ["Expires", tls.daysToExpiry < 0 ? `expired ${-tls.daysToExpiry} days ago` : `in ${tls.daysToExpiry} days`],
    ]),
    tls.chain.length ? h("div", { className: "chain" }, h("h4", {}, "Certificate chain"), ...tls.chain.map(certificateView)) : undefined,
  );
}

function certificateView(cert: Certificate, index: number): HTMLElement {
  const key = [cert.keyType, cert.keyBits ? `${cert.keyBits} bits` : "", cert.curve ? `(${cert.curve})` : ""].filter(Boolean).join(" ");
  return h(
    "div",
    { className: "cert" },
    h("p", {}, h("strong", {}, `#${index} `), h("span", { className: "code cert-subject" }, cert.subject || "(no subject)"), cert.selfSigned ? " (self-signed)" : ""),
    facts([
      ["Issuer", cert.issuer],
      ["Names", cert.subjectAltNames.join(", ") || "none"],
      ["Valid", `${formatDate(cert.notBefore)} → ${formatDate(cert.notAfter)}`],
      ["Key", key || "unknown"],
      ["Signature", cert.signatureAlgorithm || "unknown"],
      ["SHA-256", h("span", { className: "code" }, cert.fingerprintSha256)],
      ["Serial", cert.serialNumber],
    ]),
  );
}

const ARROWS: Partial<Record<Direction, string>> = { [Direction.DIRECTION_CLIENT]: "→", [Direction.DIRECTION_SERVER]: "←", [Direction.DIRECTION_EVENT]: "•" };
const DIRECTION_CLASS: Partial<Record<Direction, string>> = { [Direction.DIRECTION_CLIENT]: "dir-client", [Direction.DIRECTION_SERVER]: "dir-server", [Direction.DIRECTION_EVENT]: "dir-event" };

function transcriptView(transcript: Transcript): HTMLElement {
  // What a code means depends on what it answers: the engine's own replay of the dialogue.
  const meanings = transcriptReplyMeanings(transcript.entries);
  const rows = transcript.entries.map((entry, i) =>
    h(
      "tr",
      { className: DIRECTION_CLASS[entry.direction] ?? "" },
      h("td", { className: "when" }, `${entry.offsetMs.toFixed(2)} ms`),
      h("td", { attrs: { "aria-label": entry.direction === Direction.DIRECTION_CLIENT ? "sent" : entry.direction === Direction.DIRECTION_SERVER ? "received" : "event" } }, ARROWS[entry.direction] ?? "?"),
      h("td", {}, entry.tls ? "TLS" : ""),
      h("td", { className: "text code" }, entry.text, meanings.has(i) ? h("span", { className: "meaning" }, meanings.get(i)!) : undefined),
    ),
  );
  return h(
    "details",
    { className: "transcript-box" },
    h("summary", {}, `Transcript (${plural(transcript.entries.length, "line")}${transcript.truncated ? ", truncated" : ""})`),
    h("div", { className: "matrix-wrap" }, h("table", { className: "transcript" }, h("tbody", {}, ...rows))),
  );
}
