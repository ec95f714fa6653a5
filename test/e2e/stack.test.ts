// `npm run stack` (dist/scripts/stack.js) as a user runs it: ready, it prints the addresses it uses
// and commands to paste; a process that fails, or an address already taken, ends it at once with
// the reason, nothing left running, and a non-zero exit code. Its ports come from the environment
// (free ones here), so that the test never meets a stack someone runs on the default ones.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes.js";
import { diagnoseListen } from "../../lib/listen-error.js";
import { startChild, type Child } from "../../scripts/child-process.js";
import { freePort } from "../helpers/free-port.js";
import { natsServerAvailable } from "../helpers/nats-server.js";
import { runCli } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { closeServer, listenLoopback, waitFor } from "../helpers/wait.js";

const STACK = fileURLToPath(new URL("../../dist/scripts/stack.js", import.meta.url));
// Five Node processes and nats-server starting at once: a few seconds idle, far more when loaded.
const TEST_MS = 90_000;

interface StackPorts {
  grpc: number;
  /** The coordinator's HTTP listener. */
  http: number;
  nats: number;
  /** The first of four: the coordinator's, then one per region. */
  metrics: number;
}

/** Free ports for a stack, the four metrics ports in a row. */
async function stackPorts(): Promise<StackPorts> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const metrics = await freePort();
    if (metrics > 65_000) continue;
    const taken = await Promise.all([1, 2, 3].map((offset) => diagnoseListen("127.0.0.1", metrics + offset)));
    if (taken.every((code) => code === undefined)) return { grpc: await freePort(), http: await freePort(), nats: await freePort(), metrics };
  }
  throw new Error("no four free ports in a row");
}

function environment(ports: StackPorts, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("SMTP_PROBE_")) env[key] = value;
  return {
    ...env,
    SMTP_PROBE_LISTEN: `127.0.0.1:${ports.grpc}`,
    SMTP_PROBE_HTTP_LISTEN: `127.0.0.1:${ports.http}`,
    SMTP_PROBE_STACK_NATS_PORT: String(ports.nats),
    SMTP_PROBE_STACK_METRICS_PORT: String(ports.metrics),
    SMTP_PROBE_STACK_READY_TIMEOUT: "60",
    ...extra,
  };
}

/** Every port of the stack can be bound again: nothing of it is left running. */
async function expectAllFree(ports: StackPorts): Promise<void> {
  const all = [ports.grpc, ports.http, ports.nats, ports.metrics, ports.metrics + 1, ports.metrics + 2, ports.metrics + 3];
  await waitFor(async () => (await Promise.all(all.map((port) => diagnoseListen("127.0.0.1", port)))).every((code) => code === undefined), 5_000, "every port of the stack free again", 100);
}

const nats = await need(natsServerAvailable);

describe.skipIf(nats.skip)("npm run stack", () => {
  let stack: Child | undefined;
  afterEach(async () => {
    await stack?.stop(15_000);
    stack = undefined;
  });

  it(
    "ready: the addresses it uses and commands to paste; its regions answer; Ctrl-C stops everything, exit 0",
    async () => {
      const ports = await stackPorts();
      stack = startChild("stack", process.execPath, [STACK, "--log-level", "warn"], { env: environment(ports) });
      await stack.waitForOutput(/^Ctrl-C stops everything\.$/m, 75_000);
      const lines = stack.output().split("\n");
      const listen = `127.0.0.1:${ports.grpc}`;
      expect(lines).toContain(`  gRPC API   ${listen}  (the coordinator; health SERVING)`);
      expect(lines).toContain(`  web page   http://127.0.0.1:${ports.http}/  (and the HTTP/JSON API, /v1/...)`);
      expect(lines.some((l) => l.startsWith(`  NATS       nats://127.0.0.1:${ports.nats}  (JetStream`))).toBe(true);
      expect(lines).toContain(`  metrics    coordinator  http://127.0.0.1:${ports.metrics}/metrics`);
      expect(lines).toContain(`             ap-south     http://127.0.0.1:${ports.metrics + 3}/metrics`);
      expect(lines).toContain(`  npx smtp-probe regions --coordinator ${listen}`);
      expect(lines).toContain(`  npx smtp-probe check MX-HOST --port 25 --coordinator ${listen}`);

      const regions = await runCli(["regions", "--coordinator", listen, "--json"]);
      const listed = JSON.parse(regions.stdout) as { regions: { name: string }[] };
      expect(listed.regions.map((r) => r.name).sort()).toEqual(["ap-south", "eu-west", "us-east"]);
      const metrics = await fetch(`http://127.0.0.1:${ports.metrics + 1}/readyz`);
      expect(metrics.status).toBe(200);
      const overHttp = await fetch(`http://127.0.0.1:${ports.http}/v1/regions`);
      expect(overHttp.status).toBe(200);

      process.kill(stack.pid, "SIGINT");
      expect(await stack.exited).toEqual({ code: 0, signal: null });
      await expectAllFree(ports);
    },
    TEST_MS,
  );

  it(
    "an agent that cannot start (a bad flag through the stack's arguments): named with its last line, the rest stopped, its exit code",
    async () => {
      const ports = await stackPorts();
      stack = startChild("stack", process.execPath, [STACK, "--no-such-flag"], { env: environment(ports) });
      const exit = await stack.exited;
      const output = stack.output();
      expect(output).toMatch(/\[stack\] (us-east|eu-west|ap-south) exited \(code 2\) before the stack was ready; its last lines:\n {4}smtp-probe: --no-such-flag: unknown option \(see smtp-probe agent --help\)\n/);
      expect(output).toContain("[stack] stopping");
      expect(output).not.toContain("stack ready");
      expect(exit).toEqual({ code: ExitCode.usage, signal: null });
      await expectAllFree(ports);
    },
    TEST_MS,
  );

  it(
    "the gRPC address taken by something else: said before anything starts (whatever holds it must not pass for the stack), exit 69",
    async () => {
      const ports = await stackPorts();
      const holder = net.createServer();
      ports.grpc = await listenLoopback(holder);
      try {
        stack = startChild("stack", process.execPath, [STACK], { env: environment(ports) });
        const exit = await stack.exited;
        expect(stack.output()).toBe(
          `[stack] 127.0.0.1:${ports.grpc}, the gRPC API, is already in use (EADDRINUSE): stop what holds it (an earlier npm run stack?), or choose another with SMTP_PROBE_LISTEN\n`,
        );
        expect(exit).toEqual({ code: ExitCode.environment, signal: null });
      } finally {
        await closeServer(holder);
      }
    },
    TEST_MS,
  );

  it(
    "no nats-server on the PATH: says what it needs, exit 69",
    async () => {
      const ports = await stackPorts();
      stack = startChild("stack", process.execPath, [STACK], { env: environment(ports, { PATH: dirname(process.execPath) }) });
      const exit = await stack.exited;
      expect(stack.output()).toMatch(/^\[stack\] npm run stack needs nats-server on the PATH: apt-get install nats-server/);
      expect(exit).toEqual({ code: ExitCode.environment, signal: null });
    },
    TEST_MS,
  );
});
