import { describe, expect, it } from "vitest";
import { Severity } from "../../../gen/smtpprobe/v1/handshake.js";
import { PortVerdict, TaskStatus, VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { makeStyle } from "../../../cli/colors.js";
import { formatHeader, formatRegionFindings, formatReport, formatVerdict } from "../../../cli/format-report.js";
import { done, dropped, finding, ok, refused, report, silent } from "../../helpers/report-builders.js";

const plain = makeStyle(false);
const colour = makeStyle(true);
const { SEVERITY_ERROR: E, SEVERITY_WARNING: W, SEVERITY_INFO: I } = Severity;

describe("formatReport", () => {
  it("header, matrix, verdicts, regions without an answer, findings per region", () => {
    const untrusted = finding("cert_untrusted", E, "The certificate for mx.example.com is not trusted.");
    const r = report(
      ["us-east", "eu-west", "ap-south"],
      [25, 587],
      [
        done("us-east", 25, [ok({ findings: [untrusted] })]),
        done("us-east", 587, [ok({ findings: [untrusted] })]),
        done("eu-west", 25, [dropped()]),
        done("eu-west", 587, [ok({ findings: [untrusted, finding("auth_before_tls", W, "AUTH before TLS.")] })]),
        silent("ap-south", 25, TaskStatus.TASK_STATUS_NO_AGENT),
        silent("ap-south", 587, TaskStatus.TASK_STATUS_NO_AGENT),
      ],
      { complete: false },
    );
    expect(formatReport(r, { style: plain, transcript: false })).toBe(
      [
        "mx.example.com · ports 25, 587 · 3 regions · 1.23 s · probe 1b4e28ba-2fa1-11d2-883f-0016d3cca427 · incomplete",
        "",
        "region     port 25            port 587",
        "us-east    ✔ 120 ms TLSv1.3   ✔ 120 ms TLSv1.3",
        "eu-west    ✖ dropped          ✔ 120 ms TLSv1.3",
        "ap-south   – no agent         – no agent",
        "",
        "Verdicts",
        "  ▲ Port 25 is dropped from eu-west, open from us-east.",
        "  ✔ Port 587 is open from every region that could test it: us-east and eu-west.",
        "",
        "No answer from",
        "  – ap-south: no agent",
        "",
        "Findings",
        "  us-east",
        "    Errors (1)",
        "      ✖ [cert_untrusted] The certificate for mx.example.com is not trusted.",
        "  eu-west",
        "    Errors (1)",
        "      ✖ [cert_untrusted] The certificate for mx.example.com is not trusted.",
        "    Warnings (1)",
        "      ▲ [auth_before_tls] AUTH before TLS.",
        "",
      ].join("\n"),
    );
  });

  it("a single region, one port refused: the error verdict, no findings section when nothing reached it", () => {
    const r = report(["local"], [2525], [done("local", 2525, [refused()])]);
    expect(formatReport(r, { style: plain, transcript: false })).toBe(
      [
        "mx.example.com · port 2525 · 1 region · 1.23 s · probe 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "",
        "region   port 2525",
        "local    ✖ refused",
        "",
        "Verdicts",
        "  ✖ Port 2525 is unreachable: refused from local.",
        "",
      ].join("\n"),
    );
  });

  it("--transcript adds each region's handshakes in full, titled with the region", () => {
    const r = report(["us-east", "eu-west"], [25], [done("us-east", 25, [ok()]), silent("eu-west", 25, TaskStatus.TASK_STATUS_AGENT_LOST)]);
    const text = formatReport(r, { style: plain, transcript: true });
    expect(text).toContain("── us-east · 192.0.2.10:25 (mx.example.com) ");
    expect(text).toContain("  Transcript");
    expect(text).toMatch(/1\.50 ms {2}← {5}220 mx\.example\.com ESMTP ready/);
    expect(text).not.toContain("── eu-west");
    expect(text).toContain("  – eu-west: agent lost");
  });

  it("MX mode shows in the header", () => {
    const r = report(["local"], [25], [done("local", 25, [ok()])], { host: "example.com", mx: true });
    expect(formatHeader(r, plain)).toMatch(/^example\.com \(MX\) · port 25 · 1 region/);
  });
});

describe("formatVerdict", () => {
  const verdict = (kind: VerdictKind, severity: Severity, summary: string) => PortVerdict.fromPartial({ port: 25, kind, severity, summary });
  it.each<[string, PortVerdict, string, string]>([
    ["reachable: a green tick", verdict(VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, I, "Port 25 is open."), "✔ Port 25 is open.", "\x1b[32m✔\x1b[39m Port 25 is open."],
    ["another info verdict", verdict(VerdictKind.VERDICT_KIND_BANNER_DIFFERS, I, "Banners differ."), "ℹ Banners differ.", "\x1b[36mℹ\x1b[39m Banners differ."],
    ["a warning, yellow", verdict(VerdictKind.VERDICT_KIND_BLOCKED_FROM_REGIONS, W, "Blocked."), "▲ Blocked.", "\x1b[33m▲\x1b[39m \x1b[33mBlocked.\x1b[39m"],
    ["an error, red", verdict(VerdictKind.VERDICT_KIND_STARTTLS_DIFFERS, E, "Stripped?"), "✖ Stripped?", "\x1b[31m✖\x1b[39m \x1b[31mStripped?\x1b[39m"],
    ["a summary with controls is escaped", verdict(VerdictKind.VERDICT_KIND_BANNER_DIFFERS, I, "a\x1b]0;x\x07b"), "ℹ a\\x1b]0;x\\x07b", "\x1b[36mℹ\x1b[39m a\\x1b]0;x\\x07b"],
  ])("%s", (_, v, text, coloured) => {
    expect(formatVerdict(v, plain)).toBe(text);
    expect(formatVerdict(v, colour)).toBe(coloured);
  });
});

describe("formatRegionFindings", () => {
  it("regions with the same findings share a heading; duplicates within a region are shown once; info is left out", () => {
    const f = finding("starttls_missing", E, "No STARTTLS.");
    const r = report(
      ["a", "b", "c"],
      [25, 587],
      [
        done("a", 25, [ok({ findings: [f, finding("transcript_truncated", I)] })]),
        done("a", 587, [ok({ findings: [f] })]),
        done("b", 25, [ok({ findings: [f] })]),
        done("b", 587, [ok()]),
        done("c", 25, [ok()]),
        done("c", 587, [ok()]),
      ],
    );
    expect(formatRegionFindings(r, plain)).toEqual([
      "  a, b",
      "    Errors (1)",
      "      ✖ [starttls_missing] No STARTTLS.",
      "  c  no errors or warnings",
    ]);
  });
});
