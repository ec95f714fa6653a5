// The `smtp-probe` command line: commander for parsing and help, our own validation for values
// (check-args.ts), one place that turns every usage problem into one line and exit code 2.
// Each command is a `command(...)` here with its action in its own module: `check` (local in
// check-command.ts, through a coordinator in remote-check.ts), `regions` (regions-command.ts),
// and the long-running `coordinator` and `agent` (process-commands.ts). Actions import their
// modules when they run, so that starting the command does not load gRPC, NATS and the engine it
// will not use (test/e2e/cli-startup.test.ts holds it to that).
import { Command, CommanderError, Option } from "commander";
import { planBatch, type BatchFlags } from "./batch-args.js";
import { parseBatchFile } from "./batch-file.js";
import { parseCheckArgs, type CheckFlags } from "./check-args.js";
import type { CheckDeps } from "./check-command.js";
import type { DomainFlags } from "./domain-args.js";
import { parseCoordinatorAddress } from "./coordinator-address.js";
import { loadCoordinatorCredentials, refuseCredentialFlagsLocally, TOKEN_ENV, type CredentialFlags } from "./coordinator-credentials.js";
import { CHECK_EXIT_CODES, ExitCode, formatExitCodeHelp, REGIONS_EXIT_CODES } from "./exit-codes.js";
import { chooseCheckMode, COORDINATOR_ENV } from "./check-mode.js";
import { UsageError } from "./usage-error.js";
import { ConfigError, UnavailableError, UnreadableFileError } from "../lib/config.js";
import { agentCommand, coordinatorCommand } from "./process-commands.js";

export interface CliDeps extends CheckDeps {
  version: string;
  /** The EHLO name when --ehlo is not given: the machine's name. */
  defaultEhloName: string;
  /** SMTP_PROBE_COORDINATOR: the coordinator when --coordinator is not given (empty: none). */
  envCoordinator?: string;
  /** SMTP_PROBE_TOKEN: the bearer token for the coordinator when --token is not given (empty: none). */
  envToken?: string;
}

// Help texts are functions: the exit-code tables are formatted only when help is printed.
const checkHelp = (): string => `
Where the probe runs:
  Without --coordinator (and SMTP_PROBE_COORDINATOR unset, or --local): on this
  machine. With --coordinator HOST[:PORT] (port 50051 by default): on the
  coordinator's agents, in every region with a live agent or those of --regions;
  the region x port matrix is drawn live on stderr (on a terminal), then the
  matrix, the verdicts, the regions without an answer and the findings per region
  are printed. --dns-server and --ca-file are local only (the agents use their
  own); --ehlo defaults to the agent's name; --timeout is the probe's deadline,
  and the call's plus 2 s.

TLS modes:
  auto       STARTTLS when the server offers it (default; implicit on port 465)
  require    STARTTLS must work; nothing else is sent in plaintext otherwise
  implicit   TLS from the first byte (port 465, RFC 8314)
  none       plaintext only, STARTTLS never sent

Port roles (--port-role PORT=ROLE, comma-separated or repeated): what a port is
for decides how severe its findings are and what they advise.
  relay                MX relay, server to server (default on 25): a bad
                       certificate or no STARTTLS is a warning, since senders
                       fall back to opportunistic TLS or cleartext
  submission           mail clients log in, with STARTTLS (default on 587,
                       2525 and any other port): the same is an error
  implicit-submission  mail clients log in over implicit TLS (default on 465)
  e.g. --port 25,2525 --port-role 2525=relay for a relay on 2525.

Exit codes (the first that applies, in this order):
${formatExitCodeHelp(CHECK_EXIT_CODES)}

JSON: --json prints one document on stdout, the same shape locally and through a
coordinator: a ProbeReport (locally with one region, "local"), in the protobuf
JSON form (64-bit integers as strings); a call or a command line that fails
prints a google.rpc.Status instead ({"code", "message", "details"}).

No banner: a port other than 25, 587 and 2525 that accepts the connection and
says nothing may speak implicit TLS; the output suggests --tls implicit.

TLS scan and STARTTLS enforcement (off unless asked: more connections):
  --tls-scan              the versions and cipher suites the port accepts,
                          graded, its groups and cipher order, from hand-built
                          ClientHellos; at most 48 connections per address
  --starttls-enforcement  MAIL FROM:<> before STARTTLS on a session of its own,
                          then RSET and QUIT (never RCPT or DATA): does the
                          server demand TLS first? (RFC 3207: 530 5.7.0)

Mail-security policy: with --mx on an MX relay port (25, or --port-role relay),
the domain's MTA-STS policy (the _mta-sts record, the policy over HTTPS) and its
TLS-RPT record are read from each region, and each exchanger and certificate is
judged against them: shown in a Policy block, in full with --json.
--policy-domain judges a host probed without --mx by its mail domain's policy.

Limits: --max-exchangers and --max-addresses bound what is probed; what they
leave out is listed ("not probed: ...") and in --json (not_probed).

Colour: only on a terminal; NO_COLOR turns it off, FORCE_COLOR forces it on,
--no-color wins over both. Progress goes to stderr, on a terminal only.

Examples:
  smtp-probe check mx.example.com
  smtp-probe check example.com --mx --port 25,587 --transcript
  smtp-probe check 192.0.2.10 --port 465 --json
  smtp-probe check mx.example.com --port 25,2525 --port-role 2525=relay
  smtp-probe check mx.example.com --port 25,587 --coordinator 127.0.0.1:50051
  smtp-probe check mx.example.com --coordinator probe.internal --regions us-east,eu-west
`;

const PROGRAM_HELP = `
Exit codes: each command's --help has its own. Everywhere: 0 done, 2 bad usage
(one line names the flag), 130 interrupted, and 70 a bug in smtp-probe, only
that (please report it, with the lines printed). The coordinator and the agent
also exit 66 (a file a setting names cannot be read) and 69 (the environment
lacks what they need: the listen address is taken, ...).
`;

const DOMAIN_HELP = `
Only DNS is asked, through --dns-server (else the system's resolver); nothing is
sent to the domain's mail servers. Each question is asked once per check.

Exit codes:
  0    no finding of severity error
  1    some finding of severity error (+all, over 10 SPF lookups, an RSA key
       under 1024 bits, an exchanger without address, ...)
  2    bad usage; nothing was checked
  130  interrupted

Examples:
  smtp-probe domain example.com
  smtp-probe domain example.com --dkim-selector s1,s2 --json
  smtp-probe domain example.com --common-dkim-selectors --dns-server 192.0.2.53
`;

const BATCH_HELP = `
The batch runs on the coordinators (it needs NATS with JetStream): its items
wait there and are probed as capacity and your quotas allow. This command
creates it, prints its id on stderr, and watches it: one line per target as its
report lands, and on a terminal a progress line (items, rate, time left).
Ctrl-C or a lost connection stops the watch, not the batch: the message says
how to resume (--resume BATCH_ID --after SEQUENCE).

Exit codes: 0 the batch ended (each line says how its target went), 2 bad usage
(a flag, or a line of FILE, named), 4 the coordinator could not be reached or
refused the batch, 130 interrupted.
`;

const MONITOR_HELP = `
A monitor runs on the coordinators (it needs NATS with JetStream): its probe is
repeated at its interval whatever happens to this command, until it is deleted.
Its runs are kept a week: a watch that stopped resumes with --after RUN, and
--from-oldest shows them all first.
The webhook's signing key is read from SMTP_PROBE_WEBHOOK_SECRET, never from
the command line.

Exit codes: 0 done, 2 bad usage (the flag named), 4 the coordinator could not be
reached or refused the call (an unknown monitor, a bound on monitors, ...),
130 interrupted (watch).

Examples:
  smtp-probe monitor create mx.example.com --interval 5m --port 25,587 --coordinator c:50051
  smtp-probe monitor list --coordinator c:50051
  smtp-probe monitor watch <monitor id> --changes-only --coordinator c:50051
  smtp-probe monitor watch <monitor id> --after 41 --coordinator c:50051
  smtp-probe monitor delete <monitor id> --coordinator c:50051
`;

const regionsHelp = (): string => `
Exit codes:
${formatExitCodeHelp(REGIONS_EXIT_CODES)}
`;

/** Runs the command line and returns the exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(deps, (code) => {
    exitCode = code;
  });
  // With --json, a command line that fails still prints one JSON document (google.rpc.Status).
  const json = wantsJson(argv);
  // The JSON writer (descriptors and all) is loaded only when a document is due.
  const printStatus = async (status: (s: typeof import("./cli-status.js")) => object): Promise<void> => {
    if (json) deps.stdout.write(`${JSON.stringify(status(await import("./cli-status.js")), null, 2)}\n`);
  };
  const usage = async (message: string, flag?: string, problem?: string, code: number = ExitCode.usage): Promise<number> => {
    deps.stderr.write(`smtp-probe: ${message}\n`);
    await printStatus((s) => s.usageErrorStatus(message, flag, problem));
    return code;
  };
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof UnreadableFileError) {
      return usage(`${error.message} (${error.hint})`, error.setting, error.problem, ExitCode.unreadableFile);
    }
    if (error instanceof UsageError) return usage(error.message, error.flag, error.problem);
    if (error instanceof ConfigError) return usage(error.message, error.setting, error.problem);
    if (error instanceof UnavailableError) {
      deps.stderr.write(`smtp-probe: ${error.message}\n`);
      await printStatus((s) => s.unavailableStatus(error.message));
      return ExitCode.environment;
    }
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; `smtp-probe` alone shows the help on stderr.
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return ExitCode.ok;
      if (error.code === "commander.help") return ExitCode.usage;
      const message = commanderMessage(error, argv[0]);
      const flag = /^(-{0,2}[\w-]+): /.exec(message)?.[1];
      return usage(message, flag, flag === undefined ? undefined : message.slice(flag.length + 2));
    }
    // A bug: main.ts prints it and exits 70; a script reading stdout still gets its document.
    await printStatus((s) => s.internalStatus(`internal error in smtp-probe: ${String(error)}`));
    throw error;
  }
}

/** The commands whose help a usage message points at. */
const COMMANDS = new Set(["check", "domain", "batch", "monitor", "regions", "coordinator", "agent"]);
/** --json among the options (not after "--", where it would be an argument). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).includes("--json");
}

/**
 * commander's message as "flag: problem" on one line, like our own, with a pointer to the help.
 * Its wording is kept where we have nothing better (suggestions such as "Did you mean --port?").
 */
export function commanderMessage(error: Pick<CommanderError, "code" | "message">, command = "check"): string {
  const text = error.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim();
  const help = `(see smtp-probe ${COMMANDS.has(command) ? command : "check"} --help)`;
  const flag = /'(?:-\w, )?(--?[\w-]+)[^']*'/.exec(text)?.[1];
  switch (error.code) {
    case "commander.unknownOption":
      return `${flag ?? "option"}: unknown option${suffix(text)} ${help}`;
    case "commander.optionMissingArgument":
      return `${flag ?? "option"}: needs a value ${help}`;
    case "commander.missingArgument":
      return `${/'([^']+)'/.exec(text)?.[1] ?? "argument"}: missing ${help}`;
    case "commander.excessArguments":
      return `host: one host per check, got ${/got (\d+)/.exec(text)?.[1] ?? "more"} arguments ${help}`;
    case "commander.unknownCommand":
      return `${text} (see smtp-probe --help)`;
    default:
      return `${text} ${help}`;
  }
}

/** What commander said after the quoted flag, e.g. " (Did you mean --port?)". */
function suffix(text: string): string {
  const rest = text.slice(text.lastIndexOf("'") + 1).trim();
  return rest ? ` ${rest}` : "";
}

/** --token, --coordinator-ca, --client-cert, --client-key: how the CLI proves who it is to a coordinator. */
function addCredentialFlags(command: Command): Command {
  return command
    .option("--token <token>", `with a coordinator: bearer token sent as "authorization: Bearer ..." (env ${TOKEN_ENV}); never printed`)
    .option("--coordinator-ca <file>", "with a coordinator: connect with TLS, trusting the CA certificates (PEM) in this file")
    .option("--client-cert <file>", "with a coordinator: TLS client certificate (PEM) for mutual TLS; needs --client-key")
    .option("--client-key <file>", "with a coordinator: the private key (PEM) of --client-cert");
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
    .showSuggestionAfterError(true)
    .addHelpText("after", PROGRAM_HELP);

  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

  const check = program
    .command("check")
    .description(
      "probe a mail server: resolve, connect, banner, EHLO, STARTTLS, TLS, EHLO, QUIT; from this machine, or with --coordinator from the coordinator's regions",
    )
    .argument("<host>", "host name, IP address or [IPv6]; with --mx a mail domain")
    .addOption(new Option("-p, --port <ports>", "ports, comma-separated or repeated (default: 25)").argParser(collect))
    .option("--mx", "probe the domain's MX exchangers (in preference order) instead of the host itself")
    .option("--tls <mode>", "auto | require | implicit | none (default: auto, implicit on 465)")
    .addOption(
      new Option("--port-role <port=role>", "what a port is for, e.g. 2525=relay: relay | submission | implicit-submission, comma-separated or repeated (default: by port, see below)").argParser(collect),
    )
    .option("--ehlo <name>", "name to send in EHLO/HELO (default: this machine's name)")
    .option("--sni <name>", "server name for TLS SNI and the certificate check (default: the host name)")
    .option("-4, --ipv4", "IPv4 addresses only")
    .option("-6, --ipv6", "IPv6 addresses only")
    .option("--timeout <duration>", "deadline for the whole probe of a port: seconds, or 500ms, 10s, 1m (default: 60)")
    .option("--max-exchangers <n>", "with --mx: how many exchangers to probe, in preference order, 1-10 (default: 3)")
    .option("--max-addresses <n>", "how many addresses of each name to probe, IPv4 and IPv6 taken in turn, 1-8 (default: 2)")
    .addOption(new Option("--dns-server <ip[:port]>", "DNS server to resolve with, repeatable (default: the system's)").argParser(collect))
    .option("--ca-file <path>", "PEM file of extra CA certificates to trust")
    .addOption(new Option("--allow-name <name>", "probe this special-use name all the same (localhost, *.local, *.internal, ...), repeatable").argParser(collect))
    .option("--transcript", "show the timed transcript of every handshake")
    .option("--tls-scan", "also scan each port's TLS: versions, cipher suites graded, groups, cipher order (up to 48 more connections per address)")
    .option("--policy-domain <domain>", "judge a host (probed without --mx) as an exchanger of this mail domain: its MTA-STS policy and TLS-RPT record")
    .option("--starttls-enforcement", "also check on a plaintext session whether the server demands STARTTLS before MAIL (one more connection per address; never RCPT or DATA)")
    .option("--posture", "also read each address's reverse DNS (PTR, forward-confirmed, against the banner's and EHLO's names) and DNS blocklist listings; only DNS is asked")
    .addOption(new Option("--dnsbl <zones>", "with --posture: the blocklist zones, comma-separated or repeated, at most 8 (default: zen.spamhaus.org, bl.spamcop.net, b.barracudacentral.org)").argParser(collect))
    .option("--no-dnsbl", "with --posture: look up no blocklist")
    .option("--json", "print the ProbeReport as JSON (the protobuf JSON form; locally one region, local), nothing else on stdout; a failure prints a google.rpc.Status")
    .option("--no-color", "no colour, even on a terminal")
    .option("--coordinator <host[:port]>", `probe through this coordinator, from its regions (env ${COORDINATOR_ENV})`)
    .addOption(new Option("--regions <names>", "with a coordinator: the regions to probe from, comma-separated or repeated (default: every region with a live agent)").argParser(collect))
    .option("--local", `probe from this machine even when ${COORDINATOR_ENV} is set`);
  addCredentialFlags(check)
    .addHelpText("after", checkHelp)
    .action(async (host: string, flags: CheckFlags & CredentialFlags) => {
      const mode = chooseCheckMode(flags, deps.envCoordinator);
      if (mode.kind === "remote") {
        const { parseRemoteCheckArgs } = await import("./remote-check-args.js");
        const request = parseRemoteCheckArgs(host, flags, mode.coordinator);
        request.credentials = await loadCoordinatorCredentials(flags, deps.envToken, deps.readFile);
        const { runRemoteCheck } = await import("./remote-check.js");
        setExitCode(await runRemoteCheck(request, deps));
        return;
      }
      refuseCredentialFlagsLocally(flags);
      const request = parseCheckArgs(host, flags, { ehloName: deps.defaultEhloName });
      const { runCheck } = await import("./check-command.js");
      setExitCode(await runCheck(request, deps));
    });

  const domainCommand = program
    .command("domain")
    .description("check a mail domain's published posture from this machine: MX and its provider, SPF with its include tree and lookup counts, DMARC, DKIM keys; only DNS is asked")
    .argument("<domain>", "the mail domain (IDN allowed)")
    .addOption(new Option("--dkim-selector <selectors>", "DKIM selectors to look up, comma-separated or repeated (at most 16)").argParser(collect))
    .option("--common-dkim-selectors", "also try a short fixed list of common DKIM selectors (default, selector1, google, ...)")
    .addOption(new Option("--dns-server <ip[:port]>", "DNS server to resolve with, repeatable (default: the system's)").argParser(collect))
    .addOption(new Option("--dnsbl <zones>", "DNS blocklist zones to look the exchangers' addresses up in, comma-separated or repeated, at most 8 (default: zen.spamhaus.org, bl.spamcop.net, b.barracudacentral.org)").argParser(collect))
    .option("--no-dnsbl", "look up no blocklist")
    .option("--timeout <duration>", "deadline for the whole check: seconds, or 500ms, 10s, 1m (default: 30)")
    .option("--json", "print the DomainCheckReport as JSON (the protobuf JSON form; locally one posture, region local), nothing else on stdout")
    .option("--no-color", "no colour, even on a terminal")
    .option("--coordinator <host[:port]>", `check from the coordinator's regions, each with its agents' resolvers (env ${COORDINATOR_ENV})`)
    .addOption(new Option("--regions <names>", "with a coordinator: the regions to check from, comma-separated or repeated (default: every region with a live agent)").argParser(collect))
    .option("--local", `check from this machine even when ${COORDINATOR_ENV} is set`);
  addCredentialFlags(domainCommand)
    .addHelpText("after", DOMAIN_HELP)
    .action(async (domain: string, flags: DomainFlags & CredentialFlags & { coordinator?: string; regions?: string[]; local?: boolean }) => {
      const { parseDomainArgs } = await import("./domain-args.js");
      const mode = chooseCheckMode(flags, deps.envCoordinator);
      if (mode.kind === "remote") {
        if (flags.dnsServer !== undefined) throw new UsageError("--dns-server", "local only: with a coordinator each region's agents use their own resolvers");
        const request = parseDomainArgs(domain, flags);
        const regions = [...new Set((flags.regions ?? []).flatMap((v) => v.split(",")).map((r) => r.trim()).filter((r) => r !== ""))];
        const credentials = await loadCoordinatorCredentials(flags, deps.envToken, deps.readFile);
        const { runRemoteDomainCheck } = await import("./remote-domain.js");
        setExitCode(await runRemoteDomainCheck({ ...request, coordinator: mode.coordinator, credentials, regions }, deps));
        return;
      }
      refuseCredentialFlagsLocally(flags);
      const request = parseDomainArgs(domain, flags);
      const { runDomainCheck } = await import("./domain-command.js");
      setExitCode(await runDomainCheck(request, deps));
    });

  const regions = program
    .command("regions")
    .description("list a coordinator's regions and their live agents: version, load, last seen, egress per port")
    .option("--coordinator <host[:port]>", `the coordinator to ask (env ${COORDINATOR_ENV})`)
    .option("--json", "print the ListRegionsResponse as JSON (the protobuf JSON form), nothing else on stdout; a failure prints a google.rpc.Status")
    .option("--no-color", "no colour, even on a terminal");
  addCredentialFlags(regions)
    .addHelpText("after", regionsHelp)
    .action(async (flags: { coordinator?: string; json?: boolean; color?: boolean } & CredentialFlags) => {
      const given = flags.coordinator ?? (deps.envCoordinator?.trim() ? deps.envCoordinator : undefined);
      if (given === undefined) throw new UsageError("--coordinator", `needed: the coordinator to ask, HOST[:PORT] (or set ${COORDINATOR_ENV})`);
      const coordinator = parseCoordinatorAddress(given, flags.coordinator === undefined ? COORDINATOR_ENV : "--coordinator");
      const credentials = await loadCoordinatorCredentials(flags, deps.envToken, deps.readFile);
      const { runRegions } = await import("./regions-command.js");
      setExitCode(await runRegions({ coordinator, json: flags.json ?? false, colorAllowed: flags.color ?? true, credentials }, deps));
    });

  const batch = program
    .command("batch")
    .description("probe many mail servers through a coordinator: a batch of FILE's targets, watched as each report lands (or --resume one)")
    .argument("[file]", "the targets, one per line: host, or host,port[,port...]; # comments")
    .option("--coordinator <host[:port]>", `the coordinator (env ${COORDINATOR_ENV})`)
    .option("--port <ports>", "ports for the targets that name none, comma-separated (default 25)")
    .addOption(new Option("--regions <names>", "the regions to probe from, comma-separated or repeated (default: every region with a live agent)").argParser(collect))
    .option("--tls <mode>", "TLS mode of every item: auto, require, implicit, none")
    .option("--resume <batch-id>", "watch a batch created before instead of creating one")
    .option("--after <sequence>", "with --resume: only the items after this sequence (printed when a watch stopped)")
    .option("--json", "one BatchItemReport per line on stdout (the protobuf JSON form)");
  addCredentialFlags(batch)
    .addHelpText("after", BATCH_HELP)
    .action(async (file: string | undefined, flags: BatchFlags & { coordinator?: string } & CredentialFlags) => {
      const given = flags.coordinator ?? (deps.envCoordinator?.trim() ? deps.envCoordinator : undefined);
      if (given === undefined) throw new UsageError("--coordinator", `needed: batches run on a coordinator, HOST[:PORT] (or set ${COORDINATOR_ENV})`);
      const coordinator = parseCoordinatorAddress(given, flags.coordinator === undefined ? COORDINATOR_ENV : "--coordinator");
      const plan = planBatch(file, flags);
      const credentials = await loadCoordinatorCredentials(flags, deps.envToken, deps.readFile);
      const targets = plan.kind === "create" ? parseBatchFile(await readTargetsFile(plan.file, deps.readFile), plan.file) : undefined;
      const { runBatch } = await import("./batch-command.js");
      setExitCode(
        await runBatch(
          {
            coordinator,
            credentials,
            json: flags.json ?? false,
            ...(plan.kind === "create" ? { targets, options: plan.options } : { resume: { batchId: plan.batchId, after: plan.after } }),
          },
          deps,
        ),
      );
    });

  const monitor = program
    .command("monitor")
    .description("probes repeated at an interval on the coordinators: create, list, get, delete a monitor, or watch its runs")
    .addHelpText("after", MONITOR_HELP);
  type MonitorCommonFlags = { coordinator?: string; json?: boolean } & CredentialFlags;
  const monitorSubcommand = (name: string, description: string, json: string): Command =>
    addCredentialFlags(monitor.command(name).description(description).option("--coordinator <host[:port]>", `the coordinator (env ${COORDINATOR_ENV})`).option("--json", json));
  const runMonitorAction = async (flags: MonitorCommonFlags, action: () => Promise<import("./monitor-command.js").MonitorAction>): Promise<void> => {
    const given = flags.coordinator ?? (deps.envCoordinator?.trim() ? deps.envCoordinator : undefined);
    if (given === undefined) throw new UsageError("--coordinator", `needed: monitors run on a coordinator, HOST[:PORT] (or set ${COORDINATOR_ENV})`);
    const coordinator = parseCoordinatorAddress(given, flags.coordinator === undefined ? COORDINATOR_ENV : "--coordinator");
    const planned = await action();
    const credentials = await loadCoordinatorCredentials(flags, deps.envToken, deps.readFile);
    const { runMonitor } = await import("./monitor-command.js");
    setExitCode(await runMonitor({ coordinator, credentials, action: planned, json: flags.json ?? false }, deps));
  };
  monitorSubcommand("create", "create a monitor of HOST, probed every --interval", "print the Monitor as JSON (the protobuf JSON form)")
    .argument("[host]", "the mail server to probe at each run")
    .option("--interval <duration>", "how often: seconds, or with s, m, h, d (300, 5m, 1h); at least the coordinator's --monitor-min-interval")
    .option("--port <ports>", "ports, comma-separated (default 25)")
    .addOption(new Option("--regions <names>", "the regions to probe from, comma-separated or repeated (default: every region with a live agent)").argParser(collect))
    .option("--tls <mode>", "TLS mode: auto, require, implicit, none")
    .option("--webhook-url <url>", "POST each run that changed a verdict or a region's fact here, signed with the key in SMTP_PROBE_WEBHOOK_SECRET")
    .action(async (host: string | undefined, flags: MonitorCommonFlags & import("./monitor-args.js").MonitorCreateFlags) => {
      await runMonitorAction(flags, async () => {
        const { planMonitorCreate } = await import("./monitor-args.js");
        return { kind: "create", request: planMonitorCreate(host ?? "", flags, deps.env) };
      });
    });
  monitorSubcommand("list", "list your monitors", "one Monitor per line as JSON (the protobuf JSON form)").action(async (flags: MonitorCommonFlags) => {
    await runMonitorAction(flags, () => Promise.resolve({ kind: "list" }));
  });
  for (const kind of ["get", "delete"] as const) {
    monitorSubcommand(kind, kind === "get" ? "show a monitor" : "delete a monitor: no run after this", "print the Monitor as JSON (the protobuf JSON form)")
      .argument("[monitor-id]", "the monitor's id")
      .action(async (id: string | undefined, flags: MonitorCommonFlags) => {
        await runMonitorAction(flags, async () => ({ kind, monitorId: (await import("./monitor-args.js")).checkMonitorId(id) }));
      });
  }
  monitorSubcommand("watch", "print each run of a monitor as it ends, until --count runs or Ctrl-C", "one MonitorEvent per line as JSON (the protobuf JSON form)")
    .argument("[monitor-id]", "the monitor's id")
    .option("--changes-only", "only the runs that changed a verdict or a region's fact")
    .option("--count <n>", "end after this many runs")
    .option("--after <run>", "first the kept runs after this one (the last a watch printed), then new ones")
    .option("--from-oldest", "first every kept run (a week), then new ones")
    .action(async (id: string | undefined, flags: MonitorCommonFlags & { changesOnly?: boolean; count?: string; after?: string; fromOldest?: boolean }) => {
      await runMonitorAction(flags, async () => {
        const args = await import("./monitor-args.js");
        return { kind: "watch", monitorId: args.checkMonitorId(id), changesOnly: flags.changesOnly ?? false, count: args.parseRunCount(flags.count), ...args.watchStartOf(flags) };
      });
    });

  // The long-running processes: each reads its settings (flags, then SMTP_PROBE_* variables).
  const processDeps = { version: deps.version, env: deps.env, shutdown: deps.signal };
  // Made apart, so they inherit nothing: they get the program's output (the injected streams).
  program.addCommand(coordinatorCommand(processDeps).configureOutput(program.configureOutput()).exitOverride());
  program.addCommand(agentCommand(processDeps).configureOutput(program.configureOutput()).exitOverride());

  return program;
}

/** FILE read; a file that cannot be read is a usage error naming it. */
async function readTargetsFile(file: string, readFile: (path: string) => Promise<string>): Promise<string> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new UsageError("FILE", `cannot read ${file}: ${code}`);
  }
}
