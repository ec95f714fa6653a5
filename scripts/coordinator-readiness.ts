// When a coordinator the scripts started can be used: its gRPC health says SERVING (it listens and
// NATS answers) and ListRegions lists every region expected (their agents are discoverable). For
// `npm run stack` and `npm run demo`, which say which of these is missing when the bound runs out.
import { credentials, makeGenericClientConstructor, Metadata, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import type { ServiceDefinition } from "@grpc/proto-loader";
import { service as healthServiceDefinition } from "grpc-health-check";
import type { ListRegionsResponse } from "../gen/smtpprobe/v1/probe_service.js";
import { createProbeClient } from "../cli/grpc-client.js";

interface HealthClient {
  check(request: { service: string }, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response?: { status: string }) => void): unknown;
  close(): void;
}

const HealthClient = makeGenericClientConstructor(healthServiceDefinition as unknown as ServiceDefinition, "grpc.health.v1.Health") as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => HealthClient;

const CALL_MS = 2_000;

export interface CoordinatorReadiness {
  /**
   * undefined when ready: SERVING, and each region in `regions` listed with an agent that passes
   * `agentReady` (default: any); else what is missing ("health NOT_SERVING", "no agent yet in
   * eu-west, ap-south").
   */
  check(regions: readonly string[], agentReady?: (agent: ListRegionsResponse["regions"][number]["agents"][number]) => boolean): Promise<string | undefined>;
  /** The last ListRegions answer. */
  lastRegions(): ListRegionsResponse | undefined;
  close(): void;
}

/** A plaintext client of the coordinator at host:port (the scripts run it on loopback). */
export function coordinatorReadiness(address: string): CoordinatorReadiness {
  const health = new HealthClient(address, credentials.createInsecure());
  const probe = createProbeClient(address);
  const deadline = (): Partial<CallOptions> => ({ deadline: Date.now() + CALL_MS });
  let last: ListRegionsResponse | undefined;
  return {
    async check(regions, agentReady = () => true) {
      const status = await new Promise<string>((resolve) =>
        health.check({ service: "" }, new Metadata(), deadline(), (error, response) => resolve(error ? `no answer (${error.details || error.message})` : (response?.status ?? "UNKNOWN"))),
      );
      if (status !== "SERVING") return `health ${status}`;
      const listed = await new Promise<ListRegionsResponse | string>((resolve) =>
        probe.listRegions({}, new Metadata(), deadline(), (error, response) => resolve(error ? `ListRegions failed (${error.details || error.message})` : response)),
      );
      if (typeof listed === "string") return listed;
      last = listed;
      const missing = regions.filter((name) => !listed.regions.some((r) => r.name === name && r.agents.some(agentReady)));
      return missing.length === 0 ? undefined : `no ready agent yet in ${missing.join(", ")}`;
    },
    lastRegions: () => last,
    close() {
      health.close();
      probe.close();
    },
  };
}
