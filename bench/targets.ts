// Starts and stops the bench's target processes. Every wait has a deadline and every process
// started here is stopped by its own id.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { withTimeout } from "../test/helpers/wait.js";
import type { TargetProcessConfig, TargetProcessMessage, TargetProcessRequest } from "./target-process.js";

export interface TargetProcess {
  pid: number;
  smtpPort: number;
  silentPort: number | undefined;
  /** The ports of the fixtures without STARTTLS (config.plainFixtures). */
  plainPorts: number[];
  /** Connections the silent server holds open, and has accepted in all. */
  silentConnections(): Promise<{ open: number; accepted: number }>;
  /** CPU time (user + system) the target process has used so far, µs. */
  cpuUs(): Promise<number>;
  stop(): Promise<void>;
}

const targetProcessPath = fileURLToPath(new URL("./target-process.ts", import.meta.url));

/** Forks bench/target-process.ts (fork() keeps tsx's loader from process.execArgv). */
export async function startTargetProcess(config: TargetProcessConfig): Promise<TargetProcess> {
  const child: ChildProcess = fork(targetProcessPath, [JSON.stringify(config)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const pid = child.pid ?? -1;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const next = <T extends TargetProcessMessage["type"]>(type: T, timeoutMs: number): Promise<Extract<TargetProcessMessage, { type: T }>> =>
    withTimeout(
      new Promise((resolve, reject) => {
        const onMessage = (message: TargetProcessMessage): void => {
          if (message.type !== type) return;
          cleanup();
          resolve(message as Extract<TargetProcessMessage, { type: T }>);
        };
        const onExit = (code: number | null): void => {
          cleanup();
          reject(new Error(`target process ${pid} exited (${code}) before "${type}"`));
        };
        const cleanup = (): void => {
          child.off("message", onMessage);
          child.off("exit", onExit);
        };
        child.on("message", onMessage);
        child.once("exit", onExit);
      }),
      timeoutMs,
      `target process "${type}"`,
    );
  const request = (message: TargetProcessRequest): void => {
    if (child.connected) child.send(message);
  };

  let ready: Extract<TargetProcessMessage, { type: "ready" }>;
  try {
    ready = await next("ready", 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    pid,
    smtpPort: ready.smtpPort,
    silentPort: ready.silentPort,
    plainPorts: ready.plainPorts,
    async silentConnections() {
      const reply = next("silent-connections", 5_000);
      request({ type: "silent-connections" });
      const { open, accepted } = await reply;
      return { open, accepted };
    },
    async cpuUs() {
      const reply = next("cpu", 5_000);
      request({ type: "cpu" });
      return (await reply).us;
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        request({ type: "stop" });
        try {
          await withTimeout(exited, 5_000, `target process ${pid} exit`);
        } catch {
          child.kill("SIGKILL");
          await withTimeout(exited, 2_000, `target process ${pid} kill`).catch(() => undefined);
        }
      })();
      return stopped;
    },
  };
}
