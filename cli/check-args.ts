// Turns what the command line said for `check` into a request the engine can run, or a UsageError
// naming the flag. Pure: no I/O, no environment; the machine's EHLO name is passed in.
import { domainToASCII } from "node:url";
import { parseHostName } from "../lib/host-name.js";
import { parseDnsServerAddress } from "../lib/config-schemas.js";
import { AddressFamily, PortRole, TlsMode, type ProbeOptions } from "../gen/smtpprobe/v1/handshake.js";
import { checkEhloName, checkSni, InvalidOptionsError, MAXIMUMS, resolveOptions, type ResolvedOptions } from "../agents/smtp/options.js";
import { UsageError } from "./usage-error.js";

/** The option values as commander hands them over: strings, string lists and booleans. */
export interface CheckFlags {
  port?: string[];
  /** "PORT=ROLE" items, comma list and/or repeated. */
  portRole?: string[];
  mx?: boolean;
  tls?: string;
  ehlo?: string;
  sni?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  timeout?: string;
  /** With --mx: how many exchangers to probe (ProbeOptions.max_exchangers). */
  maxExchangers?: string;
  /** How many addresses of each name to probe (ProbeOptions.max_addresses). */
  maxAddresses?: string;
  dnsServer?: string[];
  caFile?: string;
  /** Special-use names allowed all the same (local mode only): repeated and/or comma lists. */
  allowName?: string[];
  transcript?: boolean;
  /** Scan each port's TLS profile (ProbeOptions.tls_scan). */
  tlsScan?: boolean;
  policyDomain?: string;
  /** Check whether each port demands STARTTLS before mail (ProbeOptions.check_starttls_enforcement). */
  starttlsEnforcement?: boolean;
  json?: boolean;
  /** false with --no-color; commander's default is true. */
  color?: boolean;
  /** Probe through this coordinator (remote-check-args.ts); SMTP_PROBE_COORDINATOR otherwise. */
  coordinator?: string;
  /** With a coordinator: the regions to probe from, comma list and/or repeated. */
  regions?: string[];
  /** Run locally even when SMTP_PROBE_COORDINATOR is set. */
  local?: boolean;
}

export interface CheckRequest {
  /** The host in ASCII (IDN converted, brackets removed), as the engine gets it. */
  host: string;
  isIpLiteral: boolean;
  mx: boolean;
  /** One entry per port, in the order given, each with its options resolved (TLS mode and role default per port). */
  targets: { port: number; options: ResolvedOptions }[];
  /** The options as the flags gave them (0 and empty: the engine's defaults), for the report's request. */
  options: ProbeOptions;
  /** For node:dns setServers: "ip", "ip:port" or "[ipv6]:port". */
  dnsServers: string[];
  caFile: string | undefined;
  /** Special-use names the local policy allows all the same (--allow-name), lower-case A-labels. */
  allowNames: string[];
  transcript: boolean;
  json: boolean;
  /** false when --no-color was given; colour is otherwise decided by the terminal and environment. */
  colorAllowed: boolean;
}

export const DEFAULT_PORT = 25;
/** More ports than this in one run is a typo or a port scan, not a mail-server check. */
export const MAX_PORTS = 16;
export const MAX_DNS_SERVERS = 8;

/** The roles --port-role takes, by the name a person types. */
export const PORT_ROLES: Readonly<Record<string, PortRole>> = {
  relay: PortRole.PORT_ROLE_MX_RELAY,
  submission: PortRole.PORT_ROLE_SUBMISSION,
  "implicit-submission": PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION,
};

const TLS_MODES: Readonly<Record<string, TlsMode>> = {
  auto: TlsMode.TLS_MODE_AUTO,
  require: TlsMode.TLS_MODE_REQUIRE,
  implicit: TlsMode.TLS_MODE_IMPLICIT,
  none: TlsMode.TLS_MODE_NONE,
};

/** Which flag a violation reported by the engine's option check belongs to. */
const FIELD_FLAGS: Readonly<Record<string, string>> = {
  ehlo_name: "--ehlo",
  sni: "--sni",
  policy_domain: "--policy-domain",
  tls_mode: "--tls",
  address_family: "--ipv4/--ipv6",
  "timeouts.deadline_ms": "--timeout",
  max_exchangers: "--max-exchangers",
  max_addresses: "--max-addresses",
};

export function parseCheckArgs(hostArg: string, flags: CheckFlags, defaults: { ehloName: string }): CheckRequest {
  const { host, isIpLiteral } = parseHost(hostArg);
  const ports = parsePorts(flags.port ?? []);
  const portRoles = parsePortRoles(flags.portRole ?? []);
  for (const port of portRoles.keys()) {
    if (!ports.includes(port)) throw new UsageError("--port-role", `port ${port} is not among the ports of the check (${ports.join(", ")}); add it with --port`);
  }
  const mx = flags.mx ?? false;
  if (mx && isIpLiteral) throw new UsageError("--mx", `needs a mail domain, and ${quote(hostArg)} is an IP address`);
  if (flags.ipv4 && flags.ipv6) {
    throw new UsageError("--ipv4/--ipv6", "choose one of them, or neither to probe both address families");
  }
  const probeOptions: ProbeOptions = {
    tlsMode: flags.tls === undefined ? TlsMode.TLS_MODE_UNSPECIFIED : parseTlsMode(flags.tls),
    portRole: PortRole.PORT_ROLE_UNSPECIFIED,
    ehloName: flags.ehlo === undefined ? "" : parseEhloName(flags.ehlo),
    sni: flags.sni === undefined ? "" : parseSni(flags.sni),
    addressFamily: flags.ipv4
      ? AddressFamily.ADDRESS_FAMILY_IPV4
      : flags.ipv6
        ? AddressFamily.ADDRESS_FAMILY_IPV6
        : AddressFamily.ADDRESS_FAMILY_BOTH,
    ...parseLimitFlags(flags),
    timeouts: {
      connectMs: 0,
      bannerMs: 0,
      commandMs: 0,
      tlsMs: 0,
      deadlineMs: flags.timeout === undefined ? 0 : parseTimeout(flags.timeout),
    },
    limits: undefined,
    tlsScan: flags.tlsScan ?? false,
    checkStarttlsEnforcement: flags.starttlsEnforcement ?? false,
    policyDomain: flags.policyDomain === undefined ? "" : parsePolicyDomain(flags.policyDomain, mx, host),
  };
  const dnsServers = (flags.dnsServer ?? []).map(parseDnsServer);
  if (dnsServers.length > MAX_DNS_SERVERS) {
    throw new UsageError("--dns-server", `at most ${MAX_DNS_SERVERS} DNS servers, got ${dnsServers.length}`);
  }
  if (flags.caFile !== undefined && flags.caFile.trim() === "") throw new UsageError("--ca-file", "needs a file path");
  return {
    host,
    isIpLiteral,
    mx,
    targets: ports.map((port) => ({
      port,
      options: resolveFor({ ...probeOptions, portRole: portRoles.get(port) ?? PortRole.PORT_ROLE_UNSPECIFIED }, port, defaults.ehloName),
    })),
    options: probeOptions,
    dnsServers,
    caFile: flags.caFile,
    allowNames: (flags.allowName ?? []).flatMap((value) => value.split(",")).map(parseAllowName),
    transcript: flags.transcript ?? false,
    json: flags.json ?? false,
    colorAllowed: flags.color ?? true,
  };
}

/** The engine's own check has the last word; its violations are reported against our flags. */
function resolveFor(options: ProbeOptions, port: number, ehloName: string): ResolvedOptions {
  try {
    return resolveOptions(options, port, ehloName);
  } catch (error) {
    if (!(error instanceof InvalidOptionsError)) throw error;
    const [first] = error.violations;
    throw new UsageError(FIELD_FLAGS[first?.field ?? ""] ?? first?.field ?? "options", first?.message ?? error.message);
  }
}

/**
 * A host name (IDN allowed, converted to its A-label form), an IPv4 or IPv6 literal, or an
 * address in brackets. The syntax is shared with the coordinator (lib/host-name.ts).
 */
export function parseHost(input: string): { host: string; isIpLiteral: boolean } {
  const parsed = parseHostName(input);
  if (!parsed.ok) {
    const split = splitHostPort(input);
    const hint = split ? `: did you mean ${split.host} --port ${split.port}?` : "";
    throw new UsageError("host", input === "" ? parsed.problem : `${quote(input)} ${parsed.problem}${hint}`);
  }
  return { host: parsed.host, isIpLiteral: parsed.isIpLiteral };
}

/**
 * "127.0.0.1:2525", "mx.example.com:587", "[::1]:25": a host with a port, as swaks and many other
 * tools take it; here the port goes in --port. Undefined when the text is not HOST:PORT with a
 * host that parses on its own.
 */
export function splitHostPort(input: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(input.trim());
  if (!match) return undefined;
  const host = match[1] ?? match[2] ?? "";
  const port = Number(match[3]);
  if (!(port >= 1 && port <= 65535) || !parseHostName(host).ok) return undefined;
  return { host, port };
}

/**
 * "25,587" and repeated flags, each 1–65535; duplicates dropped, order kept; default 25; at most
 * `max` (the coordinator applies its own bound, so the remote mode passes Infinity).
 */
export function parsePorts(values: readonly string[], max: number = MAX_PORTS): number[] {
  if (values.length === 0) return [DEFAULT_PORT];
  const ports: number[] = [];
  for (const value of values) {
    for (const item of value.split(",")) {
      const text = item.trim();
      if (text === "") throw new UsageError("--port", `${quote(value)} has an empty item; write e.g. 25,587`);
      const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
      if (!(port >= 1 && port <= 65535)) throw new UsageError("--port", `${quote(text)} is not a port (1-65535)`);
      if (!ports.includes(port)) ports.push(port);
    }
  }
  if (ports.length > max) throw new UsageError("--port", `at most ${max} ports in one check, got ${ports.length}`);
  return ports;
}

/**
 * "2525=relay,587=submission" and repeated flags: what each port is for, which decides the
 * findings' severity and advice (a port without one has its default: relay on 25, implicit-TLS
 * submission on 465, submission elsewhere). A port given twice must get the same role.
 */
export function parsePortRoles(values: readonly string[]): Map<number, PortRole> {
  const roles = new Map<number, PortRole>();
  for (const value of values) {
    for (const item of value.split(",")) {
      const text = item.trim();
      if (text === "") throw new UsageError("--port-role", `${quote(value)} has an empty item; write e.g. 2525=relay,587=submission`);
      const match = /^(\d{1,5})\s*=\s*([A-Za-z-]+)$/.exec(text);
      if (!match) throw new UsageError("--port-role", `${quote(text)} is not PORT=ROLE (e.g. 2525=relay)`);
      const port = Number(match[1]);
      if (!(port >= 1 && port <= 65535)) throw new UsageError("--port-role", `${quote(match[1] ?? "")} is not a port (1-65535)`);
      const role = PORT_ROLES[(match[2] ?? "").toLowerCase()];
      if (role === undefined) throw new UsageError("--port-role", `${quote(match[2] ?? "")} is not a role (${Object.keys(PORT_ROLES).join(", ")})`);
      const before = roles.get(port);
      if (before !== undefined && before !== role) throw new UsageError("--port-role", `port ${port} is given two roles`);
      roles.set(port, role);
    }
  }
  return roles;
}

export function parseTlsMode(value: string): TlsMode {
  const mode = TLS_MODES[value.toLowerCase()];
  if (mode === undefined) throw new UsageError("--tls", `${quote(value)} is not a TLS mode (auto, require, implicit, none)`);
  return mode;
}

function parseEhloName(value: string): string {
  const problem = checkEhloName(value);
  if (problem) throw new UsageError("--ehlo", `${quote(value)} ${problem}`);
  return value;
}

function parseSni(value: string): string {
  // An internationalized name goes into SNI in its A-label form (RFC 6066 §3).
  const ascii = /^[\x00-\x7f]*$/.test(value) ? value : domainToASCII(value) || value;
  const problem = value === "" ? "must not be empty" : checkSni(ascii);
  if (problem) throw new UsageError("--sni", `${quote(value)} ${problem}`);
  return ascii.replace(/\.$/, "");
}

function parsePolicyDomain(value: string, mx: boolean, host: string): string {
  const ascii = (/^[\x00-\x7f]*$/.test(value) ? value : domainToASCII(value) || value).toLowerCase().replace(/\.$/, "");
  const problem = value === "" ? "must not be empty" : checkSni(ascii)?.replace(" (RFC 6066 §3)", "").replace("host name", "mail domain");
  if (problem) throw new UsageError("--policy-domain", `${quote(value)} ${problem}`);
  if (mx && ascii !== host.toLowerCase().replace(/\.$/, "")) throw new UsageError("--policy-domain", `with --mx the policy domain is the domain probed (${host}); leave --policy-domain out`);
  return ascii;
}

/**
 * The whole-probe deadline in ms: seconds by default ("10", "2.5"), or with a unit ("500ms",
 * "10s", "1m"). More than 0, at most the engine's maximum.
 */
export function parseTimeout(value: string): number {
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m)?$/i.exec(value.trim());
  if (!match) throw new UsageError("--timeout", `${quote(value)} is not a duration (e.g. 10, 2.5s, 500ms)`);
  const unit = (match[2] ?? "s").toLowerCase();
  const ms = Math.round(Number(match[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000));
  if (ms < 1) throw new UsageError("--timeout", `${quote(value)} must be at least 1 ms`);
  if (ms > MAXIMUMS.timeoutMs) throw new UsageError("--timeout", `${quote(value)} is more than the maximum of ${MAXIMUMS.timeoutMs / 1000} s`);
  return ms;
}

/** A special-use name to allow (--allow-name): a host name, never an address. */
function parseAllowName(value: string): string {
  const parsed = parseHostName(value.trim());
  if (!parsed.ok) throw new UsageError("--allow-name", `${quote(value)} ${parsed.problem}`);
  if (parsed.isIpLiteral) throw new UsageError("--allow-name", `${quote(value)} is an IP address; the local mode probes any address`);
  return parsed.host.toLowerCase();
}

/**
 * The limits a limit flag sets: its ProbeOptions field, its flag and its upper bound, the engine's
 * own (MAXIMUMS in agents/smtp/options.ts, which the coordinator's validation applies too), so the
 * CLI refuses exactly what the API refuses, in both modes.
 */
export const LIMIT_FLAGS = {
  maxExchangers: { flag: "--max-exchangers", max: MAXIMUMS.maxExchangers },
  maxAddresses: { flag: "--max-addresses", max: MAXIMUMS.maxAddresses },
} as const;

/** The flag that raises a ProbeOptions limit, by the name NotProbed.limit gives it. */
export const LIMIT_FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  max_exchangers: LIMIT_FLAGS.maxExchangers.flag,
  max_addresses: LIMIT_FLAGS.maxAddresses.flag,
};

/** --max-exchangers and --max-addresses as ProbeOptions fields; 0 (not given) is the engine's default. */
export function parseLimitFlags(flags: Pick<CheckFlags, "maxExchangers" | "maxAddresses">): { maxExchangers: number; maxAddresses: number } {
  return {
    maxExchangers: flags.maxExchangers === undefined ? 0 : parseLimit(flags.maxExchangers, LIMIT_FLAGS.maxExchangers),
    maxAddresses: flags.maxAddresses === undefined ? 0 : parseLimit(flags.maxAddresses, LIMIT_FLAGS.maxAddresses),
  };
}

function parseLimit(value: string, { flag, max }: { flag: string; max: number }): number {
  const text = value.trim();
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new UsageError(flag, `${quote(value)} is not a whole number from 1 to ${max}`);
  return n;
}

/** "IP" or "IP:PORT" ("[IPv6]:PORT" for IPv6 with a port), in the form node:dns setServers takes. */
export function parseDnsServer(value: string): string {
  const parsed = parseDnsServerAddress(value);
  if ("problem" in parsed) throw new UsageError("--dns-server", `${quote(value)} ${parsed.problem}`);
  return parsed.server;
}

/** A value the user typed, quoted for a one-line message: control characters escaped, cut at 80. */
export function quote(value: string): string {
  const escaped = value.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return `"${escaped.length > 80 ? `${escaped.slice(0, 80)}…` : escaped}"`;
}
