// The TLS scan against the reference, testssl.sh (Debian's package), on the same servers the test
// starts on loopback: the same versions accepted, the same suites per version. Where the two may
// differ by design (docs/design.md, "The TLS scan"): testssl also tests SSLv2, and offers a few
// suites the catalogue leaves out (GOST, CECPQ1, the SSL_RSA_FIPS values); none of the servers
// here can accept those, so on these servers the lists must be equal.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TlsScanStatus, TlsVersion, VersionSupport, type TlsProfile } from "../../../../gen/smtpprobe/v1/handshake.js";
import { CIPHER_SUITES } from "../../../../agents/smtp/tls-scan/cipher-catalogue.js";
import { need } from "../../../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { runTestssl, testsslAvailable, type TestsslResult } from "../../../helpers/testssl.js";
import { probeOnce } from "./probe-helpers.js";

const testssl = await need(testsslAvailable);
// testssl.sh is a shell script that starts an openssl per question: minutes on a busy machine.
const TESTSSL_MS = 540_000;

function ours(profile: TlsProfile): { offered: Map<TlsVersion, boolean>; ciphers: Map<TlsVersion, number[]> } {
  const offered = new Map<TlsVersion, boolean>();
  const ciphers = new Map<TlsVersion, number[]>();
  for (const v of profile.versions) {
    offered.set(v.version, v.support === VersionSupport.VERSION_SUPPORT_ACCEPTED);
    if (v.ciphers.length) ciphers.set(v.version, v.ciphers.map((c) => c.codePoint).sort((a, b) => a - b));
  }
  return { offered, ciphers };
}

/** testssl's suites that the catalogue does not offer: they are no difference of the scan's. */
const CATALOGUE = new Set(CIPHER_SUITES.map((s) => s.code));

describe.skipIf(testssl.skip)("the TLS scan agrees with testssl.sh", { timeout: TESTSSL_MS + 60_000 }, () => {
  let starttls: SmtpFixture;
  let implicit: SmtpFixture;
  let reference: [TestsslResult, TestsslResult];
  beforeAll(async () => {
    // TLS 1.0 to 1.3 over STARTTLS, with NULL, anonymous, static-RSA and CBC suites beside strong ones.
    starttls = await startSmtpFixture({
      tlsOptions: { minVersion: "TLSv1", ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:AES256-SHA:AES128-GCM-SHA256:NULL-SHA:AECDH-AES128-SHA:@SECLEVEL=0" },
      socketTimeoutMs: 30_000,
    });
    // TLS 1.2 only, implicit TLS (port 465 style).
    implicit = await startSmtpFixture({ implicitTls: true, tlsOptions: { minVersion: "TLSv1.2", maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA256:AES128-SHA" }, socketTimeoutMs: 30_000 });
    reference = await Promise.all([runTestssl(starttls.port, { starttls: true, timeoutMs: TESTSSL_MS }), runTestssl(implicit.port, { starttls: false, timeoutMs: TESTSSL_MS })]);
  }, TESTSSL_MS + 30_000);
  afterAll(async () => {
    await Promise.all([starttls?.stop(), implicit?.stop()]);
  });

  it.each([
    ["STARTTLS, TLS 1.0 to 1.3, weak and strong suites", 0],
    ["implicit TLS, TLS 1.2 only", 1],
  ] as const)("%s: the same versions and the same suites per version", async (_name, which) => {
    const server = which === 0 ? starttls : implicit;
    const r = await probeOnce(server.port, { tlsScan: true, tlsMode: which === 0 ? 0 : 3, timeouts: { deadlineMs: 60_000 } });
    const profile = r.tlsProfile!;
    expect(profile.status, profile.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    const mine = ours(profile);
    const theirs = reference[which];
    expect(Object.fromEntries(mine.offered)).toEqual(Object.fromEntries(theirs.offered));
    const theirCiphers = new Map([...theirs.ciphers].map(([v, codes]) => [v, codes.filter((c) => CATALOGUE.has(c))] as const));
    expect(Object.fromEntries(mine.ciphers)).toEqual(Object.fromEntries([...theirCiphers].filter(([, codes]) => codes.length > 0)));
  });
});
