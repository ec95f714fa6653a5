import { describe, expect, it } from "vitest";
import {
  Direction,
  FailureSource,
  Outcome,
  Phase,
  Severity,
  TargetResult,
  TlsMode,
  HandshakeResult,
  type NotProbed,
  type CipherGrade,
  type StarttlsEnforcementStatus,
  type TlsProfile,
  type TlsScanStatus,
  MailPolicy,
  MtaStsStatus,
  PolicyCheck,
  type PolicyResult,
} from "../../../../gen/smtpprobe/v1/handshake.js";
import { type TaskProgress } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { AgentMessage } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import {
  AGENT_MESSAGE_LIMITS as L,
  agentErrorText,
  checkAgentId,
  checkTargetResult,
  checkTaskProgress,
  decodeAgentMessage,
} from "../../../../services/coordinator/validate-agent-message.js";

const TASK = { host: "mx.example.com", port: 25, mx: false };

function handshake(): HandshakeResult {
  return HandshakeResult.fromPartial({
    host: "mx.example.com",
    address: "192.0.2.10",
    port: 25,
    outcome: Outcome.OUTCOME_OK,
    phase: Phase.PHASE_DONE,
    failureSource: FailureSource.FAILURE_SOURCE_UNSPECIFIED,
    tlsMode: TlsMode.TLS_MODE_AUTO,
    banner: { code: 220, lines: ["mx.example.com ESMTP"], meaning: "service ready" },
    capabilities: { greeting: "mx.example.com", starttls: true, authMechanisms: ["PLAIN"], other: ["XCLIENT"] },
    tls: {
      protocol: "TLSv1.3",
      cipher: "TLS_AES_256_GCM_SHA384",
      chain: [{ subject: "CN=mx.example.com", subjectAltNames: ["DNS:mx.example.com"], notBefore: new Date("2025-01-01"), notAfter: new Date("2026-01-01") }],
      handshakeMs: 12.5,
    },
    timings: [{ phase: Phase.PHASE_CONNECT, startMs: 0, durationMs: 3.2 }],
    totalMs: 80.1,
    findings: [{ code: "tls_ok", severity: Severity.SEVERITY_INFO, message: "TLS 1.3." }],
    transcript: {
      entries: [
        { offsetMs: 1, direction: Direction.DIRECTION_SERVER, text: "220 mx.example.com ESMTP" },
        { offsetMs: 2, direction: Direction.DIRECTION_CLIENT, text: "EHLO probe.example.net" },
      ],
      bytes: 46,
    },
    startedAt: new Date("2025-06-01T12:00:00Z"),
  });
}

function result(): TargetResult {
  return TargetResult.fromPartial({ host: "mx.example.com", port: 25, mx: false, handshakes: [handshake()], totalMs: 81 });
}

/** A complete, valid profile with some fields replaced. */
function profileWith(over: Partial<TlsProfile>): TlsProfile {
  return {
    status: 1,
    reason: "",
    versions: [{ version: 4, support: 1, detail: "", ciphers: [{ codePoint: 0xc02f, name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", grade: 1, weaknesses: [], reason: "" }], ciphersComplete: true }],
    groups: [{ codePoint: 29, name: "x25519" }],
    groupsComplete: true,
    cipherOrder: 1,
    cipherOrderVersion: 4,
    chains: [],
    dhePrimeBits: 0,
    connections: 12,
    totalMs: 300,
    ...over,
  };
}

type Case = [name: string, change: (r: TargetResult) => void, reason: string | RegExp];

const h0 = (r: TargetResult): HandshakeResult => r.handshakes[0]!;

const notProbed = (over: Partial<NotProbed> = {}): NotProbed => ({ host: "mx4.example.com", address: "", exchange: "mx4.example.com", mxPreference: 40, limit: "max_exchangers", limitValue: 3, ...over });

const INVALID: Case[] = [
  ["another port", (r) => (r.port = 26), "result.port is 26, the task's port is 25"],
  ["another host", (r) => (r.host = "evil.example.org"), 'result.host is "evil.example.org", the task\'s host is "mx.example.com"'],
  ["mx flipped", (r) => (r.mx = true), "result.mx is true, the task asked false"],
  ["a handshake on another port", (r) => (h0(r).port = 587), "result.handshakes[0].port is 587, the task's port is 25"],
  ["too many handshakes", (r) => (r.handshakes = Array.from({ length: L.maxHandshakes + 1 }, handshake)), `result.handshakes has ${L.maxHandshakes + 1} items (limit ${L.maxHandshakes})`],
  [
    "a transcript over 4 MiB",
    (r) => (h0(r).transcript!.entries = Array.from({ length: 5 }, () => ({ offsetMs: 1, direction: Direction.DIRECTION_SERVER, tls: false, text: "x".repeat(1024 * 1024) }))),
    `result.handshakes[0].transcript holds more than ${4 * 1024 * 1024} characters of text`,
  ],
  ["transcript bytes claimed over the bound", (r) => (h0(r).transcript!.bytes = 5 * 1024 * 1024), /transcript\.bytes is 5242880/],
  ["outcome out of range", (r) => (h0(r).outcome = 99 as Outcome), "result.handshakes[0].outcome is 99, not a known value"],
  ["phase out of range", (r) => (h0(r).phase = -1 as Phase), "result.handshakes[0].phase is -1, not a known value"],
  ["failure source out of range", (r) => (h0(r).failureSource = 7 as FailureSource), /failure_source is 7/],
  ["tls mode out of range", (r) => (h0(r).tlsMode = 5 as TlsMode), /tls_mode is 5/],
  ["direction out of range", (r) => (h0(r).transcript!.entries[0]!.direction = 4 as Direction), /transcript\.entries\[0\]\.direction is 4/],
  ["severity out of range", (r) => (h0(r).findings[0]!.severity = 7 as Severity), /findings\[0\]\.severity is 7/],
  ["timing phase out of range", (r) => (h0(r).timings[0]!.phase = 13 as Phase), /timings\[0\]\.phase is 13/],
  ["a huge address", (r) => (h0(r).address = "1".repeat(65)), "result.handshakes[0].address has 65 characters (limit 64)"],
  ["a huge host name", (r) => (h0(r).host = "a".repeat(256)), /handshakes\[0\]\.host has 256 characters/],
  ["a huge reason", (r) => (h0(r).reason = "r".repeat(L.maxTextChars + 1)), /reason has \d+ characters/],
  ["a huge banner line", (r) => (h0(r).banner!.lines[0] = "b".repeat(L.maxTextChars + 1)), /banner\.lines\[0\] has/],
  ["too many banner lines", (r) => (h0(r).banner!.lines = Array.from({ length: L.maxListItems + 1 }, () => "x")), /banner\.lines has 1001 items/],
  ["a reply code beyond three digits", (r) => (h0(r).banner!.code = 2200), /banner\.code is 2200/],
  ["too many EHLO keywords", (r) => (h0(r).capabilities!.other = Array.from({ length: L.maxListItems + 1 }, () => "X")), /capabilities\.other has/],
  ["a huge SAN", (r) => (h0(r).tls!.chain[0]!.subjectAltNames[0] = "DNS:" + "a".repeat(L.maxTextChars)), /chain\[0\]\.subject_alt_names\[0\] has/],
  ["an invalid certificate time", (r) => (h0(r).tls!.chain[0]!.notAfter = new Date(Number.NaN)), "result.handshakes[0].tls.chain[0].not_after is not a valid time"],
  ["an invalid start time", (r) => (h0(r).startedAt = new Date(Number.NaN)), /started_at is not a valid time/],
  ["a NaN duration", (r) => (h0(r).totalMs = Number.NaN), /handshakes\[0\]\.total_ms is NaN/],
  ["a negative duration", (r) => (r.totalMs = -1), "result.total_ms is -1, not a duration"],
  ["an infinite offset", (r) => (h0(r).transcript!.entries[1]!.offsetMs = Infinity), /entries\[1\]\.offset_ms is Infinity/],
  ["too many exchangers", (r) => (r.exchangers = Array.from({ length: L.maxExchangers + 1 }, () => ({ exchange: "mx", preference: 10 }))), /result\.exchangers has 65 items/],
  ["a long finding code", (r) => (h0(r).findings[0]!.code = "c".repeat(65)), /findings\[0\]\.code has 65/],
  ["too many entries left out", (r) => (r.notProbed = Array.from({ length: L.maxNotProbed + 1 }, () => notProbed())), /result\.not_probed has 65 items/],
  ["a huge name left out", (r) => (r.notProbed = [notProbed({ host: "a".repeat(L.maxNameChars + 1) })]), /not_probed\[0\]\.host has 256 characters/],
  ["a limit the contract does not name", (r) => (r.notProbed = [notProbed({ limit: "max_everything" })]), 'result.not_probed[0].limit is "max_everything", not one of max_exchangers, max_addresses'],
  // The TLS profile and the enforcement check: bounded counts, known enums, two-byte code points.
  ["a profile with too many versions", (r) => (h0(r).tlsProfile = profileWith({ versions: Array.from({ length: 9 }, () => ({ version: 4, support: 1, detail: "", ciphers: [], ciphersComplete: true })) })), "result.handshakes[0].tls_profile.versions has 9 items (limit 8)"],
  ["a profile status out of range", (r) => (h0(r).tlsProfile = profileWith({ status: 9 as TlsScanStatus })), "result.handshakes[0].tls_profile.status is 9, not a known value"],
  ["a cipher code point over two bytes", (r) => (h0(r).tlsProfile = profileWith({ versions: [{ version: 4, support: 1, detail: "", ciphers: [{ codePoint: 0x10000, name: "x", grade: 1, weaknesses: [], reason: "" }], ciphersComplete: true }] })), "result.handshakes[0].tls_profile.versions[0].ciphers[0].code_point is 65536, not a two-byte code point"],
  ["a cipher grade out of range", (r) => (h0(r).tlsProfile = profileWith({ versions: [{ version: 4, support: 1, detail: "", ciphers: [{ codePoint: 1, name: "x", grade: 7 as CipherGrade, weaknesses: [], reason: "" }], ciphersComplete: true }] })), "result.handshakes[0].tls_profile.versions[0].ciphers[0].grade is 7, not a known value"],
  ["too many suites in a version", (r) => (h0(r).tlsProfile = profileWith({ versions: [{ version: 4, support: 1, detail: "", ciphers: Array.from({ length: L.maxScanCiphers + 1 }, () => ({ codePoint: 1, name: "x", grade: 1, weaknesses: [], reason: "" })), ciphersComplete: true }] })), `result.handshakes[0].tls_profile.versions[0].ciphers has ${L.maxScanCiphers + 1} items (limit ${L.maxScanCiphers})`],
  ["a long group name", (r) => (h0(r).tlsProfile = profileWith({ groups: [{ codePoint: 29, name: "x".repeat(200) }] })), "result.handshakes[0].tls_profile.groups[0].name has 200 characters (limit 128)"],
  ["too many chains", (r) => (h0(r).tlsProfile = profileWith({ chains: Array.from({ length: 9 }, () => ({ keyType: "RSA", chain: [] })) })), "result.handshakes[0].tls_profile.chains has 9 items (limit 8)"],
  ["an enforcement status out of range", (r) => (h0(r).starttlsEnforcement = { status: 12 as StarttlsEnforcementStatus, reply: undefined, reason: "", totalMs: 1 }), "result.handshakes[0].starttls_enforcement.status is 12, not a known value"],
  ["a mail policy with an unknown MTA-STS status", (r) => (r.mailPolicy = MailPolicy.fromPartial({ domain: "example.com", mtaSts: { status: 9 as MtaStsStatus } })), "result.mail_policy.mta_sts.status is 9, not a known value"],
  ["a TLSA usage over one byte", (r) => (r.mailPolicy = MailPolicy.fromPartial({ domain: "example.com", tlsa: [{ exchanger: "mx.example.com", status: 2, records: [{ usage: 256 }] }] })), "result.mail_policy.tlsa[0].records[0].usage is 256, not one byte"],
  ["a DANE result out of range", (r) => (h0(r).dane = { status: 2, result: 8 as PolicyResult, reason: "", matchedRecord: "" }), "result.handshakes[0].dane.result is 8, not a known value"],
  ["a long policy check reason", (r) => (h0(r).policyCheck = PolicyCheck.fromPartial({ domain: "example.com", mtaStsReason: "x".repeat(L.maxTextChars + 1) })), `result.handshakes[0].policy_check.mta_sts_reason has ${L.maxTextChars + 1} characters (limit ${L.maxTextChars})`],
  ["an enforcement reply of four digits", (r) => (h0(r).starttlsEnforcement = { status: 1, reply: { code: 5300, enhancedCode: "", lines: [], meaning: "" }, reason: "", totalMs: 1 }), "result.handshakes[0].starttls_enforcement.reply.code is 5300, not a three-digit reply code"],
];

describe("checkTargetResult", () => {
  it("accepts a result with a TLS profile and an enforcement check", () => {
    const r = result();
    h0(r).tlsProfile = profileWith({});
    h0(r).starttlsEnforcement = { status: 1, reply: { code: 530, enhancedCode: "5.7.0", lines: ["5.7.0 Must issue a STARTTLS command first"], meaning: "" }, reason: "", totalMs: 5 };
    expect(checkTargetResult(r, TASK)).toBeUndefined();
  });

  it("accepts a result with a mail policy and its checks", () => {
    const r = result();
    r.mailPolicy = MailPolicy.fromPartial({
      domain: "example.com",
      mtaSts: { status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: 1, maxAge: 86400, mxPatterns: ["mx.example.com"], records: ["v=STSv1; id=1"] },
      tlsRpt: { status: 2, rua: ["mailto:tls@example.com"] },
      tlsa: [{ exchanger: "mx.example.com", name: "_25._tcp.mx.example.com", status: 2, authenticated: true, rcode: "NOERROR", records: [{ usage: 3, selector: 1, matchingType: 1, data: "ab".repeat(32), usable: true }] }],
      findings: [{ code: "tls_rpt_missing", severity: 2, message: "x" }],
    });
    h0(r).policyCheck = PolicyCheck.fromPartial({ domain: "example.com", mtaStsStatus: 2, mtaStsMode: 1, mtaSts: 1 });
    h0(r).dane = { status: 2, result: 1, reason: "matches", matchedRecord: "3 1 1 abab" };
    expect(checkTargetResult(r, TASK)).toBeUndefined();
  });

  it("accepts a well-formed result", () => {
    expect(checkTargetResult(result(), TASK)).toBeUndefined();
  });

  it.each<[string, (r: TargetResult) => void]>([
    ["the host in another case", (r) => (r.host = "MX.Example.COM")],
    ["no handshakes at all (DNS failed before any)", (r) => (r.handshakes = [])],
    ["exactly the handshake bound", (r) => (r.handshakes = Array.from({ length: L.maxHandshakes }, handshake))],
    ["a transcript of exactly 4 MiB", (r) => (h0(r).transcript!.entries = [{ offsetMs: 0, direction: Direction.DIRECTION_SERVER, tls: false, text: "x".repeat(4 * 1024 * 1024) }])],
    ["an MX exchanger of another name", (r) => (h0(r).host = "mx2.example.net")],
    ["empty optional parts", (r) => Object.assign(h0(r), { banner: undefined, tls: undefined, transcript: undefined, startedAt: undefined })],
  ])("accepts %s", (_name, change) => {
    const r = result();
    change(r);
    expect(checkTargetResult(r, TASK)).toBeUndefined();
  });

  it.each(INVALID)("rejects %s", (_name, change, reason) => {
    const r = result();
    change(r);
    const got = checkTargetResult(r, TASK);
    if (typeof reason === "string") expect(got).toBe(reason);
    else expect(got).toMatch(reason);
  });

  it("bounds a hostile host in its reason", () => {
    const r = result();
    r.host = "h".repeat(10_000);
    expect(checkTargetResult(r, TASK)!.length).toBeLessThan(200);
  });

  it("survives the wire: an out-of-range enum decoded from bytes is caught", () => {
    const r = result();
    h0(r).outcome = 1234 as Outcome;
    const bytes = AgentMessage.encode({ taskId: "t", agentId: "a", result: r }).finish();
    const decoded = decodeAgentMessage(bytes);
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(checkTargetResult(decoded.message.result!, TASK)).toBe("result.handshakes[0].outcome is 1234, not a known value");
  });
});

describe("decodeAgentMessage", () => {
  it("decodes a valid message", () => {
    const bytes = AgentMessage.encode({ taskId: "p.eu-west.25", agentId: "agent-1", error: "shutting down" }).finish();
    expect(decodeAgentMessage(bytes)).toEqual({ ok: true, message: { taskId: "p.eu-west.25", agentId: "agent-1", error: "shutting down" } });
  });

  it.each<[string, Uint8Array]>([
    ["a truncated field", Uint8Array.from([0x0a, 0x10, 0x61])],
    ["an invalid wire type", Uint8Array.from([0x0f, 0x01])],
  ])("gives a reason for %s instead of throwing", (_name, bytes) => {
    const decoded = decodeAgentMessage(bytes);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(/^not a valid AgentMessage: /);
  });
});

describe("checkAgentId", () => {
  it.each<[string, string | undefined]>([
    ["agent-eu-1", undefined],
    ["", "the message has no agent id"],
    ["a".repeat(129), "agent id of 129 characters (limit 128)"],
    ["agent\nforged log line", "agent id contains control characters"],
  ])("%j → %s", (id, reason) => {
    expect(checkAgentId(id)).toBe(reason);
  });
});

describe("checkTaskProgress", () => {
  const progress = (over: Partial<TaskProgress> = {}): TaskProgress => ({
    taskId: "p.eu-west.25",
    region: "eu-west",
    port: 25,
    agentId: "agent-1",
    phase: Phase.PHASE_BANNER,
    host: "mx.example.com",
    address: "192.0.2.10",
    queued: false,
    ...over,
  });

  it.each<[string, Partial<TaskProgress>, string | undefined]>([
    ["a normal progress", {}, undefined],
    ["queued, no phase yet", { phase: Phase.PHASE_UNSPECIFIED, queued: true, address: "" }, undefined],
    ["a phase out of range", { phase: 42 as Phase }, "progress.phase is 42, not a known value"],
    ["a huge host", { host: "h".repeat(300) }, "progress.host has 300 characters (limit 255)"],
    ["a huge address", { address: "1".repeat(100) }, "progress.address has 100 characters (limit 64)"],
  ])("%s", (_name, over, reason) => {
    expect(checkTaskProgress(progress(over))).toBe(reason);
  });
});

describe("agentErrorText", () => {
  it.each<[string, string]>([
    ["shutting down", "shutting down"],
    ["line one\r\nline two", "line one\\x0d\\x0aline two"],
    ["", "the agent gave no reason"],
  ])("%j → %j", (input, output) => {
    expect(agentErrorText(input)).toBe(output);
  });

  it("bounds a long error", () => {
    const text = agentErrorText("e".repeat(10_000));
    expect(text).toHaveLength(L.maxErrorChars);
    expect(text.endsWith("…")).toBe(true);
  });
});
