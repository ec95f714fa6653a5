import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Any } from "../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, QuotaFailure, ResourceInfo, RetryInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";

/**
 * The one place where gRPC status codes are chosen. Per-region problems are outcomes in the
 * report, never errors of the call; these are for the call as a whole.
 */

/**
 * What a request message that does not decode becomes (server.ts wraps the deserializers): grpc-js
 * would answer INTERNAL ("Error deserializing request"), but bytes a caller sent are the caller's
 * fault, so the handler answers INVALID_ARGUMENT instead.
 */
export const UNDECODABLE = Symbol("undecodable request");
export interface UndecodableRequest {
  [UNDECODABLE]: string;
}

export function isUndecodable(value: unknown): value is UndecodableRequest {
  return typeof value === "object" && value !== null && UNDECODABLE in value;
}

export interface FieldViolation {
  field: string;
  description: string;
}

export function invalidArgument(violations: readonly FieldViolation[]): ServiceError {
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  const details = BadRequest.encode({ fieldViolations: violations.map((v) => ({ ...v, reason: "" })) }).finish();
  return withDetails(status.INVALID_ARGUMENT, `invalid request: ${summary}`, BAD_REQUEST, details);
}

export function permissionDenied(reason: string, field: string): ServiceError {
  const details = ErrorInfo.encode({ reason: "TARGET_POLICY", domain: "smtp-probe", metadata: { field } }).finish();
  return withDetails(status.PERMISSION_DENIED, reason, ERROR_INFO, details);
}

/** NOT_FOUND with google.rpc.ResourceInfo naming what was looked for. */
export function notFound(resourceType: string, resourceName: string, description: string): ServiceError {
  const details = ResourceInfo.encode({ resourceType, resourceName, owner: "", description }).finish();
  return withDetails(status.NOT_FOUND, description, RESOURCE_INFO, details);
}

/**
 * FAILED_PRECONDITION for an idempotency key sent again with another request (Google AIP-155), with
 * google.rpc.ErrorInfo: reason IDEMPOTENCY_KEY_REUSED, metadata.probe_id the probe of the first.
 */
export function idempotencyKeyReused(probeId: string): ServiceError {
  const message =
    `idempotency_key: was first used with another request (probe ${probeId}); ` +
    "the same key must come with the same request: use a new key for a new request, or GetProbe for the first one's report";
  const details = ErrorInfo.encode({ reason: "IDEMPOTENCY_KEY_REUSED", domain: "smtp-probe", metadata: { probe_id: probeId, field: "idempotency_key" } }).finish();
  return withDetails(status.FAILED_PRECONDITION, message, ERROR_INFO, details);
}

/**
 * DEADLINE_EXCEEDED at once for a call whose gRPC deadline is too short to probe anything, with
 * google.rpc.ErrorInfo: reason DEADLINE_TOO_SHORT, metadata.minimum_ms the shortest call deadline.
 */
export function deadlineTooShort(message: string, minimumCallMs: number): ServiceError {
  const details = ErrorInfo.encode({ reason: "DEADLINE_TOO_SHORT", domain: "smtp-probe", metadata: { minimum_ms: String(minimumCallMs) } }).finish();
  return withDetails(status.DEADLINE_EXCEEDED, message, ERROR_INFO, details);
}

export function serviceError(code: status, message: string): ServiceError {
  return Object.assign(new Error(message), { code, details: message, metadata: new Metadata() });
}

export interface QuotaExceeded {
  /** The limit's name: "caller_executions_per_minute", "max_executions_in_flight", ... */
  limit: string;
  /** Whose quota: "caller:<name>", or "coordinator" for the coordinator-wide bound. */
  subject: string;
  description: string;
  /** undefined: retrying cannot help (the request alone exceeds the limit); no RetryInfo then. */
  retryAfterMs: number | undefined;
}

/**
 * RESOURCE_EXHAUSTED with google.rpc.QuotaFailure (which limit, whose), google.rpc.ErrorInfo
 * (reason QUOTA_EXCEEDED, metadata.limit: for code that branches on it) and, when a retry can
 * succeed, google.rpc.RetryInfo (the delay) — the shape gRPC clients with retry policies read.
 */
export function resourceExhausted(quota: QuotaExceeded): ServiceError {
  const details = [
    detail(QUOTA_FAILURE, QuotaFailure.encode({ violations: [{ subject: quota.subject, description: quota.description }] }).finish()),
    detail(ERROR_INFO, ErrorInfo.encode({ reason: "QUOTA_EXCEEDED", domain: "smtp-probe", metadata: { limit: quota.limit } }).finish()),
  ];
  if (quota.retryAfterMs !== undefined) details.push(detail(RETRY_INFO, RetryInfo.encode({ retryDelay: durationOf(quota.retryAfterMs) }).finish()));
  return withAllDetails(status.RESOURCE_EXHAUSTED, quota.description, details);
}

/** UNAVAILABLE, with RetryInfo when the coordinator knows when trying again makes sense. */
export function unavailable(message: string, retryAfterMs?: number): ServiceError {
  if (retryAfterMs === undefined) return withAllDetails(status.UNAVAILABLE, message, []);
  return withAllDetails(status.UNAVAILABLE, message, [detail(RETRY_INFO, RetryInfo.encode({ retryDelay: durationOf(retryAfterMs) }).finish())]);
}

const BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest";
const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";
const QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure";
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";
const RESOURCE_INFO = "type.googleapis.com/google.rpc.ResourceInfo";

function durationOf(ms: number): { seconds: number; nanos: number } {
  const whole = Math.max(0, Math.ceil(ms));
  return { seconds: Math.floor(whole / 1000), nanos: (whole % 1000) * 1_000_000 };
}

function detail(typeUrl: string, value: Uint8Array): Any {
  return Any.fromPartial({ typeUrl, value: Buffer.from(value) });
}

function withDetails(code: status, message: string, typeUrl: string, value: Uint8Array): ServiceError {
  return withAllDetails(code, message, [detail(typeUrl, value)]);
}

function withAllDetails(code: status, message: string, details: Any[]): ServiceError {
  const metadata = new Metadata();
  if (details.length > 0) metadata.set("grpc-status-details-bin", Buffer.from(Status.encode({ code, message, details }).finish()));
  return Object.assign(new Error(message), { code, details: message, metadata });
}

/** The decoded status details of an error (for clients and tests): RetryInfo, QuotaFailure, ErrorInfo. */
export function statusDetailsOf(error: { metadata?: Metadata }): {
  retryAfterMs?: number;
  quotaViolations: { subject: string; description: string }[];
  errorInfo?: ErrorInfo;
} {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  const out: ReturnType<typeof statusDetailsOf> = { quotaViolations: [] };
  if (!raw || typeof raw === "string") return out;
  for (const d of Status.decode(raw).details) {
    if (d.typeUrl === RETRY_INFO) {
      const delay = RetryInfo.decode(d.value).retryDelay;
      out.retryAfterMs = delay ? delay.seconds * 1000 + Math.round(delay.nanos / 1_000_000) : 0;
    } else if (d.typeUrl === QUOTA_FAILURE) {
      out.quotaViolations.push(...QuotaFailure.decode(d.value).violations);
    } else if (d.typeUrl === ERROR_INFO) {
      out.errorInfo = ErrorInfo.decode(d.value);
    }
  }
  return out;
}

/** Reads the BadRequest field violations from an error's status details (for clients and tests). */
export function fieldViolationsOf(error: { metadata?: Metadata }): FieldViolation[] {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return [];
  const decoded = Status.decode(raw);
  return decoded.details
    .filter((d) => d.typeUrl === BAD_REQUEST)
    .flatMap((d) => BadRequest.decode(d.value).fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}
