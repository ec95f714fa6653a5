// The TLS scan against real TLS servers the test starts: Node's (OpenSSL 3 at SECLEVEL 0) through
// smtp-server, each limited to some versions and suites, with STARTTLS or implicit TLS; and the
// rules every extra connection follows (the gate, the policy before and after connect).
import { afterEach, describe, expect, it } from "vitest";
import {
  CipherGrade,
  CipherOrder,
  TlsScanStatus,
  VersionSupport,
  type HandshakeResult,
  type TlsProfile,
} from "../../../../gen/smtpprobe/v1/handshake.js";
import type { ConnectGate } from "../../../../agents/smtp/probe-target.js";
import { startSmtpFixture, type SmtpFixture, type SmtpFixtureOptions } from "../../../helpers/smtp-fixture.js";
import type { PolicyDenial, TargetPolicy } from "../../../../lib/policy/policy-types.js";
import { probeOnce, type OptionsInput } from "./probe-helpers.js";
import { SSL3, V10, V11, V12, V13 } from "../../../helpers/tls-versions.js";

const SCAN: OptionsInput = { tlsScan: true, timeouts: { deadlineMs: 30_000 } };

let fixtures: SmtpFixture[] = [];
afterEach(async () => {
  await Promise.all(fixtures.map((f) => f.stop()));
  fixtures = [];
});

async function fixture(opts: SmtpFixtureOptions): Promise<SmtpFixture> {
  const f = await startSmtpFixture(opts);
  fixtures.push(f);
  return f;
}

function accepted(profile: TlsProfile | undefined): Record<number, string[]> {
  return Object.fromEntries(
    (profile?.versions ?? []).filter((v) => v.support === VersionSupport.VERSION_SUPPORT_ACCEPTED).map((v) => [v.version, v.ciphers.map((c) => c.name).sort()]),
  );
}

function supports(profile: TlsProfile | undefined): Record<number, VersionSupport> {
  return Object.fromEntries((profile?.versions ?? []).map((v) => [v.version, v.support]));
}

const ACCEPTED = VersionSupport.VERSION_SUPPORT_ACCEPTED;
const REFUSED = VersionSupport.VERSION_SUPPORT_REFUSED;

describe("the TLS scan against Node's TLS", () => {
  it.each([
    { only: "TLSv1" as const, version: V10 },
    { only: "TLSv1.1" as const, version: V11 },
    { only: "TLSv1.2" as const, version: V12 },
  ])("finds a server limited to $only and its suites", async ({ only, version }) => {
    const server = await fixture({ tlsOptions: { minVersion: only, maxVersion: only, ciphers: "ECDHE-RSA-AES128-SHA:AES256-SHA:@SECLEVEL=0" } });
    const r = await probeOnce(server.port, SCAN);
    const profile = r.tlsProfile!;
    expect(profile.status, profile.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(supports(profile)).toEqual({ [SSL3]: REFUSED, [V10]: version === V10 ? ACCEPTED : REFUSED, [V11]: version === V11 ? ACCEPTED : REFUSED, [V12]: version === V12 ? ACCEPTED : REFUSED, [V13]: REFUSED });
    expect(accepted(profile)).toEqual({ [version]: ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA"] });
    expect(profile.groups.map((g) => g.name)).toContain("x25519");
    expect(profile.groupsComplete).toBe(true);
    expect(profile.cipherOrder).not.toBe(CipherOrder.CIPHER_ORDER_UNSPECIFIED);
    expect(profile.connections).toBe(server.connections() - 1);
    expect(r.findings.map((f) => f.code)).toContain("tls_ciphers_weak");
  });

  it("finds a TLS 1.3-only server, its suites and its groups from HelloRetryRequests", async () => {
    const server = await fixture({ tlsOptions: { minVersion: "TLSv1.3", maxVersion: "TLSv1.3" } });
    const r = await probeOnce(server.port, SCAN);
    const profile = r.tlsProfile!;
    expect(profile.status, profile.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(accepted(profile)).toEqual({ [V13]: ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] });
    // OpenSSL 3.0's default groups, in its order.
    expect(profile.groups.map((g) => g.name)).toEqual(["x25519", "secp256r1", "x448", "secp521r1", "secp384r1", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"]);
    expect(r.findings.filter((f) => f.code.startsWith("tls_"))).toEqual([]);
  });

  it("grades the weak suites a server at SECLEVEL 0 accepts: NULL, anonymous, static RSA, CBC", async () => {
    const server = await fixture({ tlsOptions: { minVersion: "TLSv1.2", maxVersion: "TLSv1.2", ciphers: "NULL-SHA256:AECDH-AES128-SHA:AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0" } });
    const r = await probeOnce(server.port, { ...SCAN, portRole: 2 });
    const v12 = r.tlsProfile!.versions.find((v) => v.version === V12)!;
    const grades = Object.fromEntries(v12.ciphers.map((c) => [c.name, c.grade]));
    expect(grades).toEqual({
      TLS_RSA_WITH_NULL_SHA256: CipherGrade.CIPHER_GRADE_INSECURE,
      TLS_ECDH_anon_WITH_AES_128_CBC_SHA: CipherGrade.CIPHER_GRADE_INSECURE,
      TLS_RSA_WITH_AES_128_GCM_SHA256: CipherGrade.CIPHER_GRADE_WEAK,
      TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: CipherGrade.CIPHER_GRADE_ACCEPTABLE,
      TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: CipherGrade.CIPHER_GRADE_STRONG,
    });
    const insecure = r.findings.find((f) => f.code === "tls_ciphers_insecure")!;
    expect(insecure.severity).toBe(3);
    expect(insecure.message).toContain("2 in TLS 1.2");
  });

  it("tells the server's cipher order from the client's", async () => {
    const ciphers = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA";
    const serverOrder = await fixture({ tlsOptions: { maxVersion: "TLSv1.2", ciphers, honorCipherOrder: true } });
    const clientOrder = await fixture({ tlsOptions: { maxVersion: "TLSv1.2", ciphers: `${ciphers}:AES128-SHA`, honorCipherOrder: false } });
    const [a, b] = await Promise.all([probeOnce(serverOrder.port, SCAN), probeOnce(clientOrder.port, SCAN)]);
    expect(a.tlsProfile!.cipherOrder).toBe(CipherOrder.CIPHER_ORDER_SERVER);
    expect(b.tlsProfile!.cipherOrder).toBe(CipherOrder.CIPHER_ORDER_CLIENT);
    // The client's order, and a weak suite among those accepted: a client that prefers it gets it.
    expect(b.findings.map((f) => f.code)).toContain("tls_client_cipher_order");
    expect(a.findings.map((f) => f.code)).not.toContain("tls_client_cipher_order");
  });

  it("scans an implicit-TLS port from the first byte", async () => {
    const server = await fixture({ implicitTls: true, tlsOptions: { minVersion: "TLSv1.2" } });
    const r = await probeOnce(server.port, { ...SCAN, tlsMode: 3 });
    expect(r.tlsProfile!.status, r.tlsProfile!.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(supports(r.tlsProfile)).toMatchObject({ [V12]: ACCEPTED, [V13]: ACCEPTED, [V11]: REFUSED });
  });

  it("scans nothing where STARTTLS is not offered, and says so", async () => {
    const server = await fixture({ starttls: "disabled" });
    const r = await probeOnce(server.port, SCAN);
    expect(r.tlsProfile).toMatchObject({ status: TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED, reason: "STARTTLS is not offered", connections: 0 });
    expect(server.connections()).toBe(1);
  });

  it("runs nothing when not asked", async () => {
    const server = await fixture({});
    const r = await probeOnce(server.port);
    expect(r.tlsProfile).toBeUndefined();
    expect(r.starttlsEnforcement).toBeUndefined();
    expect(server.connections()).toBe(1);
  });
});

describe("every connection of the scan follows the handshake's rules", () => {
  it("asks the gate for each connection, holds at most four at once, and gives every slot back", async () => {
    const server = await fixture({ tlsOptions: { minVersion: "TLSv1", ciphers: "DEFAULT@SECLEVEL=0" } });
    let asked = 0;
    let held = 0;
    let peak = 0;
    const gate: ConnectGate = async () => {
      asked += 1;
      held += 1;
      peak = Math.max(peak, held);
      return { release: () => (held -= 1) };
    };
    const r = await probeOnce(server.port, SCAN, { gate });
    expect(r.tlsProfile!.status, r.tlsProfile!.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(asked).toBe(server.connections());
    expect(asked).toBe(r.tlsProfile!.connections + 1);
    expect(peak).toBeLessThanOrEqual(4);
    expect(server.peakConnections()).toBeLessThanOrEqual(4);
    expect(held).toBe(0);
    expect(r.tlsProfile!.connections).toBeLessThanOrEqual(48);
  });

  it("stops at the first slot the gate denies, and says so", async () => {
    const server = await fixture({});
    let asked = 0;
    const gate: ConnectGate = async () => (++asked <= 3 ? { release: () => undefined } : { denied: "throttled: 60 connections to 127.0.0.1 in the last minute (limit 60)" });
    const r = await probeOnce(server.port, SCAN, { gate });
    expect(r.tlsProfile!.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_PARTIAL);
    expect(r.tlsProfile!.reason).toContain("throttled: 60 connections");
    expect(server.connections()).toBe(3);
    expect(r.findings.map((f) => f.code)).toContain("tls_scan_incomplete");
  });

  it("applies the policy before each connection and to the peer after it: a denial ends the scan", async () => {
    const server = await fixture({});
    let calls = 0;
    // Allows the handshake (its check before and after connect) and one scan connection, then denies.
    const policy: TargetPolicy = Object.assign((): PolicyDenial | undefined => (++calls > 4 ? ({ kind: "deny_list", reason: "denied by the test" } as PolicyDenial) : undefined), { checkName: () => undefined });
    const r: HandshakeResult = await probeOnce(server.port, SCAN, { policy });
    expect(r.outcome).toBe(1);
    expect(r.tlsProfile!.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_PARTIAL);
    expect(r.tlsProfile!.reason).toContain("denied by the test");
    expect(server.connections()).toBeLessThanOrEqual(2);
  });
});
