// The public API in the proto3 JSON mapping, exactly: what `--json` prints and what the HTTP/JSON
// API answers. ts-proto's toJSON departs from the mapping (64-bit integers as numbers, Any as
// base64 bytes, Duration as an object), so every message is written by @bufbuild/protobuf's
// reflection over the descriptors buf compiled (lib/api-schema.ts): the generated codec encodes,
// the reflection decodes and writes JSON. One writer for the CLI and the HTTP API, so their JSON
// cannot differ.
import { fromBinary, toJson } from "@bufbuild/protobuf";
import type { Any } from "../gen/google/protobuf/any.js";
import { Status } from "../gen/google/rpc/status.js";
import { Batch, BatchEvent } from "../gen/smtpprobe/v1/batch.js";
import { DomainCheckEvent, DomainCheckReport } from "../gen/smtpprobe/v1/domain.js";
import { ListMonitorsResponse, Monitor, MonitorEvent } from "../gen/smtpprobe/v1/monitor.js";
import { ListRegionsResponse, ProbeEvent, ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import { apiMessage, apiRegistry } from "./api-schema.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A message of the public API, given as its protobuf bytes, in the JSON mapping. */
export function protoJson(typeName: string, bytes: Uint8Array): JsonObject {
  const schema = apiMessage(typeName);
  return toJson(schema, fromBinary(schema, bytes), { registry: apiRegistry() }) as JsonObject;
}

export function probeReportJson(report: ProbeReport): JsonObject {
  return protoJson("smtpprobe.v1.ProbeReport", ProbeReport.encode(report).finish());
}

export function probeEventJson(event: ProbeEvent): JsonObject {
  return protoJson("smtpprobe.v1.ProbeEvent", ProbeEvent.encode(event).finish());
}

export function domainCheckReportJson(report: DomainCheckReport): JsonObject {
  return protoJson("smtpprobe.v1.DomainCheckReport", DomainCheckReport.encode(report).finish());
}

export function domainCheckEventJson(event: DomainCheckEvent): JsonObject {
  return protoJson("smtpprobe.v1.DomainCheckEvent", DomainCheckEvent.encode(event).finish());
}

export function listRegionsJson(response: ListRegionsResponse): JsonObject {
  return protoJson("smtpprobe.v1.ListRegionsResponse", ListRegionsResponse.encode(response).finish());
}

export function batchJson(batch: Batch): JsonObject {
  return protoJson("smtpprobe.v1.Batch", Batch.encode(batch).finish());
}

export function batchEventJson(event: BatchEvent): JsonObject {
  return protoJson("smtpprobe.v1.BatchEvent", BatchEvent.encode(event).finish());
}

export function monitorJson(monitor: Monitor): JsonObject {
  return protoJson("smtpprobe.v1.Monitor", Monitor.encode(monitor).finish());
}

export function listMonitorsJson(response: ListMonitorsResponse): JsonObject {
  return protoJson("smtpprobe.v1.ListMonitorsResponse", ListMonitorsResponse.encode(response).finish());
}

export function monitorEventJson(event: MonitorEvent): JsonObject {
  return protoJson("smtpprobe.v1.MonitorEvent", MonitorEvent.encode(event).finish());
}

/**
 * google.rpc.Status: code (a number), message, details as Any with "@type" and their fields. A
 * detail whose type the descriptors lack (a newer coordinator's), or whose bytes do not decode as
 * their type, keeps its bytes as "value" (base64): the document is still written, and says what
 * came.
 */
export function statusJson(code: number, message: string, details: readonly Any[] = []): JsonObject {
  const json = protoJson("google.rpc.Status", Status.encode({ code, message, details: [] }).finish());
  if (details.length > 0) json.details = details.map(anyJson);
  return json;
}

/** One google.protobuf.Any in the JSON mapping, or its type and bytes when that cannot be. */
function anyJson(any: Any): JsonObject {
  const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  const schema = apiRegistry().getMessage(typeName);
  if (schema) {
    try {
      return { "@type": any.typeUrl, ...(toJson(schema, fromBinary(schema, any.value), { registry: apiRegistry() }) as JsonObject) };
    } catch {
      // Bytes that do not decode as their type: kept as they came.
    }
  }
  return { "@type": any.typeUrl, value: Buffer.from(any.value).toString("base64") };
}
