// A request body in the protobuf JSON mapping, checked strictly against the message's descriptor
// before the generated fromJSON reads it: the generated code is lenient (an unknown field is
// ignored, "abc" for a port becomes NaN), and a caller who misspells `ports` must hear so, with the
// field named the way validation names fields (proto names: `options.timeouts.deadline_ms`,
// `ports[1]`), so that the page can show each problem next to its field. What the mapping allows
// is allowed: either field name (JSON or proto), enum values by name or number, 64-bit integers as
// numbers or strings, null for a field's default. A GET's query parameters and the path's fields
// join the body's the same way (mergeUrlParts). Pure.
import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import type { FieldViolation } from "../grpc-errors.js";

export type JsonCheck = { ok: true; json: Record<string, unknown> } | { ok: false; violations: FieldViolation[] };

/** Bounds on what is walked: a request is a few KiB, nested a few levels. */
const MAX_DEPTH = 16;
const MAX_VIOLATIONS = 20;

/** Parses `body` as JSON and checks it as `message`; the violations name fields by their proto path. */
export function parseRequestJson(body: string, message: DescMessage): JsonCheck {
  let value: unknown;
  try {
    value = body.trim() === "" ? {} : JSON.parse(body);
  } catch (error) {
    return { ok: false, violations: [{ field: "request", description: `is not JSON: ${(error as Error).message}` }] };
  }
  if (!isObject(value)) return { ok: false, violations: [{ field: "request", description: `must be a JSON object (a ${message.typeName})` }] };
  const violations: FieldViolation[] = [];
  checkMessage(message, value, "", violations, 0);
  return violations.length > 0 ? { ok: false, violations: violations.slice(0, MAX_VIOLATIONS) } : { ok: true, json: value };
}

/** What an HTTP request says beside its body: the query, the path's fields, a stream's Last-Event-ID. */
export interface UrlParts {
  /** The query's parameters, in order. */
  query: Iterable<[string, string]>;
  /** The fields (proto names) the route takes from the query; any other parameter is refused. */
  queryFields: readonly string[];
  /** The path's `{field}` segments' values, by proto name. */
  params: Readonly<Record<string, string>>;
  /** A stream's resume field and the Last-Event-ID sent (the query's value wins). */
  resume?: { field: string; lastEventId: string | undefined };
  /** The route's path, for the messages. */
  route: string;
}

/**
 * The request message's JSON from a body already checked (`{}` for a GET) and the URL's parts,
 * checked as `message`: a query parameter the route does not take, a value of the wrong type, or a
 * path field the body sets otherwise is a violation naming the field.
 */
export function mergeUrlParts(message: DescMessage, body: Record<string, unknown>, parts: UrlParts): JsonCheck {
  const violations: FieldViolation[] = [];
  const fromUrl: Record<string, unknown> = {};
  for (const [key, value] of parts.query) {
    const field = message.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field || !parts.queryFields.includes(field.name)) {
      const takes = parts.queryFields.length > 0 ? ` (it takes ${parts.queryFields.join(", ")})` : " (it takes none)";
      violations.push({ field: key, description: `is not a query parameter of ${parts.route}${takes}` });
      continue;
    }
    fromUrl[field.name] = field.fieldKind === "scalar" && field.scalar === ScalarType.BOOL && (value === "true" || value === "false") ? value === "true" : value;
  }
  const resume = parts.resume;
  if (resume?.lastEventId !== undefined && !(resume.field in fromUrl)) fromUrl[resume.field] = resume.lastEventId.trim();
  const json = { ...body };
  for (const [name, value] of Object.entries(parts.params)) {
    const field = message.fields.find((f) => f.name === name);
    if (!field) continue;
    const inBody = json[field.name] ?? json[field.jsonName];
    if (inBody !== undefined && inBody !== null && inBody !== value) {
      violations.push({ field: name, description: `is ${JSON.stringify(value)} in the path and ${JSON.stringify(inBody)} in the body; leave it out of the body` });
    }
    delete json[field.name];
    delete json[field.jsonName];
    fromUrl[name] = value;
  }
  const checked = parseRequestJson(JSON.stringify(fromUrl), message);
  if (!checked.ok) violations.push(...checked.violations);
  return violations.length > 0 ? { ok: false, violations: violations.slice(0, MAX_VIOLATIONS) } : { ok: true, json: { ...json, ...fromUrl } };
}

function checkMessage(message: DescMessage, value: Record<string, unknown>, prefix: string, out: FieldViolation[], depth: number): void {
  if (depth > MAX_DEPTH) {
    out.push({ field: prefix || "request", description: "is nested too deeply" });
    return;
  }
  const oneofsSet = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    const field = message.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) {
      out.push({ field: prefix + key, description: `is not a field of ${message.typeName} (its fields: ${message.fields.map((f) => f.name).join(", ")})` });
      continue;
    }
    const path = prefix + field.name;
    if (item === null) continue; // null: the field's default
    if (field.oneof) {
      const other = oneofsSet.get(field.oneof.name);
      if (other !== undefined) out.push({ field: path, description: `is set together with ${other}; ${field.oneof.name} takes one of them` });
      oneofsSet.set(field.oneof.name, field.name);
    }
    checkField(field, item, path, out, depth);
  }
}

function checkField(field: DescField, value: unknown, path: string, out: FieldViolation[], depth: number): void {
  switch (field.fieldKind) {
    case "scalar":
      return checkScalar(field.scalar, value, path, out);
    case "enum":
      return checkEnum(field.enum, value, path, out);
    case "message":
      return checkNested(field.message, value, path, out, depth);
    case "list": {
      if (!Array.isArray(value)) {
        out.push({ field: path, description: "must be a JSON array" });
        return;
      }
      value.forEach((element: unknown, index) => {
        const at = `${path}[${index}]`;
        if (field.listKind === "scalar") checkScalar(field.scalar, element, at, out);
        else if (field.listKind === "enum") checkEnum(field.enum, element, at, out);
        else checkNested(field.message, element, at, out, depth);
      });
      return;
    }
    case "map": {
      if (!isObject(value)) {
        out.push({ field: path, description: "must be a JSON object (a map)" });
        return;
      }
      for (const [key, element] of Object.entries(value)) {
        const at = `${path}[${key}]`;
        checkMapKey(field.mapKey, key, at, out);
        if (field.mapKind === "scalar") checkScalar(field.scalar, element, at, out);
        else if (field.mapKind === "enum") checkEnum(field.enum, element, at, out);
        else checkNested(field.message, element, at, out, depth);
      }
      return;
    }
  }
}

function checkNested(message: DescMessage, value: unknown, path: string, out: FieldViolation[], depth: number): void {
  // Well-known types with a JSON form of their own (the only ones the API uses).
  if (message.typeName === "google.protobuf.Timestamp") {
    if (typeof value !== "string" || Number.isNaN(Date.parse(value))) out.push({ field: path, description: 'must be an RFC 3339 time, e.g. "2026-01-02T03:04:05Z"' });
    return;
  }
  if (message.typeName === "google.protobuf.Duration") {
    if (typeof value !== "string" || !/^-?\d+(\.\d{1,9})?s$/.test(value)) out.push({ field: path, description: 'must be a duration in seconds, e.g. "1.5s"' });
    return;
  }
  if (!isObject(value)) {
    out.push({ field: path, description: `must be a JSON object (a ${message.typeName})` });
    return;
  }
  checkMessage(message, value, `${path}.`, out, depth + 1);
}

function checkEnum(descEnum: DescEnum, value: unknown, path: string, out: FieldViolation[]): void {
  if (typeof value === "string" && descEnum.values.some((v) => v.name === value)) return;
  if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) <= 2 ** 31) return;
  out.push({ field: path, description: `must be one of ${descEnum.values.map((v) => v.name).join(", ")}` });
}

const INTEGER_RANGES: Partial<Record<ScalarType, [number, number]>> = {
  [ScalarType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.SINT32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.SFIXED32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.UINT32]: [0, 2 ** 32 - 1],
  [ScalarType.FIXED32]: [0, 2 ** 32 - 1],
  [ScalarType.INT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [ScalarType.SINT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [ScalarType.SFIXED64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [ScalarType.UINT64]: [0, Number.MAX_SAFE_INTEGER],
  [ScalarType.FIXED64]: [0, Number.MAX_SAFE_INTEGER],
};

function checkScalar(type: ScalarType, value: unknown, path: string, out: FieldViolation[]): void {
  const range = INTEGER_RANGES[type];
  if (range) {
    // The mapping allows integers as numbers or as strings of digits.
    const n = typeof value === "number" ? value : typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isInteger(n)) out.push({ field: path, description: "must be an integer" });
    else if (n < range[0] || n > range[1]) out.push({ field: path, description: `must be an integer from ${range[0]} to ${range[1]}` });
    return;
  }
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== "string") out.push({ field: path, description: "must be a string" });
      return;
    case ScalarType.BOOL:
      if (typeof value !== "boolean") out.push({ field: path, description: "must be true or false" });
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value !== "number" && !(typeof value === "string" && /^(NaN|-?Infinity|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(value))) out.push({ field: path, description: "must be a number" });
      return;
    case ScalarType.BYTES:
      if (typeof value !== "string" || !/^[A-Za-z0-9+/\-_]*={0,2}$/.test(value)) out.push({ field: path, description: "must be base64 text" });
      return;
    default:
      return;
  }
}

function checkMapKey(type: ScalarType, key: string, path: string, out: FieldViolation[]): void {
  if (type === ScalarType.STRING) return;
  if (type === ScalarType.BOOL) {
    if (key !== "true" && key !== "false") out.push({ field: path, description: "the key must be true or false" });
    return;
  }
  checkScalar(type, key, path, out);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
