// `smtp-probe domain` end to end: the compiled binary against a DNS server this test starts.
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainCheckReport } from "../../gen/smtpprobe/v1/domain.js";
import { ProbeServiceClient } from "../../lib/probe-service-client.js";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.js";
import { runCli as runCliProcess, startCoordinatorProcess, stopAll, type CliRun, type CoordinatorProcess } from "../helpers/processes.js";
import { postureZone } from "../fixtures/posture/zone.js";

const runCli = (args: string[]): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", NO_COLOR: "1" });

interface JsonReport {
  checkId: string;
  request: { domain: string; dkimSelectors?: string[]; blocklistZones?: string[]; deadlineMs?: number };
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
    expect(report.request).toEqual({ domain: "good.test", dkimSelectors: ["s2048", "s512", "old"], blocklistZones: ["bl.test"], deadlineMs: 30000 });
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

describe("smtp-probe domain --coordinator (end to end)", () => {
  let dns: DnsServer;
  let coordinator: CoordinatorProcess;
  beforeAll(async () => {
    dns = await startDnsServer(postureZone());
    // Embedded: one agent, region local, resolving with the test's DNS server.
    coordinator = await startCoordinatorProcess({ dnsServers: [dns.server] });
  }, 60_000);
  afterAll(async () => {
    await stopAll([coordinator]);
    await dns?.stop();
  });

  it("checks from the coordinator's regions, and GetDomainCheck returns the stored report", async () => {
    const run = await runCli(["domain", "many.test", "--coordinator", coordinator.address, "--no-dnsbl", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as JsonReport;
    expect(report.postures.map((p) => [p.region, p.spf.dnsLookups])).toEqual([["local", 11]]);
    const client = new ProbeServiceClient(coordinator.address, credentials.createInsecure());
    try {
      const stored = await new Promise<DomainCheckReport>((resolve, reject) =>
        client.getDomainCheck({ checkId: report.checkId }, new Metadata(), { deadline: Date.now() + 5_000 }, (error, value) => (error ? reject(error) : resolve(value))),
      );
      expect(stored.postures[0]?.domain).toBe("many.test");
      const unknown = await new Promise<{ code?: number }>((resolve) =>
        client.getDomainCheck({ checkId: "00000000-0000-0000-0000-000000000000" }, new Metadata(), { deadline: Date.now() + 5_000 }, (error) => resolve(error ?? {})),
      );
      expect(unknown.code).toBe(5); // NOT_FOUND
    } finally {
      client.close();
    }
  }, 30_000);

  it("the human form, with a region nobody serves; bad input is INVALID_ARGUMENT naming the field", async () => {
    const run = await runCli(["domain", "good.test", "--coordinator", coordinator.address, "--regions", "local,ap-south", "--no-dnsbl"]);
    expect(run.stdout).toMatch(/^Domain good\.test from local:/);
    expect(run.stdout).toContain("✖ ap-south: no agent serves region ap-south");
    const bad = await runCli(["domain", "good.test", "--coordinator", coordinator.address, "--regions", "Bad Region"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("regions[0]");
    const local = await runCli(["domain", "good.test", "--coordinator", coordinator.address, "--dns-server", dns.server]);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/--dns-server: local only/);
  }, 30_000);
});
