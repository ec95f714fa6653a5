// A child process the scripts (npm run stack, npm run demo) and the test lab start and watch: its
// output kept (bounded) so that a failure can say what the process said last, its exit awaited,
// and a stop that ends it whatever it does (SIGTERM, then SIGKILL after a bound).
import { spawn, type ChildProcess } from "node:child_process";
import { HelperTimeoutError, withTimeout } from "./with-timeout.js";

const MAX_OUTPUT = 256 * 1024;
const STOP_TIMEOUT_MS = 5_000;
const CLOSE_WAIT_MS = 1_000;

export interface ChildOptions {
  /** The whole environment of the child; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Working directory; default this process's. */
  cwd?: string;
  /** Keep the child's stdin open as a pipe: a child that exits on EOF dies with this process. */
  lifeline?: boolean;
  /** Each complete line the child writes, as it comes (to show it, prefixed). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** stdout and stderr, interleaved (the last 256 KiB). */
  output(): string;
  /** The last `count` lines of stderr: what a process that failed said last. */
  stderrTail(count: number): string[];
  running(): boolean;
  readonly exited: Promise<ChildExit>;
  /** Resolves with the first match in stdout; rejects when the process exits first or after timeoutMs. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, SIGKILL after timeoutMs (default 5 s); resolves once it has exited. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** "code 69", "signal SIGKILL". */
export function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export function startChild(name: string, command: string, args: readonly string[], options: ChildOptions = {}): Child {
  const child: ChildProcess = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: [options.lifeline ? "pipe" : "ignore", "pipe", "pipe"] });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  const pid = child.pid;
  let output = "";
  let stdout = "";
  let stderr = "";
  const partial = { stdout: "", stderr: "" };
  const listeners = new Set<() => void>();
  const capture =
    (stream: "stdout" | "stderr") =>
    (chunk: Buffer): void => {
      const text = chunk.toString("utf8");
      output = (output + text).slice(-MAX_OUTPUT);
      if (stream === "stdout") stdout = (stdout + text).slice(-MAX_OUTPUT);
      else stderr = (stderr + text).slice(-MAX_OUTPUT);
      if (options.onLine) {
        const lines = (partial[stream] + text).split("\n");
        partial[stream] = (lines.pop() ?? "").slice(-MAX_OUTPUT);
        for (const line of lines) options.onLine(line, stream);
      }
      for (const listener of [...listeners]) listener();
    };
  child.stdout?.on("data", capture("stdout"));
  child.stderr?.on("data", capture("stderr"));
  child.stdin?.on("error", () => undefined); // EPIPE once the child is gone

  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    const finish = (exit: ChildExit): void => {
      if (exitInfo) return;
      exitInfo = exit;
      for (const stream of ["stdout", "stderr"] as const) if (partial[stream]) options.onLine?.(partial[stream], stream);
      for (const listener of [...listeners]) listener();
      resolve(exit);
    };
    // "close" comes once the output is read to its end (the last words of a failed start); a
    // grandchild holding the pipes must not delay the exit for long.
    child.once("close", (code, signal) => finish({ code, signal }));
    child.once("exit", (code, signal) => setTimeout(() => finish({ code, signal }), CLOSE_WAIT_MS).unref());
  });

  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    output: () => output,
    stderrTail: (count) =>
      stderr
        .split("\n")
        .filter((line) => line.trim() !== "")
        .slice(-count),
    running: () => exitInfo === undefined,
    exited,
    waitForOutput(pattern, timeoutMs) {
      let listener = (): void => undefined;
      const found = new Promise<RegExpMatchArray>((resolve, reject) => {
        listener = () => {
          const match = pattern.exec(stdout);
          if (match) resolve(match);
          else if (exitInfo) reject(new Error(`${name} exited (${describeExit(exitInfo)}) before printing ${pattern}; its output:\n${output.slice(-8000)}`));
        };
        listeners.add(listener);
        listener();
      });
      return withTimeout(found, timeoutMs, `${name} printing ${pattern}`)
        .catch((error: unknown) => {
          throw error instanceof HelperTimeoutError ? new Error(`${error.message}; its output:\n${output.slice(-8000)}`, { cause: error }) : error;
        })
        .finally(() => listeners.delete(listener));
    },
    stop(timeoutMs = STOP_TIMEOUT_MS) {
      stopping ??= (async () => {
        if (exitInfo) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
    async kill() {
      if (!exitInfo) child.kill("SIGKILL");
      await exited;
    },
  };
}
