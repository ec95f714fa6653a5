import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { GRPC_SERVICES_DESCRIPTOR_SET, SMTPPROBE_V1_DESCRIPTOR_SET } from "../../../../gen/descriptors/descriptor-sets.js";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../../../../gen/grpc/reflection/v1/reflection.js";
import { answerReflectionRequest, buildReflectionIndex } from "../../../../services/coordinator/reflection-index.js";
import { servedDescriptors } from "../../../../services/coordinator/reflection-service.js";

const PROBE_SERVICE_FILES = [
  "smtpprobe/v1/probe_service.proto",
  "google/protobuf/timestamp.proto",
  "smtpprobe/v1/address_posture.proto",
  "smtpprobe/v1/domain.proto",
  "smtpprobe/v1/handshake.proto",
];

function ask(question: Omit<ServerReflectionRequest, "host">): ServerReflectionResponse {
  return answerReflectionRequest(servedDescriptors(), { host: "", ...question });
}

function filesOf(response: ServerReflectionResponse): string[] | { code: number; message: string } {
  if (response.errorResponse) return { code: response.errorResponse.errorCode, message: response.errorResponse.errorMessage };
  return (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

function setOf(...files: MessageInitShape<typeof FileDescriptorProtoSchema>[]): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files.map((f) => create(FileDescriptorProtoSchema, f)) }));
}

describe("reflection index: the served descriptor sets", () => {
  it("gen/descriptors/descriptor-sets.ts holds the bytes of the .binpb files", () => {
    for (const [file, base64] of [
      ["smtpprobe-v1.binpb", SMTPPROBE_V1_DESCRIPTOR_SET],
      ["grpc-services.binpb", GRPC_SERVICES_DESCRIPTOR_SET],
    ] as const) {
      expect(Buffer.from(base64, "base64").equals(readFileSync(new URL(`../../../../gen/descriptors/${file}`, import.meta.url))), file).toBe(true);
    }
  });

  it("lists the public service, health and reflection (both versions)", () => {
    expect(ask({ listServices: "*" }).listServicesResponse?.service.map((s) => s.name)).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "smtpprobe.v1.BatchService",
      "smtpprobe.v1.MonitorService",
      "smtpprobe.v1.ProbeService",
    ]);
  });

  it("holds real file names and nothing of the agents' protocol", () => {
    expect([...servedDescriptors().files.keys()].sort()).toEqual([
      "google/protobuf/any.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/timestamp.proto",
      "google/rpc/error_details.proto",
      "google/rpc/status.proto",
      "grpc/health/v1/health.proto",
      "grpc/reflection/v1/reflection.proto",
      "grpc/reflection/v1alpha/reflection.proto",
      "smtpprobe/v1/address_posture.proto",
      "smtpprobe/v1/batch.proto",
      "smtpprobe/v1/domain.proto",
      "smtpprobe/v1/handshake.proto",
      "smtpprobe/v1/monitor.proto",
      "smtpprobe/v1/probe_service.proto",
    ]);
    expect([...servedDescriptors().symbols.keys()].filter((s) => s.startsWith("smtpprobe.agent"))).toEqual([]);
  });

  it("serves fields as the .proto writes them, map entries as protoc names them, imports declared", () => {
    const [bytes] = ask({ fileContainingSymbol: "smtpprobe.v1.ProbeRequest" }).fileDescriptorResponse?.fileDescriptorProto ?? [];
    const file = fromBinary(FileDescriptorProtoSchema, bytes!);
    expect(file.dependency).toEqual(["google/protobuf/timestamp.proto", "smtpprobe/v1/address_posture.proto", "smtpprobe/v1/domain.proto", "smtpprobe/v1/handshake.proto"]);
    const request = file.messageType.find((m) => m.name === "ProbeRequest")!;
    expect(request.field.map((f) => f.name)).toEqual(["host", "mx", "ports", "regions", "options", "tls_modes", "idempotency_key", "port_roles"]);
    expect(request.options?.mapEntry ?? false).toBe(false);
    expect(request.nestedType.map((n) => [n.name, n.options?.mapEntry])).toEqual([
      ["TlsModesEntry", true],
      ["PortRolesEntry", true],
    ]);
    expect(request.field.find((f) => f.name === "options")?.typeName).toBe(".smtpprobe.v1.ProbeOptions");
  });

  const notFound = (message: string) => ({ code: status.NOT_FOUND, message });
  it.each<[string, Omit<ServerReflectionRequest, "host">, string[] | { code: number; message: string }]>([
    ["a service", { fileContainingSymbol: "smtpprobe.v1.ProbeService" }, PROBE_SERVICE_FILES],
    ["a method", { fileContainingSymbol: "smtpprobe.v1.ProbeService.StreamProbe" }, PROBE_SERVICE_FILES],
    ["a message", { fileContainingSymbol: "smtpprobe.v1.ProbeRequest" }, PROBE_SERVICE_FILES],
    ["a leading dot", { fileContainingSymbol: ".smtpprobe.v1.ProbeRequest" }, PROBE_SERVICE_FILES],
    ["a field", { fileContainingSymbol: "smtpprobe.v1.ProbeRequest.idempotency_key" }, PROBE_SERVICE_FILES],
    ["a map entry", { fileContainingSymbol: "smtpprobe.v1.ProbeRequest.TlsModesEntry" }, PROBE_SERVICE_FILES],
    ["a oneof", { fileContainingSymbol: "smtpprobe.v1.ProbeEvent.event" }, PROBE_SERVICE_FILES],
    ["an enum value (sibling of its enum)", { fileContainingSymbol: "smtpprobe.v1.TASK_STATUS_DONE" }, PROBE_SERVICE_FILES],
    ["an enum of the other file", { fileContainingSymbol: "smtpprobe.v1.TlsMode" }, ["smtpprobe/v1/handshake.proto", "google/protobuf/timestamp.proto", "smtpprobe/v1/address_posture.proto"]],
    ["an error detail", { fileContainingSymbol: "google.rpc.BadRequest.FieldViolation" }, ["google/rpc/error_details.proto", "google/protobuf/duration.proto"]],
    ["health", { fileContainingSymbol: "grpc.health.v1.Health" }, ["grpc/health/v1/health.proto"]],
    ["reflection v1alpha", { fileContainingSymbol: "grpc.reflection.v1alpha.ServerReflection" }, ["grpc/reflection/v1alpha/reflection.proto"]],
    ["a file by name", { fileByFilename: "google/protobuf/timestamp.proto" }, ["google/protobuf/timestamp.proto"]],
    ["a file and its imports", { fileByFilename: "google/rpc/status.proto" }, ["google/rpc/status.proto", "google/protobuf/any.proto"]],
    ["an unknown symbol", { fileContainingSymbol: "smtpprobe.v1.Nope" }, notFound("symbol not found: smtpprobe.v1.Nope")],
    ["the agents' protocol", { fileContainingSymbol: "smtpprobe.agent.v1.Task" }, notFound("symbol not found: smtpprobe.agent.v1.Task")],
    ["an unknown file", { fileByFilename: "smtpprobe/agent/v1/agent.proto" }, notFound("file not found: smtpprobe/agent/v1/agent.proto")],
    [
      "an unknown extension",
      { fileContainingExtension: { containingType: "smtpprobe.v1.ProbeRequest", extensionNumber: 1000 } },
      notFound("extension not found: number 1000 of smtpprobe.v1.ProbeRequest"),
    ],
    ["nothing asked", {}, { code: status.INVALID_ARGUMENT, message: expect.stringContaining("the request asks nothing") as unknown as string }],
  ])("%s", (_name, question, expected) => {
    expect(filesOf(ask(question))).toEqual(expected);
  });

  it("answers extension numbers of a known message, NOT_FOUND for an unknown one", () => {
    expect(ask({ allExtensionNumbersOfType: "smtpprobe.v1.ProbeRequest" }).allExtensionNumbersResponse).toEqual({
      baseTypeName: "smtpprobe.v1.ProbeRequest",
      extensionNumber: [],
    });
    expect(ask({ allExtensionNumbersOfType: "smtpprobe.v1.Nope" }).errorResponse).toEqual({
      errorCode: status.NOT_FOUND,
      errorMessage: "message type not found: smtpprobe.v1.Nope",
    });
  });

  it("echoes the host and the request", () => {
    const request: ServerReflectionRequest = { host: "api.example.test", listServices: "" };
    expect(answerReflectionRequest(servedDescriptors(), request)).toMatchObject({ validHost: "api.example.test", originalRequest: request });
  });
});

describe("reflection index: building", () => {
  const extended: MessageInitShape<typeof FileDescriptorProtoSchema> = {
    name: "x/ext.proto",
    package: "x",
    messageType: [{ name: "M", extensionRange: [{ start: 100, end: 200 }] }],
    extension: [{ name: "e", number: 150, extendee: ".x.M" }],
  };

  it("indexes extensions by the message they extend", () => {
    const index = buildReflectionIndex([setOf(extended)]);
    const answer = (question: Omit<ServerReflectionRequest, "host">) => answerReflectionRequest(index, { host: "", ...question });
    expect(filesOf(answer({ fileContainingExtension: { containingType: "x.M", extensionNumber: 150 } }))).toEqual(["x/ext.proto"]);
    expect(filesOf(answer({ fileContainingSymbol: "x.e" }))).toEqual(["x/ext.proto"]);
    expect(answer({ allExtensionNumbersOfType: "x.M" }).allExtensionNumbersResponse?.extensionNumber).toEqual([150]);
  });

  it("refuses a file whose import no set holds", () => {
    expect(() => buildReflectionIndex([setOf({ name: "a.proto", dependency: ["b.proto"] })])).toThrow("reflection: a.proto imports b.proto, which no descriptor set holds");
  });

  it("takes a file twice when both copies are the same, refuses two different ones", () => {
    const a = setOf({ name: "a.proto", package: "a" });
    expect(buildReflectionIndex([a, a]).files.size).toBe(1);
    expect(() => buildReflectionIndex([a, setOf({ name: "a.proto", package: "b" })])).toThrow("reflection: two different descriptors of a.proto");
  });
});
