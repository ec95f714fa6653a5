// The `smtp-probe` command line: commander for parsing and help, our own validation for values
// (check-args.ts), one place that turns every usage problem into one line and exit code 2.
// Each command is a `command(...)` here with its action in its own module; `coordinator`,
// `agent` and `regions` will be added beside `check`.
import { Command, CommanderError, Option } from "commander";
import { parseCheckArgs, type CheckFlags } from "./check-args.js";
import { runCheck, type CheckDeps } from "./check-command.js";
import { ExitCode } from "./exit-codes.js";
import { UsageError } from "./usage-error.js";
import { ConfigError } from "../lib/config.js";
import { agentCommand } from "../agents/probe/main.js";
import { coordinatorCommand } from "../services/coordinator/main.js";

export interface CliDeps extends CheckDeps {
  version: string;
  /** The EHLO name when --ehlo is not given: the machine's name. */
  defaultEhloName: string;
}

const CHECK_HELP = `
TLS modes:
  auto       STARTTLS when the server offers it (default; implicit on port 465)
  require    STARTTLS must work; nothing else is sent in plaintext otherwise
  implicit   TLS from the first byte (port 465, RFC 8314)
  none       plaintext only, STARTTLS never sent

Exit codes (the first that applies, in this order):
  2    bad usage (a flag, a value or the host is wrong); nothing was probed
  130  interrupted (Ctrl-C); the partial results are printed
  3    unreachable: on some port no handshake completed (DNS failed, refused,
       timed out, rejected by the banner, TLS failed, ...)
  1    some handshake has an error finding
  0    every port answered and no error finding

Colour: only on a terminal; NO_COLOR turns it off, FORCE_COLOR forces it on,
--no-color wins over both. Progress goes to stderr, on a terminal only.

Examples:
  smtp-probe check mx.example.com
  smtp-probe check example.com --mx --port 25,587 --transcript
  smtp-probe check 192.0.2.10 --port 465 --json
`;

/** Runs the command line and returns the exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(deps, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      deps.stderr.write(`smtp-probe: ${error.message}\n`);
      return ExitCode.usage;
    }
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; `smtp-probe` alone shows the help on stderr.
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return ExitCode.ok;
      if (error.code === "commander.help") return ExitCode.usage;
      deps.stderr.write(`smtp-probe: ${commanderMessage(error)}\n`);
      return ExitCode.usage;
    }
    throw error;
  }
}

/**
 * commander's message as "flag: problem" on one line, like our own, with a pointer to the help.
 * Its wording is kept where we have nothing better (suggestions such as "Did you mean --port?").
 */
export function commanderMessage(error: Pick<CommanderError, "code" | "message">): string {
  const text = error.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim();
  const flag = /'(?:-\w, )?(--?[\w-]+)[^']*'/.exec(text)?.[1];
  switch (error.code) {
    case "commander.unknownOption":
      return `${flag ?? "option"}: unknown option${suffix(text)} (see smtp-probe check --help)`;
    case "commander.optionMissingArgument":
      return `${flag ?? "option"}: needs a value (see smtp-probe check --help)`;
    case "commander.missingArgument":
      return `${/'([^']+)'/.exec(text)?.[1] ?? "argument"}: missing (see smtp-probe check --help)`;
    case "commander.excessArguments":
      return `host: one host per check, got ${/got (\d+)/.exec(text)?.[1] ?? "more"} arguments (see smtp-probe check --help)`;
    case "commander.unknownCommand":
      return `${text} (see smtp-probe --help)`;
    default:
      return `${text} (see smtp-probe check --help)`;
  }
}

/** What commander said after the quoted flag, e.g. " (Did you mean --port?)". */
function suffix(text: string): string {
  const rest = text.slice(text.lastIndexOf("'") + 1).trim();
  return rest ? ` ${rest}` : "";
}

function buildProgram(deps: CliDeps, setExitCode: (code: number) => void): Command {
  const program = new Command("smtp-probe")
    .description("Can this mail server be reached over SMTP, on which ports, and how securely?")
    .version(deps.version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show this help")
    .configureOutput({
      writeOut: (text) => deps.stdout.write(text),
      writeErr: (text) => deps.stderr.write(text),
      // Errors are printed by runCli, as one line.
      outputError: () => undefined,
    })
    .exitOverride()
    .showSuggestionAfterError(true);

  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

  program
    .command("check")
    .description("probe a mail server from this machine: resolve, connect, banner, EHLO, STARTTLS, TLS, EHLO, QUIT")
    .argument("<host>", "host name, IP address or [IPv6]; with --mx a mail domain")
    .addOption(new Option("-p, --port <ports>", "ports, comma-separated or repeated (default: 25)").argParser(collect))
    .option("--mx", "probe the domain's MX exchangers (in preference order) instead of the host itself")
    .option("--tls <mode>", "auto | require | implicit | none (default: auto, implicit on 465)")
    .option("--ehlo <name>", "name to send in EHLO/HELO (default: this machine's name)")
    .option("--sni <name>", "server name for TLS SNI and the certificate check (default: the host name)")
    .option("-4, --ipv4", "IPv4 addresses only")
    .option("-6, --ipv6", "IPv6 addresses only")
    .option("--timeout <duration>", "deadline for the whole probe of a port: seconds, or 500ms, 10s, 1m (default: 60)")
    .addOption(new Option("--dns-server <ip[:port]>", "DNS server to resolve with, repeatable (default: the system's)").argParser(collect))
    .option("--ca-file <path>", "PEM file of extra CA certificates to trust")
    .option("--transcript", "show the timed transcript of every handshake")
    .option("--json", "print the results as JSON (the protobuf JSON form), nothing else on stdout")
    .option("--no-color", "no colour, even on a terminal")
    .addHelpText("after", CHECK_HELP)
    .action(async (host: string, flags: CheckFlags) => {
      const request = parseCheckArgs(host, flags, { ehloName: deps.defaultEhloName });
      setExitCode(await runCheck(request, deps));
    });

  // The long-running processes: each reads its settings (flags, then SMTP_PROBE_* variables).
  const processDeps = { version: deps.version, env: deps.env, shutdown: deps.signal };
  program.addCommand(coordinatorCommand(processDeps).exitOverride());
  program.addCommand(agentCommand(processDeps).exitOverride());

  return program;
}
