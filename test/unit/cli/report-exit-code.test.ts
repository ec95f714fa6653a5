import { describe, expect, it } from "vitest";
import { Outcome, Phase, Severity } from "../../../gen/smtpprobe/v1/handshake.js";
import { type ProbeReport, TaskReport, TaskStatus, VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { ExitCode } from "../../../cli/exit-codes.js";
import { exitCodeForReport } from "../../../cli/report-exit-code.js";
import { done, dropped, failed, finding, ok, refused, report, silent } from "../../helpers/report-builders.js";

const { SEVERITY_ERROR: E, SEVERITY_WARNING: W } = Severity;
const two = ["us-east", "eu-west"];

describe("exitCodeForReport", () => {
  it.each<[string, ProbeReport, number]>([
    ["open everywhere, no findings", report(two, [25], [done("us-east", 25, [ok()]), done("eu-west", 25, [ok()])]), ExitCode.ok],
    ["warnings do not fail", report(two, [25], [done("us-east", 25, [ok({ findings: [finding("auth_before_tls", W)] })]), done("eu-west", 25, [ok()])]), ExitCode.ok],
    ["an error finding in one region", report(two, [25], [done("us-east", 25, [ok()]), done("eu-west", 25, [ok({ findings: [finding("cert_expired", E)] })])]), ExitCode.errorFindings],
    [
      "an error of the mail domain's policy in one region",
      report(two, [25], [
        done("us-east", 25, [ok()]),
        done("eu-west", 25, [ok()], { result: { host: "mx.example.com", port: 25, handshakes: [{ ...ok(), port: 25 }], mailPolicy: { domain: "example.com", findings: [finding("dane_lookup_failed", E)] } } }),
      ]),
      ExitCode.errorFindings,
    ],
    ["blocked from one region", report(two, [25], [done("us-east", 25, [ok()]), done("eu-west", 25, [dropped()])]), ExitCode.unreachable],
    ["unreachable everywhere", report(two, [25], [done("us-east", 25, [refused()]), done("eu-west", 25, [refused()])]), ExitCode.unreachable],
    ["blocked on one port wins over error findings", report(two, [25, 587], [
      done("us-east", 25, [ok({ findings: [finding("starttls_missing", E)] })]), done("us-east", 587, [ok()]),
      done("eu-west", 25, [ok()]), done("eu-west", 587, [refused()]),
    ]), ExitCode.unreachable],
    ["a region without an agent does not count while another region tested the port", report(two, [25], [done("us-east", 25, [ok()]), silent("eu-west", 25, TaskStatus.TASK_STATUS_NO_AGENT)]), ExitCode.ok],
    ["no region answered for a port: no answer (4)", report(two, [25], [silent("us-east", 25, TaskStatus.TASK_STATUS_NO_AGENT), silent("eu-west", 25, TaskStatus.TASK_STATUS_AGENT_LOST)]), ExitCode.unavailable],
    ["the only answer is blocked at the agent's own egress: no answer (4)", report(["us-east"], [25], [
      done("us-east", 25, [dropped()], { egress: { port: 25, canary: "canary.example.net:25", ok: false, outcome: Outcome.OUTCOME_TIMED_OUT } }),
    ]), ExitCode.unavailable],
    ["a blocked port outranks a port without data", report(two, [25, 587], [
      done("us-east", 25, [refused()]), silent("us-east", 587, TaskStatus.TASK_STATUS_NO_AGENT),
      done("eu-west", 25, [refused()]), silent("eu-west", 587, TaskStatus.TASK_STATUS_NO_AGENT),
    ]), ExitCode.unreachable],
    ["IPv6 refused while IPv4 answers: partly reachable (5), over the failed handshake's error finding", report(["us-east"], [25], [
      done("us-east", 25, [failed(Outcome.OUTCOME_TLS_FAILED, Phase.PHASE_TLS, { address: "2001:db8::10", findings: [finding("tls_version_old", E)] }), ok()]),
    ]), ExitCode.partlyReachable],
    ["an error finding of a handshake our side never finished still counts", report(["us-east"], [25], [
      done("us-east", 25, [failed(Outcome.OUTCOME_CANCELLED, Phase.PHASE_TLS, { findings: [finding("tls_version_old", E)] }), ok()]),
    ]), ExitCode.errorFindings],
    ["a blocked port outranks a partly reachable one", report(two, [25, 587], [
      done("us-east", 25, [ok(), refused({ address: "2001:db8::10" })]), done("us-east", 587, [refused()]),
      done("eu-west", 25, [ok()]), done("eu-west", 587, [ok()]),
    ]), ExitCode.unreachable],
    ["a port without data outranks a partly reachable one", report(two, [25, 587], [
      done("us-east", 25, [ok(), refused({ address: "2001:db8::10" })]), silent("us-east", 587, TaskStatus.TASK_STATUS_NO_AGENT),
      done("eu-west", 25, [ok()]), silent("eu-west", 587, TaskStatus.TASK_STATUS_NO_AGENT),
    ]), ExitCode.unavailable],
    ["an empty report", report([], [], []), ExitCode.unavailable],
  ])("%s", (_, probeReport, code) => {
    expect(exitCodeForReport(probeReport, false)).toBe(code);
  });

  it("an ERROR verdict (STARTTLS offered in some regions only) gives 1 with no error finding", () => {
    const base = report(two, [25], [done("us-east", 25, [ok()]), done("eu-west", 25, [ok({ capabilities: { starttls: false }, tls: undefined })])]);
    expect(base.comparison?.verdicts.map((v) => v.kind)).toContain(VerdictKind.VERDICT_KIND_STARTTLS_DIFFERS);
    expect(base.comparison?.verdicts.find((v) => v.kind === VerdictKind.VERDICT_KIND_STARTTLS_DIFFERS)?.severity).toBe(E);
    expect(exitCodeForReport(base, false)).toBe(ExitCode.errorFindings);
  });

  it("interrupted wins over everything", () => {
    expect(exitCodeForReport(report(two, [25], [done("us-east", 25, [refused()]), done("eu-west", 25, [refused()])]), true)).toBe(ExitCode.interrupted);
  });

  it("a task that is not DONE has no findings that count (its result is not trusted)", () => {
    const untrusted = done("us-east", 25, [ok({ findings: [finding("cert_expired", E)] })], { status: TaskStatus.TASK_STATUS_INVALID_REPORT });
    expect(exitCodeForReport(report(two, [25], [untrusted, done("eu-west", 25, [ok()])]), false)).toBe(ExitCode.ok);
  });
});

describe("exitCodeForReport: regions no agent has ever served", () => {
  const unknown = (region: string, port: number): TaskReport =>
    TaskReport.fromPartial({ region, port, status: TaskStatus.TASK_STATUS_UNKNOWN_REGION, detail: `unknown region ${region}; live regions: us-east` });

  it.each<[string, ProbeReport, number]>([
    ["beside a region that reached the port: not counted, 0", report(["us-east", "eu-wst"], [25], [done("us-east", 25, [ok()]), unknown("eu-wst", 25)]), ExitCode.ok],
    ["beside a region that was refused: 3, as without it", report(["us-east", "eu-wst"], [25], [done("us-east", 25, [refused()]), unknown("eu-wst", 25)]), ExitCode.unreachable],
    ["every region asked for unknown: nothing probed, bad usage (2), not no answer (4)", report(["eu-wst", "us-est"], [25, 587], [
      unknown("eu-wst", 25), unknown("eu-wst", 587), unknown("us-est", 25), unknown("us-est", 587),
    ]), ExitCode.usage],
    ["an outage beside an unknown name: no answer (4)", report(["us-east", "eu-wst"], [25], [silent("us-east", 25, TaskStatus.TASK_STATUS_NO_AGENT), unknown("eu-wst", 25)]), ExitCode.unavailable],
  ])("%s", (_, r, code) => {
    expect(exitCodeForReport(r, false)).toBe(code);
  });
});
