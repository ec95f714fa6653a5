// STARTTLS enforcement against real servers: Debian's Postfix with smtpd_tls_security_level =
// encrypt (530 before STARTTLS) and with may (250), smtp-server, and a scripted server that shows
// exactly what the check sends: EHLO, MAIL FROM:<>, RSET, QUIT — never RCPT, never DATA.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PortRole, Severity, StarttlsEnforcementStatus, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../../../helpers/certs.js";
import { postfixAvailable, startPostfix, type PostfixInstance } from "../../../helpers/postfix.js";
import { need } from "../../../helpers/requirements.js";
import { startSmtpFixture } from "../../../helpers/smtp-fixture.js";
import { startTlsHelloServer, type TlsHelloServer } from "../../../helpers/tls-hello-server.js";
import { alertRecord } from "../../../helpers/tls-records.js";
import type { PolicyDenial, TargetPolicy } from "../../../../lib/policy/policy-types.js";
import { probeOnce } from "./probe-helpers.js";

const CHECK = { checkStarttlsEnforcement: true };
const { STARTTLS_ENFORCEMENT_STATUS_REQUIRED: REQUIRED, STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED: NOT_REQUIRED, STARTTLS_ENFORCEMENT_STATUS_NOT_CHECKED: NOT_CHECKED } = StarttlsEnforcementStatus;
const postfix = await need(postfixAvailable);

describe.skipIf(postfix.skip)("STARTTLS enforcement against Postfix", () => {
  let encrypt: PostfixInstance;
  let may: PostfixInstance;
  beforeAll(async () => {
    const pki = await testPki();
    const leaf = await pki.leaf({ names: ["postfix.test"] });
    [encrypt, may] = await Promise.all([
      startPostfix({ ...leaf, mainCf: { smtpd_tls_security_level: "encrypt", smtpd_tls_auth_only: "yes" } }),
      startPostfix({ ...leaf, mainCf: { smtpd_tls_security_level: "may", smtpd_tls_auth_only: "yes" } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([encrypt?.stop(), may?.stop()]);
  });

  it("smtpd_tls_security_level = encrypt: 530 5.7.0 before STARTTLS, as submission wants it", async () => {
    const r = await probeOnce(encrypt.port, { ...CHECK, portRole: PortRole.PORT_ROLE_SUBMISSION });
    expect(r.starttlsEnforcement, encrypt.logs()).toMatchObject({ status: REQUIRED, reply: { code: 530, enhancedCode: "5.7.0", lines: ["5.7.0 Must issue a STARTTLS command first"] } });
    expect(r.findings.map((f) => f.code)).not.toContain("starttls_not_enforced");
  });

  it("the same on a relay: senders without TLS cannot deliver (RFC 3207 §4)", async () => {
    const r = await probeOnce(encrypt.port, { ...CHECK, portRole: PortRole.PORT_ROLE_MX_RELAY });
    const finding = r.findings.find((f) => f.code === "relay_refuses_plaintext_mail");
    expect(finding?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(finding?.message).toContain("RFC 3207 §4");
  });

  it("smtpd_tls_security_level = may: 250, normal on a relay, a finding on submission", async () => {
    const relay = await probeOnce(may.port, { ...CHECK, portRole: PortRole.PORT_ROLE_MX_RELAY });
    expect(relay.starttlsEnforcement, may.logs()).toMatchObject({ status: NOT_REQUIRED, reply: { code: 250, enhancedCode: "2.1.0" } });
    expect(relay.findings.filter((f) => f.code === "starttls_not_enforced" || f.code === "relay_refuses_plaintext_mail")).toEqual([]);
    const submission = await probeOnce(may.port, { ...CHECK, portRole: PortRole.PORT_ROLE_SUBMISSION });
    expect(submission.findings.find((f) => f.code === "starttls_not_enforced")?.severity).toBe(Severity.SEVERITY_WARNING);
    expect(may.logs()).toMatch(/disconnect from .* ehlo=1 mail=1 rset=1 quit=1 commands=4/);
  });

  it("scans Postfix's TLS in the same probe, both checks through their own connections", async () => {
    const r = await probeOnce(may.port, { ...CHECK, tlsScan: true, timeouts: { deadlineMs: 30_000 } });
    expect(r.starttlsEnforcement?.status).toBe(NOT_REQUIRED);
    expect(r.tlsProfile?.connections).toBeGreaterThan(10);
    expect(r.tlsProfile?.versions.find((v) => v.version === 5)?.support).toBe(1);
  });
});

describe("STARTTLS enforcement against other servers", () => {
  let server: TlsHelloServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it("sends EHLO, MAIL FROM:<>, RSET and QUIT, and nothing else, on a connection of its own", async () => {
    server = await startTlsHelloServer({ answer: () => alertRecord(40), mailReply: "530 5.7.0 Must issue a STARTTLS command first" });
    const r = await probeOnce(server.port, CHECK);
    expect(r.starttlsEnforcement?.status).toBe(REQUIRED);
    expect(server.connections()).toBe(2);
    // The handshake's own commands, then the check's.
    expect(server.commands()).toEqual(["EHLO probe.test", "STARTTLS", "EHLO probe.test", "MAIL FROM:<>", "RSET", "QUIT"]);
  });

  it("tells a demand for authentication from a demand for TLS", async () => {
    server = await startTlsHelloServer({ answer: () => alertRecord(40), mailReply: "530 5.7.0 Authentication required" });
    const r = await probeOnce(server.port, { ...CHECK, portRole: PortRole.PORT_ROLE_SUBMISSION });
    expect(r.starttlsEnforcement?.status).toBe(StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED);
  });

  it("smtp-server takes mail before STARTTLS", async () => {
    const fixture = await startSmtpFixture({});
    try {
      const r = await probeOnce(fixture.port, CHECK);
      expect(r.starttlsEnforcement).toMatchObject({ status: NOT_REQUIRED, reply: { code: 250 } });
    } finally {
      await fixture.stop();
    }
  });

  it("has no plaintext session to check with implicit TLS, and says so", async () => {
    const fixture = await startSmtpFixture({ implicitTls: true });
    try {
      const r = await probeOnce(fixture.port, { ...CHECK, tlsMode: TlsMode.TLS_MODE_IMPLICIT });
      expect(r.starttlsEnforcement).toMatchObject({ status: NOT_CHECKED, reason: "implicit TLS: the port has no plaintext session to enforce STARTTLS on" });
      expect(fixture.connections()).toBe(1);
    } finally {
      await fixture.stop();
    }
  });

  it("says why when the check's connection fails", async () => {
    const fixture = await startSmtpFixture({});
    const { port } = fixture;
    let calls = 0;
    const policy: TargetPolicy = Object.assign((): PolicyDenial | undefined => (++calls > 2 ? ({ kind: "deny_list", reason: "denied by the test" } as PolicyDenial) : undefined), { checkName: () => undefined });
    try {
      const r = await probeOnce(port, CHECK, { policy });
      expect(r.starttlsEnforcement).toMatchObject({ status: NOT_CHECKED, reason: "no connection: the target policy forbids 127.0.0.1 port " + port + ": denied by the test" });
    } finally {
      await fixture.stop();
    }
  });
});
