// What `--json` prints: the proto3 JSON mapping exactly, where ts-proto's toJSON departs from it.
// The generated code keeps 64-bit integers as JavaScript numbers (buf.gen.yaml: forceLong=number;
// every producer keeps them safe integers, and decoding refuses bigger ones), so in TypeScript
// they are exact; the JSON mapping writes int64/uint64 as strings, and google.protobuf.Any as
// {"@type": …, …the message's fields} and Duration as "1.5s", which toJSON does not. Pure.
import type { Any } from "../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, QuotaFailure, ResourceInfo, RetryInfo } from "../gen/google/rpc/error_details.js";
import { ListRegionsResponse, ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * The 64-bit integer fields of the public API, by message (their JSON names). The walkers below
 * reach every one of them; test/unit/cli/proto-json.test.ts holds this list to proto/.
 */
export const INT64_FIELDS: Readonly<Record<string, readonly string[]>> = {
  "smtpprobe.v1.Capabilities": ["size"],
  "smtpprobe.v1.Transcript": ["bytes"],
  "smtpprobe.v1.AgentInfo": ["tasksDone"],
};

/** A 64-bit integer as the JSON mapping writes it: a decimal string. Only a safe integer is exact. */
export function int64Json(value: number): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`a 64-bit field holds ${value}, which is not a safe integer`);
  return String(value);
}

/** ProbeReport in the proto3 JSON mapping. */
export function probeReportJson(report: ProbeReport): JsonObject {
  const json = ProbeReport.toJSON(report) as JsonObject;
  for (const task of objects(json.tasks)) {
    const result = task.result;
    if (!isObject(result)) continue;
    for (const handshake of objects(result.handshakes)) {
      for (const key of ["capabilities", "capabilitiesTls"]) stringify(handshake[key], INT64_FIELDS["smtpprobe.v1.Capabilities"]);
      stringify(handshake.transcript, INT64_FIELDS["smtpprobe.v1.Transcript"]);
    }
  }
  return json;
}

/** ListRegionsResponse in the proto3 JSON mapping. */
export function listRegionsJson(response: ListRegionsResponse): JsonObject {
  const json = ListRegionsResponse.toJSON(response) as JsonObject;
  for (const region of objects(json.regions)) {
    for (const agent of objects(region.agents)) stringify(agent, INT64_FIELDS["smtpprobe.v1.AgentInfo"]);
  }
  return json;
}

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
  const badRequest = BadRequest.toJSON(BadRequest.fromPartial({ fieldViolations: [{ field: flag, description: problem ?? message }] })) as JsonObject;
  return { code: RpcCode.INVALID_ARGUMENT, message, details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", ...badRequest }] };
}

/** google.rpc.Status in the proto3 JSON mapping: code (a number), message, details as Any. */
export function statusJson(code: number, message: string, details: readonly Any[] = []): JsonObject {
  const json: JsonObject = { code, message };
  if (details.length > 0) json.details = details.map(anyJson);
  return json;
}

const DETAIL_TYPES: Readonly<Record<string, (value: Uint8Array) => JsonObject>> = {
  "type.googleapis.com/google.rpc.BadRequest": (v) => BadRequest.toJSON(BadRequest.decode(v)) as JsonObject,
  "type.googleapis.com/google.rpc.ErrorInfo": (v) => ErrorInfo.toJSON(ErrorInfo.decode(v)) as JsonObject,
  "type.googleapis.com/google.rpc.QuotaFailure": (v) => QuotaFailure.toJSON(QuotaFailure.decode(v)) as JsonObject,
  "type.googleapis.com/google.rpc.ResourceInfo": (v) => ResourceInfo.toJSON(ResourceInfo.decode(v)) as JsonObject,
  "type.googleapis.com/google.rpc.RetryInfo": (v): JsonObject => {
    const delay = RetryInfo.decode(v).retryDelay;
    return delay ? { retryDelay: durationJson(delay.seconds, delay.nanos) } : {};
  },
};

/**
 * google.protobuf.Any: "@type" and the fields of the message it holds, for the error details we
 * know; a detail of another type keeps its bytes (base64 "value"), since its fields are unknown here.
 */
export function anyJson(any: Any): JsonObject {
  const known = DETAIL_TYPES[any.typeUrl];
  if (known) {
    try {
      return { "@type": any.typeUrl, ...known(any.value) };
    } catch {
      // Bytes that do not decode as their type: kept as they came.
    }
  }
  return { "@type": any.typeUrl, value: Buffer.from(any.value).toString("base64") };
}

/** google.protobuf.Duration: "3s", "1.500s", "0.000000001s" (0, 3, 6 or 9 fractional digits). */
export function durationJson(seconds: number, nanos: number): string {
  const negative = seconds < 0 || nanos < 0;
  const whole = Math.abs(seconds);
  const fraction = Math.abs(nanos);
  if (fraction === 0) return `${negative ? "-" : ""}${whole}s`;
  const digits = String(fraction).padStart(9, "0");
  const cut = digits.endsWith("000000") ? 3 : digits.endsWith("000") ? 6 : 9;
  return `${negative ? "-" : ""}${whole}.${digits.slice(0, cut)}s`;
}

function stringify(message: JsonValue | undefined, fields: readonly string[] | undefined): void {
  if (!isObject(message)) return;
  for (const field of fields ?? []) {
    const value = message[field];
    if (typeof value === "number") message[field] = int64Json(value);
  }
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objects(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}
