// Part of `npm run gen`, after the descriptor sets: gen/openapi/openapi.json, the OpenAPI 3.1
// document of the HTTP/JSON API, made from the routes table (services/coordinator/http/api-routes.ts)
// and the public API's descriptors (gen/descriptors/): every message reachable from a route as a
// JSON Schema of its protobuf JSON mapping, with the .proto comments as descriptions. The
// coordinator serves it at /openapi.json; CI's gen/ freshness check covers it like the rest.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ScalarType, type DescEnum, type DescField, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { API_ROUTES } from "../services/coordinator/http/api-routes.js";
import { apiMessage } from "../lib/api-schema.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "gen", "openapi");

type Json = Record<string, unknown>;

/** Comments by source path, per file: what `protoc` keeps in source_code_info. */
const commentsByFile = new Map<DescFile, Map<string, string>>();
function commentAt(file: DescFile, path: number[]): string | undefined {
  let byPath = commentsByFile.get(file);
  if (!byPath) {
    byPath = new Map();
    for (const location of file.proto.sourceCodeInfo?.location ?? []) {
      const text = (location.leadingComments || location.trailingComments || "").trim().replace(/\s*\n\s*/g, " ");
      if (text) byPath.set(location.path.join("."), text);
    }
    commentsByFile.set(file, byPath);
  }
  return byPath.get(path.join("."));
}

function messagePath(message: DescMessage): number[] {
  const parent = message.parent;
  return parent ? [...messagePath(parent), 3, parent.proto.nestedType.indexOf(message.proto)] : [4, message.file.proto.messageType.indexOf(message.proto)];
}

function enumPath(descEnum: DescEnum): number[] {
  const parent = descEnum.parent;
  return parent ? [...messagePath(parent), 4, parent.proto.enumType.indexOf(descEnum.proto)] : [5, descEnum.file.proto.enumType.indexOf(descEnum.proto)];
}

const schemas: Record<string, Json> = {};

function ref(typeName: string): Json {
  return { $ref: `#/components/schemas/${typeName}` };
}

function scalarSchema(type: ScalarType): Json {
  switch (type) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: "number" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0 };
    default:
      // The JSON mapping writes 64-bit integers as strings, and every parser accepts numbers too.
      return { type: ["integer", "string"], format: type === ScalarType.UINT64 || type === ScalarType.FIXED64 ? "uint64" : "int64" };
  }
}

function enumSchema(descEnum: DescEnum): Json {
  const name = descEnum.typeName;
  if (!schemas[name]) {
    const values = descEnum.values.map((value, index) => {
      const comment = commentAt(descEnum.file, [...enumPath(descEnum), 2, index]);
      return comment ? `${value.name}: ${comment}` : value.name;
    });
    const comment = commentAt(descEnum.file, enumPath(descEnum));
    schemas[name] = {
      type: "string",
      enum: descEnum.values.map((value) => value.name),
      description: [comment, values.join("\n")].filter(Boolean).join("\n\n"),
    };
  }
  return ref(name);
}

function messageSchema(message: DescMessage): Json {
  const name = message.typeName;
  if (name === "google.protobuf.Timestamp") return { type: "string", format: "date-time" };
  if (name === "google.protobuf.Duration") return { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$", description: 'seconds, e.g. "1.5s"' };
  if (name === "google.protobuf.Any") {
    return { type: "object", properties: { "@type": { type: "string" } }, required: ["@type"], additionalProperties: true, description: "a message of the type named by @type, its fields inline" };
  }
  if (!schemas[name]) {
    const properties: Record<string, Json> = {};
    schemas[name] = { type: "object", properties, additionalProperties: false };
    const comment = commentAt(message.file, messagePath(message));
    if (comment) schemas[name].description = comment;
    message.fields.forEach((field) => {
      const schema = fieldSchema(field);
      const fieldComment = commentAt(message.file, [...messagePath(message), 2, message.proto.field.indexOf(field.proto)]);
      properties[field.jsonName] = fieldComment ? { ...schema, description: fieldComment } : schema;
    });
    const oneofs = message.oneofs.filter((oneof) => !oneof.fields.some((f) => f.proto.proto3Optional));
    if (oneofs.length > 0) schemas[name].description = [schemas[name].description, ...oneofs.map((o) => `At most one of ${o.fields.map((f) => f.jsonName).join(", ")} is set (${o.name}).`)].filter(Boolean).join(" ");
  }
  return ref(name);
}

function elementSchema(kind: "scalar" | "enum" | "message", field: DescField): Json {
  if (kind === "scalar") return scalarSchema(field.scalar!);
  if (kind === "enum") return enumSchema(field.enum!);
  return messageSchema(field.message!);
}

function fieldSchema(field: DescField): Json {
  switch (field.fieldKind) {
    case "scalar":
      return scalarSchema(field.scalar);
    case "enum":
      return enumSchema(field.enum);
    case "message":
      return messageSchema(field.message);
    case "list":
      return { type: "array", items: elementSchema(field.listKind, field) };
    case "map":
      return { type: "object", additionalProperties: elementSchema(field.mapKind, field), "x-key-type": ScalarType[field.mapKey].toLowerCase() };
  }
}

const STATUS = messageSchema(apiMessage("google.rpc.Status"));
for (const detail of ["BadRequest", "ErrorInfo", "QuotaFailure", "RetryInfo", "ResourceInfo"]) messageSchema(apiMessage(`google.rpc.${detail}`));

/** A route's Server-Sent Events: each event's data one message of `typeName`, its name the oneof's field set. */
function eventStreamSchema(typeName: string, resumeField: string | undefined, eventName: string | undefined): Json {
  const message = apiMessage(typeName);
  const names = eventName ? `always ${eventName}` : `the field set (${message.fields.map((f) => f.jsonName).join(", ")})`;
  const resume = resumeField ? ` An event that can be resumed after carries an id: sent back as Last-Event-ID, it sets ${resumeField}.` : "";
  return {
    type: "string",
    description: `Server-Sent Events: each event's data is a ${typeName} in the JSON mapping (${JSON.stringify(messageSchema(message).$ref)}), its name ${names}; an error after the first event is an event named error with a google.rpc.Status.${resume}`,
  };
}

const paths: Record<string, Json> = {};
for (const route of API_ROUTES) {
  const request = apiMessage(route.request);
  const pathFields = [...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
  const fieldOf = (name: string): DescField => {
    const field = request.fields.find((f) => f.name === name);
    if (!field) throw new Error(`${route.path}: ${name} is not a field of ${route.request}`);
    return field;
  };
  const operation: Json = {
    operationId: route.rpc,
    summary: route.summary,
    description: `The ${route.service}.${route.rpc} RPC over HTTP: the same service, callers, limits and errors as gRPC.`,
    tags: [route.service],
    parameters: [
      ...pathFields.map((name) => ({ name, in: "path", required: true, schema: fieldSchema(fieldOf(name)) })),
      ...(route.query ?? []).map((name) => {
        const field = fieldOf(name);
        const comment = commentAt(request.file, [...messagePath(request), 2, request.proto.field.indexOf(field.proto)]);
        return { name, in: "query", required: false, schema: fieldSchema(field), ...(comment ? { description: comment } : {}) };
      }),
    ],
    responses: {
      "200": {
        description: `${route.response} in the protobuf JSON mapping`,
        content: {
          ...(route.streamOnly ? {} : { "application/json": { schema: messageSchema(apiMessage(route.response)) } }),
          ...(route.events ? { "text/event-stream": { schema: eventStreamSchema(route.events, route.resumeField, route.eventName) } } : {}),
        },
      },
      default: {
        description: "google.rpc.Status in the JSON mapping, with the HTTP status of its code (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, RESOURCE_EXHAUSTED 429 with Retry-After, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...)",
        content: { "application/json": { schema: STATUS } },
      },
    },
  };
  if (route.method === "POST") operation.requestBody = { required: true, content: { "application/json": { schema: messageSchema(request) } } };
  paths[route.path] = { ...(paths[route.path] ?? {}), [route.method.toLowerCase()]: operation };
}

const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const sorted = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
const document = {
  openapi: "3.1.0",
  info: {
    title: "smtp-probe HTTP/JSON API",
    version,
    description:
      "The ProbeService, the BatchService and the MonitorService of smtpprobe.v1 over HTTP, in the protobuf JSON mapping. Callers authenticate as over gRPC: `Authorization: Bearer <token>` and/or a client certificate. A POST must be sent with `Content-Type: application/json`; a browser's POST or DELETE must come from the coordinator's own origin. docs/http-api.md tells the rest.",
  },
  paths,
  components: {
    schemas: sorted,
    securitySchemes: { bearer: { type: "http", scheme: "bearer" }, clientCertificate: { type: "mutualTLS" } },
  },
};

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, "openapi.json"), `${JSON.stringify(document, null, 2)}\n`);
