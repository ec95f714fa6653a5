import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Any } from "../../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, RetryInfo } from "../../../gen/google/rpc/error_details.js";
import { ListRegionsResponse } from "../../../gen/smtpprobe/v1/probe_service.js";
import { anyJson, durationJson, INT64_FIELDS, int64Json, listRegionsJson, probeReportJson, statusJson, usageErrorStatus } from "../../../cli/proto-json.js";
import { done, ok, report } from "../../helpers/report-builders.js";

const PROTO_DIR = new URL("../../../proto/smtpprobe/v1/", import.meta.url).pathname;

/** Every 64-bit integer field of the public API, "package.Message" → JSON names, read from proto/. */
function int64FieldsInProto(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const file of readdirSync(PROTO_DIR).filter((f) => f.endsWith(".proto"))) {
    const text = readFileSync(join(PROTO_DIR, file), "utf8");
    const pkg = /^package ([\w.]+);/m.exec(text)?.[1] ?? "";
    const blocks: (string | undefined)[] = [];
    for (const line of text.split("\n").map((l) => l.replace(/\/\/.*$/, ""))) {
      // A block opened and closed on one line ("message Empty {}") holds nothing.
      const opened = /^\s*(message|enum|oneof|service)\s+(\w+)\s*\{(?!.*\})/.exec(line);
      if (opened) blocks.push(opened[1] === "message" ? opened[2] : undefined);
      const field = /^\s*(?:optional\s+|repeated\s+)?(?:u?int64|sint64|s?fixed64)\s+(\w+)\s*=/.exec(line);
      if (field) {
        const message = `${pkg}.${blocks.filter(Boolean).join(".")}`;
        const json = (field[1] ?? "").replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
        (out[message] ??= []).push(json);
      }
      if (/^\s*\}/.test(line)) blocks.pop();
    }
  }
  return out;
}

describe("64-bit integers as strings", () => {
  it("INT64_FIELDS names every 64-bit field of proto/smtpprobe/v1, and no other", () => {
    expect(int64FieldsInProto()).toEqual(INT64_FIELDS);
  });

  it("a report: capabilities.size (before and after TLS) and transcript.bytes are decimal strings, exact up to 2^53-1", () => {
    const big = Number.MAX_SAFE_INTEGER;
    const json = probeReportJson(
      report(["local"], [25], [
        done("local", 25, [ok({ capabilities: { greeting: "g", size: big }, capabilitiesTls: { greeting: "g", size: 0 }, transcript: { entries: [], bytes: 416 } })]),
      ]),
    );
    const handshake = (json.tasks as { result: { handshakes: Record<string, Record<string, unknown>>[] } }[])[0]!.result.handshakes[0]!;
    expect(handshake.capabilities!.size).toBe("9007199254740991");
    // SIZE advertised without a limit is 0, present (proto3 optional), and a string too.
    expect(handshake.capabilitiesTls!.size).toBe("0");
    expect(handshake.transcript!.bytes).toBe("416");
    // Everything else as toJSON writes it: numbers stay numbers.
    expect(handshake.totalMs).toBe(120);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it("ListRegionsResponse: tasks_done is a string", () => {
    const response = ListRegionsResponse.fromPartial({ regions: [{ name: "eu-west", agents: [{ agentId: "a", tasksDone: 41 }, { agentId: "b", tasksDone: 0 }] }] });
    const json = listRegionsJson(response) as { regions: { agents: { tasksDone?: unknown }[] }[] };
    // 0 is the default and left out, as proto3 JSON does.
    expect(json.regions[0]!.agents.map((a) => a.tasksDone)).toEqual(["41", undefined]);
  });

  it("a value that is no safe integer is a bug, not a rounded number", () => {
    expect(int64Json(12)).toBe("12");
    expect(() => int64Json(2 ** 53)).toThrow(RangeError);
    expect(() => int64Json(1.5)).toThrow(RangeError);
  });
});

describe("google.rpc.Status", () => {
  const any = (typeUrl: string, value: Uint8Array): Any => Any.fromPartial({ typeUrl, value: Buffer.from(value) });

  it.each<[string, Any, Record<string, unknown>]>([
    [
      "BadRequest: its field violations",
      any("type.googleapis.com/google.rpc.BadRequest", BadRequest.encode({ fieldViolations: [{ field: "ports", description: "at most 8", reason: "" }] }).finish()),
      { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "ports", description: "at most 8" }] },
    ],
    [
      "ErrorInfo: reason, domain, metadata",
      any("type.googleapis.com/google.rpc.ErrorInfo", ErrorInfo.encode({ reason: "NOT_GRPC", domain: "smtp-probe", metadata: { coordinator: "127.0.0.1:25" } }).finish()),
      { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "NOT_GRPC", domain: "smtp-probe", metadata: { coordinator: "127.0.0.1:25" } },
    ],
    [
      "RetryInfo: the delay as a Duration string",
      any("type.googleapis.com/google.rpc.RetryInfo", RetryInfo.encode({ retryDelay: { seconds: 1, nanos: 500_000_000 } }).finish()),
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1.500s" },
    ],
    ["a type we do not know keeps its bytes", any("type.example.com/x.Y", Buffer.from([1, 2, 3])), { "@type": "type.example.com/x.Y", value: "AQID" }],
    ["bytes that do not decode keep them too", any("type.googleapis.com/google.rpc.ErrorInfo", Buffer.from([0xff, 0xff])), { "@type": "type.googleapis.com/google.rpc.ErrorInfo", value: "//8=" }],
  ])("Any: %s", (_, detail, json) => {
    expect(anyJson(detail)).toEqual(json);
  });

  it("code, message, and details only when there are some", () => {
    expect(statusJson(14, "down")).toEqual({ code: 14, message: "down" });
    expect(statusJson(3, "bad", [Any.fromPartial({ typeUrl: "t/x", value: Buffer.from([0]) })])).toEqual({ code: 3, message: "bad", details: [{ "@type": "t/x", value: "AA==" }] });
  });

  it("a usage error: INVALID_ARGUMENT and a BadRequest naming the flag", () => {
    expect(usageErrorStatus('--port: "0" is not a port (1-65535)', "--port", '"0" is not a port (1-65535)')).toEqual({
      code: 3,
      message: '--port: "0" is not a port (1-65535)',
      details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "--port", description: '"0" is not a port (1-65535)' }] }],
    });
    expect(usageErrorStatus("unknown command 'frob'")).toEqual({ code: 3, message: "unknown command 'frob'" });
  });

  it.each<[number, number, string]>([
    [3, 0, "3s"],
    [1, 500_000_000, "1.500s"],
    [0, 1000, "0.000001s"],
    [0, 1, "0.000000001s"],
    [-2, -250_000_000, "-2.250s"],
  ])("Duration %i s %i ns is %s", (seconds, nanos, text) => {
    expect(durationJson(seconds, nanos)).toBe(text);
  });
});
