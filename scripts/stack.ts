// `npm run stack`: a whole distributed stack on this machine — nats-server (JetStream) from PATH,
// a coordinator and three agents in regions us-east, eu-west and ap-south — that fails fast and
// honestly: every address it will use is checked free first (something else answering on the gRPC
// port must never pass for the stack); if any process exits, or the stack is not ready within the
// bound (health SERVING, every region listed by ListRegions), it says which and why (the last
// lines the process wrote), stops the rest and exits non-zero. Ready, it prints the addresses it
// uses and commands to paste. Ctrl-C stops everything.
//
// Extra arguments go to every agent (e.g. --allow-cidr 127.0.0.0/8); the target-policy flags among
// them (--allow-cidr, --allow-ports, --deny-list) go to the coordinator too, because it checks IP
// literals and ports against its own policy before any agent sees them, and so does --log-level.
// It runs compiled (dist/scripts/stack.js), like the processes it starts.
//
// Exit codes: 0 stopped by Ctrl-C or SIGTERM; 69 nats-server missing, an address taken, or not
// ready within the bound; a process that exited: its own exit code (2 a bad flag, 66, 69, ...),
// 1 when it had none to give (a signal).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../cli/exit-codes.js";
import { LOG_SETTINGS, POLICY_SETTINGS } from "../lib/common-settings.js";
import { parseHostPort } from "../lib/config-schemas.js";
import { formatHostPort } from "../lib/host-port.js";
import { diagnoseListen } from "../lib/listen-error.js";
import { packagePath } from "../lib/package-root.js";
import { UNTHROTTLED_ARGS } from "../services/coordinator/throttle-settings.js";
import { describeExit, startChild, type Child } from "./child-process.js";
import { coordinatorReadiness } from "./coordinator-readiness.js";

const REGIONS = ["us-east", "eu-west", "ap-south"];
/** Lines of a failed process's stderr shown. */
const TAIL_LINES = 12;
/** Between readiness checks. */
const POLL_MS = 250;
/** How long the processes get to end on Ctrl-C before SIGKILL. */
const STOP_TIMEOUT_MS = 12_000;

interface StackAddresses {
  listen: { host: string; port: number };
  /** The coordinator's HTTP listener: the page and the HTTP/JSON API. */
  http: { host: string; port: number };
  natsPort: number;
  /** The coordinator's, then one per region. */
  metricsPorts: number[];
  readyTimeoutMs: number;
}

/** The addresses and bound from the environment; a bad value ends the start (exit 2). */
function addressesFrom(env: NodeJS.ProcessEnv): StackAddresses {
  const port = (name: string, fallback: number): number => {
    const text = env[name] ?? String(fallback);
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > 65535) fail(ExitCode.usage, `${name}: "${text}" is not a port (1-65535)`);
    return value;
  };
  const listenText = env.SMTP_PROBE_LISTEN || "127.0.0.1:50051";
  const listen = parseHostPort(listenText);
  if (!listen) fail(ExitCode.usage, `SMTP_PROBE_LISTEN: "${listenText}" is not HOST:PORT`);
  const httpText = env.SMTP_PROBE_HTTP_LISTEN || "127.0.0.1:8080";
  const http = parseHostPort(httpText);
  if (!http) fail(ExitCode.usage, `SMTP_PROBE_HTTP_LISTEN: "${httpText}" is not HOST:PORT`);
  const metricsBase = port("SMTP_PROBE_STACK_METRICS_PORT", 9464);
  const readySeconds = Number(env.SMTP_PROBE_STACK_READY_TIMEOUT ?? 30);
  if (!(readySeconds > 0 && readySeconds <= 600)) fail(ExitCode.usage, `SMTP_PROBE_STACK_READY_TIMEOUT: "${env.SMTP_PROBE_STACK_READY_TIMEOUT}" is not a number of seconds (0-600)`);
  return {
    listen,
    http,
    natsPort: port("SMTP_PROBE_STACK_NATS_PORT", 4223),
    metricsPorts: [0, ...REGIONS.map((_, i) => i + 1)].map((offset) => metricsBase + offset),
    readyTimeoutMs: readySeconds * 1000,
  };
}

/** The target-policy flags and --log-level in args, with their values (`--flag value` or `--flag=value`). */
function coordinatorFlags(args: readonly string[]): string[] {
  const flags = new Set<string>([...Object.values(POLICY_SETTINGS), ...Object.values(LOG_SETTINGS)].map((s) => s.flag));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (flags.has(arg)) {
      out.push(arg, ...args.slice(i + 1, i + 2));
      i++;
    } else if (flags.has(arg.split("=")[0] ?? "")) out.push(arg);
  }
  return out;
}

function say(text: string): void {
  process.stderr.write(`[stack] ${text}\n`);
}

function fail(code: number, text: string): never {
  say(text);
  process.exit(code);
}

/** Every address the stack will listen on must be free: whatever holds one would answer for it. */
async function checkFree(addresses: StackAddresses): Promise<void> {
  const wanted: { host: string; port: number; what: string; variable: string }[] = [
    { ...addresses.listen, what: "the gRPC API", variable: "SMTP_PROBE_LISTEN" },
    { ...addresses.http, what: "the page and the HTTP/JSON API", variable: "SMTP_PROBE_HTTP_LISTEN" },
    { host: "127.0.0.1", port: addresses.natsPort, what: "NATS", variable: "SMTP_PROBE_STACK_NATS_PORT" },
    ...addresses.metricsPorts.map((port) => ({ host: "127.0.0.1", port, what: "a metrics port", variable: "SMTP_PROBE_STACK_METRICS_PORT (the first of four)" })),
  ];
  for (const { host, port, what, variable } of wanted) {
    const code = await diagnoseListen(host, port);
    if (code === undefined) continue;
    const why = code === "EADDRINUSE" ? "is already in use (EADDRINUSE): stop what holds it (an earlier npm run stack?), or" : `cannot be listened on (${code}):`;
    fail(ExitCode.environment, `${formatHostPort(host, port)}, ${what}, ${why} choose another with ${variable}`);
  }
}

async function main(): Promise<void> {
  const extra = process.argv.slice(2);
  const addresses = addressesFrom(process.env);
  if (spawnSync("nats-server", ["--version"], { stdio: "ignore" }).error) {
    fail(ExitCode.environment, "npm run stack needs nats-server on the PATH: apt-get install nats-server (Debian, Ubuntu), or see https://docs.nats.io/running-a-nats-service/introduction/installation");
  }
  await checkFree(addresses);

  const listen = formatHostPort(addresses.listen.host, addresses.listen.port);
  const http = formatHostPort(addresses.http.host, addresses.http.port);
  const nats = `nats://127.0.0.1:${addresses.natsPort}`;
  const store = mkdtempSync(join(tmpdir(), "smtp-probe-stack-"));
  const bin = packagePath("bin/smtp-probe.js");
  const children: Child[] = [];
  let stopping = false;
  let ready = false;
  const run = (name: string, command: string, args: string[], show: (line: string) => boolean = () => true): Child => {
    const child = startChild(name, command, args, { onLine: (line) => void (show(line) && process.stderr.write(`[${name}] ${line}\n`)) });
    children.push(child);
    void child.exited.then((exit) => {
      if (stopping) return;
      const tail = child.stderrTail(TAIL_LINES);
      say(`${name} exited (${describeExit(exit)})${ready ? "" : " before the stack was ready"}; its last lines:\n${tail.map((l) => `    ${l}`).join("\n") || "    (none)"}`);
      void stopAll(exit.code !== null && exit.code !== 0 ? exit.code : 1);
    });
    return child;
  };
  const stopAll = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say("stopping");
    // The coordinator and the agents drain first; NATS last, so that they can say goodbye.
    const [natsServer, ...rest] = children;
    await Promise.all(rest.map((c) => c.stop(STOP_TIMEOUT_MS)));
    await natsServer?.stop(STOP_TIMEOUT_MS);
    rmSync(store, { recursive: true, force: true });
    process.exit(exitCode);
  };
  process.on("SIGINT", () => void stopAll(ExitCode.ok));
  process.on("SIGTERM", () => void stopAll(ExitCode.ok));

  const started = performance.now();
  // nats-server's start-up banner is long: only its warnings and errors are shown.
  run("nats-server", "nats-server", ["-a", "127.0.0.1", "-p", String(addresses.natsPort), "-js", "-sd", store], (line) => /\[(WRN|ERR|FTL)\]/.test(line));
  const [coordinatorMetrics, ...agentMetrics] = addresses.metricsPorts;
  const metricsFlag = (port: number | undefined): string[] => ["--metrics-listen", `127.0.0.1:${port}`];
  REGIONS.forEach((region, i) => run(region, process.execPath, [bin, "agent", "--region", region, "--nats", nats, ...metricsFlag(agentMetrics[i]), ...extra]));
  // Everything probes from one machine here: the per-destination throttle would only slow it down.
  run("coordinator", process.execPath, [bin, "coordinator", "--listen", listen, "--http-listen", http, "--nats", nats, ...metricsFlag(coordinatorMetrics), ...UNTHROTTLED_ARGS, ...coordinatorFlags(extra)]);

  const readiness = coordinatorReadiness(listen);
  let why = "not checked yet";
  for (const until = performance.now() + addresses.readyTimeoutMs; !stopping; ) {
    const problem = await readiness.check(REGIONS);
    if (problem === undefined) break;
    why = problem;
    if (performance.now() >= until) {
      readiness.close();
      say(`not ready after ${addresses.readyTimeoutMs / 1000} s: ${why}`);
      for (const child of children) say(`${child.name}, its last lines:\n${child.stderrTail(4).map((l) => `    ${l}`).join("\n") || "    (none)"}`);
      return stopAll(ExitCode.environment);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  readiness.close();
  if (stopping) return;
  ready = true;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const metricsLines = [`coordinator  http://127.0.0.1:${coordinatorMetrics}/metrics`, ...REGIONS.map((r, i) => `${r.padEnd(11)}  http://127.0.0.1:${agentMetrics[i]}/metrics`)];
  process.stdout.write(
    [
      "",
      `smtp-probe stack ready in ${seconds} s:`,
      `  gRPC API   ${listen}  (the coordinator; health SERVING)`,
      `  web page   http://${http}/  (and the HTTP/JSON API, /v1/...)`,
      `  NATS       ${nats}  (JetStream, store in ${store})`,
      `  metrics    ${metricsLines.join("\n             ")}`,
      `  regions    ${REGIONS.join(", ")}  (every agent on this machine: the same network path, so the same verdicts; npm run demo shows regions that differ)`,
      "Try:",
      `  npx smtp-probe regions --coordinator ${listen}`,
      `  npx smtp-probe check MX-HOST --port 25 --coordinator ${listen}`,
      `  a target on this machine: npm run target (127.0.0.1:2525), with the stack started as`,
      `  npm run stack -- --allow-cidr 127.0.0.0/8 --allow-ports 2525, then check 127.0.0.1 --port 2525`,
      "Ctrl-C stops everything.",
      "",
    ].join("\n"),
  );
}

await main();
