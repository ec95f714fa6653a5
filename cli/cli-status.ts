// The CLI's own statuses for `--json`: a command line that cannot run, the environment that lacks
// something, a bug — as google.rpc.Status in the JSON mapping (lib/proto-json.ts).
import { Any } from "../gen/google/protobuf/any.js";
import { BadRequest } from "../gen/google/rpc/error_details.js";
import { statusJson, type JsonObject } from "../lib/proto-json.js";

/**
 * google.rpc.Code values used by the CLI's own statuses (the numbers are gRPC's status codes; the
 * gRPC library's table is not loaded by a local check or the help).
 */
export const RpcCode = { INVALID_ARGUMENT: 3, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/**
 * A command line that cannot run, as a status: INVALID_ARGUMENT, the message printed on stderr, and
 * when a flag is to blame a BadRequest naming it (field: the flag, "host", or the variable).
 */
export function usageErrorStatus(message: string, flag?: string, problem?: string): JsonObject {
  if (flag === undefined) return statusJson(RpcCode.INVALID_ARGUMENT, message);
  const badRequest = BadRequest.encode(BadRequest.fromPartial({ fieldViolations: [{ field: flag, description: problem ?? message }] })).finish();
  return statusJson(RpcCode.INVALID_ARGUMENT, message, [Any.fromPartial({ typeUrl: "type.googleapis.com/google.rpc.BadRequest", value: Buffer.from(badRequest) })]);
}

/** The environment lacks what the command needs (exit 69), as a status. */
export function unavailableStatus(message: string): JsonObject {
  return statusJson(RpcCode.UNAVAILABLE, message);
}

/** A bug in smtp-probe (exit 70), as a status. */
export function internalStatus(message: string): JsonObject {
  return statusJson(RpcCode.INTERNAL, message);
}
