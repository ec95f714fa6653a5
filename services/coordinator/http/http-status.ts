// A call's error as HTTP sees it: the gRPC status (grpc-errors.ts chose it) as the HTTP status
// google.api's mapping gives it (google/rpc/code.proto; what grpc-gateway and Google's JSON APIs
// answer), the body as google.rpc.Status in the protobuf JSON mapping — its details as JSON
// objects with their "@type" — and, when the error carries a RetryInfo, a Retry-After header.
import { status, type ServiceError } from "@grpc/grpc-js";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { Status } from "../../../gen/google/rpc/status.js";
import { statusDetailsOf } from "../grpc-errors.js";
import { apiMessage, apiRegistry } from "../../../lib/api-schema.js";

/** gRPC code → HTTP status. */
export const HTTP_STATUS_OF_CODE: Readonly<Record<number, number>> = {
  [status.OK]: 200,
  [status.CANCELLED]: 499,
  [status.UNKNOWN]: 500,
  [status.INVALID_ARGUMENT]: 400,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.PERMISSION_DENIED]: 403,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.FAILED_PRECONDITION]: 400,
  [status.ABORTED]: 409,
  [status.OUT_OF_RANGE]: 400,
  [status.UNIMPLEMENTED]: 501,
  [status.INTERNAL]: 500,
  [status.UNAVAILABLE]: 503,
  [status.DATA_LOSS]: 500,
  [status.UNAUTHENTICATED]: 401,
};

export function httpStatusOf(code: number): number {
  return HTTP_STATUS_OF_CODE[code] ?? 500;
}

export interface HttpError {
  httpStatus: number;
  /** google.rpc.Status in the JSON mapping. */
  body: unknown;
  /** Extra headers: Retry-After (whole seconds) when the error says when to try again. */
  headers: Record<string, string>;
}

/** The HTTP answer of a call's error. */
export function httpErrorOf(error: Pick<ServiceError, "code" | "details" | "metadata">): HttpError {
  const code = error.code ?? status.UNKNOWN;
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  const headers: Record<string, string> = {};
  const retryAfterMs = statusDetailsOf(error).retryAfterMs;
  if (retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  if (raw === undefined || typeof raw === "string") {
    return { httpStatus: httpStatusOf(code), body: Status.toJSON({ code, message: error.details ?? "", details: [] }), headers };
  }
  // The details are google.protobuf.Any: their JSON form names the type and inlines its fields,
  // which needs the descriptors (the generated Any.toJSON writes base64 bytes instead).
  const schema = apiMessage("google.rpc.Status");
  const body = toJson(schema, fromBinary(schema, raw), { registry: apiRegistry() });
  return { httpStatus: httpStatusOf(code), body, headers };
}

/** An error answered by the HTTP layer itself (route, method, body), in the same Status form. */
export function httpLayerError(httpStatus: number, code: number, message: string, headers: Record<string, string> = {}): HttpError {
  return { httpStatus, body: Status.toJSON({ code, message, details: [] }), headers };
}
