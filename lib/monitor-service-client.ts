// The MonitorService's grpc-js client class, made from the generated definition (lib/grpc-service.ts):
// what the CLI's `monitor` command uses to call a coordinator.
import { MonitorServiceDefinition } from "../gen/smtpprobe/v1/monitor.js";
import { grpcClientConstructor, type GrpcClient } from "./grpc-service.js";

export const MonitorServiceClient = grpcClientConstructor(MonitorServiceDefinition);
export type MonitorServiceClient = GrpcClient<MonitorServiceDefinition>;
