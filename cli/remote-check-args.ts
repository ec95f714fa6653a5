// `check` through a coordinator: the ProbeRequest a command line becomes. Pure. The CLI checks
// what it must parse to build the request (numbers, durations, TLS mode names, flag combinations)
// and the host (the syntax is shared code, lib/host-name.ts, so a typo is exit 2 at once, even with
// the coordinator down). What the service accepts beyond that — how many ports, region names, EHLO
// and SNI names, the deadline's bound, its target policy — is the coordinator's to judge
// (--max-exchangers and --max-addresses are checked here too, against the engine's bounds, which
// are the coordinator's): its INVALID_ARGUMENT field violations are reported against our flags
// (call-errors.ts), so those rules live in one place and a CLI never refuses what a newer
// coordinator accepts.
import { AddressFamily, TlsMode } from "../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import { DEFAULTS } from "../agents/smtp/options.js";
import { parseHost, parseLimitFlags, parsePortRoles, parsePorts, parseTimeout, parseTlsMode, quote, type CheckFlags } from "./check-args.js";
import { COORDINATOR_ENV } from "./check-mode.js";
import type { CoordinatorAddress } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";
import { UsageError } from "./usage-error.js";

/**
 * The gRPC deadline is the probe's deadline plus this, so that the report of the regions that did
 * answer gets back before the call's deadline ends it (the coordinator stops its tasks at the
 * probe's deadline, and at the latest 50 ms before the call's).
 */
export const CALL_GRACE_MS = 2_000;

export interface RemoteCheckRequest {
  coordinator: CoordinatorAddress;
  request: ProbeRequest;
  /** The call's deadline, in ms from its start. */
  callTimeoutMs: number;
  transcript: boolean;
  json: boolean;
  colorAllowed: boolean;
  /** Token and TLS for the coordinator (coordinator-credentials.ts); none: plaintext, no token. */
  credentials?: CoordinatorCredentials;
}

/** Flags that only mean something on this machine, and why, for the message that refuses them. */
const LOCAL_ONLY: readonly { key: keyof CheckFlags; flag: string; why: string }[] = [
  { key: "dnsServer", flag: "--dns-server", why: "the agents resolve with their own DNS servers (the agent's --dns-server)" },
  { key: "caFile", flag: "--ca-file", why: "the agents check certificate chains against their own CA store (the agent's --ca-file)" },
  { key: "allowName", flag: "--allow-name", why: "the coordinator's and the agents' target policy decides (their --allow-name)" },
];

export function parseRemoteCheckArgs(hostArg: string, flags: CheckFlags, coordinator: CoordinatorAddress): RemoteCheckRequest {
  for (const { key, flag, why } of LOCAL_ONLY) {
    if (flags[key] === undefined) continue;
    const via = coordinator.source === COORDINATOR_ENV ? `${COORDINATOR_ENV} is set; --local probes from here` : "drop it, or drop --coordinator to probe from here";
    throw new UsageError(flag, `only in local mode: ${why}; ${via}`);
  }
  parseHost(hostArg);
  if (flags.ipv4 && flags.ipv6) {
    throw new UsageError("--ipv4/--ipv6", "choose one of them, or neither to probe both address families");
  }
  if (flags.ehlo !== undefined && flags.ehlo === "") throw new UsageError("--ehlo", "must not be empty");
  if (flags.sni !== undefined && flags.sni === "") throw new UsageError("--sni", "must not be empty");
  if (flags.policyDomain !== undefined && flags.policyDomain === "") throw new UsageError("--policy-domain", "must not be empty");
  const deadlineMs = flags.timeout === undefined ? 0 : parseTimeout(flags.timeout);
  const request = ProbeRequest.fromPartial({
    // As typed: the coordinator normalizes it (IDN to A-labels, brackets off) and reports it so.
    host: hostArg,
    mx: flags.mx ?? false,
    // Not given: the coordinator's default (25). Its bound on the count is its own.
    ports: flags.port === undefined ? [] : parsePorts(flags.port, Number.POSITIVE_INFINITY),
    regions: parseRegions(flags.regions ?? []),
    // Whether each port is among the probe's is the coordinator's to judge (port_roles[PORT]).
    portRoles: Object.fromEntries(parsePortRoles(flags.portRole ?? [])),
    options: {
      tlsMode: flags.tls === undefined ? TlsMode.TLS_MODE_UNSPECIFIED : parseTlsMode(flags.tls),
      // Not given: the agent's own name, never this machine's.
      ehloName: flags.ehlo ?? "",
      sni: flags.sni ?? "",
      addressFamily: flags.ipv4
        ? AddressFamily.ADDRESS_FAMILY_IPV4
        : flags.ipv6
          ? AddressFamily.ADDRESS_FAMILY_IPV6
          : AddressFamily.ADDRESS_FAMILY_UNSPECIFIED,
      // 0: the engine's defaults (3 exchangers, 2 addresses per name).
      ...parseLimitFlags(flags),
      // 0: the coordinator's default deadline (the engine's 60 s, or its own maximum if lower).
      timeouts: { deadlineMs },
      tlsScan: flags.tlsScan ?? false,
      checkStarttlsEnforcement: flags.starttlsEnforcement ?? false,
      // Checked by the coordinator (options.policy_domain), which names the flag's field.
      policyDomain: flags.policyDomain ?? "",
    },
  });
  return {
    coordinator,
    request,
    callTimeoutMs: (deadlineMs || DEFAULTS.deadlineMs) + CALL_GRACE_MS,
    transcript: flags.transcript ?? false,
    json: flags.json ?? false,
    colorAllowed: flags.color ?? true,
  };
}

/** "us-east,eu-west" and repeated flags; duplicates dropped, order kept. Names are the coordinator's to judge. */
export function parseRegions(values: readonly string[]): string[] {
  const regions: string[] = [];
  for (const value of values) {
    for (const item of value.split(",")) {
      const name = item.trim();
      if (name === "") throw new UsageError("--regions", `${quote(value)} has an empty item; write e.g. us-east,eu-west`);
      if (!regions.includes(name)) regions.push(name);
    }
  }
  return regions;
}
