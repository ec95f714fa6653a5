// The CLI's first hour end to end: the real binary against what a newcomer gets wrong, each
// answered with a diagnosis and its exit code, never a cryptic error — a host with its port, an
// SMTP or HTTP server given as --coordinator, TLS on one side only, a misspelt region, a silent
// port that speaks implicit TLS, an agent without a region. Every server is one this test starts on
// 127.0.0.1 (an smtp-server fixture, an HTTP/1 server, a silent TCP server, coordinators in
// plaintext and over TLS). Nothing else is contacted.
import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPki } from "../helpers/certs.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { runCli as runCliProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, startedAll, stopAll, type CliRun, type CoordinatorProcess } from "../helpers/processes.js";
import { startSilentServer, type SilentServer } from "../helpers/silent-server.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { closeServer, listenLoopback, waitFor } from "../helpers/wait.js";

// Each CLI run is a Node process: about a second on an idle machine, more on a loaded one.
const TEST_MS = 40_000;

// Content assertions: lines unwrapped (the width is tested in cli-width.test.ts).
const runCli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCliProcess(args, { COLUMNS: "9999", ...env });

interface JsonStatus {
  code: number;
  message: string;
  details?: { "@type": string; reason?: string; metadata?: Record<string, string>; fieldViolations?: { field: string; description: string }[] }[];
}

let dir: string;
let fixture: SmtpFixture;
let web: Server;
let webPort: number;
let silent: SilentServer;
let plain: CoordinatorProcess;
let tls: CoordinatorProcess;
/** TLS with a certificate for the name localhost only, not for 127.0.0.1. */
let namedOnly: CoordinatorProcess;
let caFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "smtp-probe-diagnoses-"));
  const pki = await testPki();
  const server = await pki.leaf({ names: ["localhost", "127.0.0.1"] });
  const byName = await pki.leaf({ names: ["localhost"] });
  caFile = join(dir, "ca.pem");
  await Promise.all([
    writeFile(caFile, pki.ca.certPem),
    writeFile(join(dir, "server.pem"), server.certPem),
    writeFile(join(dir, "server.key"), server.keyPem),
    writeFile(join(dir, "named.pem"), byName.certPem),
    writeFile(join(dir, "named.key"), byName.keyPem),
  ]);
  fixture = await startSmtpFixture();
  web = createServer((_request, response) => response.end("hello"));
  webPort = await listenLoopback(web);
  silent = await startSilentServer();
  const started = await startedAll([
    startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] }),
    startCoordinatorProcess({
      extraArgs: ["--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key")],
      connect: { channel: credentials.createSsl(Buffer.from(pki.ca.certPem)) },
    }),
    startCoordinatorProcess({
      extraArgs: ["--tls-cert", join(dir, "named.pem"), "--tls-key", join(dir, "named.key")],
      // Readiness only: the name is checked by the CLI below.
      connect: { channel: credentials.createSsl(Buffer.from(pki.ca.certPem), null, null, { checkServerIdentity: () => undefined }) },
    }),
  ]);
  plain = started[0]!;
  tls = started[1]!;
  namedOnly = started[2]!;
  // Health answers SERVING a little before the embedded agent has announced region local.
  const api = connectProbeApi(plain.address);
  try {
    await waitFor(async () => Boolean((await api.listRegions({ deadlineMs: 3000 }).catch(() => undefined))?.regions.some((r) => r.agents.length > 0)), 15_000, "region local served", 100);
  } finally {
    api.close();
  }
}, START_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await stopAll([plain, tls, namedOnly]);
  await fixture?.stop();
  await silent?.stop();
  if (web) await closeServer(web);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a host with its port, as swaks takes it", () => {
  it(
    "suggests HOST --port PORT, exit 2; with --json the same as a google.rpc.Status on stdout",
    async () => {
      const [human, json] = await Promise.all([runCli(["check", "127.0.0.1:2525"]), runCli(["check", "127.0.0.1:2525", "--json"])]);
      const line = 'host: "127.0.0.1:2525" is not a host name or IP address: did you mean 127.0.0.1 --port 2525?';
      expect({ code: human.code, stdout: human.stdout, stderr: human.stderr }).toEqual({ code: 2, stdout: "", stderr: `smtp-probe: ${line}\n` });
      expect(json.code).toBe(2);
      expect(json.stderr).toBe(`smtp-probe: ${line}\n`);
      expect(JSON.parse(json.stdout)).toEqual({
        code: 3,
        message: line,
        details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "host", description: line.slice("host: ".length) }] }],
      });
    },
    TEST_MS,
  );
});

describe("--coordinator that is no gRPC server", () => {
  it(
    "an SMTP server: named as such, with the coordinator's default port; exit 2; --json an ErrorInfo NOT_GRPC",
    async () => {
      const address = `127.0.0.1:${fixture.port}`;
      const [human, json] = await Promise.all([
        runCli(["check", "127.0.0.1", "--coordinator", address, "--timeout", "5"]),
        runCli(["check", "127.0.0.1", "--coordinator", address, "--timeout", "5", "--json"]),
      ]);
      const line = `--coordinator ${address} does not speak gRPC: it is an SMTP server (it greeted "220 fixture.test ESMTP"); the coordinator listens on 50051 by default`;
      expect({ code: human.code, stdout: human.stdout, stderr: human.stderr }).toEqual({ code: 2, stdout: "", stderr: `smtp-probe: ${line}\n` });
      expect(json.code).toBe(2);
      const status = JSON.parse(json.stdout) as JsonStatus;
      expect(status).toMatchObject({ code: 14, message: line });
      expect(status.details).toEqual([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "NOT_GRPC", domain: "smtp-probe", metadata: { coordinator: address } }]);
    },
    TEST_MS,
  );

  it(
    "an HTTP/1 server (from SMTP_PROBE_COORDINATOR): named as such, exit 2",
    async () => {
      const address = `127.0.0.1:${webPort}`;
      const run = await runCli(["regions"], { SMTP_PROBE_COORDINATOR: address });
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`smtp-probe: SMTP_PROBE_COORDINATOR ${address} does not speak gRPC: it is an HTTP/1 server (it answered "HTTP/1.1 400 Bad Request"); the coordinator listens on 50051 by default\n`);
    },
    TEST_MS,
  );
});

describe("TLS on one side only", () => {
  it(
    "a TLS coordinator called in plaintext: names --coordinator-ca, exit 2",
    async () => {
      const [regions, check] = await Promise.all([runCli(["regions", "--coordinator", tls.address]), runCli(["check", "127.0.0.1", "--coordinator", tls.address, "--json"])]);
      const line = `coordinator ${tls.address} speaks TLS, and this call was plaintext: give --coordinator-ca FILE, the CA certificate (PEM) that issued the coordinator's certificate`;
      expect({ code: regions.code, stderr: regions.stderr }).toEqual({ code: 2, stderr: `smtp-probe: ${line}\n` });
      expect(check.code).toBe(2);
      expect((JSON.parse(check.stdout) as JsonStatus).details?.[0]).toMatchObject({ reason: "TLS_REQUIRED" });
    },
    TEST_MS,
  );

  it(
    "a plaintext coordinator called with TLS: names --coordinator-ca, exit 2",
    async () => {
      const run = await runCli(["regions", "--coordinator", plain.address, "--coordinator-ca", caFile]);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `smtp-probe: coordinator ${plain.address} speaks plaintext gRPC, and this call used TLS (--coordinator-ca or --client-cert): leave them out, or run the coordinator with --tls-cert and --tls-key\n`,
      );
    },
    TEST_MS,
  );

  it(
    "TLS to a coordinator named by its IP address: verified against the address, and no DEP0123 warning",
    async () => {
      const run = await runCli(["regions", "--coordinator", tls.address, "--coordinator-ca", caFile, "--no-color"]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toBe("");
      expect(run.stdout).toMatch(/^local +/m);
    },
    TEST_MS,
  );

  it(
    "a certificate that does not name the address is refused; by the name it holds, it is accepted",
    async () => {
      const [byAddress, byName] = await Promise.all([
        runCli(["regions", "--coordinator", namedOnly.address, "--coordinator-ca", caFile]),
        runCli(["regions", "--coordinator", `localhost:${namedOnly.port}`, "--coordinator-ca", caFile, "--no-color"]),
      ]);
      expect(byAddress.code).toBe(4);
      expect(byAddress.stderr).toMatch(new RegExp(`^smtp-probe: coordinator ${namedOnly.address.replace(/\./g, "\\.")}: the TLS handshake failed: .*127\\.0\\.0\\.1.* \\(is --coordinator-ca the CA`));
      expect(byName.code, byName.stderr).toBe(0);
      expect(byName.stderr).toBe("");
    },
    TEST_MS,
  );
});

describe("regions no agent has ever served", () => {
  it(
    "listed apart with the live regions, not as an outage, not in the exit code",
    async () => {
      const port = String(fixture.port);
      // As a relay the untrusted test certificate is a warning: region local alone exits 0.
      const args = ["check", "127.0.0.1", "--port", port, "--port-role", `${port}=relay`, "--coordinator", plain.address, "--timeout", "8"];
      const [human, json] = await Promise.all([runCli([...args, "--regions", "local,eu-wst"]), runCli([...args, "--regions", "local,eu-wst", "--json"])]);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toContain("1 region (1 unknown)");
      expect(human.stdout).toMatch(/^local +✔ /m);
      expect(human.stdout).not.toMatch(/^eu-wst/m);
      expect(human.stdout).toContain("Unknown region (not probed; smtp-probe regions lists the live ones)\n  ✖ unknown region eu-wst; live regions: local\n");
      expect(human.stdout).not.toContain("No answer from");
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as { tasks: { region: string; status: string; detail?: string }[]; comparison: { unknownRegions?: string[]; missing?: unknown[] } };
      expect(report.comparison.unknownRegions).toEqual(["eu-wst"]);
      expect(report.comparison.missing).toBeUndefined();
      expect(report.tasks.find((t) => t.region === "eu-wst")).toMatchObject({ status: "TASK_STATUS_UNKNOWN_REGION", detail: "unknown region eu-wst; live regions: local" });
      expect(json.stderr).toBe("smtp-probe: --regions: unknown region eu-wst; live regions: local\n");
    },
    TEST_MS,
  );

  it(
    "every region asked for unknown: nothing was probed, bad usage (2)",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(fixture.port), "--coordinator", plain.address, "--regions", "eu-wst", "--timeout", "8"]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toContain("0 regions (1 unknown)");
      expect(run.stdout).toContain("  ✖ unknown region eu-wst; live regions: local\n");
      expect(run.stdout).not.toContain("Verdicts");
    },
    TEST_MS,
  );
});

describe("a port that accepts and says nothing", () => {
  it(
    "locally, on a port that may speak implicit TLS: the command with --tls implicit; exit 3",
    async () => {
      const run = await runCli(["check", "127.0.0.1", "--port", String(silent.port), "--timeout", "1.5"]);
      expect(run.code).toBe(3);
      expect(run.stdout).toMatch(
        new RegExp(
          `\\nhint: 127\\.0\\.0\\.1:${silent.port} sent no banner in [\\d.]+ m?s: a port that speaks implicit TLS \\(RFC 8314\\) waits like that for the client's TLS handshake\\. Try: smtp-probe check 127\\.0\\.0\\.1 --port ${silent.port} --tls implicit\\n`,
        ),
      );
    },
    TEST_MS,
  );
});

describe("the long-running commands and the help", () => {
  it(
    "agent without --region names the flag and the variable, no \"(default)\"; exit 2",
    async () => {
      const run = await runCli(["agent"]);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 2, stderr: "smtp-probe: --region (or SMTP_PROBE_REGION): required: the region this agent serves\n" });
    },
    TEST_MS,
  );

  it(
    "check --help lists every exit code, 70 too; regions --help its own",
    async () => {
      const [check, regions] = await Promise.all([runCli(["check", "--help"]), runCli(["regions", "--help"])]);
      for (const code of [2, 130, 3, 4, 5, 1, 0]) expect(check.stdout).toMatch(new RegExp(`^  ${code} +\\S`, "m"));
      expect(check.stdout).toContain("  70   a bug in smtp-probe: please report it, with the lines printed\n");
      for (const code of [0, 2, 4, 130, 70]) expect(regions.stdout).toMatch(new RegExp(`^  ${code} +\\S`, "m"));
    },
    TEST_MS,
  );
});
