// The gRPC API through clients a newcomer would use, against what the docs tell them to start: an
// SMTP target by `npm run target` and an embedded coordinator (the real binary) allowed to probe
// loopback.
// - A client that is not ours: Python with Debian's python3-grpcio and python3-protobuf
//   (test/clients/reflection_client.py), which builds every message type from server reflection
//   alone, calls every method of ProbeService and Health, and decodes the error details.
// - The Node example of docs/api.md (docs/examples/probe-client.ts, the generated client), run as
//   the docs show it, so that the snippet cannot rot.
// Nothing outside 127.0.0.1 is contacted.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { waitFor, withTimeout } from "../helpers/wait.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Debian's interpreter, with Debian's python3-grpcio and python3-protobuf: not whatever python3 is first on PATH. */
const PYTHON = "/usr/bin/python3";
const CLIENT_MS = 90_000;
const MAX_OUTPUT = 1024 * 1024;

const run = promisify(execFile);

/** Debian's python3-grpcio, python3-protobuf and protoc (protobuf-compiler), or why not. */
async function pythonClientAvailable(): Promise<string | undefined> {
  const install = "apt-get install python3-grpcio python3-protobuf protobuf-compiler";
  try {
    await run(PYTHON, ["-c", "import grpc, google.protobuf"], { timeout: 20_000 });
  } catch {
    return `${PYTHON} cannot import grpc and google.protobuf (${install})`;
  }
  try {
    await run("protoc", ["--version"], { timeout: 10_000 });
  } catch {
    return `protoc is not installed (${install})`;
  }
  return undefined;
}

const python = await need(pythonClientAvailable);

interface SmtpTarget {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `npm run target -- --listen 127.0.0.1:0`, the one command docs/api.md gives, in a process group
 * of its own (npm, its shell and node), stopped together.
 */
async function startSmtpTarget(): Promise<SmtpTarget> {
  const child: ChildProcess = spawn("npm", ["run", "--silent", "target", "--", "--listen", "127.0.0.1:0"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const capture = (chunk: Buffer): void => void (output = (output + chunk.toString("utf8")).slice(-MAX_OUTPUT));
  child.stdout?.on("data", capture);
  child.stderr?.on("data", capture);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (name: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      // already gone
    }
  };
  const stop = async (): Promise<void> => {
    signal("SIGTERM");
    await withTimeout(exited, 5_000, "npm run target stopping").catch(() => signal("SIGKILL"));
  };
  try {
    await waitFor(() => /^READY$/m.test(output) || child.exitCode !== null, 45_000, () => `npm run target: READY; its output:\n${output}`, 50);
    const port = /^listening on 127\.0\.0\.1:(\d+) /m.exec(output)?.[1];
    if (port === undefined) throw new Error(`npm run target printed no port; its output:\n${output}`);
    return { port: Number(port), output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Embedded, allowed to probe the target; ready once ListRegions lists the agent of region local. */
async function startCoordinator(smtpPort: number): Promise<CoordinatorProcess> {
  const coordinator = await startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8"], allowPorts: [smtpPort] });
  const api = connectProbeApi(coordinator.address);
  try {
    await waitFor(
      async () => {
        const listed = await api.listRegions({ deadlineMs: 3000 }).catch(() => undefined);
        return Boolean(listed?.regions.some((r) => r.name === "local" && r.agents.length > 0));
      },
      15_000,
      () => `coordinator ready with region local; its output:\n${coordinator.output()}`,
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

/** Runs a command to its end; never rejects on a failed exit (the test reads code and output). */
async function runToEnd(command: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  // The Python client is Debian's: no PYTHONPATH or PYTHONHOME of another interpreter.
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("PYTHON")) env[key] = value;
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: MAX_OUTPUT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: `${failed.stderr ?? ""}\n${failed.message}` };
  }
}

interface ClientSummary {
  services: string[];
  files: string[];
  probe_request_fields: string[];
  methods: string[];
  health: string;
  regions: string[];
  probe: { probe_id: string; task: string; outcome: string; verdicts: string[]; json_keys: string[] };
  stream_events: string[];
  invalid_argument: { detail_types: string[]; fields: string[] };
  not_found: { message: string; detail_types: string[] };
  reflection_not_found: string[];
}

describe("the gRPC API through clients of others, against an SMTP target from `npm run target`", () => {
  let target: SmtpTarget;
  let coordinator: CoordinatorProcess;

  beforeAll(async () => {
    target = await startSmtpTarget();
    coordinator = await startCoordinator(target.port);
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await coordinator?.stop();
    await target?.stop();
  });

  describe.skipIf(python.skip)("Python (Debian's python3-grpcio), types from reflection alone", () => {
    it(
      "lists the services, builds the types, calls every method, decodes BadRequest and NOT_FOUND",
      async () => {
        const client = await runToEnd(
          PYTHON,
          ["test/clients/reflection_client.py", "--target", coordinator.address, "--smtp-port", String(target.port), "--reflection-protos", "proto/grpc/reflection"],
          CLIENT_MS,
        );
        expect(client.code, `${client.stderr}\n--- coordinator\n${coordinator.output().slice(-4000)}`).toBe(0);
        const summary = JSON.parse(client.stdout) as ClientSummary;

        expect(summary.services).toEqual([
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
          "smtpprobe.v1.BatchService",
          "smtpprobe.v1.MonitorService",
          "smtpprobe.v1.ProbeService",
        ]);
        // Real file names, the agents' protocol nowhere.
        expect(summary.files).toEqual([
          "google/protobuf/any.proto",
          "google/protobuf/duration.proto",
          "google/protobuf/timestamp.proto",
          "google/rpc/error_details.proto",
          "google/rpc/status.proto",
          "grpc/health/v1/health.proto",
          "grpc/reflection/v1/reflection.proto",
          "grpc/reflection/v1alpha/reflection.proto",
          "smtpprobe/v1/address_posture.proto",
          "smtpprobe/v1/batch.proto",
          "smtpprobe/v1/domain.proto",
          "smtpprobe/v1/handshake.proto",
          "smtpprobe/v1/monitor.proto",
          "smtpprobe/v1/probe_service.proto",
        ]);
        expect(summary.probe_request_fields).toEqual(["host", "mx", "ports", "regions", "options", "tls_modes", "idempotency_key", "port_roles"]);
        expect(summary.methods).toEqual(["Probe", "StreamProbe", "GetProbe", "ListRegions", "CheckDomain", "GetDomainCheck"]);
        expect(summary.health).toBe("SERVING");
        expect(summary.regions).toEqual(["local"]);
        expect(summary.probe).toMatchObject({ task: "TASK_STATUS_DONE", outcome: "OUTCOME_OK", verdicts: ["VERDICT_KIND_REACHABLE_EVERYWHERE"] });
        expect(summary.stream_events).toEqual(["accepted", "progress", "report", "task"]);
        // The violations name the request's fields as the reflected descriptor writes them.
        expect(summary.invalid_argument.detail_types).toEqual(["google.rpc.BadRequest"]);
        expect(summary.invalid_argument.fields).toEqual(expect.arrayContaining(["host", "ports[0]", "tls_modes[587]", "options.timeouts.deadline_ms"]));
        expect(summary.not_found.message).toContain("00000000-0000-4000-8000-000000000000");
        expect(summary.not_found.detail_types).toEqual(["google.rpc.ResourceInfo"]);
        expect(summary.reflection_not_found).toEqual(["symbol not found: smtpprobe.v1.NoSuchMessage", "file not found: smtpprobe/v1/no_such_file.proto"]);
      },
      CLIENT_MS + 10_000,
    );
  });

  describe("the Node example of docs/api.md", () => {
    const example = readFileSync(new URL("../../docs/examples/probe-client.ts", import.meta.url), "utf8");

    it("is in docs/api.md as it is in docs/examples/probe-client.ts", () => {
      const api = readFileSync(new URL("../../docs/api.md", import.meta.url), "utf8");
      expect(api).toContain("```ts\n" + example + "```\n");
    });

    it(
      "probes the target through the coordinator and prints each region and the verdict",
      async () => {
        const result = await runToEnd(process.execPath, ["--import", "tsx", "docs/examples/probe-client.ts", coordinator.address, "127.0.0.1", String(target.port)], 60_000);
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/^probe [0-9a-f-]{36}$/m);
        expect(result.stdout).toContain(`  local port ${target.port}: TASK_STATUS_DONE 127.0.0.1 OUTCOME_OK`);
        expect(result.stdout).toContain(`  verdict: Port ${target.port} is open from local.`);
      },
      70_000,
    );

    it(
      "says why when the call fails: the field of an invalid request",
      async () => {
        const result = await runToEnd(process.execPath, ["--import", "tsx", "docs/examples/probe-client.ts", coordinator.address, "127.0.0.1", "0"], 60_000);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("probe failed: code 3: invalid request: ports[0]: 0 is not a port (1-65535)");
      },
      70_000,
    );
  });
});
