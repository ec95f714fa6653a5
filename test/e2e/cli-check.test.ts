// `smtp-probe check` end to end: the real binary as a child process, against servers this test
// starts on loopback (an smtp-server fixture on 127.0.0.1, relays to it on 127.0.0.2-4, a DNS
// server for names and --mx). Nothing else is contacted.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPki } from "../helpers/certs.js";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.js";
import { freePort } from "../helpers/free-port.js";
import { relayLoopback, type LoopbackRelay } from "../helpers/loopback-relay.js";
import { runCli as runCliProcess, type CliRun } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const TEST_MS = 40_000;

interface JsonHandshake {
  host: string;
  address: string;
  port: number;
  exchange?: string;
  mxPreference?: number;
  outcome: string;
  phase: string;
  banner?: { code: number; lines: string[]; meaning: string };
  capabilities?: { starttls?: boolean; authMechanisms?: string[] };
  capabilitiesTls?: { starttls?: boolean; authMechanisms?: string[] };
  tls?: { protocol: string; trusted?: boolean; chain: { subject: string; fingerprintSha256: string }[] };
  findings?: { code: string; severity: string; message: string }[];
  transcript: { entries: { offsetMs: number; direction: string; tls?: boolean; text: string }[] };
}

interface JsonResult {
  host: string;
  port: number;
  mx?: boolean;
  exchangers?: { exchange: string; preference: number }[];
  handshakes: JsonHandshake[];
  notProbed?: { host: string; limit: string; limitValue: number }[];
}

/** --json is a ProbeReport, locally too (one region, local): each port's TargetResult, in order. */
function resultsOf(stdout: string): JsonResult[] {
  const report = JSON.parse(stdout) as { regions: string[]; tasks: { region: string; result: JsonResult }[] };
  expect(report.regions).toEqual(["local"]);
  return report.tasks.map((t) => t.result);
}

// The assertions here are about content: lines are not wrapped (COLUMNS wide); the width has tests
// of its own (cli-width.test.ts).
const runCli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", ...env });

describe("smtp-probe check (end to end)", () => {
  let fixture: SmtpFixture;
  let dir: string;
  let caFile: string;

  beforeAll(async () => {
    fixture = await startSmtpFixture();
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-cli-"));
    caFile = join(dir, "ca.pem");
    await writeFile(caFile, (await testPki()).ca.certPem);
  });

  afterAll(async () => {
    await fixture?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    "--json against a STARTTLS server: banner, capabilities before and after TLS, TLS, chain, cert_untrusted, both EHLOs",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--json", "--timeout", "4"]);
      expect(run.stderr).toBe("");
      const results = resultsOf(run.stdout);
      expect(results).toHaveLength(1);
      const [result] = results;
      expect(result).toMatchObject({ host: "127.0.0.1", port: fixture.port });
      expect(result?.handshakes).toHaveLength(1);
      const h = result!.handshakes[0]!;
      expect(h).toMatchObject({ address: "127.0.0.1", outcome: "OUTCOME_OK", phase: "PHASE_DONE" });
      expect(h.banner).toMatchObject({ code: 220, lines: ["fixture.test ESMTP"] });
      expect(h.banner?.meaning).toMatch(/^220: service ready/);
      expect(h.capabilities?.starttls).toBe(true);
      expect(h.capabilities?.authMechanisms).toBeUndefined();
      expect(h.capabilitiesTls?.starttls).toBeUndefined();
      expect(h.capabilitiesTls?.authMechanisms).toEqual(expect.arrayContaining(["PLAIN", "LOGIN"]));
      expect(h.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
      expect(h.tls?.trusted).toBeUndefined(); // proto3 JSON leaves out false
      expect(h.tls?.chain[0]?.subject).toBe("CN=fixture.test");
      expect(h.tls?.chain[0]?.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(h.findings?.map((f) => f.code)).toContain("cert_untrusted");
      const ehlos = h.transcript.entries.filter((e) => e.direction === "DIRECTION_CLIENT" && e.text.startsWith("EHLO "));
      expect(ehlos.map((e) => e.tls ?? false)).toEqual([false, true]);
      // Not on port 25, an untrusted certificate is an error finding: exit code 1.
      expect(run.code).toBe(1);
    },
    TEST_MS,
  );

  it(
    "--ca-file with the test CA: the chain is trusted and no certificate finding remains",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "-p", String(fixture.port), "--json", "--ca-file", caFile, "--timeout", "4"]);
      const h = resultsOf(run.stdout)[0]!.handshakes[0]!;
      expect(h.tls?.trusted).toBe(true);
      expect(h.findings?.map((f) => f.code) ?? []).not.toContain("cert_untrusted");
      expect(run.code).toBe(0);
    },
    TEST_MS,
  );

  it(
    "human output: the summary line, the findings by severity, the transcript; no progress or colour when piped",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--transcript", "--timeout", "4"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe("");
      expect(run.stdout).not.toContain("\x1b");
      const lines = run.stdout.split("\n");
      expect(lines[0]).toMatch(new RegExp(`^✔ 127\\.0\\.0\\.1:${fixture.port}  ok · done · [\\d.]+ m?s · TLSv1\\.[23] · 1 error$`));
      expect(run.stdout).toMatch(/ {2}Banner {6}220 fixture\.test ESMTP {2}— 220: service ready/);
      expect(run.stdout).toMatch(/ {2}Trusted {5}no — /);
      expect(run.stdout).toMatch(/ {4}Errors \(1\)\n {6}✖ \[cert_untrusted\] The certificate for fixture\.test/);
      expect(run.stdout).toMatch(/ms {2}→ {5}EHLO \S+\n/);
      expect(run.stdout).toMatch(/ms {2}→ TLS EHLO \S+\n/);
      expect(run.stdout).toMatch(/ms {2}← TLS 221 .* {2}— 221: service closing the connection/);
    },
    TEST_MS,
  );

  it(
    "colour through a pipe only with FORCE_COLOR, and never with --no-color",
    async () => {
      const args = ["check", "127.0.0.1", "--port", String(fixture.port), "--timeout", "4"];
      const [forced, refused] = await Promise.all([
        runCli(args, { FORCE_COLOR: "1" }),
        runCli([...args, "--no-color"], { FORCE_COLOR: "1" }),
      ]);
      expect(forced.stdout).toContain("\x1b[");
      expect(refused.stdout).not.toContain("\x1b");
    },
    TEST_MS,
  );

  it(
    "a refused port: exit code 3, even beside a port with error findings",
    async () => {
      // A port nothing listens on: bound, then closed.
      const closed = await freePort();
      const run = await runCli(["check", "127.0.0.1", "--port", `${fixture.port},${closed}`, "--timeout", "4"]);
      expect(run.code).toBe(3);
      const summary = run.stdout.split("\n").slice(0, 2);
      expect(summary[0]).toMatch(new RegExp(`^✔ 127\\.0\\.0\\.1:${fixture.port} +ok · done`));
      expect(summary[1]).toMatch(new RegExp(`^✖ 127\\.0\\.0\\.1:${closed} +refused · stopped at TCP connect · .* · no TLS — connection to 127\\.0\\.0\\.1:${closed} refused`));
    },
    TEST_MS,
  );

  it(
    "a bad flag: exit code 2 and one line naming the flag, nothing on stdout",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", "70000"]);
      expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 2, stdout: "", stderr: 'smtp-probe: --port: "70000" is not a port (1-65535)\n' });
    },
    TEST_MS,
  );

  describe("special-use names, with a DNS server started by the test", () => {
    let dns: DnsServer;

    beforeAll(async () => {
      dns = await startDnsServer({ "special-mx.example.test": { MX: [{ exchange: "localhost", preference: 10 }] } });
    });

    afterAll(async () => {
      await dns?.stop();
    });

    it.each(["localhost", "x.localhost", "LOCALHOST."])(
      "%s is refused as usage (exit 2), suggesting the IP literal or --allow-name; nothing is resolved",
      async (host) => {
        const run = await runCli(["check", host, "--dns-server", dns.server, "--port", String(fixture.port), "--timeout", "2"]);
        const name = host.toLowerCase().replace(/\.$/, "");
        expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: "" });
        expect(run.stderr).toBe(
          `smtp-probe: host: "${name}" is a special-use name (RFC 6761 §6.3: the local machine's loopback names), never looked up in public DNS; ` +
            `probe 127.0.0.1 or ::1 instead, or allow it with --allow-name ${name}\n`,
        );
        expect(dns.queries()).toEqual([]);
      },
      TEST_MS,
    );

    it(
      "printer.local is refused too, suggesting the server's address",
      async () => {
        const run = await runCli(["check", "printer.local", "--dns-server", dns.server]);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain("RFC 6762");
        expect(run.stderr).toContain("probe the server's IP address instead, or allow it with --allow-name printer.local");
        expect(dns.queries()).toEqual([]);
      },
      TEST_MS,
    );

    it(
      "an MX exchanger named localhost is denied by name in the results, never resolved",
      async () => {
        const run = await runCli(["check", "special-mx.example.test", "--mx", "--dns-server", dns.server, "--port", String(fixture.port), "--json", "--timeout", "2"]);
        const [result] = resultsOf(run.stdout);
        expect(result?.handshakes.map((h) => [h.exchange, h.outcome])).toEqual([["localhost", "OUTCOME_POLICY_DENIED"]]);
        expect(dns.queries().map((q) => q.name)).toEqual(["special-mx.example.test"]);
      },
      TEST_MS,
    );

    it(
      "--allow-name localhost lifts it: the name goes to the resolver it was given",
      async () => {
        const before = dns.queries().length;
        const run = await runCli(["check", "localhost", "--allow-name", "localhost", "--dns-server", dns.server, "--port", String(fixture.port), "--json", "--timeout", "2"]);
        expect(run.code, run.stderr).not.toBe(2);
        expect(dns.queries().slice(before).map((q) => q.name)).toContain("localhost");
      },
      TEST_MS,
    );
  });

  describe("--mx against a DNS server started by the test", () => {
    let dns: DnsServer;

    beforeAll(async () => {
      dns = await startDnsServer({
        "example.test": {
          MX: [
            { exchange: "mx2.example.test", preference: 20 },
            { exchange: "mx1.example.test", preference: 10 },
          ],
        },
        "mx1.example.test": { A: ["127.0.0.1"] },
        "mx2.example.test": { A: ["127.0.0.1"] },
      });
    });

    afterAll(async () => {
      await dns?.stop();
    });

    it(
      "probes every exchanger in preference order",
      async () => {
        const before = fixture.servernames().length;
        const run = await runCli(["check", "example.test", "--mx", "--ipv4", "--dns-server", dns.server, "--port", String(fixture.port), "--json", "--timeout", "4"]);
        const [result] = resultsOf(run.stdout);
        expect(result).toMatchObject({
          host: "example.test",
          mx: true,
          exchangers: [
            { exchange: "mx1.example.test", preference: 10 },
            { exchange: "mx2.example.test", preference: 20 },
          ],
        });
        expect(result?.handshakes.map((h) => [h.exchange, h.mxPreference, h.address, h.outcome])).toEqual([
          ["mx1.example.test", 10, "127.0.0.1", "OUTCOME_OK"],
          ["mx2.example.test", 20, "127.0.0.1", "OUTCOME_OK"],
        ]);
        // Each exchanger's own name went out as SNI: both were really probed.
        expect(fixture.servernames().slice(before).sort()).toEqual(["mx1.example.test", "mx2.example.test"]);
        expect(dns.queries()).toEqual(expect.arrayContaining([{ name: "example.test", type: "MX" }]));
      },
      TEST_MS,
    );
  });

  describe("every address counts, and limits are visible (a DNS server and loopback relays started by the test)", () => {
    let dns: DnsServer;
    let relay: LoopbackRelay;
    const five = [1, 2, 3, 4, 5].map((n) => `mx${n}.five.test`);

    beforeAll(async () => {
      // 127.0.0.2-4 lead to the fixture too: four.test answers on all four addresses. Nothing
      // listens on [::1] or 127.0.0.9 at the fixture's port: refused.
      relay = await relayLoopback(fixture.port, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
      dns = await startDnsServer({
        "dual.test": { A: ["127.0.0.1"], AAAA: ["::1"] },
        "deadprimary.test": { MX: [{ exchange: "mx1.deadprimary.test", preference: 10 }, { exchange: "mx2.deadprimary.test", preference: 20 }] },
        "mx1.deadprimary.test": { A: ["127.0.0.9"] },
        "mx2.deadprimary.test": { A: ["127.0.0.1"] },
        "five.test": { MX: five.map((exchange, i) => ({ exchange, preference: (i + 1) * 10 })) },
        ...Object.fromEntries(five.map((name) => [name, { A: ["127.0.0.1"] }])),
        "four.test": { A: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"] },
      });
    });

    afterAll(async () => {
      await dns?.stop();
      await relay?.stop();
    });

    const check = (...args: string[]) => runCli(["check", ...args, "--dns-server", dns.server, "--port", String(fixture.port), "--timeout", "4"]);

    it(
      "a dual-stack host where only IPv4 listens: IPv6 refused, the port partly reachable, exit code 5",
      async () => {
        const run = await check("dual.test");
        expect(run.stderr).toBe("");
        const lines = run.stdout.split("\n");
        expect(lines[0]).toMatch(new RegExp(`^✔ 127\\.0\\.0\\.1:${fixture.port} \\(dual\\.test\\) +ok · done`));
        expect(lines[1]).toMatch(new RegExp(`^✖ \\[::1\\]:${fixture.port} \\(dual\\.test\\) +refused · stopped at TCP connect`));
        expect(lines.slice(2, 4)).toEqual(["", `◐ Port ${fixture.port} is open from this machine on IPv4 (127.0.0.1), but IPv6 (::1) is refused.`]);
        expect(run.code).toBe(5);
      },
      TEST_MS,
    );

    it(
      "an MX domain whose primary exchanger refuses: the secondary answers, the primary is named, exit code 5",
      async () => {
        const run = await check("deadprimary.test", "--mx");
        expect(run.stdout).toContain(
          `◐ Port ${fixture.port} is open from this machine through mx2.deadprimary.test, but mx1.deadprimary.test (127.0.0.9) is refused.\n`,
        );
        expect(run.code).toBe(5);
      },
      TEST_MS,
    );

    it(
      "five MX records: three probed and the other two named with the limit; --max-exchangers 5 probes all five",
      async () => {
        const [byDefault, raised, json] = await Promise.all([
          check("five.test", "--mx"),
          check("five.test", "--mx", "--max-exchangers", "5"),
          check("five.test", "--mx", "--json"),
        ]);
        expect(byDefault.stdout).toContain(
          `✔ Port ${fixture.port} is open from this machine.\nnot probed: mx4.five.test, mx5.five.test (max_exchangers 3; raise with --max-exchangers)\n`,
        );
        expect(byDefault.stdout.split("\n").filter((l) => /^✔ 127\.0\.0\.1:/.test(l))).toHaveLength(3);
        expect(raised.stdout.split("\n").filter((l) => /^✔ 127\.0\.0\.1:/.test(l))).toHaveLength(5);
        expect(raised.stdout).not.toContain("not probed");
        const [result] = resultsOf(json.stdout);
        expect(result?.notProbed).toEqual([
          expect.objectContaining({ host: "mx4.five.test", exchange: "mx4.five.test", mxPreference: 40, limit: "max_exchangers", limitValue: 3 }),
          expect.objectContaining({ host: "mx5.five.test", exchange: "mx5.five.test", mxPreference: 50, limit: "max_exchangers", limitValue: 3 }),
        ]);
        // The fixture's certificate is for fixture.test, not the exchangers: error findings, exit 1.
        expect([byDefault.code, raised.code, json.code]).toEqual([1, 1, 1]);
      },
      TEST_MS,
    );

    it(
      "a host with four addresses: two probed and two named; --max-addresses 4 probes all four",
      async () => {
        const [byDefault, raised] = await Promise.all([check("four.test"), check("four.test", "--max-addresses", "4")]);
        const probed = (stdout: string) => stdout.split("\n").flatMap((l) => /^✔ (127\.0\.0\.\d):/.exec(l)?.[1] ?? []);
        expect(probed(byDefault.stdout)).toEqual(["127.0.0.1", "127.0.0.2"]);
        expect(byDefault.stdout).toContain("not probed: 127.0.0.3, 127.0.0.4 of four.test (max_addresses 2; raise with --max-addresses)\n");
        expect(probed(raised.stdout)).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        expect(raised.stdout).toContain(`✔ Port ${fixture.port} is open from this machine.\n`);
        expect(raised.stdout).not.toContain("not probed");
      },
      TEST_MS,
    );

    it(
      "a limit beyond what the API allows: exit code 2, the flag named",
      async () => {
        const run = await runCli(["check", "five.test", "--mx", "--max-exchangers", "11"]);
        expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
          code: 2,
          stdout: "",
          stderr: 'smtp-probe: --max-exchangers: "11" is not a whole number from 1 to 10\n',
        });
      },
      TEST_MS,
    );
  });
});
