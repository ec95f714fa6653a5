import { hostname } from "node:os";
import { isIP } from "node:net";
import { AddressFamily, PortRole, TlsMode, type ProbeOptions } from "../../gen/smtpprobe/v1/handshake.js";

/** The options of one probe with every default filled in. */
export interface ResolvedOptions {
  tlsMode: TlsMode;
  /** What the port is for: it decides the findings' severity and advice (findings.ts). */
  portRole: PortRole;
  /** Empty: the address literal of the connection's local address (RFC 5321 §4.1.4). */
  ehloName: string;
  /** Empty: the target host name, none for an IP literal. */
  sni: string;
  addressFamily: AddressFamily;
  maxExchangers: number;
  maxAddresses: number;
  connectMs: number;
  bannerMs: number;
  commandMs: number;
  tlsMs: number;
  deadlineMs: number;
  maxLineOctets: number;
  maxReplyLines: number;
  maxTranscriptBytes: number;
  /** Scan the port's TLS profile after the handshake (tls-scan/run-tls-scan.ts). */
  tlsScan: boolean;
  /** Check whether the server demands STARTTLS before MAIL (starttls-enforcement.ts). */
  checkStarttlsEnforcement: boolean;
  /** The mail domain whose MTA-STS and TLS-RPT judge a host probed without MX; empty: none (mail-policy.ts). */
  policyDomain: string;
}

export const DEFAULTS = {
  maxExchangers: 3,
  maxAddresses: 2,
  connectMs: 10_000,
  // RFC 5321 §4.5.3.2.1 lets a client wait 5 minutes for a greeting; a probe reports slowness
  // instead (the banner_slow finding) and gives up sooner.
  bannerMs: 30_000,
  commandMs: 15_000,
  tlsMs: 10_000,
  deadlineMs: 60_000,
  maxLineOctets: 8192,
  maxReplyLines: 200,
  maxTranscriptBytes: 256 * 1024,
} as const;

/** Upper bounds a caller may ask for: a probe is never unbounded. */
export const MAXIMUMS = {
  maxExchangers: 10,
  maxAddresses: 8,
  timeoutMs: 300_000,
  maxLineOctets: 65_536,
  maxReplyLines: 1000,
  maxTranscriptBytes: 4 * 1024 * 1024,
} as const;

export interface OptionViolation {
  /** The proto field path, e.g. "ehlo_name" or "timeouts.connect_ms". */
  field: string;
  message: string;
}

export class InvalidOptionsError extends Error {
  override readonly name = "InvalidOptionsError";
  constructor(readonly violations: OptionViolation[]) {
    super(violations.map((v) => `${v.field}: ${v.message}`).join("; "));
  }
}

/** The TLS mode a port gets when none is asked for: implicit TLS on 465 (RFC 8314), else auto. */
export function defaultTlsMode(port: number): TlsMode {
  return port === 465 ? TlsMode.TLS_MODE_IMPLICIT : TlsMode.TLS_MODE_AUTO;
}

/**
 * The role a port has when none is asked for: 25 is where MX relays receive mail (RFC 5321), 465
 * is submission over implicit TLS (RFC 8314), and 587, 2525 and any other port are taken as
 * submission with STARTTLS (RFC 6409), so a relay elsewhere must be said to be one.
 */
export function defaultPortRole(port: number): PortRole {
  if (port === 25) return PortRole.PORT_ROLE_MX_RELAY;
  if (port === 465) return PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION;
  return PortRole.PORT_ROLE_SUBMISSION;
}

/** LDH labels separated by dots, an optional final dot (RFC 1123 §2.1). */
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/** Problems with an EHLO name, or undefined when it is usable (RFC 5321 §4.1.1.1, §2.3.5). */
export function checkEhloName(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > 255) return "must be at most 255 characters";
  if (/[\r\n]/.test(name)) return "must not contain CR or LF";
  if (/[\s\x00-\x1f\x7f]/.test(name)) return "must not contain spaces or control characters";
  if (name.startsWith("[")) {
    const inner = name.slice(1, -1).replace(/^IPv6:/i, "");
    if (!name.endsWith("]") || isIP(inner) === 0) return "address literal must look like [192.0.2.1] or [IPv6:2001:db8::1]";
    return undefined;
  }
  if (!HOST_NAME.test(name)) {
    return "must be a domain name or an address literal";
  }
  return undefined;
}

/** Problems with an SNI name, or undefined (RFC 6066 §3: a DNS host name, no IP literal). */
export function checkSni(name: string): string | undefined {
  if (name.length > 253) return "must be at most 253 characters";
  if (isIP(name) !== 0) return "must be a host name, not an IP address (RFC 6066 §3)";
  if (!HOST_NAME.test(name)) {
    return "must be a DNS host name";
  }
  return undefined;
}

/**
 * The machine's name for EHLO when none is configured: its host name when that is a fully
 * qualified domain name, else empty, and the handshake then uses an address literal of its own
 * address, as RFC 5321 §4.1.4 asks of a client without a domain name (many servers refuse a
 * bare "localhost" or a single label).
 */
export function machineEhloName(): string {
  const name = hostname();
  return name.includes(".") && checkEhloName(name) === undefined ? name : "";
}

/** An address literal for EHLO (RFC 5321 §4.1.3). */
export function addressLiteral(address: string): string {
  return isIP(address) === 6 ? `[IPv6:${address}]` : `[${address}]`;
}

/**
 * Fills in defaults and checks bounds. `port` picks the default TLS mode and port role. Throws
 * InvalidOptionsError listing every problem, each with its field.
 */
export function resolveOptions(
  options: ProbeOptions | undefined,
  port: number,
  defaultEhloName: string = machineEhloName(),
): ResolvedOptions {
  const violations: OptionViolation[] = [];
  const o = options;
  const ehloName = o?.ehloName || defaultEhloName;
  const ehloProblem = ehloName === "" ? undefined : checkEhloName(ehloName);
  if (ehloProblem) violations.push({ field: "ehlo_name", message: ehloProblem });
  const sni = o?.sni ?? "";
  const sniProblem = sni === "" ? undefined : checkSni(sni);
  if (sniProblem) violations.push({ field: "sni", message: sniProblem });
  const policyDomain = (o?.policyDomain ?? "").toLowerCase().replace(/\.$/, "");
  const policyDomainProblem = policyDomain === "" ? undefined : checkSni(policyDomain)?.replace("(RFC 6066 §3)", "").replace("host name", "mail domain").trim();
  if (policyDomainProblem) violations.push({ field: "policy_domain", message: policyDomainProblem });
  // ts-proto's UNRECOGNIZED (-1) is "in" the enum object: check against the real values.
  if (o?.tlsMode && !isKnown(TlsMode, o.tlsMode)) violations.push({ field: "tls_mode", message: "unknown TLS mode" });
  if (o?.addressFamily && !isKnown(AddressFamily, o.addressFamily)) violations.push({ field: "address_family", message: "unknown address family" });
  if (o?.portRole && !isKnown(PortRole, o.portRole)) violations.push({ field: "port_role", message: "unknown port role" });

  const bounded = (field: string, value: number | undefined, fallback: number, max: number): number => {
    if (!value) return fallback;
    if (!Number.isInteger(value) || value < 0 || value > max) {
      violations.push({ field, message: `must be between 1 and ${max}` });
      return fallback;
    }
    return value;
  };
  const t = o?.timeouts;
  const l = o?.limits;
  const resolved: ResolvedOptions = {
    tlsMode: o?.tlsMode || defaultTlsMode(port),
    portRole: o?.portRole || defaultPortRole(port),
    ehloName,
    sni,
    addressFamily: o?.addressFamily || AddressFamily.ADDRESS_FAMILY_BOTH,
    maxExchangers: bounded("max_exchangers", o?.maxExchangers, DEFAULTS.maxExchangers, MAXIMUMS.maxExchangers),
    maxAddresses: bounded("max_addresses", o?.maxAddresses, DEFAULTS.maxAddresses, MAXIMUMS.maxAddresses),
    connectMs: bounded("timeouts.connect_ms", t?.connectMs, DEFAULTS.connectMs, MAXIMUMS.timeoutMs),
    bannerMs: bounded("timeouts.banner_ms", t?.bannerMs, DEFAULTS.bannerMs, MAXIMUMS.timeoutMs),
    commandMs: bounded("timeouts.command_ms", t?.commandMs, DEFAULTS.commandMs, MAXIMUMS.timeoutMs),
    tlsMs: bounded("timeouts.tls_ms", t?.tlsMs, DEFAULTS.tlsMs, MAXIMUMS.timeoutMs),
    deadlineMs: bounded("timeouts.deadline_ms", t?.deadlineMs, DEFAULTS.deadlineMs, MAXIMUMS.timeoutMs),
    maxLineOctets: bounded("limits.max_line_octets", l?.maxLineOctets, DEFAULTS.maxLineOctets, MAXIMUMS.maxLineOctets),
    maxReplyLines: bounded("limits.max_reply_lines", l?.maxReplyLines, DEFAULTS.maxReplyLines, MAXIMUMS.maxReplyLines),
    maxTranscriptBytes: bounded(
      "limits.max_transcript_bytes",
      l?.maxTranscriptBytes,
      DEFAULTS.maxTranscriptBytes,
      MAXIMUMS.maxTranscriptBytes,
    ),
    tlsScan: o?.tlsScan ?? false,
    checkStarttlsEnforcement: o?.checkStarttlsEnforcement ?? false,
    policyDomain,
  };
  if (resolved.maxLineOctets < 512 && l?.maxLineOctets) {
    // RFC 5321 §4.5.3.1.5: 512 octets is the limit every server may use; less would abort on valid replies.
    violations.push({ field: "limits.max_line_octets", message: "must be at least 512 (RFC 5321 §4.5.3.1.5)" });
  }
  if (violations.length > 0) throw new InvalidOptionsError(violations);
  return resolved;
}

function isKnown(enumObject: Record<string, string | number>, value: number): boolean {
  return value > 0 && typeof enumObject[value] === "string";
}
