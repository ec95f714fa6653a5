import { afterEach, describe, expect, it } from "vitest";
import { Direction, Outcome, Phase, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../../../helpers/certs.js";
import { startSmtpFixture, type SmtpFixture, type SmtpFixtureOptions } from "../../../helpers/smtp-fixture.js";
import { codes, probeOnce, sent } from "./probe-helpers.js";

let fixture: SmtpFixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

async function start(opts: SmtpFixtureOptions = {}): Promise<SmtpFixture> {
  fixture = await startSmtpFixture(opts);
  return fixture;
}

describe("handshake against smtp-server variants", () => {
  it("STARTTLS: banner, capabilities before and after TLS, chain, transcript", async () => {
    const { port } = await start({ size: 10_485_760, showEhloExtensions: ["ENHANCEDSTATUSCODES"] });
    const r = await probeOnce(port);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.phase).toBe(Phase.PHASE_DONE);
    expect(r.banner?.code).toBe(220);
    expect(r.banner?.meaning).toMatch(/ready/i);
    expect(r.capabilities?.starttls).toBe(true);
    expect(r.capabilities?.size).toBe(10_485_760);
    expect(r.capabilities?.enhancedStatusCodes).toBe(true);
    expect(r.capabilities?.authMechanisms).toEqual([]);
    // AUTH appears only after TLS, and STARTTLS no more.
    expect(r.capabilitiesTls?.authMechanisms).toEqual(expect.arrayContaining(["PLAIN", "LOGIN"]));
    expect(r.capabilitiesTls?.starttls).toBe(false);
    expect(r.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(r.tls?.implicit).toBe(false);
    expect(r.tls?.chain[0]?.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(r.tls?.chain[0]?.signatureAlgorithm).toBe("sha256WithRSAEncryption");
    expect(r.tls?.chain[0]?.keyBits).toBe(2048);
    expect(r.tls?.trusted).toBe(false);
    expect(r.tls?.nameMatches).toBe(true);
    expect(codes(r)).toContain("cert_untrusted");
    expect(sent(r)).toEqual(["EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"]);
    const tlsLines = r.transcript!.entries.filter((e) => e.tls && e.direction === Direction.DIRECTION_CLIENT);
    expect(tlsLines.map((e) => e.text)).toEqual(["EHLO probe.test", "QUIT"]);
    expect(r.timings.map((t) => t.phase)).toEqual([
      Phase.PHASE_CONNECT,
      Phase.PHASE_BANNER,
      Phase.PHASE_EHLO,
      Phase.PHASE_STARTTLS,
      Phase.PHASE_TLS,
      Phase.PHASE_EHLO_TLS,
      Phase.PHASE_QUIT,
    ]);
    // One clock for the TLS handshake: the TLS block and the phase timing say the same.
    expect(r.tls?.handshakeMs).toBeGreaterThan(0);
    expect(r.tls?.handshakeMs).toBe(r.timings.find((t) => t.phase === Phase.PHASE_TLS)?.durationMs);
  });

  it("trusts the chain with an extra CA, and checks the SNI name", async () => {
    const { port } = await start();
    const pki = await testPki();
    const r = await probeOnce(port, { sni: "fixture.test" }, { extraCa: pki.ca.certPem });
    expect(r.tls?.trusted).toBe(true);
    // The chain is what the server sent: the CA from our own store is not added to it.
    expect(r.tls?.chain.map((c) => c.subject)).toEqual(["CN=fixture.test"]);
    expect(r.tls?.sni).toBe("fixture.test");
    expect(r.tls?.checkedName).toBe("fixture.test");
    expect(r.tls?.nameMatches).toBe(true);
    expect(codes(r)).not.toContain("cert_untrusted");
    expect(fixture?.servernames()).toEqual(["fixture.test"]);
  });

  it("reports a certificate for another name", async () => {
    const pki = await testPki();
    const { port } = await start({ tls: await pki.leaf({ names: ["other.test"] }) });
    const r = await probeOnce(port, { sni: "mx.example.test" }, { extraCa: pki.ca.certPem });
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.tls?.nameMatches).toBe(false);
    expect(r.tls?.nameError).toMatch(/mx\.example\.test/);
    expect(codes(r)).toContain("cert_name_mismatch");
  });

  it("reports an expired certificate, and still completes", async () => {
    const pki = await testPki();
    const { port } = await start({ tls: await pki.leaf({ names: ["127.0.0.1"], expired: true }) });
    const r = await probeOnce(port, {}, { extraCa: pki.ca.certPem });
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.tls?.daysToExpiry).toBeLessThan(0);
    expect(codes(r)).toContain("cert_expired");
  });

  it("reports a weak key", async () => {
    const pki = await testPki();
    const { port } = await start({ tls: await pki.leaf({ names: ["127.0.0.1"], rsaBits: 1024 }) });
    const r = await probeOnce(port, {}, { extraCa: pki.ca.certPem });
    expect(r.tls?.chain[0]?.keyBits).toBe(1024);
    expect(codes(r)).toContain("cert_weak_key");
  });

  it("an old server speaking TLS 1.0 is reported, not failed", async () => {
    const { port } = await start({ tlsOptions: { maxVersion: "TLSv1", ciphers: "DEFAULT@SECLEVEL=0" } });
    const r = await probeOnce(port);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.tls?.protocol).toBe("TLSv1");
    expect(codes(r)).toContain("tls_version_old");
  });

  it("hidden STARTTLS: auto mode stays in plaintext and says so; require mode finds it", async () => {
    const { port } = await start({ starttls: "hidden" });
    const auto = await probeOnce(port);
    expect(auto.outcome).toBe(Outcome.OUTCOME_OK);
    expect(auto.capabilities?.starttls).toBe(false);
    expect(auto.tls).toBeUndefined();
    expect(codes(auto)).toContain("starttls_missing");

    const required = await probeOnce(port, { tlsMode: TlsMode.TLS_MODE_REQUIRE });
    expect(required.outcome).toBe(Outcome.OUTCOME_OK);
    expect(required.tls?.protocol).toMatch(/^TLSv1/);
  });

  it("STARTTLS refused: require mode stops without another plaintext command", async () => {
    const { port } = await start({ starttls: "disabled" });
    const r = await probeOnce(port, { tlsMode: TlsMode.TLS_MODE_REQUIRE });
    expect(r.outcome).toBe(Outcome.OUTCOME_STARTTLS_UNAVAILABLE);
    expect(r.phase).toBe(Phase.PHASE_STARTTLS);
    expect(sent(r).at(-1)).toBe("STARTTLS");
    expect(codes(r)).toContain("starttls_unavailable_required");
  });

  it("implicit TLS: TLS first, one EHLO inside it", async () => {
    const { port } = await start({ implicitTls: true });
    const r = await probeOnce(port, { tlsMode: TlsMode.TLS_MODE_IMPLICIT });
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.tls?.implicit).toBe(true);
    expect(r.capabilities).toBeUndefined();
    expect(r.capabilitiesTls?.greeting).toMatch(/fixture\.test/);
    expect(r.timings[1]?.phase).toBe(Phase.PHASE_TLS_CONNECT);
    expect(r.tls?.handshakeMs).toBe(r.timings[1]?.durationMs);
    expect(r.transcript!.entries.filter((e) => e.direction !== Direction.DIRECTION_EVENT).every((e) => e.tls)).toBe(true);
  });

  it("custom banner text", async () => {
    const { port } = await start({ banner: "Welcome to the test MX" });
    const r = await probeOnce(port);
    expect(r.banner?.lines[0]).toMatch(/Welcome to the test MX/);
  });

  it.each([
    [554, Outcome.OUTCOME_REJECTED, "banner_rejected"],
    [421, Outcome.OUTCOME_DEFERRED, "banner_deferred"],
  ] as const)("banner %i ends the dialogue as %s", async (code, outcome, finding) => {
    const { port } = await start({ rejectConnection: { code, message: "go away" } });
    const r = await probeOnce(port);
    expect(r.outcome).toBe(outcome);
    expect(r.phase).toBe(Phase.PHASE_BANNER);
    expect(r.banner?.code).toBe(code);
    expect(r.lastReply?.code).toBe(code);
    expect(codes(r)).toContain(finding);
  });

  it("EHLO rejected: falls back to HELO", async () => {
    const { port } = await start({ disabledCommands: ["EHLO"] });
    const r = await probeOnce(port);
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(r.capabilities?.heloOnly).toBe(true);
    expect(sent(r)).toEqual(["EHLO probe.test", "HELO probe.test", "QUIT"]);
    expect(codes(r)).toContain("helo_fallback");
  });

  it("AUTH before TLS, with PLAIN and LOGIN", async () => {
    const { port } = await start({ authBeforeTls: true });
    const r = await probeOnce(port);
    expect(r.capabilities?.authMechanisms).toEqual(expect.arrayContaining(["PLAIN", "LOGIN"]));
    expect(codes(r)).toEqual(expect.arrayContaining(["auth_before_tls", "auth_plaintext_password"]));
  });

  it("TLS mode none: never sends STARTTLS", async () => {
    const { port } = await start();
    const r = await probeOnce(port, { tlsMode: TlsMode.TLS_MODE_NONE });
    expect(r.outcome).toBe(Outcome.OUTCOME_OK);
    expect(sent(r)).toEqual(["EHLO probe.test", "QUIT"]);
  });
});
