import { Server, ServerCredentials, type ServerInterceptor, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { BatchServiceDefinition } from "../../gen/smtpprobe/v1/batch.js";
import { MonitorServiceDefinition } from "../../gen/smtpprobe/v1/monitor.js";
import { ProbeServiceDefinition } from "../../gen/smtpprobe/v1/probe_service.js";
import { grpcServiceDefinition } from "../../lib/grpc-service.js";
import { formatHostPort } from "../../lib/host-port.js";
import { listenErrorFor } from "../../lib/listen-error.js";
import { UNDECODABLE } from "./grpc-errors.js";
import { addReflectionService } from "./reflection-service.js";

export const PROBE_SERVICE_NAME = "smtpprobe.v1.ProbeService";
export const BATCH_SERVICE_NAME = "smtpprobe.v1.BatchService";
export const MONITOR_SERVICE_NAME = "smtpprobe.v1.MonitorService";

/**
 * Message sizes. A request is small (a host, at most 8 ports, 32 regions, options: a few KiB at
 * most), so 1 MiB received is ample and an oversized one is refused by gRPC itself
 * (RESOURCE_EXHAUSTED) before it is decoded. A report carries transcripts (up to 4 MiB each by the
 * engine's hard maximum, one per address of each region × port), hence the large send bound.
 */
export const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;
export const MAX_SEND_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Connection management (grpc-js server options):
 * - keepalive: the server pings every 30 s and closes a connection whose peer has not answered
 *   within 10 s (a vanished client's calls are cancelled, and their probes with them);
 * - a connection idle (no call) for 5 min is closed with GOAWAY; clients reconnect when needed;
 * - a connection is closed after 30 min (GOAWAY), so that clients spread over replicas behind one
 *   address again; calls running then get a grace of the longest probe (max deadline) and 10 s.
 * grpc-js servers do not enforce a ping policy (no min time between pings, no max pings without
 * data: those options exist for C-core servers only); a client pinging too often costs a frame each.
 * There is no per-connection stream cap (grpc.max_concurrent_streams): excess calls would wait at
 * the client, and time out, where the coordinator-wide bound of executions in flight refuses them
 * at once with RESOURCE_EXHAUSTED.
 */
export const KEEPALIVE = {
  timeMs: 30_000,
  timeoutMs: 10_000,
  maxConnectionIdleMs: 5 * 60_000,
  maxConnectionAgeMs: 30 * 60_000,
} as const;

/** After the grace period, calls were ended with UNAVAILABLE: their statuses get this long to go out. */
const STATUS_FLUSH_MS = 250;

/** The service definition with deserializers that turn undecodable bytes into UNDECODABLE (grpc-errors.ts). */
function tolerantDeserializers<D extends Record<string, { requestDeserialize: (bytes: Buffer) => unknown }>>(definition: D): D {
  const wrapped = Object.entries(definition).map(([name, method]) => [
    name,
    {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return { [UNDECODABLE]: error instanceof Error ? error.message : String(error) };
        }
      },
    },
  ]);
  return Object.fromEntries(wrapped) as D;
}

export interface GrpcServer {
  /** The port bound (useful with port 0). */
  port: number;
  /** grpc.health.v1: SERVING or NOT_SERVING, for the whole server and for the ProbeService. */
  setServing(serving: boolean): void;
  /**
   * Stops accepting connections (GOAWAY to the open ones) and waits up to graceMs for the running
   * calls (`calls.idle`); then `calls.end()` answers the rest with UNAVAILABLE, and whatever is
   * left (health watches) is closed. Call setServing(false) first.
   */
  stop(graceMs: number, calls?: { idle(): Promise<void>; end(): void }): Promise<void>;
}

/** Binds the ProbeService with health checking and server reflection. */
export async function startGrpcServer(options: {
  host: string;
  port: number;
  service: UntypedServiceImplementation;
  /** The BatchService (batch-service.ts), served beside the ProbeService. */
  batchService?: UntypedServiceImplementation;
  /** The MonitorService (monitor/monitor-service.ts). */
  monitorService?: UntypedServiceImplementation;
  credentials?: ServerCredentials;
  /** Run before any handler (caller authentication, caller-auth.ts). */
  interceptors?: ServerInterceptor[];
  /** The longest a probe may run (--max-deadline): connections closed for their age wait this long. */
  maxDeadlineMs?: number;
}): Promise<GrpcServer> {
  const server = new Server({
    interceptors: options.interceptors ?? [],
    "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_SEND_MESSAGE_BYTES,
    "grpc.keepalive_time_ms": KEEPALIVE.timeMs,
    "grpc.keepalive_timeout_ms": KEEPALIVE.timeoutMs,
    "grpc.max_connection_idle_ms": KEEPALIVE.maxConnectionIdleMs,
    "grpc.max_connection_age_ms": KEEPALIVE.maxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": (options.maxDeadlineMs ?? 120_000) + 10_000,
  });
  server.addService(tolerantDeserializers(grpcServiceDefinition(ProbeServiceDefinition)), options.service);
  if (options.batchService) server.addService(tolerantDeserializers(grpcServiceDefinition(BatchServiceDefinition)), options.batchService);
  if (options.monitorService) server.addService(tolerantDeserializers(grpcServiceDefinition(MonitorServiceDefinition)), options.monitorService);
  const healthNames = [PROBE_SERVICE_NAME, ...(options.batchService ? [BATCH_SERVICE_NAME] : []), ...(options.monitorService ? [MONITOR_SERVICE_NAME] : [])];

  const health = new HealthImplementation({ "": "NOT_SERVING", ...Object.fromEntries(healthNames.map((name) => [name, "NOT_SERVING"])) });
  health.addToServer(server);

  // Reflection describes the contract as the .proto files state it (grpcurl, grpcui, Postman).
  addReflectionService(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(formatHostPort(options.host, options.port), options.credentials ?? ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  }).catch(async (error: unknown) => {
    // grpc-js's message ("No address added out of total 1 resolved ...") has lost the errno code.
    throw await listenErrorFor(options.host, options.port, error);
  });

  return {
    port,
    setServing(serving) {
      const value = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", value);
      for (const name of healthNames) health.setStatus(name, value);
    },
    async stop(graceMs, calls) {
      const closed = new Promise<"closed">((resolve) => server.tryShutdown(() => resolve("closed")));
      const within = <T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> => {
        let timer: NodeJS.Timeout | undefined;
        return Promise.race([promise, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)))]).finally(() =>
          clearTimeout(timer),
        );
      };
      // Running calls get the grace period; tryShutdown alone would also wait for long-lived
      // streams nobody ends (health watches), so the ProbeService's own count decides.
      const idle = calls ? calls.idle().then(() => "idle" as const) : new Promise<never>(() => undefined);
      const first = await within(Promise.race([closed, idle]), graceMs);
      if (first === "closed") return;
      if (first === "timeout") calls?.end();
      // grpc-js's forceShutdown would cancel the calls (CANCELLED at the client): answered above
      // with UNAVAILABLE, their statuses get a moment to be written before the sessions go.
      await within(closed, STATUS_FLUSH_MS);
      server.forceShutdown();
    },
  };
}
