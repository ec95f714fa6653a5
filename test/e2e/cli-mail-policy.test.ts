// `smtp-probe check DOMAIN --mx` and the domain's DANE, end to end: the real binary in local mode
// and through an embedded coordinator, resolving through unbound (a validating resolver serving a
// zone this test signs), against an smtp-server fixture on 127.0.0.1. The Policy block in the human
// output, the whole policy in --json.
import { createHash, X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPki } from "../helpers/certs.js";
import { runCli, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { startUnbound, unboundAvailable, type Unbound } from "../helpers/unbound.js";

const requirement = await need(unboundAvailable);
const TEST_MS = 60_000;

describe.skipIf(requirement.skip)("smtp-probe check --mx: the Policy block (end to end)", () => {
  let fixture: SmtpFixture;
  let unbound: Unbound;
  let coordinator: CoordinatorProcess;
  beforeAll(async () => {
    const pki = await testPki();
    const leaf = await pki.leaf({ names: ["mx1.signed.example", "mx2.signed.example"] });
    fixture = await startSmtpFixture({ tls: leaf, name: "mx1.signed.example" });
    const spki = new X509Certificate(leaf.certPem).publicKey.export({ type: "spki", format: "der" });
    unbound = await startUnbound([
      {
        name: "signed.example",
        dnssec: "signed",
        records: [
          "@ IN MX 10 mx1",
          "@ IN MX 20 mx2",
          "mx1 IN A 127.0.0.1",
          "mx2 IN A 127.0.0.1",
          `_25._tcp.mx1 IN TLSA 3 1 1 ${createHash("sha256").update(spki).digest("hex")}`,
          `_25._tcp.mx2 IN TLSA 3 1 1 ${"00".repeat(32)}`,
        ],
      },
    ]);
    coordinator = await startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port], dnsServers: [unbound.server] });
  }, START_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.all([coordinator?.stop(), fixture?.stop(), unbound?.stop()]);
  });

  const args = (): string[] => ["check", "signed.example", "--mx", "--port", String(fixture.port), "--port-role", `${fixture.port}=relay`, "--max-addresses", "1", "--timeout", "20"];

  it(
    "local mode: the Policy block names each exchanger's TLSA answer and what senders do",
    async () => {
      const run = await runCli([...args(), "--dns-server", unbound.server, "--no-color"], { COLUMNS: "9999" }, 40_000);
      expect(run.stdout).toContain(`Policy signed.example (port ${fixture.port})`);
      expect(run.stdout).toContain("  MTA-STS     not published");
      expect(run.stdout).toContain("  TLS-RPT     not published");
      expect(run.stdout).toMatch(/DANE {8}mx1\.signed\.example: authenticated \(AD\) · 3 1 1 [0-9a-f]{16}…\n {14}mx2\.signed\.example: authenticated/);
      expect(run.stdout).toMatch(/mx1\.signed\.example 127\.0\.0\.1: MTA-STS none to honour \(opportunistic TLS\); DANE ✔ delivers \(the certificate matches TLSA 3 1 1/);
      expect(run.stdout).toMatch(/mx2\.signed\.example 127\.0\.0\.1: .*DANE ✖ will not deliver: the certificate presented matches none/);
      expect(run.stdout).toContain("[tls_rpt_missing]");
      expect(run.stdout).toContain("[dane_mismatch]");
    },
    TEST_MS,
  );

  it(
    "through a coordinator: --json carries the policy, the TLSA records and each handshake's check",
    async () => {
      const run = await runCli([...args(), "--coordinator", coordinator.address, "--json"], {}, 40_000);
      const report = JSON.parse(run.stdout) as {
        tasks: { status: string; result?: { mailPolicy?: { domain: string; tlsa: { exchanger: string; status: string; authenticated: boolean }[] }; handshakes: { exchange: string; dane?: { result: string } }[] } }[];
      };
      const result = report.tasks[0]?.result;
      expect(report.tasks[0]?.status, run.stdout + run.stderr).toBe("TASK_STATUS_DONE");
      expect(result?.mailPolicy?.domain).toBe("signed.example");
      expect(result?.mailPolicy?.tlsa.map((t) => [t.exchanger, t.status, t.authenticated])).toEqual([
        ["mx1.signed.example", "DANE_STATUS_SECURE", true],
        ["mx2.signed.example", "DANE_STATUS_SECURE", true],
      ]);
      expect(result?.handshakes.map((h) => [h.exchange, h.dane?.result])).toEqual([
        ["mx1.signed.example", "POLICY_RESULT_PASS"],
        ["mx2.signed.example", "POLICY_RESULT_FAIL"],
      ]);
    },
    TEST_MS,
  );
});
