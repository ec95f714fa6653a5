// DANE end to end in the engine, against a real validating resolver: unbound serving zones this
// test signs with ldns-signzone, its keys the trust anchors, so the AD flag is unbound's DNSSEC
// verdict (test/helpers/unbound.ts). One SMTP server presents a chain (leaf and CA) that TLSA
// records of every kind match or not; a second resolver stands for another region, where the
// exchanger's address leads through a box that terminates TLS with another certificate.
import { createHash, X509Certificate } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secureQuery } from "../../../../agents/dns/secure-query.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget } from "../../../../agents/smtp/probe-target.js";
import { DaneStatus, PolicyResult, PortRole, ProbeOptions, Severity, type HandshakeResult, type TargetResult } from "../../../../gen/smtpprobe/v1/handshake.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { differenceVerdicts } from "../../../../services/coordinator/compare-differences.js";
import { testPki } from "../../../helpers/certs.js";
import { need } from "../../../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { startUnbound, unboundAvailable, type Unbound } from "../../../helpers/unbound.js";
import { closeServer, listenLoopback } from "../../../helpers/wait.js";
import { FAST } from "./probe-helpers.js";

const requirement = await need(unboundAvailable);

const EXCHANGERS = ["mx1", "mx2", "mx3", "mx4", "mx5", "mx6"] as const;

describe.skipIf(requirement.skip)("DANE through a validating resolver (unbound)", () => {
  let smtp: SmtpFixture;
  let impostor: SmtpFixture;
  let middlebox: net.Server;
  let east: Unbound;
  let west: Unbound;
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    const pki = await testPki();
    const names = [...EXCHANGERS.map((x) => `${x}.signed.example`), "mx.unsigned.example", "mx.broken.example"];
    const leaf = await pki.leaf({ names });
    // The server sends its CA too, as a DANE-TA record needs (RFC 7671 §5.2.2).
    smtp = await startSmtpFixture({ tls: { certPem: `${leaf.certPem.trim()}\n${pki.ca.certPem.trim()}\n`, keyPem: leaf.keyPem }, name: "mx1.signed.example" });
    const other = await pki.leaf({ names, freshKey: true });
    impostor = await startSmtpFixture({ tls: other, name: "mx1.signed.example" });
    // The other region's path: 127.0.0.2 on the real server's port leads to the impostor.
    middlebox = net.createServer((client) => {
      const upstream = net.connect(impostor.port, "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      middlebox.once("error", reject);
      middlebox.listen(smtp.port, "127.0.0.2", () => resolve());
    });

    const cert = new X509Certificate(leaf.certPem);
    const ca = new X509Certificate(pki.ca.certPem);
    const hex = (data: Buffer, algorithm: "sha256" | "sha512"): string => createHash(algorithm).update(data).digest("hex");
    const spki = cert.publicKey.export({ type: "spki", format: "der" });
    const tlsa = {
      mx1: [`3 1 1 ${hex(spki, "sha256")}`],
      // A record senders skip beside a usable one.
      mx2: [`3 0 2 ${hex(cert.raw, "sha512")}`, `4 1 1 ${hex(spki, "sha256")}`],
      mx3: [`2 0 1 ${hex(ca.raw, "sha256")}`],
      mx4: [`3 1 1 ${"ab".repeat(32)}`],
      mx5: [`4 1 1 ${hex(spki, "sha256")}`, `1 1 1 ${hex(spki, "sha256")}`],
      mx6: [] as string[],
    };
    const signed = (address: string): string[] => [
      "@ IN MX 10 mx1",
      ...EXCHANGERS.flatMap((x, i) => [`${x} IN A ${address}`, ...(i > 0 ? [`@ IN MX ${10 + i * 10} ${x}`] : []), ...tlsa[x].map((r) => `_25._tcp.${x} IN TLSA ${r}`)]),
      // Many records: the UDP answer is truncated and asked again over TCP.
      "many IN A 127.0.0.1",
      ...Array.from({ length: 30 }, (_, i) => `_25._tcp.many IN TLSA 3 0 2 ${createHash("sha512").update(String(i)).digest("hex")}`),
    ];
    const zones = (address: string) => [
      { name: "signed.example", dnssec: "signed" as const, records: signed(address) },
      { name: "unsigned.example", dnssec: "unsigned" as const, records: ["@ IN MX 10 mx", "mx IN A 127.0.0.1", `_25._tcp.mx IN TLSA 3 1 1 ${hex(spki, "sha256")}`] },
      // Unsigned, its MX naming an exchanger of the signed zone: DANE does not apply (RFC 7672 §2.2.1).
      { name: "mixed.example", dnssec: "unsigned" as const, records: ["@ IN MX 10 mx1.signed.example."] },
      { name: "broken.example", dnssec: "bogus" as const, records: ["@ IN MX 10 mx", "mx IN A 127.0.0.1", `_25._tcp.mx IN TLSA 3 1 1 ${hex(spki, "sha256")}`] },
    ];
    [east, west] = await Promise.all([startUnbound(zones("127.0.0.1")), startUnbound(zones("127.0.0.2"))]);
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    if (middlebox) await closeServer(middlebox);
    await Promise.all([east?.stop(), west?.stop(), smtp?.stop(), impostor?.stop()]);
  });

  function probe(domain: string, resolver: Unbound): Promise<TargetResult> {
    const options = resolveOptions(
      ProbeOptions.fromPartial({ timeouts: { ...FAST, deadlineMs: 8000 }, portRole: PortRole.PORT_ROLE_MX_RELAY, maxExchangers: 10, maxAddresses: 1 }),
      smtp.port,
      "probe.test",
    );
    return probeTarget({ host: domain, port: smtp.port, mx: true }, options, { dnsServers: [resolver.server] });
  }

  const byExchanger = (r: TargetResult, x: string): HandshakeResult | undefined => r.handshakes.find((h) => h.exchange === x);
  const codes = (r: TargetResult): string[] => [...(r.mailPolicy?.findings ?? []), ...r.handshakes.flatMap((h) => h.findings)].map((f) => f.code);

  it("the resolver validates: AD on the signed zone, none on the unsigned one, SERVFAIL on the spoiled one", async () => {
    const signed = await secureQuery("_25._tcp.mx1.signed.example", "TLSA", { servers: [east.server], timeoutMs: 2000 });
    expect([signed.rcode, signed.authenticated]).toEqual(["NOERROR", true]);
    const unsigned = await secureQuery("_25._tcp.mx.unsigned.example", "TLSA", { servers: [east.server], timeoutMs: 2000 });
    expect([unsigned.rcode, unsigned.authenticated, unsigned.answers.length]).toEqual(["NOERROR", false, 1]);
    const bogus = await secureQuery("_25._tcp.mx.broken.example", "TLSA", { servers: [east.server], timeoutMs: 2000 });
    expect(bogus.rcode).toBe("SERVFAIL");
  });

  it("a truncated UDP answer is asked again over TCP", async () => {
    const many = await secureQuery("_25._tcp.many.signed.example", "TLSA", { servers: [east.server], timeoutMs: 2000 });
    expect(many.transport).toBe("tcp");
    expect(many.answers.filter((a) => a.type === "TLSA")).toHaveLength(30);
    expect(many.authenticated).toBe(true);
  });

  it("matches each usable kind of record against the chain the server presented", async () => {
    const r = await probe("signed.example", east);
    const status = (x: string) => r.mailPolicy?.tlsa.find((l) => l.exchanger === `${x}.signed.example`)?.status;
    expect(EXCHANGERS.map(status)).toEqual([
      DaneStatus.DANE_STATUS_SECURE,
      DaneStatus.DANE_STATUS_SECURE,
      DaneStatus.DANE_STATUS_SECURE,
      DaneStatus.DANE_STATUS_SECURE,
      DaneStatus.DANE_STATUS_UNUSABLE,
      DaneStatus.DANE_STATUS_NO_RECORDS,
    ]);
    expect(byExchanger(r, "mx1.signed.example")?.dane).toMatchObject({ result: PolicyResult.POLICY_RESULT_PASS, matchedRecord: expect.stringMatching(/^3 1 1 /) });
    expect(byExchanger(r, "mx2.signed.example")?.dane).toMatchObject({ result: PolicyResult.POLICY_RESULT_PASS, matchedRecord: expect.stringMatching(/^3 0 2 /) });
    expect(byExchanger(r, "mx3.signed.example")?.dane).toMatchObject({ result: PolicyResult.POLICY_RESULT_PASS, matchedRecord: expect.stringMatching(/^2 0 1 /) });
    const mismatch = byExchanger(r, "mx4.signed.example");
    expect(mismatch?.dane?.result).toBe(PolicyResult.POLICY_RESULT_FAIL);
    expect(mismatch?.findings.find((f) => f.code === "dane_mismatch")?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(byExchanger(r, "mx5.signed.example")?.dane?.result).toBe(PolicyResult.POLICY_RESULT_NOT_APPLICABLE);
    const unusable = r.mailPolicy?.findings.filter((f) => f.code === "dane_unusable") ?? [];
    expect(unusable.map((f) => f.message).join("\n")).toMatch(/usage 4 is unknown/);
    expect(unusable.map((f) => f.message).join("\n")).toMatch(/usage 1 \(PKIX-EE\) is not for SMTP/);
    // DANE without TLS-RPT.
    expect(codes(r)).toContain("tls_rpt_missing");
  });

  it("TLSA records without DNSSEC are shown, not believed, and said so", async () => {
    const r = await probe("unsigned.example", east);
    const lookup = r.mailPolicy?.tlsa[0];
    expect(lookup).toMatchObject({ status: DaneStatus.DANE_STATUS_INSECURE, authenticated: false });
    expect(lookup?.records).toHaveLength(1);
    expect(lookup?.reason).toMatch(/did not set the AD flag .* unsigned, or the resolver .* does not validate DNSSEC/);
    expect(r.handshakes[0]?.dane?.result).toBe(PolicyResult.POLICY_RESULT_NOT_APPLICABLE);
    expect(codes(r)).toContain("dane_unauthenticated");
  });

  it("authenticated TLSA records do not count for an exchanger found through an unauthenticated MX", async () => {
    const r = await probe("mixed.example", east);
    expect(r.mailPolicy?.mxAuthenticated).toBe(false);
    expect(r.mailPolicy?.tlsa[0]).toMatchObject({ exchanger: "mx1.signed.example", status: DaneStatus.DANE_STATUS_MX_INSECURE, authenticated: true });
    expect(r.handshakes[0]?.dane?.result).toBe(PolicyResult.POLICY_RESULT_NOT_APPLICABLE);
    expect(codes(r)).toContain("dane_mx_unauthenticated");
    const signed = await probe("signed.example", east);
    expect(signed.mailPolicy?.mxAuthenticated).toBe(true);
  });

  it("a TLSA answer that fails validation is an error: senders defer", async () => {
    const r = await probe("broken.example", east);
    expect(r.mailPolicy?.tlsa[0]).toMatchObject({ status: DaneStatus.DANE_STATUS_LOOKUP_FAILED, rcode: "SERVFAIL" });
    expect(r.mailPolicy?.findings.find((f) => f.code === "dane_lookup_failed")?.severity).toBe(Severity.SEVERITY_ERROR);
  });

  it("a region whose path presents another certificate fails DANE while the other passes, and the comparison says what senders do", async () => {
    const [a, b] = await Promise.all([probe("signed.example", east), probe("signed.example", west)]);
    expect(byExchanger(a, "mx1.signed.example")?.dane?.result).toBe(PolicyResult.POLICY_RESULT_PASS);
    expect(byExchanger(b, "mx1.signed.example")?.dane?.result).toBe(PolicyResult.POLICY_RESULT_FAIL);
    const verdicts = differenceVerdicts(smtp.port, [
      { region: "us-east", handshakes: a.handshakes },
      { region: "eu-west", handshakes: b.handshakes },
    ]).filter((v) => v.kind === VerdictKind.VERDICT_KIND_DANE_DIFFERS);
    const mx1 = verdicts.find((v) => v.summary.includes("mx1.signed.example"));
    expect(mx1?.severity).toBe(Severity.SEVERITY_ERROR);
    expect(mx1?.summary).toMatch(/from us-east it would deliver \(the certificate matches TLSA 3 1 1 .*from eu-west it would not deliver/);
  });
});

describe.skipIf(requirement.skip)("secure queries against servers that misbehave", () => {
  it("a server that never answers is a timeout, and the next server is asked", async () => {
    const silent = net.createServer();
    const silentPort = await listenLoopback(silent);
    // A UDP port nobody answers on: the TCP listener above only reserves the number.
    const resolver = await startUnbound([{ name: "signed.example", dnssec: "signed", records: ["mx IN A 127.0.0.1"] }]);
    try {
      const answer = await secureQuery("mx.signed.example", "A", { servers: [`127.0.0.1:${silentPort}`, resolver.server], timeoutMs: 500 });
      expect(answer.server).toBe(resolver.server);
      expect(answer.authenticated).toBe(true);
      await expect(secureQuery("mx.signed.example", "A", { servers: [`127.0.0.1:${silentPort}`], timeoutMs: 300 })).rejects.toMatchObject({ name: "SecureQueryError" });
    } finally {
      await resolver.stop();
      await closeServer(silent);
    }
  });
});
