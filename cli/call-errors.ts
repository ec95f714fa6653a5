// What a failed gRPC call to the coordinator means for the person at the terminal: the lines to
// print and the exit code. Pure: the error comes in, text goes out.
import { status, type Metadata } from "@grpc/grpc-js";
import { ErrorInfo } from "../gen/google/rpc/error_details.js";
import { Status } from "../gen/google/rpc/status.js";
import { fieldViolationsOf } from "../services/coordinator/grpc-errors.js";
import type { CoordinatorAddress } from "./coordinator-address.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { safe } from "./labels.js";

/** The shape of a grpc-js ServiceError that matters here. */
export interface CallError {
  code?: number;
  details?: string;
  message?: string;
  metadata?: Metadata;
}

export interface CallFailure {
  exitCode: ExitCodeValue;
  /** Each printed as "smtp-probe: <line>" on stderr. */
  lines: string[];
}

/**
 * The flag a field of ProbeRequest comes from, for the coordinator's field violations:
 * "ports[2]" → --port, "options.ehlo_name" → --ehlo. Fields without a flag are shown as they are.
 */
const FIELD_FLAGS: readonly [RegExp, string][] = [
  [/^host$/, "host"],
  [/^mx$/, "--mx"],
  [/^ports(\[\d+\])?$/, "--port"],
  [/^regions(\[\d+\])?$/, "--regions"],
  [/^(options\.tls_mode|tls_modes(\[\d+\])?)$/, "--tls"],
  [/^(options\.port_role|port_roles(\[\d+\])?)$/, "--port-role"],
  [/^options\.ehlo_name$/, "--ehlo"],
  [/^options\.sni$/, "--sni"],
  [/^options\.address_family$/, "--ipv4/--ipv6"],
  [/^options\.timeouts\.deadline_ms$/, "--timeout"],
  [/^options\.max_exchangers$/, "--max-exchangers"],
  [/^options\.max_addresses$/, "--max-addresses"],
];

export function flagOfField(field: string): string {
  return FIELD_FLAGS.find(([pattern]) => pattern.test(field))?.[1] ?? field;
}

/** "--port: at most 8 ports in one probe, got 9 (field ports)"; the field is left out when it says nothing more. */
function violationLine(field: string, description: string): string {
  const flag = flagOfField(field);
  const suffix = flag === field ? "" : ` (field ${safe(field)})`;
  return `${safe(flag)}: ${safe(description)}${suffix}`;
}

/**
 * Exit codes (cli/exit-codes.ts): INVALID_ARGUMENT and PERMISSION_DENIED are bad usage (2), one
 * line per field violation, or the policy's reason; UNAUTHENTICATED is bad usage too (2: wrong or
 * missing credentials, one line); every other status means the service gave no answer (4):
 * UNAVAILABLE (nothing listens, connection refused, DNS, a TLS handshake refused),
 * DEADLINE_EXCEEDED, FAILED_PRECONDITION (no region has a live agent), INTERNAL, ...
 */
export function describeCallFailure(error: CallError, coordinator: CoordinatorAddress, callTimeoutMs?: number): CallFailure {
  const details = safe(oneLine(error.details || error.message || "no details"));
  const where = `coordinator ${coordinator.target}${coordinator.source === "--coordinator" ? "" : ` (from ${coordinator.source})`}`;
  switch (error.code) {
    case status.INVALID_ARGUMENT: {
      const violations = readViolations(error);
      if (violations.length === 0) return { exitCode: ExitCode.usage, lines: [`the ${where} refused the request: ${details}`] };
      return { exitCode: ExitCode.usage, lines: violations.map((v) => violationLine(v.field, v.description)) };
    }
    case status.PERMISSION_DENIED: {
      const field = policyFieldOf(error);
      const label = field ? `${safe(flagOfField(field))}: ` : "";
      return { exitCode: ExitCode.usage, lines: [`${label}denied by the target policy of the ${where}: ${details}`] };
    }
    case status.UNAUTHENTICATED:
      return {
        exitCode: ExitCode.usage,
        lines: [`the ${where} refused the credentials: ${details} (give --token or SMTP_PROBE_TOKEN, or --client-cert and --client-key)`],
      };
    case status.UNAVAILABLE:
      return { exitCode: ExitCode.unavailable, lines: [`${where} is unavailable: ${unavailableReason(details)}`] };
    case status.DEADLINE_EXCEEDED: {
      const within = callTimeoutMs === undefined ? "" : ` within ${formatSeconds(callTimeoutMs)}`;
      return { exitCode: ExitCode.unavailable, lines: [`${where} did not answer${within} (deadline exceeded)`] };
    }
    case status.FAILED_PRECONDITION:
      return { exitCode: ExitCode.unavailable, lines: [`${where} cannot run the probe: ${details}`] };
    default: {
      const name = error.code === undefined ? "error" : (status[error.code] ?? `status ${error.code}`);
      return { exitCode: ExitCode.unavailable, lines: [`${where} failed the call: ${name}: ${details}`] };
    }
  }
}

/**
 * grpc-js says "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.
 * Resolution note: " (older versions add a timestamp in parentheses); the useful part is the last
 * error alone.
 */
export function unavailableReason(details: string): string {
  const last = /Last error: (?:Error: )?(.*)$/.exec(details)?.[1];
  const reason = (last ?? details)
    .replace(/\.? Resolution note:.*$/, "")
    .replace(/ \(\d{4}-\d\d-\d\dT[^)]*\)$/, "")
    .trim() || details;
  return /ECONNREFUSED/.test(reason) ? `${reason} (is it running, and on this address?)` : reason;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** The request field a PERMISSION_DENIED is about, from its google.rpc.ErrorInfo detail. */
export function policyFieldOf(error: { metadata?: Metadata }): string | undefined {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return undefined;
  try {
    const info = Status.decode(raw).details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.ErrorInfo");
    return info ? ErrorInfo.decode(info.value).metadata.field || undefined : undefined;
  } catch {
    return undefined; // a detail we cannot read: the message still says why
  }
}

function readViolations(error: { metadata?: Metadata }): { field: string; description: string }[] {
  try {
    return fieldViolationsOf(error);
  } catch {
    return []; // details we cannot decode: the status message still says why
  }
}
