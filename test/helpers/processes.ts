// The coordinator and the agents as child processes of the test, through the real binary
// (bin/smtp-probe.js, which runs the compiled dist/: test/build-dist.ts builds it before the
// tests), as an operator runs them. Each handle has stop() (SIGTERM, wait for the
// exit, SIGKILL after a bound) and kill() (SIGKILL: a crash), and keeps the process's output so
// that a failure can say what the process said. Readiness: the coordinator when its health
// service answers SERVING, an agent when the coordinator's ListRegions lists it.
//
// runCli() runs the CLI to its end and returns what it printed.
//
// Output is captured, not printed; with LOG_LEVEL set it is passed on at that level too.
// SMTP_PROBE_* variables of the test's environment are not inherited: the test says everything.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { UNTHROTTLED_ARGS } from "../../services/coordinator/throttle-settings.js";
import { freePort } from "./free-port.js";
import { connectProbeApi, describeError, type ConnectOptions, type ProbeApi } from "./grpc-client.js";
import { delay } from "./wait.js";

const BIN = fileURLToPath(new URL("../../bin/smtp-probe.js", import.meta.url));
const MAX_OUTPUT = 256 * 1024;
const MAX_CLI_OUTPUT = 1024 * 1024;
const STOP_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 45_000;
/** For a beforeAll that starts processes: their readiness bound and some room. */
export const START_HOOK_TIMEOUT_MS = 60_000;

export interface ChildHandle {
  /** "coordinator", "agent eu-west/eu-1". */
  name: string;
  pid: number;
  /** Captured stdout and stderr, interleaved (the last 256 KiB). */
  output(): string;
  /** True until the process has exited. */
  running(): boolean;
  /** Resolves when the process has exited, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit (SIGKILL after timeoutMs, default 10 s). Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

export interface CoordinatorProcess extends ChildHandle {
  port: number;
  /** "127.0.0.1:PORT". */
  address: string;
}

export interface AgentProcess extends ChildHandle {
  region: string;
  agentId: string;
}

export interface CommonProcessOptions {
  /** --allow-cidr, each. */
  allowCidrs?: string[];
  /** --allow-ports, comma-joined. */
  allowPorts?: number[];
  /** --dns-server, each. */
  dnsServers?: string[];
  /** More flags, as given. */
  extraArgs?: string[];
  /** More environment variables (SMTP_PROBE_* included). */
  env?: Record<string, string>;
  /** How long to wait for readiness; default 45 000 ms (a loaded two-core machine starts slowly). */
  readyTimeoutMs?: number;
}

export interface CoordinatorOptions extends CommonProcessOptions {
  /** Omitted: embedded mode, one agent in-process as region `local`. */
  nats?: string;
  /** --heartbeat, e.g. "200ms". */
  heartbeat?: string;
  /** How readiness connects (TLS, mutual TLS); default plaintext. */
  connect?: ConnectOptions;
  /** --throttle-* flags; default: limits so high the per-destination throttle never slows a test. */
  throttle?: readonly string[];
}

export interface AgentOptions extends CommonProcessOptions {
  region: string;
  agentId: string;
  nats: string;
  /**
   * Readiness: this coordinator's ListRegions must list the agent. A promise lets the agent start
   * while the coordinator is still starting (both take a few seconds).
   */
  readyVia: ProbeApi | Promise<ProbeApi>;
  /** --grace, e.g. "2s". */
  grace?: string;
  /** --concurrency. */
  concurrency?: number;
}

/** Starts `smtp-probe coordinator` on a free port of 127.0.0.1; resolves once health is SERVING. */
export async function startCoordinatorProcess(options: CoordinatorOptions = {}): Promise<CoordinatorProcess> {
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  // freePort() can race with another process: a bind failure ends the child at once, so retry.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const args = ["coordinator", "--listen", address, ...commonArgs(options)];
    if (options.nats) args.push("--nats", options.nats);
    if (options.heartbeat) args.push("--heartbeat", options.heartbeat);
    args.push(...(options.throttle ?? UNTHROTTLED_ARGS));
    const child = spawnChild("coordinator", args, options.env);
    const api = connectProbeApi(address, options.connect);
    try {
      await untilReady(child, readyTimeoutMs, async () => {
        try {
          return (await api.health("", { deadlineMs: 500 })) === "SERVING" ? undefined : "health is not SERVING";
        } catch (error) {
          return describeError(error);
        }
      });
      return Object.assign(child, { port, address });
    } catch (error) {
      await child.kill();
      if (attempt < 3 && /EADDRINUSE|address already in use/i.test(child.output())) continue;
      throw error;
    } finally {
      api.close();
    }
  }
}

/** Starts `smtp-probe agent`; resolves once `readyVia`'s ListRegions lists it. */
export async function startAgentProcess(options: AgentOptions): Promise<AgentProcess> {
  const args = ["agent", "--region", options.region, "--agent-id", options.agentId, "--nats", options.nats, ...commonArgs(options)];
  if (options.grace) args.push("--grace", options.grace);
  if (options.concurrency !== undefined) args.push("--concurrency", String(options.concurrency));
  const child = spawnChild(`agent ${options.region}/${options.agentId}`, args, options.env);
  try {
    const readyVia = await options.readyVia;
    await untilReady(child, options.readyTimeoutMs ?? READY_TIMEOUT_MS, async () => {
      try {
        const { regions } = await readyVia.listRegions({ deadlineMs: 3000 });
        const listed = regions.some((r) => r.name === options.region && r.agents.some((a) => a.agentId === options.agentId));
        return listed ? undefined : `not listed by ListRegions (${regions.map((r) => `${r.name}: ${r.agents.map((a) => a.agentId).join(",")}`).join("; ") || "no regions"})`;
      } catch (error) {
        return describeError(error);
      }
    });
  } catch (error) {
    await child.kill();
    throw error;
  }
  return Object.assign(child, { region: options.region, agentId: options.agentId });
}

/**
 * Waits for processes started together; when one fails to start, stops the others before
 * rethrowing, so that no process outlives a failed beforeAll.
 */
export async function startedAll<T extends ChildHandle>(starts: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  await stopAll(settled.map((s) => (s.status === "fulfilled" ? s.value : undefined)));
  throw failed.reason;
}

/** Stops every handle given (in parallel), ignoring those already gone. */
export async function stopAll(handles: readonly (ChildHandle | undefined)[]): Promise<void> {
  await Promise.all(handles.map((h) => h?.stop()));
}

function commonArgs(options: CommonProcessOptions): string[] {
  const args = ["--log-level", process.env.LOG_LEVEL || "warn"];
  for (const cidr of options.allowCidrs ?? []) args.push("--allow-cidr", cidr);
  if (options.allowPorts) args.push("--allow-ports", options.allowPorts.join(","));
  for (const server of options.dnsServers ?? []) args.push("--dns-server", server);
  args.push(...(options.extraArgs ?? []));
  return args;
}

export interface CliRun {
  /** The exit code; null when the process was killed (a hang past killMs). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
}

/**
 * Runs the CLI (`smtp-probe ARGS`) to its end, killed after killMs so that a hang fails the test
 * instead of stalling it. The environment is the test's without SMTP_PROBE_* (a developer's
 * SMTP_PROBE_COORDINATOR would send "local" checks to a coordinator) and without NO_COLOR and
 * FORCE_COLOR, unless `env` gives them. Each stream keeps its first 1 MiB. `nodeArgs` go to node
 * before the script (e.g. --import of a module-load observer).
 */
export function runCli(args: string[], env: Record<string, string> = {}, killMs = 30_000, nodeArgs: readonly string[] = []): Promise<CliRun> {
  const childEnv = childEnvironment(env);
  for (const name of ["NO_COLOR", "FORCE_COLOR"]) if (!(name in env)) delete childEnv[name];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (stdout.length < MAX_CLI_OUTPUT) stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < MAX_CLI_OUTPUT) stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), killMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The test's environment without SMTP_PROBE_*, then `extraEnv`. */
function childEnvironment(extraEnv: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("SMTP_PROBE_")) env[key] = value;
  // The coordinator's HTTP listener defaults to 127.0.0.1:8080: tests run many coordinators at
  // once, so each gets a free port unless the test names one (--http-listen wins over this).
  env.SMTP_PROBE_HTTP_LISTEN = "127.0.0.1:0";
  return Object.assign(env, extraEnv);
}

/** `smtp-probe ARGS` as a child process (no readiness check): for processes expected to fail at start. */
export function spawnChild(name: string, args: string[], extraEnv: Record<string, string> = {}): ChildHandle {
  const env = childEnvironment(extraEnv);
  const proc: ChildProcess = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${process.execPath} ${BIN}`);
  let output = "";
  const passOn = Boolean(process.env.LOG_LEVEL);
  const capture = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT);
    if (passOn) process.stderr.write(`[${name}] ${chunk.toString("utf8")}`);
  };
  proc.stdout?.on("data", capture);
  proc.stderr?.on("data", capture);

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  // A test run that dies must not leave servers behind.
  const onExit = (): void => void proc.kill("SIGKILL");
  process.once("exit", onExit);
  void exited.then(() => process.off("exit", onExit));

  let stopping: Promise<void> | undefined;
  const handle: ChildHandle = {
    name,
    pid: proc.pid,
    output: () => output,
    running: () => exitInfo === undefined,
    exited,
    stop(timeoutMs = STOP_TIMEOUT_MS) {
      stopping ??= (async () => {
        if (exitInfo) return;
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
    async kill() {
      if (!exitInfo) proc.kill("SIGKILL");
      await exited;
    },
  };
  return handle;
}

/** Polls `check` (undefined: ready; else why not) until ready, the child exits, or the time is up. */
async function untilReady(child: ChildHandle, timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const until = Date.now() + timeoutMs;
  let why = "not checked yet";
  for (;;) {
    if (!child.running()) {
      const { code, signal } = await child.exited;
      throw new Error(`${child.name} exited (${signal ?? `code ${code}`}) before it was ready; its output:\n${child.output().slice(-8000)}`);
    }
    const problem = await check();
    if (problem === undefined) return;
    why = problem;
    if (Date.now() >= until) {
      throw new Error(`${child.name} not ready after ${timeoutMs} ms (${why}); its output:\n${child.output().slice(-8000)}`);
    }
    await delay(100);
  }
}
