// The domain check against a DNS server the test starts: every part read through the agent's
// resolver, the findings, the query counts, and bad input that is a finding, never a crash.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpfResult, type DomainPosture } from "../../../../gen/smtpprobe/v1/domain.js";
import { AgentResolver } from "../../../../agents/dns/agent-resolver.js";
import { checkDomain } from "../../../../agents/posture/domain-check.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";
import { postureZone } from "../../../fixtures/posture/zone.js";

let dns: DnsServer;
beforeAll(async () => {
  dns = await startDnsServer(postureZone());
});
afterAll(async () => {
  await dns?.stop();
});

function resolver(): AgentResolver {
  return new AgentResolver({ servers: [dns.server], timeoutMs: 500 });
}
async function check(domain: string, dkimSelectors: string[] = [], r = resolver(), blocklistZones: string[] = []): Promise<DomainPosture> {
  return checkDomain({ domain, dkimSelectors, commonDkimSelectors: false, region: "local", blocklistZones }, r);
}
/** The findings' codes, without those about the exchangers' addresses (tested on their own). */
const codes = (p: DomainPosture): string[] => p.findings.map((f) => f.code).filter((c) => !/^(ptr|dnsbl)_/.test(c));

describe("domain check", () => {
  it("reads MX, SPF with its include tree, DMARC with report destinations, DKIM keys", async () => {
    const p = await check("good.test", ["s2048", "s1024", "s512", "ed", "old", "testing", "bad", "absent"]);
    expect(p.mx?.exchangers.map((e) => [e.exchange, e.preference, e.addresses])).toEqual([
      ["mx1.good.test", 10, ["198.18.0.10"]],
      ["mx2.good.test", 20, ["198.18.0.11", "2001:db8::11"]],
    ]);
    expect(p.spf?.record?.record).toBe("v=spf1 mx include:_spf.provider.test -all");
    expect(p.spf?.record?.children.map((c) => [c.domain, c.via, c.record])).toEqual([
      ["_spf.provider.test", "include", "v=spf1 ip4:198.18.1.0/24 ip6:2001:db8:1::/48 ~all"],
    ]);
    expect(p.spf?.dnsLookups).toBe(2);
    expect(p.spf?.fullWalk?.result).toBe(SpfResult.SPF_RESULT_FAIL);
    // The MX addresses pass through "mx".
    expect(p.spf?.evaluations.map((e) => [e.address, e.result])).toEqual([
      ["198.18.0.10", SpfResult.SPF_RESULT_PASS],
      ["198.18.0.11", SpfResult.SPF_RESULT_PASS],
      ["2001:db8::11", SpfResult.SPF_RESULT_PASS],
    ]);
    expect(p.dmarc).toMatchObject({ policy: "reject", subdomainPolicy: "reject", pct: 100, inherited: false, recordDomain: "_dmarc.good.test" });
    expect(p.dmarc?.rua.map((u) => [u.domain, u.external, u.authorized])).toEqual([
      ["good.test", false, false],
      ["collector.test", true, true],
    ]);
    expect(p.dmarc?.ruf.map((u) => [u.domain, u.external, u.authorized])).toEqual([["other-collector.test", true, false]]);
    const keys = Object.fromEntries(p.dkimKeys.map((k) => [k.selector, k]));
    expect(keys.s2048).toMatchObject({ found: true, keyType: "rsa", keyBits: 2048, revoked: false, testMode: false });
    expect(keys.s1024).toMatchObject({ keyBits: 1024 });
    expect(keys.s512).toMatchObject({ keyBits: 512 });
    expect(keys.ed).toMatchObject({ keyType: "ed25519", keyBits: 256 });
    expect(keys.old).toMatchObject({ found: true, revoked: true });
    expect(keys.testing).toMatchObject({ testMode: true, keyBits: 2048 });
    expect(keys.bad?.error).toMatch(/RSA public key/);
    expect(keys.absent).toMatchObject({ found: false });
    expect(codes(p)).toEqual([
      "dkim_key_weak",
      "dkim_key_invalid",
      "dmarc_report_destination_unauthorized",
      "dkim_key_short",
      "dkim_test_mode",
      "dkim_key_missing",
      "dkim_key_revoked",
    ]);
  });

  it("asks nothing twice within a check, and nothing at all when the cache is warm", async () => {
    const r = resolver();
    const cold = await check("good.test", ["s2048"], r);
    expect(cold.dns?.queriesSent).toBeGreaterThan(0);
    expect(cold.dns?.failed).toBe(0);
    const sent = dns.queries().length;
    const warm = await check("good.test", ["s2048"], r);
    expect(warm.dns?.queriesSent).toBe(0);
    expect(warm.dns?.cacheAnswers).toBeGreaterThan(0);
    expect(dns.queries().length).toBe(sent);
    expect(warm.findings).toEqual(cold.findings);
  });

  it("falls back to the organisational domain's DMARC record, and an implicit MX", async () => {
    const p = await check("sub.good.test");
    expect(p.dmarc).toMatchObject({ inherited: true, recordDomain: "_dmarc.good.test", organizationalDomain: "good.test", policy: "reject" });
    expect(p.mx).toMatchObject({ implicit: true });
    expect(p.mx?.exchangers[0]).toMatchObject({ exchange: "sub.good.test", addresses: ["198.18.0.20"] });
    // The inherited record's ruf= goes to another organisation that does not agree to it.
    expect(codes(p)).toEqual(["mx_implicit", "spf_missing", "dmarc_report_destination_unauthorized", "dmarc_inherited"]);
  });

  it.each([
    ["loop.test", ["spf_include_loop"], SpfResult.SPF_RESULT_PERMERROR],
    ["many.test", ["spf_too_many_lookups"], SpfResult.SPF_RESULT_PERMERROR],
    ["void.test", ["spf_too_many_void_lookups"], SpfResult.SPF_RESULT_PERMERROR],
    ["plusall.test", ["spf_all_pass"], SpfResult.SPF_RESULT_PASS],
    ["neutral.test", ["spf_all_neutral"], SpfResult.SPF_RESULT_NEUTRAL],
    ["twospf.test", ["spf_multiple_records"], SpfResult.SPF_RESULT_PERMERROR],
    ["syntax.test", ["spf_syntax_error"], SpfResult.SPF_RESULT_PERMERROR],
    ["missing-include.test", ["spf_include_missing"], SpfResult.SPF_RESULT_PERMERROR],
    ["redirect.test", [], SpfResult.SPF_RESULT_SOFTFAIL],
    ["ptr.test", ["spf_ptr_used"], SpfResult.SPF_RESULT_FAIL],
    ["split.test", [], SpfResult.SPF_RESULT_FAIL],
    ["long.test", ["spf_record_long"], SpfResult.SPF_RESULT_FAIL],
    ["nonascii.test", ["spf_syntax_error"], SpfResult.SPF_RESULT_PERMERROR],
  ])("SPF of %s: %j, full walk %s", async (domain, spfCodes, result) => {
    const p = await check(domain);
    expect(codes(p).filter((c) => c.startsWith("spf_"))).toEqual(spfCodes);
    expect(p.spf?.fullWalk?.result).toBe(result);
  });

  it("counts lookups over the whole tree, past the limit", async () => {
    expect((await check("many.test")).spf?.dnsLookups).toBe(11);
    expect((await check("loop.test")).spf?.record?.children[0]?.children[0]?.error).toBe("loop: loop.test → loop2.test → loop.test");
    expect((await check("void.test")).spf?.voidLookups).toBe(3);
    expect((await check("split.test")).spf?.record?.record).toBe("v=spf1 ip4:198.18.0.70 -all");
  });

  it.each([
    ["none.test", ["dmarc_policy_none", "dmarc_no_reports"]],
    ["weak-sub.test", ["dmarc_subdomain_weaker"]],
    ["ext.test", ["dmarc_report_destination_unauthorized", "dmarc_pct_partial"]],
    ["twodmarc.test", ["dmarc_multiple_records"]],
    ["baddmarc.test", ["dmarc_syntax_error", "dmarc_no_reports"]],
  ])("DMARC of %s: %j", async (domain, dmarcCodes) => {
    const p = await check(domain);
    expect(codes(p).filter((c) => c.startsWith("dmarc_"))).toEqual(dmarcCodes);
  });

  it("reads each exchanger address's reverse DNS and blocklist listings", async () => {
    const p = await check("good.test", [], resolver(), ["bl.test", "refusing.test"]);
    const postures = Object.fromEntries(p.mx!.exchangers.flatMap((e) => e.addressPostures).map((a) => [a.address, a]));
    expect(postures["198.18.0.10"]?.reverseDns).toEqual({ ptrNames: ["mx1.good.test"], forwardConfirmed: true, confirmedName: "mx1.good.test", error: "" });
    expect(postures["198.18.0.11"]?.reverseDns).toMatchObject({ ptrNames: ["other.good.test"], forwardConfirmed: false });
    expect(postures["2001:db8::11"]?.reverseDns?.error).toBe(`no PTR record at 1.1.${"0.".repeat(22)}8.b.d.0.1.0.0.2.ip6.arpa`);
    expect(postures["198.18.0.10"]?.blocklists).toEqual([
      { zone: "bl.test", listed: false, codes: [], reason: "", error: "" },
      { zone: "refusing.test", listed: false, codes: ["127.255.255.254"], reason: "", error: expect.stringMatching(/refuses queries through this resolver/) as string },
    ]);
    expect(postures["198.18.0.11"]?.blocklists[0]).toEqual({ zone: "bl.test", listed: true, codes: ["127.0.0.2"], reason: "listed for a test", error: "" });
    expect(postures["2001:db8::11"]?.blocklists[0]).toMatchObject({ listed: true, codes: ["127.0.0.4"] });
    expect(p.findings.map((f) => f.code).filter((c) => /^(ptr|dnsbl)_/.test(c))).toEqual([
      "dnsbl_listed",
      "dnsbl_listed",
      "ptr_not_confirmed",
      "ptr_missing",
      "dnsbl_query_failed",
      "dnsbl_query_failed",
      "dnsbl_query_failed",
    ]);
  });

  it("recognises the provider, a null MX, an exchanger without address", async () => {
    expect((await check("gmail-hosted.test")).mx?.provider).toBe("Google Workspace");
    const nullMx = await check("nullmx.test");
    expect(nullMx.mx).toMatchObject({ nullMx: true, exchangers: [] });
    expect(codes(nullMx)).toContain("mx_null");
    expect(codes(await check("noaddr.test"))).toContain("mx_no_address");
  });

  it("turns bad DNS into findings: SERVFAIL, a CNAME loop, a name that does not exist", async () => {
    const servfail = await check("servfail.test");
    // _dmarc.servfail.test does not exist: only the domain's own name fails.
    expect(codes(servfail)).toEqual(["mx_dns_error", "spf_dns_error", "dmarc_missing"]);
    expect(servfail.dns?.failed).toBeGreaterThan(0);
    const cnameLoop = await check("cname-loop.test");
    expect(codes(cnameLoop)).toContain("spf_missing");
    const nx = await check("does-not-exist.test");
    expect(codes(nx)).toEqual(["mx_dns_error", "spf_missing", "dmarc_missing"]);
  });
});
