import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { describeCallFailure, diagnoseNoAnswer, failureStatus, flagOfField, isWorthIdentifying, policyFieldOf, unavailableReason, type CallError } from "../../../cli/call-errors.js";
import type { ServerIdentity } from "../../../cli/server-identity.js";
import { ExitCode } from "../../../cli/exit-codes.js";
import { invalidArgument, permissionDenied, serviceError } from "../../../services/coordinator/grpc-errors.js";

const flagAddress = { target: "127.0.0.1:50051", source: "--coordinator" };
const envAddress = { target: "probe.internal:50051", source: "SMTP_PROBE_COORDINATOR" };

describe("describeCallFailure", () => {
  it.each<[string, CallError, number, string[]]>([
    [
      "INVALID_ARGUMENT: one line per field violation, against our flags",
      invalidArgument([
        { field: "host", description: '"bad host" is not a host name or IP address' },
        { field: "ports", description: "at most 8 ports in one probe, got 9" },
        { field: "regions[1]", description: '"EU" is not a region name' },
        { field: "options.ehlo_name", description: "must not contain spaces" },
        { field: "options.timeouts.deadline_ms", description: "must be at most 120000 ms here, got 200000" },
        { field: "idempotency_key", description: "must be printable ASCII" },
      ]),
      ExitCode.usage,
      [
        'host: "bad host" is not a host name or IP address',
        "--port: at most 8 ports in one probe, got 9 (field ports)",
        '--regions: "EU" is not a region name (field regions[1])',
        "--ehlo: must not contain spaces (field options.ehlo_name)",
        "--timeout: must be at most 120000 ms here, got 200000 (field options.timeouts.deadline_ms)",
        "idempotency_key: must be printable ASCII",
      ],
    ],
    [
      "INVALID_ARGUMENT without details: the status message",
      serviceError(status.INVALID_ARGUMENT, "bad"),
      ExitCode.usage,
      ["the coordinator 127.0.0.1:50051 refused the request: bad"],
    ],
    [
      "PERMISSION_DENIED: the policy's reason, against the field's flag",
      permissionDenied("port 2526 is not one of the ports probes may use (25, 465, 587, 2525)", "ports[0]"),
      ExitCode.usage,
      ["--port: denied by the target policy of the coordinator 127.0.0.1:50051: port 2526 is not one of the ports probes may use (25, 465, 587, 2525)"],
    ],
    [
      "UNAVAILABLE: connection refused, grpc-js's wording trimmed",
      serviceError(status.UNAVAILABLE, "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: "),
      ExitCode.unavailable,
      ["coordinator 127.0.0.1:50051 is unavailable: connect ECONNREFUSED 127.0.0.1:1 (is it running, and on this address?)"],
    ],
    [
      "DEADLINE_EXCEEDED: how long we waited",
      serviceError(status.DEADLINE_EXCEEDED, "Deadline exceeded after 62.003s"),
      ExitCode.unavailable,
      ["coordinator 127.0.0.1:50051 did not answer within 62 s (deadline exceeded)"],
    ],
    [
      "FAILED_PRECONDITION: no live agent",
      serviceError(status.FAILED_PRECONDITION, "no region has a live agent: start an agent, or name the regions to probe"),
      ExitCode.unavailable,
      ["coordinator 127.0.0.1:50051 cannot run the probe: no region has a live agent: start an agent, or name the regions to probe"],
    ],
    [
      "UNAUTHENTICATED: wrong or missing credentials, bad usage",
      serviceError(status.UNAUTHENTICATED, "missing or invalid bearer token"),
      ExitCode.usage,
      [
        "the coordinator 127.0.0.1:50051 refused the credentials: missing or invalid bearer token (give --token or SMTP_PROBE_TOKEN, or --client-cert and --client-key)",
      ],
    ],
    ["any other status: its name", serviceError(status.INTERNAL, "internal error"), ExitCode.unavailable, ["coordinator 127.0.0.1:50051 failed the call: INTERNAL: internal error"]],
    ["text from the server is made safe", serviceError(status.INTERNAL, "a\x1b[2Jb\nc"), ExitCode.unavailable, ["coordinator 127.0.0.1:50051 failed the call: INTERNAL: a\\x1b[2Jb c"]],
  ])("%s", (_, error, exitCode, lines) => {
    expect(describeCallFailure(error, flagAddress, 62_000)).toEqual({ exitCode, lines });
  });

  it("names the variable when the address came from SMTP_PROBE_COORDINATOR", () => {
    expect(describeCallFailure(serviceError(status.UNAVAILABLE, "getaddrinfo ENOTFOUND probe.internal"), envAddress).lines).toEqual([
      "coordinator probe.internal:50051 (from SMTP_PROBE_COORDINATOR) is unavailable: getaddrinfo ENOTFOUND probe.internal",
    ]);
  });

  it("status details that do not decode are not a crash", () => {
    const metadata = new Metadata();
    metadata.set("grpc-status-details-bin", Buffer.from([0xff, 0xff, 0xff]));
    const error = { code: status.INVALID_ARGUMENT, details: "invalid request: host: bad", metadata };
    expect(describeCallFailure(error, flagAddress).lines).toEqual(["the coordinator 127.0.0.1:50051 refused the request: invalid request: host: bad"]);
    expect(policyFieldOf(error)).toBeUndefined();
  });
});

describe("flagOfField", () => {
  it.each([
    ["host", "host"],
    ["mx", "--mx"],
    ["ports[3]", "--port"],
    ["tls_modes[465]", "--tls"],
    ["options.tls_mode", "--tls"],
    ["port_roles[2525]", "--port-role"],
    ["options.port_role", "--port-role"],
    ["options.sni", "--sni"],
    ["options.address_family", "--ipv4/--ipv6"],
    ["options.timeouts.connect_ms", "options.timeouts.connect_ms"],
  ])("%s → %s", (field, flag) => {
    expect(flagOfField(field)).toBe(flag);
  });
});

describe("unavailableReason", () => {
  it("keeps text it does not recognise", () => {
    expect(unavailableReason("Name resolution failed for target dns:nowhere.invalid:50051")).toBe("Name resolution failed for target dns:nowhere.invalid:50051");
    expect(unavailableReason("No connection established. Last error: Error: read ECONNRESET (2025-01-01T00:00:00.000Z)")).toBe("read ECONNRESET");
  });
});

describe("diagnoseNoAnswer: what listens where the call got no answer", () => {
  const unavailable = serviceError(status.UNAVAILABLE, "Protocol error");
  it.each<[string, ServerIdentity, boolean, number | undefined, string | undefined, RegExp | undefined]>([
    [
      "an SMTP server",
      { kind: "smtp", greeting: "220 mx.test ESMTP" },
      false,
      ExitCode.usage,
      "NOT_GRPC",
      /^--coordinator 127\.0\.0\.1:50051 does not speak gRPC: it is an SMTP server \(it greeted "220 mx\.test ESMTP"\); the coordinator listens on 50051 by default$/,
    ],
    ["an HTTP/1 server", { kind: "http1", statusLine: "HTTP/1.1 400 Bad Request" }, false, ExitCode.usage, "NOT_GRPC", /does not speak gRPC: it is an HTTP\/1 server \(it answered "HTTP\/1\.1 400 Bad Request"\)/],
    ["something else", { kind: "other", firstLine: "SSH-2.0-x" }, true, ExitCode.usage, "NOT_GRPC", /does not speak gRPC: it answered "SSH-2\.0-x" \(is it an SMTP or HTTP server\?\)/],
    ["TLS, called in plaintext: name --coordinator-ca", { kind: "tls" }, false, ExitCode.usage, "TLS_REQUIRED", /^coordinator 127\.0\.0\.1:50051 speaks TLS, and this call was plaintext: give --coordinator-ca FILE/],
    ["TLS, and the TLS handshake failed", { kind: "tls" }, true, ExitCode.unavailable, "TLS_HANDSHAKE_FAILED", /the TLS handshake failed: Protocol error \(is --coordinator-ca the CA that issued/],
    ["plaintext gRPC, called with TLS: name --coordinator-ca", { kind: "http2" }, true, ExitCode.usage, "TLS_NOT_SPOKEN", /speaks plaintext gRPC, and this call used TLS \(--coordinator-ca or --client-cert\): leave them out/],
    ["plaintext gRPC called in plaintext: nothing to add", { kind: "http2" }, false, undefined, undefined, undefined],
    ["nothing listens: the call's own error says it", { kind: "unreachable" }, false, undefined, undefined, undefined],
    ["silent: nothing to add", { kind: "silent" }, true, undefined, undefined, undefined],
  ])("%s", (_, identity, tls, exitCode, reason, line) => {
    const failure = diagnoseNoAnswer(unavailable, identity, flagAddress, tls);
    expect(failure?.exitCode).toBe(exitCode);
    expect(failure?.reason).toBe(reason);
    if (line) expect(failure?.lines).toEqual([expect.stringMatching(line)]);
  });

  it("text the server sent is made safe", () => {
    const failure = diagnoseNoAnswer(unavailable, { kind: "smtp", greeting: "220 \x1b[2J" }, flagAddress, false);
    expect(failure?.lines[0]).toContain('"220 \\x1b[2J"');
  });

  it("only a call that got no answer (UNAVAILABLE) is worth asking about", () => {
    expect(isWorthIdentifying(unavailable)).toBe(true);
    expect(isWorthIdentifying(serviceError(status.DEADLINE_EXCEEDED, "x"))).toBe(false);
    expect(isWorthIdentifying(invalidArgument([{ field: "host", description: "bad" }]))).toBe(false);
  });
});

describe("failureStatus: a failed call as google.rpc.Status", () => {
  it("the coordinator's code and details, the lines as the message", () => {
    const error = invalidArgument([{ field: "ports", description: "at most 8 ports in one probe, got 9" }]);
    const failure = describeCallFailure(error, flagAddress);
    expect(failureStatus(error, failure, flagAddress)).toEqual({
      code: status.INVALID_ARGUMENT,
      message: "--port: at most 8 ports in one probe, got 9 (field ports)",
      details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "ports", description: "at most 8 ports in one probe, got 9" }] }],
    });
  });

  it("our own diagnosis as an ErrorInfo naming the coordinator", () => {
    const error = serviceError(status.UNAVAILABLE, "Protocol error");
    const failure = diagnoseNoAnswer(error, { kind: "tls" }, flagAddress, false)!;
    expect(failureStatus(error, failure, flagAddress)).toEqual({
      code: status.UNAVAILABLE,
      message: failure.lines[0],
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "TLS_REQUIRED", domain: "smtp-probe", metadata: { coordinator: "127.0.0.1:50051" } }],
    });
  });

  it("a failure without a code is UNKNOWN", () => {
    expect(failureStatus({ details: "?" }, { exitCode: ExitCode.unavailable, lines: ["x"] }, flagAddress)).toEqual({ code: status.UNKNOWN, message: "x" });
  });
});
