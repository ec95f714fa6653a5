// The service benches' processes: the coordinator and the agents, each a real `smtp-probe`
// process (bin/smtp-probe.js, as an operator runs it, or bench/load-process.ts around it), plus what /proc says about any process
// (RSS, CPU time). Every process started here is remembered, stopped by its own id, and SIGKILLed
// when the bench exits whatever way it exits.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UNTHROTTLED_ARGS } from "../services/coordinator/throttle-settings.js";
import { withTimeout } from "../test/helpers/wait.js";

const binPath = fileURLToPath(new URL("../bin/smtp-probe.js", import.meta.url));
/** Bytes of a child's stderr kept for error messages. */
const STDERR_KEPT = 16 * 1024;

export interface ServiceProcess {
  readonly label: string;
  readonly pid: number;
  /** The child itself: its IPC channel, when forked with one. */
  readonly child: ChildProcess;
  /** Whether the process has exited. */
  exited(): boolean;
  /** The end of what it wrote to stderr (its warn/error logs). */
  stderr(): string;
  /** SIGTERM (a drain), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Whatever ends the bench (an error, the watchdog, process.exit), no child outlives it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

export interface SpawnOptions {
  /** Node flags before the script: e.g. --cpu-prof for a diagnosis, --expose-gc. */
  nodeArgs?: readonly string[];
  /**
   * Fork this module instead of running bin/smtp-probe.js: a wrapper that runs the command itself
   * (bench/load-process.ts), loaded with this process's own node flags (tsx's loader) and given
   * an IPC channel (ServiceProcess.child).
   */
  forkModule?: string;
}

/**
 * Starts `node [nodeArgs] bin/smtp-probe.js <args>`, or forks `forkModule` with the same args;
 * logs go to a bounded buffer, read on failure.
 */
export function spawnSmtpProbe(label: string, args: readonly string[], { nodeArgs = [], forkModule }: SpawnOptions = {}): ServiceProcess {
  installExitHook();
  const child = forkModule
    ? fork(forkModule, args, { execArgv: [...process.execArgv, ...nodeArgs], stdio: ["ignore", "ignore", "pipe", "ipc"] })
    : spawn(process.execPath, [...nodeArgs, binPath, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  return serviceProcess(label, child);
}

/** Any other program the bench runs as a peer (blackbox_exporter), with the same stop and exit rules. */
export function spawnProcess(label: string, command: string, args: readonly string[]): ServiceProcess {
  installExitHook();
  return serviceProcess(label, spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] }));
}

function serviceProcess(label: string, child: ChildProcess): ServiceProcess {
  live.add(child);
  const pid = child.pid ?? -1;
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT);
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      live.delete(child);
      resolve();
    }),
  );
  child.once("error", () => live.delete(child));
  let stopping: Promise<void> | undefined;
  return {
    label,
    pid,
    child,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stderr: () => stderr,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        try {
          await withTimeout(exited, graceMs, `${label} exit`);
        } catch {
          child.kill("SIGKILL");
          await withTimeout(exited, 2_000, `${label} kill`).catch(() => undefined);
        }
      })();
      return stopping;
    },
  };
}

export interface ServiceFlags {
  natsUrl: string;
  /** The target's address range and ports the policy must allow. */
  allowCidr: string;
  allowPorts: readonly number[];
}

function commonArgs(flags: ServiceFlags): string[] {
  return ["--nats", flags.natsUrl, "--allow-cidr", flags.allowCidr, "--allow-ports", flags.allowPorts.join(","), "--log-level", "warn"];
}

export function spawnCoordinator(port: number, flags: ServiceFlags, nodeArgs: readonly string[] = []): ServiceProcess {
  // One loopback target takes the whole load: the per-destination throttle would be what is measured.
  return spawnSmtpProbe("coordinator", ["coordinator", "--listen", `127.0.0.1:${port}`, "--http-listen", "off", ...commonArgs(flags), ...UNTHROTTLED_ARGS], { nodeArgs });
}

export function spawnAgent(region: string, agentId: string, flags: ServiceFlags, nodeArgs: readonly string[] = []): ServiceProcess {
  return spawnSmtpProbe(`agent ${agentId}`, ["agent", "--region", region, "--agent-id", agentId, ...commonArgs(flags)], { nodeArgs });
}

// ---- /proc ------------------------------------------------------------------------------------

export interface MemorySample {
  /** Resident set size now, KB. */
  rssKb: number;
  /** Peak RSS of the process's life, KB. */
  hwmKb: number;
}

/** VmRSS and VmHWM from /proc/<pid>/status; undefined when the process is gone. */
export function readMemory(pid: number): MemorySample | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

const ticksPerSecond = 100; // USER_HZ on Linux

/** User + system CPU time of a process so far, ms (from /proc/<pid>/stat); undefined when gone. */
export function readCpuMs(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / ticksPerSecond;
}

/** This process's children named `name` (the nats-server the test helper started). */
export function childPidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === name && ppid === process.pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
