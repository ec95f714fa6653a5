// gRPC server reflection (grpc.reflection.v1 and the older v1alpha that many tools still call),
// answered from the descriptor sets bundled with the code (gen/descriptors/): the public API with
// the google.rpc error details and their imports, and gRPC's health and reflection services.
import type { Server, ServerDuplexStream } from "@grpc/grpc-js";
import { GRPC_SERVICES_DESCRIPTOR_SET, SMTPPROBE_V1_DESCRIPTOR_SET } from "../../gen/descriptors/descriptor-sets.js";
import { ServerReflectionDefinition, type ServerReflectionRequest, type ServerReflectionResponse } from "../../gen/grpc/reflection/v1/reflection.js";
import { ServerReflectionDefinition as ServerReflectionV1alphaDefinition } from "../../gen/grpc/reflection/v1alpha/reflection.js";
import { grpcServiceDefinition } from "../../lib/grpc-service.js";
import { answerReflectionRequest, buildReflectionIndex, type ReflectionIndex } from "./reflection-index.js";

let served: ReflectionIndex | undefined;

/**
 * What reflection describes: built once per process, on the first reflection call (some 20 ms
 * that a coordinator's start-up need not pay), shared by every server.
 */
export function servedDescriptors(): ReflectionIndex {
  served ??= buildReflectionIndex([SMTPPROBE_V1_DESCRIPTOR_SET, GRPC_SERVICES_DESCRIPTOR_SET].map((set) => Buffer.from(set, "base64")));
  return served;
}

export function addReflectionService(server: Server, descriptors: () => ReflectionIndex = servedDescriptors): void {
  const implementation = {
    serverReflectionInfo(call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>): void {
      const index = descriptors();
      call.on("data", (request: ServerReflectionRequest) => {
        // A client that sends without reading: stop reading it until its answers have gone out,
        // so that the answers waiting for it stay bounded.
        if (!call.write(answerReflectionRequest(index, request))) {
          call.pause();
          call.once("drain", () => call.resume());
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => undefined); // the client went away: nothing is left to answer
    },
  };
  server.addService(grpcServiceDefinition(ServerReflectionDefinition), implementation);
  server.addService(grpcServiceDefinition(ServerReflectionV1alphaDefinition), implementation);
}
