import { describe, expect, it } from "vitest";
import { Any } from "../../../gen/google/protobuf/any.js";
import { BadRequest, ErrorInfo, RetryInfo } from "../../../gen/google/rpc/error_details.js";
import { ListRegionsResponse } from "../../../gen/smtpprobe/v1/probe_service.js";
import { usageErrorStatus } from "../../../cli/cli-status.js";
import { listRegionsJson, probeReportJson, statusJson } from "../../../lib/proto-json.js";
import { done, ok, report } from "../../helpers/report-builders.js";

describe("64-bit integers as strings", () => {
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
    expect(statusJson(3, "m", [detail]).details).toEqual([json]);
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
});
