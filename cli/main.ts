// The composition root of the `smtp-probe` command: the only module that touches the process
// (argv, environment, stdio, signals, exit code). Everything below it gets what it needs passed in.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { machineEhloName } from "../agents/smtp/options.js";
import { packagePath } from "../lib/package-root.js";
import { ExitCode } from "./exit-codes.js";
import { runCli } from "./program.js";

/** How long the process may linger after the command is over (output still being written). */
const EXIT_GRACE_MS = 2000;

const { version } = JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string };

// Ctrl-C once: the probes are cancelled, and what was seen so far is printed (exit code 130).
// Twice: out at once.
const interrupt = new AbortController();
const onSigint = (): void => {
  if (interrupt.signal.aborted) process.exit(ExitCode.interrupted);
  interrupt.abort();
};
process.on("SIGINT", onSigint);
// SIGTERM: the coordinator and the agent drain and exit; a check stops like on Ctrl-C.
const onSigterm = (): void => interrupt.abort();
process.on("SIGTERM", onSigterm);

try {
  process.exitCode = await runCli(process.argv.slice(2), {
    version,
    defaultEhloName: machineEhloName(),
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    readFile: (path) => readFile(path, "utf8"),
    signal: interrupt.signal,
    envCoordinator: process.env.SMTP_PROBE_COORDINATOR,
    envToken: process.env.SMTP_PROBE_TOKEN,
  });
} catch (error) {
  // Only a bug gets here: a target that misbehaves is data in the result, a setting that is wrong
  // or a resource that is missing is a one-line message and its exit code (program.ts).
  process.stderr.write(`smtp-probe: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = ExitCode.internal;
} finally {
  process.off("SIGINT", onSigint);
  process.off("SIGTERM", onSigterm);
}
// The command is over. A handle some library left open after a failed start (a socket, a watch)
// must not keep the process alive without doing anything: out after a moment, whatever holds it.
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
