import { describe, expect, it } from "vitest";
import { type NotProbed, Severity } from "../../../gen/smtpprobe/v1/handshake.js";
import { PortVerdict, TaskReport, TaskStatus, VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { makeStyle } from "../../../cli/colors.js";
import { formatHeader, formatRegionFindings, formatReport } from "../../../cli/format-report.js";
import { formatNotProbed, formatVerdict, type NotProbedSource } from "../../../cli/format-verdict.js";
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

  it("an MX domain with a dead primary and two exchangers left out: the partial cell, the verdict naming the exchanger, the limit", () => {
    const leftOut = (exchange: string, mxPreference: number) => ({ host: exchange, address: "", exchange, mxPreference, limit: "max_exchangers", limitValue: 3 });
    const task = done("local", 25, [
      refused({ host: "mx1.five.test", exchange: "mx1.five.test", mxPreference: 10, address: "127.0.0.1" }),
      ok({ host: "mx2.five.test", exchange: "mx2.five.test", mxPreference: 20, address: "127.0.0.2", totalMs: 40 }),
      ok({ host: "mx3.five.test", exchange: "mx3.five.test", mxPreference: 30, address: "127.0.0.3", totalMs: 41 }),
    ]);
    task.result!.notProbed = [leftOut("mx4.five.test", 40), leftOut("mx5.five.test", 50)];
    const r = report(["local"], [25], [task], { host: "five.test", mx: true });
    expect(formatReport(r, { style: plain, transcript: false })).toBe(
      [
        "five.test (MX) · port 25 · 1 region · 1.23 s · probe 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "",
        "region   port 25",
        "local    ◐ 2 of 3 ok, 1 refused",
        "",
        "Verdicts",
        "  ◐ Port 25 is open from local through mx2.five.test and mx3.five.test, but mx1.five.test (127.0.0.1) is refused.",
        "  not probed: mx4.five.test, mx5.five.test (max_exchangers 3; raise with --max-exchangers)",
        "",
        "Findings",
        "  local  no errors or warnings",
        "",
      ].join("\n"),
    );
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
    ["partly reachable: a half-filled circle, yellow", verdict(VerdictKind.VERDICT_KIND_PARTIALLY_REACHABLE, W, "Half."), "◐ Half.", "\x1b[33m◐\x1b[39m \x1b[33mHalf.\x1b[39m"],
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

describe("formatNotProbed", () => {
  const exchanger = (name: string, limitValue = 3): NotProbed => ({ host: name, address: "", exchange: name, mxPreference: 40, limit: "max_exchangers", limitValue });
  const address = (host: string, a: string, limitValue = 2): NotProbed => ({ host, address: a, exchange: "", mxPreference: 0, limit: "max_addresses", limitValue });
  const source = (port: number, region: string, notProbed: NotProbed[], omitted = 0): NotProbedSource => ({ port, region, notProbed, omitted });

  it.each<[string, NotProbedSource[], string[]]>([
    ["nothing left out", [source(25, "", [])], []],
    ["exchangers", [source(25, "", [exchanger("mx4.five.test"), exchanger("mx5.five.test")])], ["not probed: mx4.five.test, mx5.five.test (max_exchangers 3; raise with --max-exchangers)"]],
    ["addresses, by their name", [source(25, "", [address("four.test", "127.0.0.3"), address("four.test", "127.0.0.4")])], ["not probed: 127.0.0.3, 127.0.0.4 of four.test (max_addresses 2; raise with --max-addresses)"]],
    [
      "both limits: a line each; the same on every port is said once",
      [25, 587].map((port) => source(port, "", [exchanger("mx4.test"), address("mx1.test", "192.0.2.3")])),
      ["not probed: mx4.test (max_exchangers 3; raise with --max-exchangers)", "not probed: 192.0.2.3 of mx1.test (max_addresses 2; raise with --max-addresses)"],
    ],
    ["at the maximum: nothing to raise", [source(25, "", [address("big.test", "192.0.2.9", 8)])], ["not probed: 192.0.2.9 of big.test (max_addresses 8, the most allowed)"]],
    ["more than the list holds", [source(25, "", [exchanger("mx4.test")], 7)], ["not probed: mx4.test and 7 more (max_exchangers 3; raise with --max-exchangers)"]],
    ["only in some regions: says where", [source(25, "us-east", [exchanger("mx4.test")]), source(25, "eu-west", [])], ["not probed: mx4.test (max_exchangers 3; raise with --max-exchangers) — port 25 from us-east"]],
    ["names from DNS are made safe", [source(25, "", [exchanger("mx\x1b[2J.test")])], ["not probed: mx\\x1b[2J.test (max_exchangers 3; raise with --max-exchangers)"]],
  ])("%s", (_, sources, lines) => {
    expect(formatNotProbed(sources)).toEqual(lines);
  });
});

describe("formatReport: regions no agent has ever served", () => {
  const unknown = (region: string, port: number): TaskReport =>
    TaskReport.fromPartial({ region, port, status: TaskStatus.TASK_STATUS_UNKNOWN_REGION, detail: `unknown region ${region}; live regions: ap-south, eu-west, us-east` });

  it("are named apart with the live regions, not in the matrix nor among the regions without an answer", () => {
    const r = report(["us-east", "eu-wst"], [25], [done("us-east", 25, [ok()]), unknown("eu-wst", 25)]);
    const text = formatReport(r, { style: plain, transcript: false });
    expect(text).toContain("mx.example.com · port 25 · 1 region (1 unknown) · 1.23 s · probe");
    expect(text).not.toContain("incomplete");
    expect(text).toContain("region    port 25\nus-east   ✔ 120 ms TLSv1.3\n");
    expect(text).not.toMatch(/eu-wst +–/);
    expect(text).toContain("Unknown region (not probed; smtp-probe regions lists the live ones)\n  ✖ unknown region eu-wst; live regions: ap-south, eu-west, us-east\n");
    expect(text).not.toContain("No answer from");
  });

  it("every region unknown: no matrix and no verdicts, only the names", () => {
    const r = report(["eu-wst"], [25], [unknown("eu-wst", 25)]);
    expect(formatReport(r, { style: plain, transcript: false })).toBe(
      "mx.example.com · port 25 · 0 regions (1 unknown) · 1.23 s · probe 1b4e28ba-2fa1-11d2-883f-0016d3cca427\n\n" +
        "Unknown region (not probed; smtp-probe regions lists the live ones)\n  ✖ unknown region eu-wst; live regions: ap-south, eu-west, us-east\n",
    );
  });

  it.each([60, 100])("fits %i columns, continuation lines under the text of their line", (width) => {
    const long = finding("cert_untrusted", E, "The certificate for mx.example.com on 192.0.2.10 port 25 is not trusted: the issuer of the certificate is unknown (UNABLE_TO_VERIFY_LEAF_SIGNATURE).");
    const r = report(["us-east", "eu-wst"], [25], [done("us-east", 25, [ok({ findings: [long] })]), unknown("eu-wst", 25)]);
    const lines = formatReport(r, { style: plain, transcript: true, width }).trimEnd().split("\n");
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(width);
    const at = lines.findIndex((l) => l.startsWith("      ✖ [cert_untrusted]"));
    expect(lines[at + 1]).toMatch(/^ {8}\S/);
  });
});
