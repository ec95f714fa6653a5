import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Any } from "../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";

/**
 * The one place where gRPC status codes are chosen. Per-region problems are outcomes in the
 * report, never errors of the call; these are for the call as a whole.
 */

export interface FieldViolation {
  field: string;
  description: string;
}

export function invalidArgument(violations: readonly FieldViolation[]): ServiceError {
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  const details = BadRequest.encode({ fieldViolations: violations.map((v) => ({ ...v, reason: "" })) }).finish();
  return withDetails(status.INVALID_ARGUMENT, `invalid request: ${summary}`, "type.googleapis.com/google.rpc.BadRequest", details);
}

export function permissionDenied(reason: string, field: string): ServiceError {
  const details = ErrorInfo.encode({ reason: "TARGET_POLICY", domain: "smtp-probe", metadata: { field } }).finish();
  return withDetails(status.PERMISSION_DENIED, reason, "type.googleapis.com/google.rpc.ErrorInfo", details);
}

export function serviceError(code: status, message: string): ServiceError {
  return Object.assign(new Error(message), { code, details: message, metadata: new Metadata() });
}

function withDetails(code: status, message: string, typeUrl: string, value: Uint8Array): ServiceError {
  const metadata = new Metadata();
  const rpcStatus = Status.encode({ code, message, details: [Any.fromPartial({ typeUrl, value: Buffer.from(value) })] }).finish();
  metadata.set("grpc-status-details-bin", Buffer.from(rpcStatus));
  return Object.assign(new Error(message), { code, details: message, metadata });
}

/** Reads the BadRequest field violations from an error's status details (for clients and tests). */
export function fieldViolationsOf(error: { metadata?: Metadata }): FieldViolation[] {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return [];
  const decoded = Status.decode(raw);
  return decoded.details
    .filter((d) => d.typeUrl === "type.googleapis.com/google.rpc.BadRequest")
    .flatMap((d) => BadRequest.decode(d.value).fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}
