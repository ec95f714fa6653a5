// `smtp-probe domain` end to end: the compiled binary against a DNS server this test starts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.js";
import { runCli as runCliProcess, type CliRun } from "../helpers/processes.js";
import { postureZone } from "../fixtures/posture/zone.js";

const runCli = (args: string[]): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", NO_COLOR: "1" });

interface JsonReport {
  checkId: string;
  request: { domain: string; dkimSelectors?: string[] };
  postures: {
    domain: string;
    region: string;
    spf: { dnsLookups?: number; record: { record?: string; children?: { domain: string }[] } };
    dmarc: { policy?: string; inherited?: boolean };
    dkimKeys?: { selector: string; keyBits?: number; revoked?: boolean }[];
    mx: { exchangers?: { exchange: string }[] };
    findings?: { code: string; severity: string }[];
    dns: { queriesSent?: number; cacheAnswers?: number };
  }[];
}

describe("smtp-probe domain (end to end)", () => {
  let dns: DnsServer;
  beforeAll(async () => {
    dns = await startDnsServer(postureZone());
  });
  afterAll(async () => {
    await dns?.stop();
  });

  it("--json: a DomainCheckReport with one posture from local", async () => {
    const run = await runCli(["domain", "good.test", "--dns-server", dns.server, "--dnsbl", "bl.test", "--dkim-selector", "s2048,s512", "--dkim-selector", "old", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(1); // the 512-bit key
    const report = JSON.parse(run.stdout) as JsonReport;
    expect(report.request).toEqual({ domain: "good.test", dkimSelectors: ["s2048", "s512", "old"], blocklistZones: ["bl.test"] });
    expect(report.postures).toHaveLength(1);
    const [p] = report.postures;
    expect(p).toMatchObject({ domain: "good.test", region: "local", dmarc: { policy: "reject" } });
    expect(p!.spf.dnsLookups).toBe(2);
    expect(p!.spf.record.children?.map((c) => c.domain)).toEqual(["_spf.provider.test"]);
    expect(p!.mx.exchangers?.map((e) => e.exchange)).toEqual(["mx1.good.test", "mx2.good.test"]);
    expect(p!.dkimKeys?.map((k) => [k.selector, k.keyBits ?? 0, k.revoked ?? false])).toEqual([
      ["s2048", 2048, false],
      ["s512", 512, false],
      ["old", 0, true],
    ]);
    expect(p!.findings?.filter((f) => f.severity === "SEVERITY_ERROR").map((f) => f.code)).toEqual(["dnsbl_listed", "dnsbl_listed", "dkim_key_weak"]);
  });

  it("the human block: MX, SPF tree and counts, DMARC, DKIM, findings", async () => {
    const run = await runCli(["domain", "many.test", "--dns-server", dns.server, "--no-dnsbl"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^Domain many\.test from local: \d+ DNS questions sent/);
    expect(run.stdout).toContain("include i11.many.test: v=spf1 ip4:198.18.3.11 -all");
    expect(run.stdout).toContain("11 of 10 DNS lookups, 0 of 2 void");
    expect(run.stdout).toContain("[spf_too_many_lookups]");
    const clean = await runCli(["domain", "redirect.test", "--dns-server", dns.server, "--no-dnsbl"]);
    expect(clean.stdout).toContain("redirect _spf.provider.test: v=spf1 ip4:198.18.1.0/24");
  });

  it("each exchanger address: its reverse DNS and the blocklists of --dnsbl; none with --no-dnsbl", async () => {
    const run = await runCli(["domain", "good.test", "--dns-server", dns.server, "--dnsbl", "bl.test,refusing.test"]);
    expect(run.stdout).toContain("198.18.0.10: PTR mx1.good.test (forward-confirmed); refusing.test: no answer; not listed in 1 blocklist");
    expect(run.stdout).toContain("198.18.0.11: PTR other.good.test (not forward-confirmed); listed in bl.test (127.0.0.2); refusing.test: no answer");
    expect(run.stdout).toContain("[dnsbl_listed] 198.18.0.11 (mx2.good.test) is listed in bl.test (127.0.0.2): listed for a test.");
    const none = await runCli(["domain", "good.test", "--dns-server", dns.server, "--no-dnsbl", "--json"]);
    const report = JSON.parse(none.stdout) as { request: { skipBlocklists?: boolean }; postures: { mx: { exchangers: { addressPostures: { blocklists?: unknown[] }[] }[] } }[] };
    expect(report.request.skipBlocklists).toBe(true);
    expect(report.postures[0]!.mx.exchangers.flatMap((e) => e.addressPostures.map((a) => a.blocklists ?? []))).toEqual([[], [], []]);
  });

  it.each([
    [["domain", "192.0.2.1"], /^smtp-probe: domain: "192\.0\.2\.1" is an IP address/],
    [["domain", "good.test", "--dkim-selector", "a b"], /^smtp-probe: --dkim-selector: "a b" is not a selector/],
    [["domain", "good.test", "--dns-server", "nope"], /^smtp-probe: --dns-server: "nope"/],
    [["domain", "good.test", "--timeout", "soon"], /^smtp-probe: --timeout: "soon" is not a duration/],
    [["domain", "good.test", "--dnsbl", "not a zone"], /^smtp-probe: --dnsbl: "not a zone" is not a DNS zone name/],
  ])("%j is a usage error naming the flag", async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(message);
  });
});
