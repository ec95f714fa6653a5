// MTA-STS and TLS-RPT of an --mx probe, end to end in the engine: TXT records from a DNS server the
// test starts, the policy from an HTTPS server the test starts (its CA given as the agent's
// --ca-file), the exchangers from an smtp-server fixture. And the bad input a policy host can
// serve, each a clear reason in the result.
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget } from "../../../../agents/smtp/probe-target.js";
import { MtaStsMode, MtaStsStatus, PolicyResult, PortRole, ProbeOptions, Severity, TlsRptStatus, type TargetResult } from "../../../../gen/smtpprobe/v1/handshake.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { testPki } from "../../../helpers/certs.js";
import { startDnsServer, type DnsServer, type Zone } from "../../../helpers/dns-server.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { closeServer } from "../../../helpers/wait.js";
import { FAST } from "./probe-helpers.js";

const POLICY = (mode: string, ...mx: string[]): string => ["version: STSv1", `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), "max_age: 86400", ""].join("\r\n");

/** What the policy host answers, per domain. */
const ROUTES: Record<string, (res: ServerResponse) => void> = {
  "good.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end(POLICY("enforce", "mx.good.test")),
  "wrongcert.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end(POLICY("enforce", "*.wrongcert.test")),
  "testing.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end(POLICY("testing", "*.wrongcert.test")),
  "notlisted.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end(POLICY("enforce", "mail.notlisted.test")),
  "split.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end(POLICY("enforce", "mx.good.test")),
  "big.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end(POLICY("enforce", "mx.good.test") + "#".repeat(70 * 1024)),
  "bigchunked.test": (res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    for (let i = 0; i < 70; i++) res.write("x".repeat(1024));
    res.end();
  },
  "slow.test": (res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("version: STSv1\r\n"); // and nothing more: the fetch's time limit ends it
  },
  "redirect.test": (res) => res.writeHead(301, { location: "https://elsewhere.test/.well-known/mta-sts.txt" }).end(),
  "missing.test": (res) => res.writeHead(404).end("not here"),
  "malformed.test": (res) => res.writeHead(200, { "content-type": "text/plain" }).end("version: STSv1\r\nmx: mx.good.test\r\nmax_age: 86400\r\n"),
  "html.test": (res) => res.writeHead(200, { "content-type": "text/html" }).end(POLICY("enforce", "mx.good.test")),
};

let dns: DnsServer;
let smtp: SmtpFixture;
let https: Server;
let httpsPort: number;
let ca: string;

beforeAll(async () => {
  const pki = await testPki();
  ca = pki.ca.certPem;
  const domains = [...Object.keys(ROUTES), "twosts.test", "nopolicyhost.test"];
  const httpsCert = await pki.leaf({ names: domains.map((d) => `mta-sts.${d}`) });
  https = createServer({ cert: httpsCert.certPem, key: httpsCert.keyPem }, (req, res) => {
    const domain = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^mta-sts\./, "");
    if (req.url !== "/.well-known/mta-sts.txt") return void res.writeHead(404).end();
    (ROUTES[domain] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
  });
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  httpsPort = (https.address() as AddressInfo).port;
  // The exchanger's certificate covers mx.good.test only: mx.wrongcert.test fails the name check.
  smtp = await startSmtpFixture({ tls: await pki.leaf({ names: ["mx.good.test"] }), name: "mx.good.test" });

  const zone: Zone = {
    "mx.good.test": { A: ["127.0.0.1"] },
    "mx.wrongcert.test": { A: ["127.0.0.1"] },
  };
  for (const domain of domains) {
    const exchanger = domain === "wrongcert.test" || domain === "testing.test" ? "mx.wrongcert.test" : "mx.good.test";
    zone[domain] = { MX: [{ exchange: exchanger, preference: 10 }] };
    zone[`_mta-sts.${domain}`] = { TXT: ["v=STSv1; id=20260101T000000"] };
    if (domain !== "nopolicyhost.test") zone[`mta-sts.${domain}`] = { A: ["127.0.0.1"] };
  }
  zone["_mta-sts.twosts.test"] = { TXT: ["v=STSv1; id=one", "v=STSv1; id=two", "something else"] };
  // One record in many strings (RFC 1035 §3.3.14): read as one.
  zone["_mta-sts.split.test"] = { TXT: [["v=STS", "v1; id=", "2026", "0101"]] };
  zone["_smtp._tls.good.test"] = { TXT: [["v=TLSRPTv1; ", "rua=mailto:tls-reports@good.test"]] };
  zone["_smtp._tls.malformed.test"] = { TXT: ["v=TLSRPTv1; rua=ftp://reports.test/"] };
  zone["plain.test"] = { MX: [{ exchange: "mx.good.test", preference: 10 }] };
  zone["servfail.test"] = { MX: [{ exchange: "mx.good.test", preference: 10 }] };
  zone["_mta-sts.servfail.test"] = { behavior: "servfail" };
  dns = await startDnsServer(zone);
});

afterAll(async () => {
  await dns?.stop();
  await smtp?.stop();
  if (https) await closeServer(https);
});

function probe(domain: string, extra: Partial<ProbeOptions> = {}): Promise<TargetResult> {
  const options = resolveOptions(
    ProbeOptions.fromPartial({ timeouts: { ...FAST, deadlineMs: 8000 }, portRole: PortRole.PORT_ROLE_MX_RELAY, ...extra }),
    smtp.port,
    "probe.test",
  );
  return probeTarget({ host: domain, port: smtp.port, mx: true }, options, { dnsServers: [dns.server], extraCa: ca, mtaStsPort: httpsPort });
}

function codes(r: TargetResult): string[] {
  return [...(r.mailPolicy?.findings ?? []), ...r.handshakes.flatMap((h) => h.findings)].map((f) => f.code);
}

describe("MTA-STS and TLS-RPT of an --mx probe", () => {
  it("reads the record, fetches the policy, and passes an exchanger that matches with a valid certificate", async () => {
    const r = await probe("good.test");
    const sts = r.mailPolicy?.mtaSts;
    expect(sts).toMatchObject({ status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: MtaStsMode.MTA_STS_MODE_ENFORCE, maxAge: 86400, mxPatterns: ["mx.good.test"], id: "20260101T000000", policyAddress: "127.0.0.1" });
    expect(sts?.policyUrl).toBe(`https://mta-sts.good.test:${httpsPort}/.well-known/mta-sts.txt`);
    expect(r.mailPolicy?.tlsRpt).toMatchObject({ status: TlsRptStatus.TLS_RPT_STATUS_VALID, rua: ["mailto:tls-reports@good.test"] });
    const [h] = r.handshakes;
    expect(h?.policyCheck).toMatchObject({ mtaSts: PolicyResult.POLICY_RESULT_PASS, mxMatches: true, mxPattern: "mx.good.test", certificateValid: true });
    expect(codes(r)).not.toContain("tls_rpt_missing");
  });

  it("makes a certificate that fails the policy an error in enforce mode, and says what senders do", async () => {
    const r = await probe("wrongcert.test");
    const [h] = r.handshakes;
    expect(h?.policyCheck).toMatchObject({ mtaSts: PolicyResult.POLICY_RESULT_FAIL, mxMatches: true, mxPattern: "*.wrongcert.test", certificateValid: false });
    const mismatch = h?.findings.find((f) => f.code === "cert_name_mismatch");
    expect(mismatch?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(mismatch?.message).toMatch(/enforce mode, so senders honouring it .* will not deliver to mx\.wrongcert\.test/);
    expect(codes(r)).toContain("tls_rpt_missing");
  });

  it("leaves the certificate a warning in testing mode", async () => {
    const r = await probe("testing.test");
    const mismatch = r.handshakes[0]?.findings.find((f) => f.code === "cert_name_mismatch");
    expect(mismatch?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(mismatch?.message).toMatch(/testing mode/);
    expect(codes(r)).toContain("mta_sts_testing");
  });

  it("finds an exchanger the policy does not list", async () => {
    const r = await probe("notlisted.test");
    expect(r.handshakes[0]?.policyCheck).toMatchObject({ mtaSts: PolicyResult.POLICY_RESULT_FAIL, mxMatches: false });
    const f = r.handshakes[0]?.findings.find((x) => x.code === "mta_sts_mx_not_listed");
    expect(f?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(f?.message).toContain("mail.notlisted.test");
  });

  it("joins a TXT record split into many strings", async () => {
    const r = await probe("split.test");
    expect(r.mailPolicy?.mtaSts).toMatchObject({ status: MtaStsStatus.MTA_STS_STATUS_VALID, id: "20260101", records: ["v=STSv1; id=20260101"] });
  });

  it("without a record there is no policy, and nothing is fetched", async () => {
    const r = await probe("plain.test");
    expect(r.mailPolicy?.mtaSts?.status).toBe(MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED);
    expect(r.mailPolicy?.tlsRpt?.status).toBe(TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED);
    expect(r.handshakes[0]?.policyCheck?.mtaSts).toBe(PolicyResult.POLICY_RESULT_NOT_APPLICABLE);
    expect(codes(r)).not.toContain("tls_rpt_missing");
  });

  it.each([
    ["big.test", /over the 64 KiB senders accept/],
    ["bigchunked.test", /over the 64 KiB senders accept/],
    ["slow.test", /no complete policy within [\d.]+ s/],
    ["redirect.test", /HTTP 301, a redirect to https:\/\/elsewhere\.test.*forbids following it/],
    ["missing.test", /HTTP 404; only 200 delivers a policy/],
    ["malformed.test", /the policy is malformed: no valid "mode"/],
    ["twosts.test", /2 _mta-sts TXT records begin v=STSv1/],
    ["nopolicyhost.test", /the policy host could not be resolved/],
  ])("%s: an unusable policy is a finding with its reason, never a crash", async (domain, reason) => {
    const r = await probe(domain, domain === "slow.test" ? { timeouts: { ...FAST, deadlineMs: 3000 } } : {});
    expect(r.mailPolicy?.mtaSts?.status).toBe(MtaStsStatus.MTA_STS_STATUS_INVALID);
    expect(r.mailPolicy?.mtaSts?.reason).toMatch(reason);
    const finding = r.mailPolicy?.findings.find((f) => f.code === "mta_sts_invalid");
    expect(finding?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(r.handshakes[0]?.policyCheck?.mtaSts).toBe(PolicyResult.POLICY_RESULT_NOT_APPLICABLE);
  });

  it("takes a policy served as text/html with a syntax note, and a broken TLS-RPT record with its reason", async () => {
    const html = await probe("html.test");
    expect(html.mailPolicy?.mtaSts?.status).toBe(MtaStsStatus.MTA_STS_STATUS_VALID);
    expect(html.mailPolicy?.mtaSts?.syntaxWarnings).toContain("content-type");
    expect(codes(html)).toContain("mta_sts_syntax");
    const malformed = await probe("malformed.test");
    expect(malformed.mailPolicy?.tlsRpt).toMatchObject({ status: TlsRptStatus.TLS_RPT_STATUS_INVALID });
    expect(malformed.mailPolicy?.tlsRpt?.reason).toMatch(/ftp:\/\/reports\.test\/.*not a mailto: or https: URI/);
  });

  it("a failed TXT lookup says the policy is unknown", async () => {
    const r = await probe("servfail.test");
    expect(r.mailPolicy?.mtaSts?.status).toBe(MtaStsStatus.MTA_STS_STATUS_DNS_FAILED);
    expect(codes(r)).toContain("mta_sts_dns_failed");
  });

  it("fetches the policy only where the target policy allows its address", async () => {
    const options = resolveOptions(ProbeOptions.fromPartial({ timeouts: FAST, portRole: PortRole.PORT_ROLE_MX_RELAY }), smtp.port, "probe.test");
    // Loopback allowed for the exchanger's port only through allowCidrs: here nothing is, so the
    // exchanger is denied and so is the policy host.
    const policy = createTargetPolicy({ allowPorts: [smtp.port] });
    const r = await probeTarget({ host: "good.test", port: smtp.port, mx: true }, options, { dnsServers: [dns.server], extraCa: ca, mtaStsPort: httpsPort, policy });
    expect(r.mailPolicy?.mtaSts?.status).toBe(MtaStsStatus.MTA_STS_STATUS_INVALID);
    expect(r.mailPolicy?.mtaSts?.reason).toMatch(/the target policy forbids every address of mta-sts\.good\.test: .*loopback/i);
  });

  it("judges a host probed without --mx by the policy domain given", async () => {
    const options = resolveOptions(
      ProbeOptions.fromPartial({ timeouts: FAST, portRole: PortRole.PORT_ROLE_MX_RELAY, policyDomain: "good.test" }),
      smtp.port,
      "probe.test",
    );
    const r = await probeTarget({ host: "mx.good.test", port: smtp.port }, options, { dnsServers: [dns.server], extraCa: ca, mtaStsPort: httpsPort });
    expect(r.mailPolicy?.domain).toBe("good.test");
    expect(r.handshakes[0]?.policyCheck?.mtaSts).toBe(PolicyResult.POLICY_RESULT_PASS);
  });

  it("looks up no policy for a submission port", async () => {
    const r = await probe("good.test", { portRole: PortRole.PORT_ROLE_SUBMISSION });
    expect(r.mailPolicy).toBeUndefined();
    expect(r.handshakes[0]?.policyCheck).toBeUndefined();
  });
});
