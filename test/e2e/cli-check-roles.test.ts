// `smtp-probe check` end to end on what a port is for and on a refused greeting: the real binary
// as a child process, against servers this test starts on 127.0.0.1. Nothing else is contacted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as runCliProcess, type CliRun } from "../helpers/processes.js";
import { startScriptedServer, type ScriptedServer } from "../helpers/scripted-server.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

// A CLI run compiles TypeScript on the fly: seconds on a loaded machine.
const TEST_MS = 40_000;

// The assertions here are about content: lines are not wrapped (COLUMNS wide); the width has tests
// of its own (cli-width.test.ts).
const runCli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", ...env });

interface JsonHandshake {
  portRole?: string;
  findings?: { code: string; severity: string; message: string }[];
}

describe.concurrent("smtp-probe check: port roles and a refused greeting (end to end)", () => {
  let fixture: SmtpFixture;
  let refusing: ScriptedServer;

  beforeAll(async () => {
    // The fixture's certificate comes from a test CA the CLI does not trust: cert_untrusted.
    fixture = await startSmtpFixture();
    refusing = await startScriptedServer("ehlo-refused-550");
  });

  afterAll(async () => {
    await fixture?.stop();
    await refusing?.stop();
  });

  it(
    "--port-role PORT=relay turns an untrusted certificate from an error into a warning (a relay on a port like 2525)",
    async () => {
      const port = String(fixture.port);
      const base = ["check", "127.0.0.1", "--port", port, "--timeout", "4"];
      const [asSubmission, asRelay, asRelayJson] = await Promise.all([
        runCli(base),
        runCli([...base, "--port-role", `${port}=relay`]),
        runCli([...base, "--port-role", `${port}=relay`, "--json"]),
      ]);
      // Any port but 25 and 465 is taken as submission: mail clients refuse the certificate.
      expect(asSubmission.stdout).toMatch(/ {4}Errors \(1\)\n {6}✖ \[cert_untrusted\] The certificate for fixture\.test .*mail clients connecting here refuse it/);
      expect(asSubmission.code).toBe(1);
      // Said to be a relay: senders fall back to opportunistic TLS, so a warning that says so.
      expect(asRelay.stdout).toMatch(/ {4}Warnings \(\d\)\n(?: {6}▲ .*\n)* {6}▲ \[cert_untrusted\] The certificate for fixture\.test .*senders fall back to opportunistic TLS \(RFC 7435\)/);
      expect(asRelay.stdout).not.toContain("Errors (");
      expect(asRelay.code).toBe(0);
      // --json is a ProbeReport, locally too: one region, local, a task per port.
      const [handshake] = (JSON.parse(asRelayJson.stdout) as { tasks: { result?: { handshakes: JsonHandshake[] } }[] }).tasks[0]?.result?.handshakes ?? [];
      expect(handshake?.portRole).toBe("PORT_ROLE_MX_RELAY");
      expect(handshake?.findings?.find((f) => f.code === "cert_untrusted")?.severity).toBe("SEVERITY_WARNING");
    },
    TEST_MS,
  );

  it(
    "a role for a port that is not checked is bad usage, exit 2, nothing probed",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--port-role", "2525=relay"]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toContain(`--port-role: port 2525 is not among the ports of the check (${fixture.port}); add it with --port`);
    },
    TEST_MS,
  );

  it(
    "human output of a refused greeting: why it stopped, the reply and its meaning, the finding, QUIT in the transcript; exit 3",
    async () => {
      const port = refusing.port;
      const run = await runCli(["check", "127.0.0.1", "--port", String(port), "--ehlo", "probe.example.net", "--transcript", "--timeout", "4"]);
      expect(run.stderr).toBe("");
      const said = '"5.7.1 Client host rejected: cannot find your reverse hostname"';
      const meaning =
        "550 5.7.1: the server refuses the greeting — often its policy on the client's reverse DNS or on the name given in EHLO; 5.7.1: not authorized — refused by the server's policy (often a blocklist or a check of the client)";
      const lines = run.stdout.split("\n");
      expect(lines[0]).toMatch(new RegExp(`^✖ 127\\.0\\.0\\.1:${port}  greeting refused · stopped at EHLO · [\\d.]+ m?s · no TLS · 1 error — EHLO was answered 550 "5\\.7\\.1 Client host rejected`));
      expect(lines).toContain(`  Stopped     greeting refused at EHLO (target): EHLO was answered 550 ${said}`);
      expect(lines).toContain("  Banner      220 refuse.test ESMTP  — 220: service ready — the server accepts the connection");
      expect(lines).toContain(`  Last reply  550 5.7.1 Client host rejected: cannot find your reverse hostname  — ${meaning}`);
      expect(run.stdout).toContain(
        `    Errors (1)\n      ✖ [greeting_refused] 127.0.0.1 port ${port} refused the greeting: EHLO probe.example.net was answered ${meaning} (server said "Client host rejected: cannot find your reverse hostname"); the likely cause is the server's policy on this client's reverse DNS`,
      );
      // The transcript: the same meaning on the reply, then our QUIT and the server's goodbye.
      expect(run.stdout).toMatch(new RegExp(`ms {2}→ {5}EHLO probe\\.example\\.net\\n.*ms {2}← {5}550 5\\.7\\.1 Client host rejected: cannot find your reverse hostname {2}— ${escape(meaning)}\\n.*ms {2}→ {5}QUIT\\n.*ms {2}← {5}221 2\\.0\\.0 Bye {2}— 221 2\\.0\\.0: service closing the connection, as asked`));
      // Not reachable: no handshake completed.
      expect(run.code).toBe(3);
    },
    TEST_MS,
  );
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
