// The BatchService's grpc-js client class, made from the generated definition (lib/grpc-service.ts):
// what the CLI's `batch` command, the benchmarks and the tests use to call a coordinator.
import { BatchServiceDefinition } from "../gen/smtpprobe/v1/batch.js";
import { grpcClientConstructor, type GrpcClient } from "./grpc-service.js";

export const BatchServiceClient = grpcClientConstructor(BatchServiceDefinition);
export type BatchServiceClient = GrpcClient<BatchServiceDefinition>;
