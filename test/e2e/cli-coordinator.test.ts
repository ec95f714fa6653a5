// `smtp-probe check --coordinator` and `smtp-probe regions` end to end: the real binary as child
// processes — an embedded coordinator (one in-process agent, region `local`) and the CLI — against
// an smtp-server fixture this test starts on 127.0.0.1 and a DNS server it starts for names.
// Nothing else is contacted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { runCli as runCliProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CliRun, type CoordinatorProcess } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { waitFor } from "../helpers/wait.js";

// Each CLI run is a Node process compiling TypeScript on the fly (tsx): about 1.5 s on an idle
// machine, much more on a loaded one. The bounds are for loaded machines; the tests take a few
// seconds in all when the machine is idle.
const TEST_MS = 40_000;

// The assertions here are about content: lines are not wrapped (COLUMNS wide); the width has tests
// of its own (cli-width.test.ts).
const runCli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", ...env });

/**
 * `smtp-probe coordinator` in embedded mode, allowed to probe loopback (IPv4 and IPv6) on the given
 * ports, resolving with the given DNS server; ready once ListRegions shows the embedded agent of
 * region `local` (health answers SERVING a little before the agent has announced itself, and the
 * tests need it listed).
 */
async function startCoordinator(allowPorts: number[], dnsServer: string): Promise<CoordinatorProcess> {
  const coordinator = await startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8", "::1/128"], allowPorts, dnsServers: [dnsServer] });
  const api = connectProbeApi(coordinator.address);
  try {
    await waitFor(
      async () => {
        if (!coordinator.running()) throw new Error(`the coordinator exited: ${coordinator.output()}`);
        const listed = await api.listRegions({ deadlineMs: 3000 }).catch(() => undefined);
        return Boolean(listed?.regions.some((r) => r.name === "local" && r.agents.length > 0));
      },
      15_000,
      "coordinator ready with region local",
      100,
    );
  } catch (error) {
    await coordinator.stop();
    throw error;
  } finally {
    api.close();
  }
  return coordinator;
}

interface JsonReport {
  probeId: string;
  regions: string[];
  complete?: boolean;
  tasks: {
    region: string;
    port: number;
    status: string;
    agentId?: string;
    result?: { handshakes: { outcome: string; exchange?: string }[]; notProbed?: unknown[] };
  }[];
  comparison: {
    cells: { region: string; port: number; state: string; cause?: string; addresses?: { address?: string; family?: string; state: string; cause?: string }[] }[];
    verdicts: {
      port: number;
      kind: string;
      regions?: string[];
      summary: string;
      severity: string;
      failedAddresses?: { region: string; address: { address?: string; family?: string; cause?: string } }[];
    }[];
  };
}

describe.concurrent("smtp-probe check --coordinator, smtp-probe regions (end to end)", () => {
  let fixture: SmtpFixture;
  let closed: number;
  let denied: number;
  let coordinator: CoordinatorProcess;
  let dns: DnsServer;
  const five = [1, 2, 3, 4, 5].map((n) => `mx${n}.five.test`);

  beforeAll(async () => {
    fixture = await startSmtpFixture();
    closed = await freePort();
    denied = await freePort();
    // Nothing listens on [::1] at the fixture's port: dual.test's IPv6 address is refused.
    dns = await startDnsServer({
      "dual.test": { A: ["127.0.0.1"], AAAA: ["::1"] },
      "five.test": { MX: five.map((exchange, i) => ({ exchange, preference: (i + 1) * 10 })) },
      ...Object.fromEntries(five.map((name) => [name, { A: ["127.0.0.1"] }])),
    });
    coordinator = await startCoordinator([fixture.port, closed], dns.server);
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await coordinator?.stop();
    await dns?.stop();
    await fixture?.stop();
  });

  it(
    "--json: the final ProbeReport, region local DONE, the port REACHABLE_EVERYWHERE; nothing else on stdout",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--coordinator", coordinator.address, "--json", "--timeout", "8"]);
      expect(run.stderr).toBe("");
      const report = JSON.parse(run.stdout) as JsonReport;
      expect(report.regions).toEqual(["local"]);
      expect(report.complete).toBe(true);
      expect(report.tasks).toHaveLength(1);
      expect(report.tasks[0]).toMatchObject({ region: "local", port: fixture.port, status: "TASK_STATUS_DONE" });
      expect(report.tasks[0]?.result?.handshakes[0]?.outcome).toBe("OUTCOME_OK");
      expect(report.comparison.cells).toEqual([expect.objectContaining({ region: "local", port: fixture.port, state: "CELL_STATE_REACHED" })]);
      expect(report.comparison.verdicts[0]).toMatchObject({ port: fixture.port, kind: "VERDICT_KIND_REACHABLE_EVERYWHERE", regions: ["local"] });
      // The fixture's certificate comes from a test CA the agent does not trust: an error
      // finding on a port other than 25, so exit code 1, as in local mode.
      expect(run.code).toBe(1);
    },
    TEST_MS,
  );

  it(
    "human output (coordinator from SMTP_PROBE_COORDINATOR): the matrix, the verdict, the findings of region local",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--timeout", "8"], { SMTP_PROBE_COORDINATOR: coordinator.address });
      expect(run.stderr).toBe(""); // stderr is no terminal: no live view
      const lines = run.stdout.split("\n");
      expect(lines[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1 · port ${fixture.port} · 1 region · .* · probe [0-9a-f-]{36}$`));
      expect(lines).toContain(`region   port ${fixture.port}`);
      expect(lines.find((l) => l.startsWith("local "))).toMatch(/^local {4}✔ \d+(\.\d)? m?s TLSv1\.[23]$/);
      expect(run.stdout).toContain(`Verdicts\n  ✔ Port ${fixture.port} is open from local.\n`);
      expect(run.stdout).toMatch(/Findings\n {2}local\n {4}Errors \(1\)\n {6}✖ \[cert_untrusted\] /);
      expect(run.stdout).not.toContain("\x1b[");
      expect(run.code).toBe(1);
    },
    TEST_MS,
  );

  it(
    "--port-role through the coordinator: the report echoes it, the agent judges by it (an untrusted certificate on a relay is a warning)",
    async () => {
      const port = fixture.port;
      const run = await runCli(["check", "127.0.0.1", "--port", String(port), "--port-role", `${port}=relay`, "--coordinator", coordinator.address, "--json", "--timeout", "8"]);
      expect(run.stderr).toBe("");
      const report = JSON.parse(run.stdout) as JsonReport & {
        request: { portRoles?: Record<string, string> };
        tasks: { result?: { handshakes: { portRole?: string; findings?: { code: string; severity: string }[] }[] } }[];
      };
      expect(report.request.portRoles).toEqual({ [port]: "PORT_ROLE_MX_RELAY" });
      const handshake = report.tasks[0]?.result?.handshakes[0];
      expect(handshake?.portRole).toBe("PORT_ROLE_MX_RELAY");
      expect(handshake?.findings?.find((f) => f.code === "cert_untrusted")?.severity).toBe("SEVERITY_WARNING");
      expect(run.code).toBe(0);
    },
    TEST_MS,
  );

  it(
    "--port-role for a port not probed: the coordinator's field violation, against --port-role, exit code 2",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--port-role", "2525=relay", "--coordinator", coordinator.address, "--timeout", "3"]);
      expect(run).toMatchObject({
        code: 2,
        stdout: "",
        stderr: `smtp-probe: --port-role: port 2525 is not among the ports of the probe (${fixture.port}) (field port_roles[2525])\n`,
      });
    },
    TEST_MS,
  );

  it(
    "a closed port: ✖ refused, UNREACHABLE_EVERYWHERE, exit code 3",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(closed), "--coordinator", coordinator.address, "--timeout", "5"]);
      expect(run.stderr).toBe("");
      expect(run.stdout.split("\n")).toContain("local    ✖ refused");
      expect(run.stdout).toContain(`  ✖ Port ${closed} is unreachable: refused from local.`);
      expect(run.code).toBe(3);
    },
    TEST_MS,
  );

  it(
    "a dual-stack host where only IPv4 listens: a row per family, IPv6 refused, PARTIALLY_REACHABLE, exit code 5",
    async () => {
      const args = ["check", "dual.test", "--port", String(fixture.port), "--coordinator", coordinator.address, "--timeout", "8"];
      const [human, json] = await Promise.all([runCli(args), runCli([...args, "--json"])]);
      expect(human.stderr).toBe("");
      const lines = human.stdout.split("\n");
      const header = lines.findIndex((l) => l.startsWith("region "));
      expect(lines[header]).toBe(`region          port ${fixture.port}`);
      expect(lines[header + 1]).toMatch(/^local {4}IPv4 {3}✔ \d+(\.\d)? m?s TLSv1\.[23]$/);
      expect(lines[header + 2]).toBe("         IPv6   ✖ refused");
      expect(human.stdout).toContain(`Verdicts\n  ◐ Port ${fixture.port} is open from local on IPv4 (127.0.0.1), but IPv6 (::1) is refused.\n`);
      expect(human.stdout).not.toContain("REACHABLE_EVERYWHERE");
      expect(human.code).toBe(5);

      const report = JSON.parse(json.stdout) as JsonReport;
      expect(report.comparison.cells).toEqual([
        expect.objectContaining({
          state: "CELL_STATE_PARTIAL",
          cause: "v4 ok, v6 refused",
          addresses: [
            expect.objectContaining({ address: "127.0.0.1", family: "ADDRESS_FAMILY_IPV4", state: "CELL_STATE_REACHED" }),
            expect.objectContaining({ address: "::1", family: "ADDRESS_FAMILY_IPV6", state: "CELL_STATE_BLOCKED", cause: "refused" }),
          ],
        }),
      ]);
      expect(report.comparison.verdicts[0]).toMatchObject({
        kind: "VERDICT_KIND_PARTIALLY_REACHABLE",
        regions: ["local"],
        severity: "SEVERITY_WARNING",
        failedAddresses: [{ region: "local", address: expect.objectContaining({ address: "::1", family: "ADDRESS_FAMILY_IPV6", cause: "refused" }) }],
      });
      expect(json.code).toBe(5);
    },
    TEST_MS,
  );

  it(
    "five MX records: the two left out are listed with the limit; --max-exchangers 5 probes all five",
    async () => {
      const args = ["check", "five.test", "--mx", "--port", String(fixture.port), "--coordinator", coordinator.address, "--timeout", "8"];
      const [byDefault, raised] = await Promise.all([runCli(args), runCli([...args, "--max-exchangers", "5", "--json"])]);
      expect(byDefault.stdout).toContain(
        `  ✔ Port ${fixture.port} is open from local.\n  not probed: mx4.five.test, mx5.five.test (max_exchangers 3; raise with --max-exchangers)\n`,
      );
      const report = JSON.parse(raised.stdout) as JsonReport;
      expect(report.tasks[0]?.result?.handshakes.map((h) => h.exchange)).toEqual(five);
      expect(report.tasks[0]?.result?.notProbed).toBeUndefined();
    },
    TEST_MS,
  );

  it(
    "--max-addresses beyond what the API allows: exit code 2 before the coordinator is asked",
    async () => {
      const run = await runCli(["check", "dual.test", "--max-addresses", "9", "--coordinator", coordinator.address]);
      expect(run).toMatchObject({ code: 2, stdout: "", stderr: 'smtp-probe: --max-addresses: "9" is not a whole number from 1 to 8\n' });
    },
    TEST_MS,
  );

  it(
    "a bad host: exit code 2, one line naming the field host",
    async () => {
      const run = await runCli(["check", "bad host", "--coordinator", coordinator.address]);
      expect(run).toMatchObject({ code: 2, stdout: "", stderr: 'smtp-probe: host: "bad host" is not a host name or IP address\n' });
    },
    TEST_MS,
  );

  it(
    "INVALID_ARGUMENT from the coordinator (more ports than it takes): each field violation, exit code 2",
    async () => {
      const ports = [fixture.port, closed, 25, 465, 587, 2525, 2526, 2527, 2528].join(",");
      const run = await runCli(["check", "127.0.0.1", "--port", ports, "--coordinator", coordinator.address, "--timeout", "3"]);
      expect(run).toMatchObject({ code: 2, stdout: "", stderr: "smtp-probe: --port: at most 8 ports in one probe, got 9 (field ports)\n" });
    },
    TEST_MS,
  );

  it(
    "PERMISSION_DENIED from the coordinator (a port its policy does not allow): the reason, exit code 2",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(denied), "--coordinator", coordinator.address, "--timeout", "3"]);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(new RegExp(`^smtp-probe: --port: denied by the target policy of the coordinator ${coordinator.address}: .*${denied}.*\\n$`));
      expect(run.code).toBe(2);
    },
    TEST_MS,
  );

  it(
    "--coordinator where nothing listens: exit code 4 at once, one line",
    async () => {
      const nowhere = await freePort();
      const timeoutS = 300;
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--coordinator", `127.0.0.1:${nowhere}`, "--timeout", String(timeoutS)]);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe(
        `smtp-probe: coordinator 127.0.0.1:${nowhere} is unavailable: connect ECONNREFUSED 127.0.0.1:${nowhere} (is it running, and on this address?)\n`,
      );
      expect(run.code).toBe(4);
      // Not the 302 s of the call's deadline: a refused connection fails the call at once, within a
      // tenth of --timeout (which leaves room for starting the CLI on a busy machine).
      expect(run.ms).toBeLessThan((timeoutS * 1000) / 10);
    },
    TEST_MS,
  );

  it(
    "regions: region local with its embedded agent; --json the ListRegionsResponse",
    async () => {
      const [human, json] = await Promise.all([
        runCli(["regions", "--coordinator", coordinator.address]),
        runCli(["regions", "--coordinator", coordinator.address, "--json"]),
      ]);
      expect(human.stderr).toBe("");
      const lines = human.stdout.split("\n");
      expect(lines[0]).toMatch(/^region +agent +version +in flight +last seen +egress$/);
      expect(lines[1]).toMatch(/^local +\S+-embedded +0\.\d+\.\d+ +\d+\/32 +(just now|\d+ s ago) +no canary$/);
      expect(human.stdout).toContain("1 region, 1 agent");
      expect(human.code).toBe(0);
      const response = JSON.parse(json.stdout) as { regions: { name: string; agents: { agentId: string; region: string; capacity: number }[] }[] };
      expect(response.regions).toEqual([
        { name: "local", agents: [expect.objectContaining({ agentId: expect.stringMatching(/-embedded$/), region: "local", capacity: 32 })] },
      ]);
      expect(json.code).toBe(0);
    },
    TEST_MS,
  );

  it(
    "regions where nothing listens: exit code 4",
    async () => {
      const nowhere = await freePort();
      const run = await runCli(["regions", "--coordinator", `127.0.0.1:${nowhere}`]);
      expect(run.stderr).toMatch(/^smtp-probe: coordinator 127\.0\.0\.1:\d+ is unavailable: connect ECONNREFUSED/);
      expect(run.code).toBe(4);
    },
    TEST_MS,
  );
});
