// Checks of what an agent sends back over NATS. An agent is not trusted (globalping's lesson:
// validate at both ends of every trust boundary): a message that fails here becomes a recorded
// failure of its region (INVALID_REPORT, with the reason), never data in a report. Pure.
import {
  CipherGrade,
  CipherOrder,
  Direction,
  FailureSource,
  Outcome,
  Phase,
  PortRole,
  Severity,
  StarttlsEnforcementStatus,
  TlsMode,
  TlsScanStatus,
  TlsVersion,
  VersionSupport,
  MtaStsMode,
  MtaStsStatus,
  PolicyResult,
  TlsRptStatus,
  type Finding,
  type MailPolicy,
  type PolicyCheck,
  type Capabilities,
  type Certificate,
  type HandshakeResult,
  type Reply,
  type StarttlsEnforcement,
  type TargetResult,
  type TlsInfo,
  type TlsProfile,
  type Transcript,
} from "../../gen/smtpprobe/v1/handshake.js";
import { type TaskProgress } from "../../gen/smtpprobe/v1/probe_service.js";
import { AgentMessage } from "../../gen/smtpprobe/agent/v1/agent.js";
import { MAXIMUMS } from "../../agents/smtp/options.js";
import { CIPHER_SUITES } from "../../agents/smtp/tls-scan/cipher-catalogue.js";
import { GROUPS } from "../../agents/smtp/tls-scan/tls-registry.js";
import { LIMIT_FIELDS, MAX_NOT_PROBED_LISTED } from "../../agents/smtp/not-probed.js";
import { escapeLine } from "../../agents/smtp/transcript.js";

/** Bounds on an agent's result. Each is at least what a well-behaved agent can produce. */
export const AGENT_MESSAGE_LIMITS = {
  /**
   * The largest message taken from an agent, checked before decoding: NATS's default max_payload,
   * which deploy/nats/ sets explicitly (agents trim a result to 900 KiB to fit it). Raise it with
   * the servers' max_payload and the agents' result bound.
   */
  maxMessageBytes: 1024 * 1024,
  /**
   * Handshakes in one result: at most `MAXIMUMS.maxExchangers × MAXIMUMS.maxAddresses` (80) are
   * probed, so 64 would reject a legitimate MX probe at the largest allowed options.
   */
  maxHandshakes: Math.max(64, MAXIMUMS.maxExchangers * MAXIMUMS.maxAddresses),
  maxExchangers: 64,
  /** Exchangers and addresses a limit left out, listed: the engine lists at most this many. */
  maxNotProbed: MAX_NOT_PROBED_LISTED,
  /** Characters of text in one transcript: the engine's largest transcript bound (4 MiB). */
  maxTranscriptChars: MAXIMUMS.maxTranscriptBytes,
  maxTranscriptEntries: 262_144,
  /** A host name in presentation form (RFC 1035 §2.3.4: 255 octets). */
  maxNameChars: 255,
  /** An IPv6 address with a zone index fits well within this. */
  maxAddressChars: 64,
  maxAgentIdChars: 128,
  maxFindingCodeChars: 64,
  /** Any other text: the longest reply line allowed, every byte escaped as \xNN. */
  maxTextChars: 4 * MAXIMUMS.maxLineOctets,
  /** Any other list: reply lines, EHLO keywords, SANs, findings, timings, the chain. */
  maxListItems: MAXIMUMS.maxReplyLines,
  /** An agent's error text is shortened to this, not rejected: it is its words for a person. */
  maxErrorChars: 1024,
  /** A TLS profile: versions tested, suites per version (the catalogue's, at most), groups (the registry's), chains per key type. */
  maxScanVersions: 8,
  maxScanCiphers: Math.max(512, CIPHER_SUITES.length),
  maxScanGroups: Math.max(64, GROUPS.length),
  maxScanChains: 8,
  /** A catalogue code ("static_rsa") or an IANA name ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"). */
  maxScanNameChars: 128,
  maxScanWeaknesses: 16,
} as const;

const L = AGENT_MESSAGE_LIMITS;
const LIMIT_NAMES: ReadonlySet<string> = new Set(Object.values(LIMIT_FIELDS));

export type DecodedAgentMessage = { ok: true; message: AgentMessage } | { ok: false; reason: string };

/** Decodes bytes from a task's reply subject; malformed protobuf is a reason, not a throw. */
export function decodeAgentMessage(data: Uint8Array): DecodedAgentMessage {
  if (data.length > L.maxMessageBytes) return { ok: false, reason: `message of ${data.length} bytes (limit ${L.maxMessageBytes})` };
  try {
    return { ok: true, message: AgentMessage.decode(data) };
  } catch (error) {
    return { ok: false, reason: `not a valid AgentMessage: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Why an agent id cannot be accepted, or undefined when it can. */
export function checkAgentId(agentId: string): string | undefined {
  if (agentId === "") return "the message has no agent id";
  if (agentId.length > L.maxAgentIdChars) return `agent id of ${agentId.length} characters (limit ${L.maxAgentIdChars})`;
  if (/[\x00-\x1f\x7f]/.test(agentId)) return "agent id contains control characters";
  return undefined;
}

/** Why a progress message cannot be shown to the caller, or undefined when it can. */
export function checkTaskProgress(progress: TaskProgress): string | undefined {
  return runChecks(() => {
    checkEnum("progress.phase", progress.phase, Phase);
    checkText("progress.host", progress.host, L.maxNameChars);
    checkText("progress.address", progress.address, L.maxAddressChars);
    checkText("progress.agent_id", progress.agentId, L.maxAgentIdChars);
    checkText("progress.task_id", progress.taskId, L.maxTextChars);
    checkText("progress.region", progress.region, L.maxNameChars);
  });
}

/** What the task asked, which the result must match. */
export interface TaskTarget {
  host: string;
  port: number;
  mx: boolean;
}

/**
 * Why a result cannot be trusted, or undefined when it can: it must be about the task's host and
 * port, and every list, string, enum, number and time in it within bounds.
 */
export function checkTargetResult(result: TargetResult, task: TaskTarget): string | undefined {
  return runChecks(() => {
    if (result.port !== task.port) fail(`result.port is ${result.port}, the task's port is ${task.port}`);
    if (result.host.toLowerCase() !== task.host.toLowerCase()) {
      fail(`result.host is ${quote(result.host)}, the task's host is ${quote(task.host)}`);
    }
    if (result.mx !== task.mx) fail(`result.mx is ${result.mx}, the task asked ${task.mx}`);
    checkDuration("result.total_ms", result.totalMs);
    checkList("result.exchangers", result.exchangers, L.maxExchangers);
    result.exchangers.forEach((mx, i) => checkText(`result.exchangers[${i}].exchange`, mx.exchange, L.maxNameChars));
    checkList("result.handshakes", result.handshakes, L.maxHandshakes);
    result.handshakes.forEach((h, i) => checkHandshake(`result.handshakes[${i}]`, h, task.port));
    checkList("result.not_probed", result.notProbed, L.maxNotProbed);
    result.notProbed.forEach((n, i) => {
      const path = `result.not_probed[${i}]`;
      checkText(`${path}.host`, n.host, L.maxNameChars);
      checkText(`${path}.address`, n.address, L.maxAddressChars);
      checkText(`${path}.exchange`, n.exchange, L.maxNameChars);
      if (!LIMIT_NAMES.has(n.limit)) fail(`${path}.limit is ${quote(n.limit)}, not one of ${[...LIMIT_NAMES].join(", ")}`);
    });
    if (result.mailPolicy) checkMailPolicy("result.mail_policy", result.mailPolicy);
  });
}

/** A mail domain's policy: a handful of records, patterns and URIs; each list bounded like a reply's lines. */
function checkMailPolicy(path: string, p: MailPolicy): void {
  checkText(`${path}.domain`, p.domain, L.maxNameChars);
  checkDuration(`${path}.total_ms`, p.totalMs);
  checkFindings(`${path}.findings`, p.findings);
  const sts = p.mtaSts;
  if (sts) {
    const at = `${path}.mta_sts`;
    checkEnum(`${at}.status`, sts.status, MtaStsStatus);
    checkEnum(`${at}.mode`, sts.mode, MtaStsMode);
    checkText(`${at}.reason`, sts.reason, L.maxTextChars);
    checkText(`${at}.id`, sts.id, L.maxNameChars);
    checkText(`${at}.policy_url`, sts.policyUrl, L.maxTextChars);
    checkText(`${at}.policy_address`, sts.policyAddress, L.maxAddressChars);
    checkDuration(`${at}.fetch_ms`, sts.fetchMs);
    for (const [field, list] of [["records", sts.records], ["mx_patterns", sts.mxPatterns], ["syntax_warnings", sts.syntaxWarnings]] as const) {
      checkList(`${at}.${field}`, list, L.maxListItems);
      list.forEach((item, i) => checkText(`${at}.${field}[${i}]`, item, L.maxTextChars));
    }
  }
  const rpt = p.tlsRpt;
  if (rpt) {
    const at = `${path}.tls_rpt`;
    checkEnum(`${at}.status`, rpt.status, TlsRptStatus);
    checkText(`${at}.reason`, rpt.reason, L.maxTextChars);
    for (const [field, list] of [["records", rpt.records], ["rua", rpt.rua]] as const) {
      checkList(`${at}.${field}`, list, L.maxListItems);
      list.forEach((item, i) => checkText(`${at}.${field}[${i}]`, item, L.maxTextChars));
    }
  }
}

function checkPolicyCheck(path: string, c: PolicyCheck): void {
  checkText(`${path}.domain`, c.domain, L.maxNameChars);
  checkEnum(`${path}.mta_sts_status`, c.mtaStsStatus, MtaStsStatus);
  checkEnum(`${path}.mta_sts_mode`, c.mtaStsMode, MtaStsMode);
  checkEnum(`${path}.mta_sts`, c.mtaSts, PolicyResult);
  checkText(`${path}.mta_sts_reason`, c.mtaStsReason, L.maxTextChars);
  checkText(`${path}.mx_pattern`, c.mxPattern, L.maxNameChars);
  checkText(`${path}.certificate_error`, c.certificateError, L.maxTextChars);
}

function checkFindings(path: string, findings: readonly Finding[]): void {
  checkList(path, findings, L.maxListItems);
  findings.forEach((f, i) => {
    checkText(`${path}[${i}].code`, f.code, L.maxFindingCodeChars);
    checkEnum(`${path}[${i}].severity`, f.severity, Severity);
    checkText(`${path}[${i}].message`, f.message, L.maxTextChars);
  });
}

/** An agent's error text, made safe to show: controls escaped, length bounded. */
export function agentErrorText(error: string): string {
  const escaped = escapeLine(error);
  const text = escaped.length > L.maxErrorChars ? `${escaped.slice(0, L.maxErrorChars - 1)}…` : escaped;
  return text.trim() === "" ? "the agent gave no reason" : text;
}

// ---- the checks; the first failure ends the walk ----

class InvalidField extends Error {
  override readonly name = "InvalidField";
}

function fail(reason: string): never {
  throw new InvalidField(reason);
}

function runChecks(walk: () => void): string | undefined {
  try {
    walk();
    return undefined;
  } catch (error) {
    if (error instanceof InvalidField) return error.message;
    throw error;
  }
}

function checkHandshake(path: string, h: HandshakeResult, port: number): void {
  if (h.port !== port) fail(`${path}.port is ${h.port}, the task's port is ${port}`);
  checkText(`${path}.host`, h.host, L.maxNameChars);
  checkText(`${path}.address`, h.address, L.maxAddressChars);
  checkText(`${path}.exchange`, h.exchange, L.maxNameChars);
  checkEnum(`${path}.outcome`, h.outcome, Outcome);
  checkEnum(`${path}.phase`, h.phase, Phase);
  checkEnum(`${path}.failure_source`, h.failureSource, FailureSource);
  checkEnum(`${path}.tls_mode`, h.tlsMode, TlsMode);
  checkEnum(`${path}.port_role`, h.portRole, PortRole);
  checkText(`${path}.reason`, h.reason, L.maxTextChars);
  checkText(`${path}.ehlo_name`, h.ehloName, L.maxNameChars);
  checkText(`${path}.starttls_injection`, h.starttlsInjection, L.maxTextChars);
  if (h.banner) checkReply(`${path}.banner`, h.banner);
  if (h.lastReply) checkReply(`${path}.last_reply`, h.lastReply);
  if (h.capabilities) checkCapabilities(`${path}.capabilities`, h.capabilities);
  if (h.capabilitiesTls) checkCapabilities(`${path}.capabilities_tls`, h.capabilitiesTls);
  if (h.tls) checkTls(`${path}.tls`, h.tls);
  checkList(`${path}.timings`, h.timings, L.maxListItems);
  h.timings.forEach((t, i) => {
    checkEnum(`${path}.timings[${i}].phase`, t.phase, Phase);
    checkDuration(`${path}.timings[${i}].start_ms`, t.startMs);
    checkDuration(`${path}.timings[${i}].duration_ms`, t.durationMs);
  });
  checkDuration(`${path}.total_ms`, h.totalMs);
  checkList(`${path}.findings`, h.findings, L.maxListItems);
  h.findings.forEach((f, i) => {
    checkText(`${path}.findings[${i}].code`, f.code, L.maxFindingCodeChars);
    checkEnum(`${path}.findings[${i}].severity`, f.severity, Severity);
    checkText(`${path}.findings[${i}].message`, f.message, L.maxTextChars);
  });
  if (h.transcript) checkTranscript(`${path}.transcript`, h.transcript);
  checkDate(`${path}.started_at`, h.startedAt);
  if (h.tlsProfile) checkTlsProfile(`${path}.tls_profile`, h.tlsProfile);
  if (h.starttlsEnforcement) checkStarttlsEnforcement(`${path}.starttls_enforcement`, h.starttlsEnforcement);
  if (h.policyCheck) checkPolicyCheck(`${path}.policy_check`, h.policyCheck);
}

function checkTlsProfile(path: string, p: TlsProfile): void {
  checkEnum(`${path}.status`, p.status, TlsScanStatus);
  checkText(`${path}.reason`, p.reason, L.maxTextChars);
  checkEnum(`${path}.cipher_order`, p.cipherOrder, CipherOrder);
  checkEnum(`${path}.cipher_order_version`, p.cipherOrderVersion, TlsVersion);
  checkDuration(`${path}.total_ms`, p.totalMs);
  checkList(`${path}.versions`, p.versions, L.maxScanVersions);
  p.versions.forEach((v, i) => {
    const at = `${path}.versions[${i}]`;
    checkEnum(`${at}.version`, v.version, TlsVersion);
    checkEnum(`${at}.support`, v.support, VersionSupport);
    checkText(`${at}.detail`, v.detail, L.maxTextChars);
    checkList(`${at}.ciphers`, v.ciphers, L.maxScanCiphers);
    v.ciphers.forEach((c, j) => {
      const cipher = `${at}.ciphers[${j}]`;
      checkCodePoint(`${cipher}.code_point`, c.codePoint);
      checkText(`${cipher}.name`, c.name, L.maxScanNameChars);
      checkEnum(`${cipher}.grade`, c.grade, CipherGrade);
      checkList(`${cipher}.weaknesses`, c.weaknesses, L.maxScanWeaknesses);
      c.weaknesses.forEach((w, k) => checkText(`${cipher}.weaknesses[${k}]`, w, L.maxScanNameChars));
      checkText(`${cipher}.reason`, c.reason, L.maxTextChars);
    });
  });
  checkList(`${path}.groups`, p.groups, L.maxScanGroups);
  p.groups.forEach((g, i) => {
    checkCodePoint(`${path}.groups[${i}].code_point`, g.codePoint);
    checkText(`${path}.groups[${i}].name`, g.name, L.maxScanNameChars);
  });
  checkList(`${path}.chains`, p.chains, L.maxScanChains);
  p.chains.forEach((c, i) => {
    checkText(`${path}.chains[${i}].key_type`, c.keyType, L.maxScanNameChars);
    checkList(`${path}.chains[${i}].chain`, c.chain, L.maxListItems);
    c.chain.forEach((cert, j) => checkCertificate(`${path}.chains[${i}].chain[${j}]`, cert));
  });
}

function checkStarttlsEnforcement(path: string, e: StarttlsEnforcement): void {
  checkEnum(`${path}.status`, e.status, StarttlsEnforcementStatus);
  if (e.reply) checkReply(`${path}.reply`, e.reply);
  checkText(`${path}.reason`, e.reason, L.maxTextChars);
  checkDuration(`${path}.total_ms`, e.totalMs);
}

/** A TLS code point is two bytes (RFC 8446 §B.4, §4.2.7). */
function checkCodePoint(path: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) fail(`${path} is ${value}, not a two-byte code point`);
}

function checkReply(path: string, reply: Reply): void {
  if (reply.code > 999) fail(`${path}.code is ${reply.code}, not a three-digit reply code`);
  checkText(`${path}.enhanced_code`, reply.enhancedCode, 32);
  checkList(`${path}.lines`, reply.lines, L.maxListItems);
  reply.lines.forEach((line, i) => checkText(`${path}.lines[${i}]`, line, L.maxTextChars));
  checkText(`${path}.meaning`, reply.meaning, L.maxTextChars);
}

function checkCapabilities(path: string, caps: Capabilities): void {
  checkText(`${path}.greeting`, caps.greeting, L.maxTextChars);
  for (const [field, list] of [
    ["auth_mechanisms", caps.authMechanisms],
    ["other", caps.other],
  ] as const) {
    checkList(`${path}.${field}`, list, L.maxListItems);
    list.forEach((item, i) => checkText(`${path}.${field}[${i}]`, item, L.maxTextChars));
  }
}

function checkTls(path: string, tls: TlsInfo): void {
  for (const [field, value] of [
    ["protocol", tls.protocol],
    ["cipher", tls.cipher],
    ["key_exchange_group", tls.keyExchangeGroup],
  ] as const) {
    checkText(`${path}.${field}`, value, L.maxNameChars);
  }
  checkText(`${path}.sni`, tls.sni, L.maxNameChars);
  checkText(`${path}.checked_name`, tls.checkedName, L.maxNameChars);
  checkText(`${path}.trust_error`, tls.trustError, L.maxTextChars);
  checkText(`${path}.name_error`, tls.nameError, L.maxTextChars);
  checkDuration(`${path}.handshake_ms`, tls.handshakeMs);
  checkList(`${path}.chain`, tls.chain, L.maxListItems);
  tls.chain.forEach((cert, i) => checkCertificate(`${path}.chain[${i}]`, cert));
}

function checkCertificate(path: string, cert: Certificate): void {
  for (const [field, value] of [
    ["subject", cert.subject],
    ["issuer", cert.issuer],
    ["key_type", cert.keyType],
    ["curve", cert.curve],
    ["signature_algorithm", cert.signatureAlgorithm],
    ["fingerprint_sha256", cert.fingerprintSha256],
    ["serial_number", cert.serialNumber],
  ] as const) {
    checkText(`${path}.${field}`, value, L.maxTextChars);
  }
  checkList(`${path}.subject_alt_names`, cert.subjectAltNames, L.maxListItems);
  cert.subjectAltNames.forEach((san, i) => checkText(`${path}.subject_alt_names[${i}]`, san, L.maxTextChars));
  checkDate(`${path}.not_before`, cert.notBefore);
  checkDate(`${path}.not_after`, cert.notAfter);
}

function checkTranscript(path: string, transcript: Transcript): void {
  checkList(`${path}.entries`, transcript.entries, L.maxTranscriptEntries);
  let chars = 0;
  transcript.entries.forEach((entry, i) => {
    checkEnum(`${path}.entries[${i}].direction`, entry.direction, Direction);
    checkDuration(`${path}.entries[${i}].offset_ms`, entry.offsetMs);
    chars += entry.text.length;
    if (chars > L.maxTranscriptChars) fail(`${path} holds more than ${L.maxTranscriptChars} characters of text`);
  });
  if (transcript.bytes > L.maxTranscriptChars) fail(`${path}.bytes is ${transcript.bytes} (limit ${L.maxTranscriptChars})`);
}

function checkText(path: string, value: string, max: number): void {
  if (value.length > max) fail(`${path} has ${value.length} characters (limit ${max})`);
}

function checkList(path: string, list: readonly unknown[], max: number): void {
  if (list.length > max) fail(`${path} has ${list.length} items (limit ${max})`);
}

type NumericEnum = Record<string, string | number>;

const enumValues = new Map<NumericEnum, Set<number>>();

/** The values an enum defines, without ts-proto's UNRECOGNIZED (-1): what decode lets through. */
function valuesOf(e: NumericEnum): Set<number> {
  let values = enumValues.get(e);
  if (!values) {
    values = new Set(Object.values(e).filter((v): v is number => typeof v === "number" && v >= 0));
    enumValues.set(e, values);
  }
  return values;
}

function checkEnum(path: string, value: number, e: NumericEnum): void {
  if (!valuesOf(e).has(value)) fail(`${path} is ${value}, not a known value`);
}

function checkDuration(path: string, ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) fail(`${path} is ${ms}, not a duration`);
}

/** A Timestamp decodes to an invalid Date when its seconds are out of range; JSON would throw. */
function checkDate(path: string, date: Date | undefined): void {
  if (date !== undefined && Number.isNaN(date.getTime())) fail(`${path} is not a valid time`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 79)}…` : text);
}
