// The ProbeService's grpc-js client class, made from the generated definition (lib/grpc-service.ts):
// what the CLI, the benchmarks, the tests and a Node caller use to call a coordinator.
import { ProbeServiceDefinition } from "../gen/smtpprobe/v1/probe_service.js";
import { grpcClientConstructor, type GrpcClient } from "./grpc-service.js";

export const ProbeServiceClient = grpcClientConstructor(ProbeServiceDefinition);
export type ProbeServiceClient = GrpcClient<ProbeServiceDefinition>;
