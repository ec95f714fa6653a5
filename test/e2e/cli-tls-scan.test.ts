// `smtp-probe check --tls-scan --starttls-enforcement`, end to end: the real binary in local mode,
// and through an embedded coordinator (its agent in region `local`) at the destination throttle's
// default limits, against an smtp-server fixture this test starts on 127.0.0.1.
// The assertions are about content: lines are not wrapped (COLUMNS wide); the width has tests of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const TEST_MS = 90_000;

interface JsonProfile {
  status: string;
  connections: number;
  versions: { version: string; support: string; ciphers?: { name: string; grade: string }[] }[];
}

describe("smtp-probe check --tls-scan --starttls-enforcement (end to end)", () => {
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess;
  beforeAll(async () => {
    fixture = await startSmtpFixture({ tlsOptions: { minVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA" } });
    // The throttle at its defaults (4 open, 60 a minute per address): the scan fits within them.
    coordinator = await startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port], throttle: [] });
  }, START_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.all([coordinator?.stop(), fixture?.stop()]);
  });

  it(
    "local mode: the TLS scan block and the enforcement line",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--tls-scan", "--starttls-enforcement", "--no-color", "--timeout", "40"], { COLUMNS: "9999" }, 60_000);
      expect(run.stderr).toBe("");
      expect(run.stdout).toMatch(/ {2}TLS scan {4}accepts TLS 1\.2, TLS 1\.3 · refuses SSL 3\.0, TLS 1\.0, TLS 1\.1 · \d+ connections/);
      expect(run.stdout).toContain("TLS 1.2  2 suites, weakest TLS_RSA_WITH_AES_128_CBC_SHA (weak: RSA key exchange, no forward secrecy, CBC with SHA-1, CBC in TLS 1.2)");
      expect(run.stdout).toContain("  Enforcement none: mail is taken without TLS — MAIL FROM:<> before STARTTLS got 250 Accepted");
      expect(run.stdout).toContain("[starttls_not_enforced]");
    },
    TEST_MS,
  );

  it(
    "through a coordinator: the agent scans within the throttle's default limits, the JSON carries the profile",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--coordinator", coordinator.address, "--tls-scan", "--starttls-enforcement", "--json", "--timeout", "40"], {}, 60_000);
      const report = JSON.parse(run.stdout) as { tasks: { status: string; result?: { handshakes: { tlsProfile?: JsonProfile; starttlsEnforcement?: { status: string } }[] } }[] };
      const task = report.tasks[0]!;
      expect(task.status, run.stdout + run.stderr).toBe("TASK_STATUS_DONE");
      const handshake = task.result!.handshakes[0]!;
      expect(handshake.starttlsEnforcement?.status).toBe("STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED");
      const profile = handshake.tlsProfile!;
      expect(profile.status).toBe("TLS_SCAN_STATUS_COMPLETE");
      expect(profile.versions.filter((v) => v.support === "VERSION_SUPPORT_ACCEPTED").map((v) => v.version)).toEqual(["TLS_VERSION_TLS_1_2", "TLS_VERSION_TLS_1_3"]);
      expect(profile.versions.find((v) => v.version === "TLS_VERSION_TLS_1_2")!.ciphers!.map((c) => [c.name, c.grade])).toEqual(
        expect.arrayContaining([
          ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "CIPHER_GRADE_STRONG"],
          ["TLS_RSA_WITH_AES_128_CBC_SHA", "CIPHER_GRADE_WEAK"],
        ]),
      );
      expect(profile.connections).toBeLessThanOrEqual(48);
    },
    TEST_MS,
  );
});
