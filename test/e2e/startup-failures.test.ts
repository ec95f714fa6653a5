// A failed start of `smtp-probe coordinator` and `smtp-probe agent`, through the real binary: a
// usage or environment error with one line naming the setting and its own exit code (2, 66, 69),
// never "internal error" (70); and NATS not there yet, which is no error at all: the agent waits
// and says so, the coordinator listens with health NOT_SERVING and serves once NATS answers.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer } from "../helpers/nats-server.js";
import { runCli, spawnChild, type ChildHandle } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { closeServer, listenLoopback, waitFor } from "../helpers/wait.js";

// Each run is a Node process starting (about half a second idle, much more on a loaded machine).
const TEST_MS = 40_000;

/** Runs `smtp-probe ARGS` that must fail at start; its exit code and its stderr lines. */
async function failedStart(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; lines: string[] }> {
  const run = await runCli(args, env, 20_000);
  return { code: run.code, lines: run.stderr.split("\n").filter((line) => line !== "" && !line.startsWith("{")) };
}

describe("a start that fails: one line naming the setting, its own exit code", () => {
  let dir: string;
  let busy: net.Server;
  let busyPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-startup-"));
    busy = net.createServer();
    busyPort = await listenLoopback(busy);
  });
  afterAll(async () => {
    await closeServer(busy);
    await rm(dir, { recursive: true, force: true });
  });

  it(
    "--listen already in use: names the address, --listen and SMTP_PROBE_LISTEN, what to do; exit 69, no stack trace",
    async () => {
      const run = await runCli(["coordinator", "--listen", `127.0.0.1:${busyPort}`, "--log-level", "silent"], {}, 20_000);
      expect(run.stderr).toBe(
        `smtp-probe: --listen: 127.0.0.1:${busyPort} is already in use (EADDRINUSE): stop what listens there (another smtp-probe?), or choose another with --listen HOST:PORT (or SMTP_PROBE_LISTEN)\n`,
      );
      expect(run.stdout).toBe("");
      expect(run.code).toBe(ExitCode.environment);
    },
    TEST_MS,
  );

  it(
    "the same through SMTP_PROBE_LISTEN, with NATS at a URL where nothing answers: the bind fails first, exit 69",
    async () => {
      const nowhere = await freePort();
      const result = await failedStart(["coordinator", "--nats", `nats://127.0.0.1:${nowhere}`, "--log-level", "silent"], { SMTP_PROBE_LISTEN: `127.0.0.1:${busyPort}` });
      expect(result.lines).toEqual([expect.stringMatching(new RegExp(`^smtp-probe: --listen: 127\\.0\\.0\\.1:${busyPort} is already in use \\(EADDRINUSE\\)`))]);
      expect(result.code).toBe(ExitCode.environment);
    },
    TEST_MS,
  );

  it(
    "--http-listen already in use names --http-listen and SMTP_PROBE_HTTP_LISTEN; exit 69",
    async () => {
      const result = await failedStart(["coordinator", "--listen", "127.0.0.1:0", "--http-listen", `127.0.0.1:${busyPort}`, "--log-level", "silent"]);
      expect(result.lines).toEqual([
        `smtp-probe: --http-listen: 127.0.0.1:${busyPort} is already in use (EADDRINUSE): stop what listens there (another smtp-probe?), or choose another with --http-listen HOST:PORT (or SMTP_PROBE_HTTP_LISTEN)`,
      ]);
      expect(result.code).toBe(ExitCode.environment);
    },
    TEST_MS,
  );

  it(
    "--http-listen beyond loopback without caller authentication: the same start-up rule as --listen; exit 2",
    async () => {
      const result = await failedStart(["coordinator", "--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0", "--log-level", "silent"]);
      expect(result.lines).toEqual([expect.stringMatching(/^smtp-probe: --http-listen: without caller authentication \(--auth-tokens or --client-ca\) the coordinator listens on loopback only/)]);
      expect(result.code).toBe(ExitCode.usage);
    },
    TEST_MS,
  );

  it(
    "--scrape-probes on without --metrics-listen: no port to serve /probe on; exit 2",
    async () => {
      const result = await failedStart(["coordinator", "--listen", "127.0.0.1:0", "--scrape-probes", "on", "--log-level", "silent"]);
      expect(result.lines).toEqual(["smtp-probe: --scrape-probes: serves /probe on the metrics port: give --metrics-listen HOST:PORT too"]);
      expect(result.code).toBe(ExitCode.usage);
    },
    TEST_MS,
  );

  it.each([
    ["without --metrics-listen: no port to serve the series on", [], "--scrape-monitors: adds the monitors' series to the metrics port's /metrics: give --metrics-listen HOST:PORT too"],
    ["without --nats: an embedded coordinator has no monitors", ["--metrics-listen", "127.0.0.1:0"], "--scrape-monitors: monitors need NATS with JetStream: give --nats URL too (an embedded coordinator has none)"],
  ])(
    "--scrape-monitors on %s; exit 2",
    async (_why, args, line) => {
      const result = await failedStart(["coordinator", "--listen", "127.0.0.1:0", "--scrape-monitors", "on", ...args, "--log-level", "silent"]);
      expect(result.lines).toEqual([`smtp-probe: ${line}`]);
      expect(result.code).toBe(ExitCode.usage);
    },
    TEST_MS,
  );

  it.each([
    ["coordinator", ["coordinator", "--listen", "127.0.0.1:0"]],
    ["agent", ["agent", "--region", "us-east", "--nats", "nats://127.0.0.1:1"]],
  ])(
    "%s: --metrics-listen already in use names --metrics-listen; exit 69",
    async (_name, args) => {
      const result = await failedStart([...args, "--metrics-listen", `127.0.0.1:${busyPort}`, "--log-level", "silent"]);
      expect(result.lines).toEqual([
        `smtp-probe: --metrics-listen: 127.0.0.1:${busyPort} is already in use (EADDRINUSE): stop what listens there (another smtp-probe?), or choose another with --metrics-listen HOST:PORT (or SMTP_PROBE_METRICS_LISTEN)`,
      ]);
      expect(result.code).toBe(ExitCode.environment);
    },
    TEST_MS,
  );

  it.each<[string, (missing: string, dir: string) => Promise<string[]>, string]>([
    ["--tls-cert", async (missing, d) => ["coordinator", "--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", await file(d, "key.pem", "x")], "--tls-cert"],
    ["--auth-tokens", async (missing) => ["coordinator", "--listen", "127.0.0.1:0", "--auth-tokens", missing], "--auth-tokens"],
    ["--ca-file (coordinator)", async (missing) => ["coordinator", "--listen", "127.0.0.1:0", "--ca-file", missing], "--ca-file"],
    ["--ca-file (agent)", async (missing) => ["agent", "--region", "us-east", "--nats", "nats://127.0.0.1:1", "--ca-file", missing], "--ca-file"],
    ["--nats-creds (agent)", async (missing) => ["agent", "--region", "us-east", "--nats", "nats://127.0.0.1:1", "--nats-creds", missing], "--nats-creds"],
    ["--nats-creds (coordinator)", async (missing) => ["coordinator", "--listen", "127.0.0.1:0", "--nats", "nats://127.0.0.1:1", "--nats-creds", missing], "--nats-creds"],
    ["--nats-ca (agent)", async (missing) => ["agent", "--region", "us-east", "--nats", "nats://127.0.0.1:1", "--nats-ca", missing], "--nats-ca"],
    ["--nats-password-file (agent)", async (missing) => ["agent", "--region", "us-east", "--nats", "nats://127.0.0.1:1", "--nats-user", "u", "--nats-password-file", missing], "--nats-password-file"],
  ])(
    "%s that does not exist: names the flag and the file, says what to do; exit 66 at once (no NATS wait)",
    async (_name, argsFor, flag) => {
      const missing = join(dir, "missing.pem");
      const started = Date.now();
      const result = await failedStart([...(await argsFor(missing, dir)), "--log-level", "silent"]);
      expect(result.lines).toEqual([`smtp-probe: ${flag}: cannot read ${missing}: ENOENT (no such file: check the path, and that the file (or the volume holding it) is there)`]);
      expect(result.code).toBe(ExitCode.unreadableFile);
      // Not after a NATS retry interval or more: the file is read before anything connects.
      expect(Date.now() - started).toBeLessThan(15_000);
    },
    TEST_MS,
  );

  it(
    "a file this user may not read: permission denied, names the uid; exit 66",
    async () => {
      // Root reads everything: the file is read as an unprivileged user instead when we are root.
      const secret = await file(dir, "tokens.txt", "0123456789abcdef0123456789abcdef caller\n");
      const { chmod } = await import("node:fs/promises");
      await chmod(secret, 0o000);
      const args = ["coordinator", "--listen", "127.0.0.1:0", "--auth-tokens", secret, "--log-level", "silent"];
      const asRoot = process.getuid?.() === 0;
      const run = asRoot ? await runAsNobody(args) : await runCli(args, {}, 20_000);
      expect(run.stderr).toMatch(new RegExp(`^smtp-probe: --auth-tokens: cannot read ${secret}: EACCES \\(permission denied: make it readable by the user this runs as \\(uid \\d+\\)\\)\\n$`));
      expect(run.code).toBe(ExitCode.unreadableFile);
    },
    TEST_MS,
  );

  it(
    "coordinator --help: the start-up exit codes, 70 for a bug only",
    async () => {
      const run = await runCli(["coordinator", "--help"]);
      for (const text of ["Exit codes:", "  2    bad usage", "  66   a file a setting names cannot be read", "  69   the environment lacks", "  70   a bug in smtp-probe: please report it"]) {
        expect(run.stdout).toContain(text);
      }
      const top = await runCli(["--help"]);
      expect(top.stdout).toMatch(/70 a bug in smtp-probe,\s+only\s+that/);
    },
    TEST_MS,
  );
});

const nats = await need(natsServerAvailable);

describe.skipIf(nats.skip)("NATS not there yet: waited for, never an error", () => {
  const started: ChildHandle[] = [];
  afterAll(async () => {
    await Promise.all(started.map((child) => child.stop()));
  });

  it(
    "agent: a log line per attempt naming the URL; SIGTERM ends it cleanly (exit 0)",
    async () => {
      const port = await freePort();
      const agent = spawnChild("agent", ["agent", "--region", "us-east", "--nats", `nats://127.0.0.1:${port}`, "--log-level", "info"]);
      started.push(agent);
      const attempts = (): string[] => agent.output().split("\n").filter((line) => line.includes(`NATS at nats://127.0.0.1:${port} does not answer (connection refused); trying again every 2 s`));
      await waitFor(() => attempts().length >= 2, 20_000, () => `two attempts logged; output:\n${agent.output()}`, 100);
      const line = JSON.parse(attempts()[0]!) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 40, region: "us-east", nats: `nats://127.0.0.1:${port}`, attempt: 1, retryMs: 2000 });
      await agent.stop();
      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(agent.output()).toContain("stopped before NATS answered");
      expect(agent.output()).not.toContain("internal error");
    },
    TEST_MS,
  );

  it(
    "coordinator: listens with health NOT_SERVING and calls UNAVAILABLE while NATS is down; SERVING once a nats-server starts on that port",
    async () => {
      const server = await startNatsServer({ jetstream: false });
      await server.kill(); // its port is known, nothing answers there yet
      const listen = `127.0.0.1:${await freePort()}`;
      const coordinator = spawnChild("coordinator", ["coordinator", "--listen", listen, "--nats", server.url, "--log-level", "warn"]);
      started.push(coordinator);
      const api = connectProbeApi(listen);
      try {
        await waitFor(async () => (await api.health("", { deadlineMs: 500 }).catch(() => "no answer")) === "NOT_SERVING", 20_000, () => `health NOT_SERVING; output:\n${coordinator.output()}`, 100);
        await waitFor(() => coordinator.output().includes(`NATS at ${server.url} does not answer (connection refused): health NOT_SERVING`), 10_000, "the waiting logged", 100);
        const regions = await runCli(["regions", "--coordinator", listen]);
        expect(regions.stderr).toBe(`smtp-probe: coordinator ${listen} is unavailable: the coordinator is starting: waiting for NATS at ${server.url}; try again shortly\n`);
        expect(regions.code).toBe(ExitCode.unavailable);

        await server.start();
        await api.waitForHealth("SERVING", 20_000);
        expect((await api.listRegions({ deadlineMs: 3000 })).regions).toEqual([]);
        expect(coordinator.running()).toBe(true);
      } finally {
        api.close();
        await coordinator.stop();
        await server.stop();
      }
      expect(await coordinator.exited).toEqual({ code: 0, signal: null });
    },
    TEST_MS,
  );

  it(
    "credentials the NATS server refuses: names --nats-user and what to check; exit 2, no waiting",
    async () => {
      const server = await startNatsServer({ jetstream: false, extraArgs: ["--user", "agent-us-east", "--pass", "right-password"] });
      const dir = await mkdtemp(join(tmpdir(), "smtp-probe-startup-"));
      try {
        const password = await file(dir, "password", "wrong-password\n");
        const args = ["agent", "--region", "us-east", "--nats", server.url, "--nats-user", "agent-us-east", "--nats-password-file", password, "--log-level", "silent"];
        const result = await failedStart(args);
        expect(result.lines).toEqual([
          `smtp-probe: --nats-user: the NATS server at ${server.url} refused user agent-us-east (Authorization Violation): check the user and --nats-password-file`,
        ]);
        expect(result.code).toBe(ExitCode.usage);
        const none = await failedStart(["coordinator", "--listen", "127.0.0.1:0", "--nats", server.url, "--log-level", "silent"]);
        expect(none.lines).toEqual([
          `smtp-probe: --nats: the NATS server at ${server.url} wants credentials (Authorization Violation): give --nats-creds, or --nats-user and --nats-password-file`,
        ]);
        expect(none.code).toBe(ExitCode.usage);
      } finally {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
    TEST_MS,
  );
});

async function file(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** The CLI as user nobody (setpriv, util-linux): for a permission test when the tests run as root. */
async function runAsNobody(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const bin = fileURLToPath(new URL("../../bin/smtp-probe.js", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, bin, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
