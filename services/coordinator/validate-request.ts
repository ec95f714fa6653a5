// Checks a ProbeRequest at the trust boundary and turns it into what the coordinator dispatches.
// Pure. Every problem is reported, each against its proto field path, in the shape of
// google.rpc.BadRequest.FieldViolation, so the gRPC layer maps the list to INVALID_ARGUMENT as is.
import { domainToASCII } from "node:url";
import { AddressFamily, PortRole, TlsMode, type ProbeOptions } from "../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../gen/smtpprobe/v1/probe_service.js";
import {
  defaultPortRole,
  defaultTlsMode,
  InvalidOptionsError,
  MAXIMUMS,
  resolveOptions,
  type ResolvedOptions,
} from "../../agents/smtp/options.js";
import { REGION_TOKEN } from "../../lib/bus.js";
import { isPort, MAX_HOST_NAME_LENGTH, parseHostName } from "../../lib/host-name.js";
import type { PolicyDenial } from "../../lib/policy/policy-types.js";
import { MIN_PROBE_DEADLINE_MS } from "./probe-deadline.js";

export interface FieldViolation {
  /** The proto field path: "host", "ports[2]", "options.timeouts.connect_ms", "tls_modes[587]", "port_roles[2525]". */
  field: string;
  description: string;
}

export interface RequestLimits {
  /** Default 8, as the contract says. */
  maxPorts?: number;
  /** Default 32. */
  maxRegions?: number;
  /** When given, a region outside it is refused; otherwise an unknown region becomes NO_AGENT. */
  knownRegions?: ReadonlySet<string> | readonly string[];
  /** The coordinator's bound on options.timeouts.deadline_ms; default (and at most) the engine's. */
  maxDeadlineMs?: number;
}

export const DEFAULT_REQUEST_LIMITS = {
  maxPorts: 8,
  maxRegions: 32,
  maxDeadlineMs: MAXIMUMS.timeoutMs,
} as const;

export const DEFAULT_PORTS: readonly number[] = [25];
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/** One port of the request with its final TLS mode and role, and the options a task for it carries. */
export interface NormalizedTarget {
  port: number;
  /** Final: never TLS_MODE_UNSPECIFIED (finalTlsMode). */
  tlsMode: TlsMode;
  /** Final: never PORT_ROLE_UNSPECIFIED (finalPortRole). */
  portRole: PortRole;
  /** `options` with this port's TLS mode and role: what each task for the port carries, as it is. */
  options: ProbeOptions;
}

export interface NormalizedRequest {
  /** Lower-case A-label form of a name (a final dot kept), or an IP literal without brackets. */
  host: string;
  isIpLiteral: boolean;
  mx: boolean;
  /** In the order given; [25] when none were. */
  ports: number[];
  /** As given; empty means every region with a live agent. */
  regions: string[];
  /** Complete: SNI in A-label form, the probe deadline filled in; tls_mode as the caller gave it. */
  options: ProbeOptions;
  /** Every port's final TLS mode (finalTlsMode), as the accepted request echoes it. */
  tlsModes: Record<number, TlsMode>;
  /** Every port's final role (finalPortRole), as the accepted request echoes it. */
  portRoles: Record<number, PortRole>;
  /** One per port, in order, each with its final TLS mode and role. */
  targets: NormalizedTarget[];
  /** The whole-probe deadline of each task, in ms. */
  deadlineMs: number;
  idempotencyKey: string;
  /** The request as accepted, defaults filled in (ProbeReport.request). */
  accepted: ProbeRequest;
}

export type ValidationResult =
  | { ok: true; value: NormalizedRequest }
  | { ok: false; violations: FieldViolation[] };

export function validateProbeRequest(request: ProbeRequest, limits: RequestLimits = {}): ValidationResult {
  const maxPorts = limits.maxPorts ?? DEFAULT_REQUEST_LIMITS.maxPorts;
  const maxRegions = limits.maxRegions ?? DEFAULT_REQUEST_LIMITS.maxRegions;
  const maxDeadlineMs = Math.min(limits.maxDeadlineMs ?? DEFAULT_REQUEST_LIMITS.maxDeadlineMs, MAXIMUMS.timeoutMs);
  const violations: FieldViolation[] = [];
  const violate = (field: string, description: string): void => {
    if (!violations.some((v) => v.field === field)) violations.push({ field, description });
  };

  const host = checkHost(request.host ?? "", violate);
  const mx = request.mx ?? false;
  if (mx && host?.isIpLiteral) violate("mx", `needs a mail domain, and ${host.host} is an IP address`);
  const ports = checkPorts(request.ports ?? [], maxPorts, violate);
  const portsKnown = (request.ports ?? []).length <= maxPorts;
  const regions = checkRegions(request.regions ?? [], maxRegions, limits.knownRegions, violate);
  const { options, resolved } = checkOptions(request.options, ports[0] ?? 25, maxDeadlineMs, violate);
  // With mx the domain probed is the policy domain; another one would judge its exchangers by a foreign policy.
  if (mx && resolved?.policyDomain && host && resolved.policyDomain !== host.host.toLowerCase().replace(/\.$/, "")) {
    violate("options.policy_domain", `must be empty or the mail domain itself with mx (${host.host}), got ${resolved.policyDomain}`);
  }
  if (resolved) options.policyDomain = resolved.policyDomain;
  checkPerPort("tls_modes", "a TLS mode", TlsMode, request.tlsModes ?? {}, portsKnown ? ports : undefined, violate);
  checkPerPort("port_roles", "a port role", PortRole, request.portRoles ?? {}, portsKnown ? ports : undefined, violate);
  const idempotencyKey = request.idempotencyKey ?? "";
  if (idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    violate("idempotency_key", `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${idempotencyKey.length}`);
  } else if (!/^[\x20-\x7e]*$/.test(idempotencyKey)) {
    violate("idempotency_key", "must be printable ASCII");
  }

  if (violations.length > 0 || host === undefined || resolved === undefined) return { ok: false, violations };
  const targets = ports.map((port) => {
    const tlsMode = finalTlsMode(port, request.tlsModes ?? {}, options.tlsMode);
    const portRole = finalPortRole(port, request.portRoles ?? {}, options.portRole);
    return { port, tlsMode, portRole, options: { ...options, tlsMode, portRole } };
  });
  const tlsModes: Record<number, TlsMode> = Object.fromEntries(targets.map((t) => [t.port, t.tlsMode]));
  const portRoles: Record<number, PortRole> = Object.fromEntries(targets.map((t) => [t.port, t.portRole]));
  const accepted = ProbeRequest.fromPartial({
    host: host.host,
    mx,
    ports,
    regions,
    options,
    tlsModes,
    idempotencyKey,
    portRoles,
  });
  return {
    ok: true,
    value: {
      host: host.host,
      isIpLiteral: host.isIpLiteral,
      mx,
      ports,
      regions,
      options,
      tlsModes,
      portRoles,
      targets,
      deadlineMs: resolved.deadlineMs,
      idempotencyKey,
      accepted,
    },
  };
}

/** The part of the target policy the coordinator can apply before resolution. */
export interface EarlyTargetPolicy {
  checkAddress(address: string): PolicyDenial | undefined;
  checkPort(port: number): PolicyDenial | undefined;
  /** The policy on a name (deny list, special-use names); absent: names are the agents' business only. */
  checkName?(name: string): PolicyDenial | undefined;
}

/**
 * What the target policy forbids before anything is dispatched, so the coordinator answers
 * PERMISSION_DENIED at once: an IP literal's address, a name the policy refuses by name (the
 * operator's deny list, a special-use name such as localhost), and every port. The addresses a name
 * resolves to are checked by the agents, in their region (docs/security.md). The denial comes with
 * the request field it concerns.
 */
export function checkTargetEarly(
  request: Pick<NormalizedRequest, "host" | "isIpLiteral" | "ports">,
  policy: EarlyTargetPolicy,
): (PolicyDenial & { field: string }) | undefined {
  // The name as given; the agents check the names they meet on the way (MX exchangers) too.
  const hostDenial = request.isIpLiteral ? policy.checkAddress(request.host) : policy.checkName?.(request.host);
  if (hostDenial !== undefined) return { field: "host", ...hostDenial };
  for (const [index, port] of request.ports.entries()) {
    const portDenial = policy.checkPort(port);
    if (portDenial !== undefined) return { field: `ports[${index}]`, ...portDenial };
  }
  return undefined;
}

type Violate = (field: string, description: string) => void;

/**
 * The host part of validateProbeRequest alone, with the same violations: for a caller that checks
 * many requests differing only in their host (a batch's targets) and the rest once.
 */
export function checkProbeHost(input: string): { ok: true; host: string; isIpLiteral: boolean } | { ok: false; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  const host = checkHost(input, (field, description) => violations.push({ field, description }));
  return host ? { ok: true, ...host } : { ok: false, violations };
}

function checkHost(input: string, violate: Violate): { host: string; isIpLiteral: boolean } | undefined {
  if (input === "") {
    violate("host", "is required");
    return undefined;
  }
  // Bounded before domainToASCII sees it; one more for a final dot, two for brackets.
  if (input.length > MAX_HOST_NAME_LENGTH + 2) {
    violate("host", `is longer than ${MAX_HOST_NAME_LENGTH} characters`);
    return undefined;
  }
  const parsed = parseHostName(input);
  if (!parsed.ok) {
    violate("host", `${quote(input)} ${parsed.problem}`);
    return undefined;
  }
  if (parsed.isIpLiteral && parsed.host.includes("%")) {
    // A zone id names an interface of one machine; it means nothing to an agent elsewhere.
    violate("host", `${quote(input)} has an IPv6 zone id; give the address without it`);
    return undefined;
  }
  return { host: parsed.host.toLowerCase(), isIpLiteral: parsed.isIpLiteral };
}

function checkPorts(given: readonly number[], maxPorts: number, violate: Violate): number[] {
  if (given.length === 0) return [...DEFAULT_PORTS];
  if (given.length > maxPorts) {
    violate("ports", `at most ${maxPorts} ports in one probe, got ${given.length}`);
    return [];
  }
  const ports: number[] = [];
  for (const [index, port] of given.entries()) {
    if (!isPort(port)) {
      violate(`ports[${index}]`, `${port} is not a port (1-65535)`);
    } else if (ports.includes(port)) {
      violate(`ports[${index}]`, `${port} is given twice (ports[${given.indexOf(port)}])`);
    } else {
      ports.push(port);
    }
  }
  return ports;
}

function checkRegions(
  given: readonly string[],
  maxRegions: number,
  known: ReadonlySet<string> | readonly string[] | undefined,
  violate: Violate,
): string[] {
  if (given.length > maxRegions) {
    violate("regions", `at most ${maxRegions} regions in one probe, got ${given.length}`);
    return [];
  }
  const knownSet = known === undefined ? undefined : new Set(known);
  const regions: string[] = [];
  for (const [index, region] of given.entries()) {
    const field = `regions[${index}]`;
    // A region goes into NATS subjects: the bus's subject-token rule (lower case, so that
    // "EU-West" and "eu-west" are not two regions).
    if (!REGION_TOKEN.test(region)) {
      violate(field, `${quote(region)} is not a region name (lower-case letters, digits and hyphens, at most 63, no dots)`);
    } else if (regions.includes(region)) {
      violate(field, `${quote(region)} is given twice (regions[${given.indexOf(region)}])`);
    } else if (knownSet !== undefined && !knownSet.has(region)) {
      violate(field, `${quote(region)} is not a known region (known: ${[...knownSet].sort().join(", ") || "none"})`);
    } else {
      regions.push(region);
    }
  }
  return regions;
}

/**
 * The engine's own check (resolveOptions) has the last word on options; its violations are
 * reported under `options.`. No default EHLO name is passed: the agent picks its own, and the
 * coordinator must not read its host name here.
 */
function checkOptions(
  given: ProbeOptions | undefined,
  port: number,
  maxDeadlineMs: number,
  violate: Violate,
): { options: ProbeOptions; resolved: ResolvedOptions | undefined } {
  const options: ProbeOptions = {
    tlsMode: TlsMode.TLS_MODE_UNSPECIFIED,
    ehloName: "",
    sni: "",
    addressFamily: AddressFamily.ADDRESS_FAMILY_UNSPECIFIED,
    maxExchangers: 0,
    maxAddresses: 0,
    portRole: PortRole.PORT_ROLE_UNSPECIFIED,
    tlsScan: false,
    checkStarttlsEnforcement: false,
    policyDomain: "",
    posture: undefined,
    ...given,
    timeouts: { connectMs: 0, bannerMs: 0, commandMs: 0, tlsMs: 0, deadlineMs: 0, ...given?.timeouts },
    limits: { maxLineOctets: 0, maxReplyLines: 0, maxTranscriptBytes: 0, ...given?.limits },
  };
  // An internationalized SNI name goes in its A-label form (RFC 6066 §3).
  if (/[^\x00-\x7f]/.test(options.sni)) options.sni = domainToASCII(options.sni) || options.sni;
  if (!isKnownEnumValue(TlsMode, options.tlsMode)) violate("options.tls_mode", "unknown TLS mode");
  if (!isKnownEnumValue(PortRole, options.portRole)) violate("options.port_role", "unknown port role");
  if (!isKnownEnumValue(AddressFamily, options.addressFamily)) violate("options.address_family", "unknown address family");
  let resolved: ResolvedOptions | undefined;
  try {
    resolved = resolveOptions(options, port, "");
  } catch (error) {
    if (!(error instanceof InvalidOptionsError)) throw error;
    for (const v of error.violations) violate(`options.${v.field}`, v.message);
  }
  const deadlineMs = options.timeouts?.deadlineMs ?? 0;
  if (deadlineMs > maxDeadlineMs) violate("options.timeouts.deadline_ms", `must be at most ${maxDeadlineMs} ms here, got ${deadlineMs}`);
  // 0 is the default; a shorter deadline could only end every task on it (probe-deadline.ts).
  if (deadlineMs > 0 && deadlineMs < MIN_PROBE_DEADLINE_MS) {
    violate("options.timeouts.deadline_ms", `must be at least ${MIN_PROBE_DEADLINE_MS} ms (the time a probe needs to be dispatched and answered), got ${deadlineMs}`);
  }
  if (resolved !== undefined) {
    resolved.deadlineMs = Math.min(resolved.deadlineMs, maxDeadlineMs);
    options.timeouts = { ...(options.timeouts ?? { connectMs: 0, bannerMs: 0, commandMs: 0, tlsMs: 0 }), deadlineMs: resolved.deadlineMs };
  }
  return { options, resolved };
}

/** A per-port map (tls_modes, port_roles): each key one of the probe's ports, each value the enum's. */
function checkPerPort(
  name: "tls_modes" | "port_roles",
  what: string,
  values: Record<string, string | number>,
  given: Readonly<Record<number, number>>,
  /** Undefined when the port list itself was refused: keys cannot be judged against it. */
  ports: readonly number[] | undefined,
  violate: Violate,
): void {
  for (const [key, value] of Object.entries(given)) {
    const field = `${name}[${key}]`;
    if (ports !== undefined && !ports.includes(Number(key))) {
      violate(field, `port ${key} is not among the ports of the probe (${ports.join(", ")})`);
    } else if (!isKnownEnumValue(values, value)) {
      violate(field, `${String(value)} is not ${what}`);
    }
  }
}

/**
 * The one place a port's TLS mode is decided: tls_modes[port], else options.tls_mode, else the
 * port's default (implicit TLS on 465). Tasks carry it as it is, so an agent never falls back to
 * a default of its own for a coordinator's task.
 */
function finalTlsMode(port: number, given: Readonly<Record<number, TlsMode>>, optionsMode: TlsMode): TlsMode {
  return given[port] || optionsMode || defaultTlsMode(port);
}

/**
 * The one place a port's role is decided, as its TLS mode is: port_roles[port], else
 * options.port_role, else the port's default (options.ts defaultPortRole). Tasks carry it.
 */
function finalPortRole(port: number, given: Readonly<Record<number, PortRole>>, optionsRole: PortRole): PortRole {
  return given[port] || optionsRole || defaultPortRole(port);
}

/** A value of the enum as the contract defines it (ts-proto's UNRECOGNIZED, -1, is not one). */
function isKnownEnumValue(values: Record<string, string | number>, value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && typeof values[value] === "string";
}

/** A caller's value in a message: JSON-quoted (control characters escaped), cut at 80. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
