// The long-running commands, `coordinator` and `agent`: their flags come from the settings tables
// (settings.ts beside each process), and the action resolves the settings (a wrong one is a
// ConfigError, exit 2) before it imports the process's main.ts, so that the help, the other
// commands and a wrong setting never load gRPC, NATS or the metrics registry. What a failed start
// prints and its exit code: PROCESS_HELP below, cli/exit-codes.ts.
import { Command } from "commander";
import { AGENT_SETTINGS } from "../agents/probe/settings.js";
import { addSettingFlags, resolveSettings, type Settings, type SettingValues } from "../lib/config.js";
import { formatExitCodeHelp, PROCESS_EXIT_CODES } from "./exit-codes.js";
import type { ProcessDeps } from "../lib/process.js";
import { COORDINATOR_SETTINGS } from "../services/coordinator/settings.js";

/** `smtp-probe coordinator`: serves the gRPC API until SIGTERM, then drains. */
export function coordinatorCommand(deps: ProcessDeps): Command {
  return processCommand(
    "coordinator",
    "serve the gRPC API; with --nats, dispatch to agents over NATS, else run embedded with one agent as region local",
    COORDINATOR_SETTINGS,
    async (settings) => (await import("../services/coordinator/main.js")).runCoordinator(settings, deps),
    deps,
  );
}

/** `smtp-probe agent`: serves one region's tasks from NATS until SIGTERM, then drains. */
export function agentCommand(deps: ProcessDeps): Command {
  return processCommand(
    "agent",
    "serve one region's probe tasks from NATS",
    AGENT_SETTINGS,
    async (settings) => (await import("../agents/probe/main.js")).runAgent(settings, deps),
    deps,
  );
}

/**
 * The exit codes of a failed start (cli/exit-codes.ts). A start that fails prints one line: the
 * setting, what is wrong, what to do.
 */
const processHelp = (): string => `
Start-up: a wrong setting stops the process with one line naming the flag (or
variable) and what to do. NATS not answering yet is normal: the process waits
for it, logs each attempt (every 2 s), and exits cleanly on SIGTERM meanwhile;
the coordinator already listens, with health NOT_SERVING until NATS answers.

Exit codes:
${formatExitCodeHelp(PROCESS_EXIT_CODES)}
`;

function processCommand<S extends Settings>(name: string, description: string, settings: S, run: (values: SettingValues<S>) => Promise<void>, deps: ProcessDeps): Command {
  const command = new Command(name).description(description).addHelpText("after", processHelp);
  addSettingFlags(command, settings);
  return command.action((flags: Record<string, unknown>) => run(resolveSettings(settings, flags, deps.env)));
}
