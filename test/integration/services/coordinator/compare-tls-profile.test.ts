// Two regions, each with a real scan: one reaches the server itself (TLS 1.2 and 1.3), the other
// a middlebox in its path that terminates TLS with its own certificate and offers TLS 1.2 only.
// The comparison must say the TLS profile differs in that region, and what a sender there sees.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { testPki } from "../../../helpers/certs.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { differenceVerdicts } from "../../../../services/coordinator/compare-differences.js";
import { probeOnce } from "../../agents/smtp/probe-helpers.js";

describe("the regional comparison of real TLS scans", () => {
  let server: SmtpFixture;
  let middlebox: SmtpFixture;
  beforeAll(async () => {
    const pki = await testPki();
    server = await startSmtpFixture({ name: "mx.example.test" });
    middlebox = await startSmtpFixture({ name: "mx.example.test", tls: await pki.leaf({ names: ["interceptor.test"], freshKey: true }), tlsOptions: { maxVersion: "TLSv1.2" } });
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), middlebox?.stop()]);
  });

  it("finds the profile different in the region behind the middlebox, and says what a sender there can negotiate", async () => {
    const options = { tlsScan: true, timeouts: { deadlineMs: 30_000 } };
    const [direct, intercepted] = await Promise.all([probeOnce(server.port, options), probeOnce(middlebox.port, options)]);
    // Both "regions" probed one address on port 25 of one host: the same server as far as they can tell.
    for (const h of [direct, intercepted]) h.port = 25;
    const verdicts = differenceVerdicts(25, [
      { region: "us-east", handshakes: [direct] },
      { region: "eu-west", handshakes: [intercepted] },
      { region: "ap-south", handshakes: [structuredClone(direct)] },
    ]);
    const kinds = verdicts.map((v) => v.kind);
    expect(kinds).toEqual(expect.arrayContaining([VerdictKind.VERDICT_KIND_CERTIFICATE_DIFFERS, VerdictKind.VERDICT_KIND_TLS_VERSION_DIFFERS, VerdictKind.VERDICT_KIND_TLS_PROFILE_DIFFERS]));
    const profile = verdicts.find((v) => v.kind === VerdictKind.VERDICT_KIND_TLS_PROFILE_DIFFERS)!;
    expect(profile.regions).toEqual(["eu-west"]);
    expect(profile.summary).toBe(
      "Port 25: the TLS scan differs between regions: a sender in us-east and ap-south can negotiate TLS 1.2 and TLS 1.3 (weak suites in TLS 1.2), " +
        "and a sender in eu-west can negotiate TLS 1.2 (weak suites in TLS 1.2): a middlebox that terminates or filters TLS, or another server, on the path from eu-west.",
    );
  });
});
