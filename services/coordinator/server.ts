import { Server, ServerCredentials, type ServerInterceptor, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { fileURLToPath } from "node:url";
import { ProbeServiceService } from "../../gen/smtpprobe/v1/probe_service.js";

export const PROBE_SERVICE_NAME = "smtpprobe.v1.ProbeService";

const PROTO_ROOT = fileURLToPath(new URL("../../proto/", import.meta.url));

export interface GrpcServer {
  /** The port bound (useful with port 0). */
  port: number;
  /** grpc.health.v1: SERVING or NOT_SERVING, for the whole server and for the ProbeService. */
  setServing(serving: boolean): void;
  /** Stops accepting calls, waits up to graceMs for running ones, then cancels the rest. */
  stop(graceMs: number): Promise<void>;
}

/** Binds the ProbeService with health checking and server reflection. */
export async function startGrpcServer(options: {
  host: string;
  port: number;
  service: UntypedServiceImplementation;
  credentials?: ServerCredentials;
  /** Run before any handler (caller authentication, caller-auth.ts). */
  interceptors?: ServerInterceptor[];
}): Promise<GrpcServer> {
  const server = new Server({
    interceptors: options.interceptors ?? [],
    // Bounded messages both ways: a request is small; a report with transcripts is not.
    "grpc.max_receive_message_length": 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.keepalive_time_ms": 30_000,
  });
  server.addService(ProbeServiceService, options.service);

  const health = new HealthImplementation({ "": "NOT_SERVING", [PROBE_SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(server);

  // Reflection describes the contract as the .proto files state it (grpcurl, grpcui, Postman).
  const definition = loadSync(["smtpprobe/v1/probe_service.proto"], { includeDirs: [PROTO_ROOT] });
  new ReflectionService(definition).addToServer(server);

  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, options.credentials ?? ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });

  return {
    port,
    setServing(serving) {
      const value = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", value);
      health.setStatus(PROBE_SERVICE_NAME, value);
    },
    async stop(graceMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
