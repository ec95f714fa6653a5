// What the start-up bench measures about one process: a short-lived command run to its end (wall
// time from spawn to exit, and the CPU time and peak RSS it reports through startup-cpu.mjs), and
// when a discovery round over NATS first sees a newly started agent.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SUBJECTS, type Bus } from "../lib/bus.js";
import { delay } from "../test/helpers/wait.js";

export const BIN = fileURLToPath(new URL("../bin/smtp-probe.js", import.meta.url));
const CPU_PRELOAD = fileURLToPath(new URL("./startup-cpu.mjs", import.meta.url));
/** Bytes of a child's output kept (for error messages). */
const OUTPUT_KEPT = 16 * 1024;

export interface ProcessRun {
  code: number | null;
  /** Spawn to exit, ms. */
  wallMs: number;
  /** User + system CPU time, s; only for `node` runs with the preload. */
  cpuS?: number;
  /** Peak RSS, MB; only for `node` runs with the preload. */
  peakRssMb?: number;
  stderr: string;
}

/** Runs `command args` to its end (SIGKILL after killMs); stdout is discarded. */
export function runToEnd(command: string, args: readonly string[], killMs: number): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-OUTPUT_KEPT);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), killMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      const usage = /STARTUP_BENCH (\d+) (\d+) (\d+)\s*$/.exec(stderr);
      resolve({
        code,
        wallMs,
        cpuS: usage ? (Number(usage[1]) + Number(usage[2])) / 1e6 : undefined,
        peakRssMb: usage ? Number(usage[3]) / 1024 : undefined,
        stderr: usage ? stderr.slice(0, usage.index) : stderr,
      });
    });
  });
}

/** `node [preload] bin/smtp-probe.js args`: the compiled command as a user runs it, measured. */
export function runSmtpProbe(args: readonly string[], killMs: number): Promise<ProcessRun> {
  return runToEnd(process.execPath, ["--import", CPU_PRELOAD, BIN, ...args], killMs);
}

/**
 * Discovery rounds back to back (each waits `roundMs` for answers, as the coordinator's do with
 * its own timeout) until one lists the agent; resolves with the time that round ended
 * (performance.now()), or undefined after timeoutMs.
 */
export async function whenDiscovered(bus: Bus, agentId: string, roundMs: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const found = await bus.discover(SUBJECTS.agentService, roundMs).catch(() => []);
    if (found.some((service) => service.metadata.agent_id === agentId)) return performance.now();
    await delay(1);
  }
  return undefined;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
