// What a failed gRPC call to the coordinator means for the person at the terminal: the lines to
// print and the exit code; for a script (--json), the same as a google.rpc.Status. When the call
// got no answer at all, what listens at the address (server-identity.ts) says why: an SMTP or
// HTTP server, TLS on one side only. Pure: the error comes in, text goes out.
import { status, type Metadata } from "@grpc/grpc-js";
import type { Any } from "../gen/google/protobuf/any.js";
import { ErrorInfo } from "../gen/google/rpc/error_details.js";
import { Status } from "../gen/google/rpc/status.js";
import { fieldViolationsOf } from "../services/coordinator/grpc-errors.js";
import { DEFAULT_COORDINATOR_PORT, type CoordinatorAddress } from "./coordinator-address.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { safe } from "./labels.js";
import { statusJson, type JsonObject } from "../lib/proto-json.js";
import type { ServerIdentity } from "./server-identity.js";

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
  /** Our own diagnosis, as google.rpc.ErrorInfo's reason in the JSON status: NOT_GRPC, TLS_REQUIRED, ... */
  reason?: string;
}

/** The ErrorInfo domain of the diagnoses the CLI makes itself. */
export const ERROR_DOMAIN = "smtp-probe";

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
 * Whether the call got no answer from a gRPC server at all (grpc-js's UNAVAILABLE: "Protocol error",
 * "Failed to connect", a TLS error), so that what listens there is worth asking (server-identity.ts).
 */
export function isWorthIdentifying(error: CallError): boolean {
  return error.code === status.UNAVAILABLE;
}

/**
 * The failure of a call that got no answer, told by what listens at the address, or undefined when
 * that adds nothing (nothing listens: the call's own error says so; a gRPC server over the same
 * transport: the error is something else). Wrong address or TLS on one side only is bad usage (2):
 * trying again cannot help. A TLS server whose handshake failed is still "no answer" (4).
 */
export function diagnoseNoAnswer(error: CallError, identity: ServerIdentity, coordinator: CoordinatorAddress, tls: boolean): CallFailure | undefined {
  const given = `${coordinator.source} ${coordinator.target}`;
  const port = `the coordinator listens on ${DEFAULT_COORDINATOR_PORT} by default`;
  const notGrpc = (what: string): CallFailure => ({
    exitCode: ExitCode.usage,
    lines: [`${given} does not speak gRPC: ${what}; ${port}`],
    reason: "NOT_GRPC",
  });
  switch (identity.kind) {
    case "smtp":
      return notGrpc(`it is an SMTP server (it greeted "${safe(identity.greeting)}")`);
    case "http1":
      return notGrpc(`it is an HTTP/1 server (it answered "${safe(identity.statusLine)}")`);
    case "other":
      return notGrpc(`it answered "${safe(identity.firstLine)}" (is it an SMTP or HTTP server?)`);
    case "tls":
      if (!tls) {
        return {
          exitCode: ExitCode.usage,
          lines: [`coordinator ${coordinator.target} speaks TLS, and this call was plaintext: give --coordinator-ca FILE, the CA certificate (PEM) that issued the coordinator's certificate`],
          reason: "TLS_REQUIRED",
        };
      }
      return {
        exitCode: ExitCode.unavailable,
        lines: [
          `coordinator ${coordinator.target}: the TLS handshake failed: ${unavailableReason(safe(oneLine(error.details || error.message || "no details")))} (is --coordinator-ca the CA that issued the coordinator's certificate? With mutual TLS, --client-cert and --client-key too)`,
        ],
        reason: "TLS_HANDSHAKE_FAILED",
      };
    case "http2":
      if (!tls) return undefined;
      return {
        exitCode: ExitCode.usage,
        lines: [
          `coordinator ${coordinator.target} speaks plaintext gRPC, and this call used TLS (--coordinator-ca or --client-cert): leave them out, or run the coordinator with --tls-cert and --tls-key`,
        ],
        reason: "TLS_NOT_SPOKEN",
      };
    default:
      return undefined;
  }
}

/**
 * A failed call as google.rpc.Status for --json: the call's code (UNKNOWN when it has none), the
 * lines printed on stderr as its message, the coordinator's own details (BadRequest, ErrorInfo,
 * RetryInfo, ...), and our diagnosis as an ErrorInfo naming the coordinator.
 */
export function failureStatus(error: CallError, failure: CallFailure, coordinator: CoordinatorAddress): JsonObject {
  const details: Any[] = [...statusDetailsOf(error)];
  if (failure.reason) {
    const info = ErrorInfo.encode({ reason: failure.reason, domain: ERROR_DOMAIN, metadata: { coordinator: coordinator.target } }).finish();
    details.push({ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: Buffer.from(info) });
  }
  return statusJson(error.code ?? status.UNKNOWN, failure.lines.join("; "), details);
}

/** The details of the call's grpc-status-details-bin, or none when it has none or they do not decode. */
function statusDetailsOf(error: { metadata?: Metadata }): Any[] {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return [];
  try {
    return Status.decode(raw).details;
  } catch {
    return [];
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
