import { describe, expect, it } from "vitest";
import { HandshakeResult, Outcome, Severity, TargetResult } from "../../../gen/smtpprobe/v1/handshake.js";
import { CHECK_EXIT_CODES, ExitCode, exitCodeFor, formatExitCodeHelp, PROCESS_EXIT_CODES, REGIONS_EXIT_CODES } from "../../../cli/exit-codes.js";

const ok = (severities: Severity[] = []): HandshakeResult =>
  HandshakeResult.fromPartial({
    outcome: Outcome.OUTCOME_OK,
    findings: severities.map((severity, i) => ({ code: `f${i}`, severity, message: "m" })),
  });
const failed = (outcome: Outcome, severities: Severity[] = []): HandshakeResult =>
  HandshakeResult.fromPartial({ ...ok(severities), outcome });
const port = (...handshakes: HandshakeResult[]): TargetResult => TargetResult.fromPartial({ host: "h", port: 25, handshakes });

describe("exitCodeFor", () => {
  const { SEVERITY_ERROR: E, SEVERITY_WARNING: W, SEVERITY_INFO: I } = Severity;
  it.each<[string, TargetResult[], boolean, number]>([
    ["one clean handshake", [port(ok())], false, ExitCode.ok],
    ["warnings and info do not fail", [port(ok([W, I]))], false, ExitCode.ok],
    ["an error finding", [port(ok([E, W]))], false, ExitCode.errorFindings],
    ["an error finding on the second port", [port(ok()), port(ok([E]))], false, ExitCode.errorFindings],
    ["a refused port", [port(failed(Outcome.OUTCOME_REFUSED))], false, ExitCode.unreachable],
    ["DNS failed", [port(failed(Outcome.OUTCOME_DNS_FAILED))], false, ExitCode.unreachable],
    ["a 554 banner is not a completed handshake", [port(failed(Outcome.OUTCOME_REJECTED, [E]))], false, ExitCode.unreachable],
    ["unreachable wins over error findings", [port(ok([E])), port(failed(Outcome.OUTCOME_TIMED_OUT))], false, ExitCode.unreachable],
    ["a port with no handshake at all", [port()], false, ExitCode.unreachable],
    ["one completed address makes the port reachable, not on every address: partly reachable", [port(failed(Outcome.OUTCOME_UNREACHABLE), ok())], false, ExitCode.partlyReachable],
    ["partly reachable wins over error findings", [port(failed(Outcome.OUTCOME_TLS_FAILED, [E]), ok([E]))], false, ExitCode.partlyReachable],
    ["unreachable wins over partly reachable", [port(failed(Outcome.OUTCOME_REFUSED), ok()), port(failed(Outcome.OUTCOME_REFUSED))], false, ExitCode.unreachable],
    ["an address our side never finished (cancelled) is no failure; its error finding still counts", [port(failed(Outcome.OUTCOME_CANCELLED, [E]), ok())], false, ExitCode.errorFindings],
    ["an error of the mail domain's policy (a bogus TLSA answer)", [TargetResult.fromPartial({ ...port(ok()), mailPolicy: { domain: "d", findings: [{ code: "dane_lookup_failed", severity: E, message: "m" }] } })], false, ExitCode.errorFindings],
    ["a warning of the mail domain's policy does not fail", [TargetResult.fromPartial({ ...port(ok()), mailPolicy: { domain: "d", findings: [{ code: "tls_rpt_missing", severity: W, message: "m" }] } })], false, ExitCode.ok],
    ["interrupted wins over everything", [port(failed(Outcome.OUTCOME_CANCELLED))], true, ExitCode.interrupted],
  ])("%s", (_, results, interrupted, code) => {
    expect(exitCodeFor(results, interrupted)).toBe(code);
  });
});

describe("the exit codes in --help", () => {
  it("check's list has every code check can end with, 70 included, each once, in the order they are decided", () => {
    expect(CHECK_EXIT_CODES.map((c) => c.code)).toEqual([2, 130, 3, 4, 5, 1, 0, 70]);
    // Every code but the long-running commands' own (66, 69: their --help lists them).
    const processOnly = new Set<number>([ExitCode.unreadableFile, ExitCode.environment]);
    expect(new Set(CHECK_EXIT_CODES.map((c) => c.code))).toEqual(new Set(Object.values(ExitCode).filter((code) => !processOnly.has(code))));
    expect(CHECK_EXIT_CODES.find((c) => c.code === ExitCode.internal)?.when).toMatch(/^a bug in smtp-probe: please report it/);
  });

  it("the long-running commands' list: 0, 2, 66, 69 and 70", () => {
    expect(PROCESS_EXIT_CODES.map((c) => c.code)).toEqual([0, 2, 66, 69, 70]);
  });

  it("regions' list: 0, 2, 4, 130 and 70", () => {
    expect(REGIONS_EXIT_CODES.map((c) => c.code)).toEqual([0, 2, 4, 130, 70]);
  });

  it("is text in two columns, the meaning wrapped under its own column, within the width", () => {
    const text = formatExitCodeHelp(CHECK_EXIT_CODES, 80);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^ {2}2 {4}bad usage: /);
    expect(lines).toContain("  70   a bug in smtp-probe: please report it, with the lines printed");
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    expect(lines.every((l) => /^ {2}\d+ +\S/.test(l) || /^ {7}\S/.test(l))).toBe(true);
  });
});
