// `smtp-probe check --mx --posture` end to end: the compiled binary against an smtp-server fixture
// on 127.0.0.1 and a DNS server this test starts, which holds the MX, the reverse DNS of 127.0.0.1
// and a blocklist zone that lists it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.js";
import { runCli as runCliProcess, startCoordinatorProcess, stopAll, type CliRun, type CoordinatorProcess } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const runCli = (args: string[]): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", NO_COLOR: "1" });

interface JsonHandshake {
  address: string;
  addressPosture?: { reverseDns?: { ptrNames?: string[]; forwardConfirmed?: boolean }; blocklists?: { zone: string; listed?: boolean; codes?: string[]; reason?: string }[] };
  findings?: { code: string }[];
}

describe("smtp-probe check --posture (end to end)", () => {
  let dns: DnsServer;
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess | undefined;
  beforeAll(async () => {
    fixture = await startSmtpFixture({ name: "fixture.test" });
    dns = await startDnsServer({
      "posture-mx.test": { MX: [{ exchange: "mx.posture-mx.test", preference: 10 }], TXT: ["v=spf1 mx -all"] },
      "_dmarc.posture-mx.test": { TXT: ["v=DMARC1; p=none"] },
      "mx.posture-mx.test": { A: ["127.0.0.1"] },
      "1.0.0.127.in-addr.arpa": { PTR: ["mx.posture-mx.test"] },
      "1.0.0.127.bl.test": { A: ["127.0.0.2"], TXT: ["listed by the test"] },
    });
  });
  afterAll(async () => {
    await stopAll([coordinator]);
    await fixture?.stop();
    await dns?.stop();
  });

  const args = (...more: string[]): string[] => ["check", "posture-mx.test", "--mx", "--port", String(fixture.port), "--dns-server", dns.server, "--timeout", "5", ...more];

  it("--json: each handshake's reverse DNS and listings, with findings", async () => {
    const run = await runCli(args("--posture", "--dnsbl", "bl.test,clean.test", "--json"));
    expect(run.code).toBe(1); // dnsbl_listed is an error
    const report = JSON.parse(run.stdout) as {
      request: { options: { posture?: unknown } };
      tasks: { result: { handshakes: JsonHandshake[] } }[];
      domainCheck?: { postures: { region: string; spf?: { evaluations?: { address: string; result: string }[] }; dmarc?: { policy?: string } }[] };
    };
    // With --mx, the domain's posture too, as CheckDomain reports it.
    expect(report.domainCheck?.postures.map((p) => [p.region, p.dmarc?.policy, p.spf?.evaluations])).toEqual([["local", "none", [{ address: "127.0.0.1", result: "SPF_RESULT_PASS", explanation: expect.any(String) as string, dnsLookups: 1 }]]]);
    expect(report.request.options.posture).toEqual({ blocklistZones: ["bl.test", "clean.test"] });
    const [h] = report.tasks[0]!.result.handshakes;
    expect(h?.address).toBe("127.0.0.1");
    expect(h?.addressPosture?.reverseDns).toEqual({ ptrNames: ["mx.posture-mx.test"], forwardConfirmed: true, confirmedName: "mx.posture-mx.test" });
    expect(h?.addressPosture?.blocklists).toEqual([{ zone: "bl.test", listed: true, codes: ["127.0.0.2"], reason: "listed by the test" }, { zone: "clean.test" }]);
    // The banner says fixture.test, the reverse DNS mx.posture-mx.test.
    expect(h?.findings?.map((f) => f.code)).toEqual(expect.arrayContaining(["dnsbl_listed", "ptr_name_mismatch"]));
  });

  it("the human form has a DNS row; without --posture nothing is asked about the address", async () => {
    const run = await runCli(args("--posture", "--no-dnsbl"));
    expect(run.stdout).toContain("DNS         127.0.0.1: PTR mx.posture-mx.test (forward-confirmed)");
    expect(run.stdout).toMatch(/^Domain posture-mx\.test from local:/m);
    expect(run.stdout).toContain("[dmarc_policy_none]");
    const before = dns.queries().length;
    const plain = await runCli(args());
    expect(plain.stdout).not.toContain("PTR ");
    expect(plain.stdout).not.toContain("Domain posture-mx.test");
    expect(dns.queries().slice(before).filter((q) => q.type === "PTR")).toEqual([]);
  });

  it("through a coordinator: the posture in each handshake, and the domain's from CheckDomain", async () => {
    coordinator = await startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port], dnsServers: [dns.server] });
    const run = await runCli([...args("--posture", "--dnsbl", "bl.test", "--json").filter((a, i, all) => a !== "--dns-server" && all[i - 1] !== "--dns-server"), "--coordinator", coordinator.address]);
    expect(run.stderr).toBe("");
    const report = JSON.parse(run.stdout) as { tasks: { region: string; result: { handshakes: JsonHandshake[] } }[]; domainCheck?: { postures: { region: string }[] } };
    const [h] = report.tasks[0]!.result.handshakes;
    expect(h?.addressPosture?.reverseDns).toMatchObject({ ptrNames: ["mx.posture-mx.test"], forwardConfirmed: true });
    expect(h?.addressPosture?.blocklists?.[0]).toMatchObject({ zone: "bl.test", listed: true });
    expect(report.domainCheck?.postures.map((p) => p.region)).toEqual(["local"]);
  }, 60_000);

  it.each([
    [["--dnsbl", "bl.test"], /^smtp-probe: --dnsbl: only with --posture/],
    [["--posture", "--dnsbl", "not a zone"], /^smtp-probe: --dnsbl: "not a zone" is not a DNS zone name/],
  ])("%j is a usage error", async (more, message) => {
    const run = await runCli(args(...more));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});
